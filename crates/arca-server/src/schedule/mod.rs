//! Schedules: backups on a cron schedule in a time zone, with overlap and
//! missed-run policies and GFS retention; and repository maintenance on
//! each location's own schedule.

pub mod controller;
pub mod cron;
pub mod drill;
pub mod due;

use kube::Client;

use crate::config::ServerConfig;
use crate::error::Result;

/// Run the Schedule controller and the maintenance loop until one fails.
/// Run it on the leader only (see `leader::acquire`).
pub async fn run(client: Client, config: ServerConfig) -> Result<()> {
    tokio::select! {
        r = controller::run(client.clone(), config.clone()) => r,
        r = crate::maintenance::run(client, config) => r,
    }
}

/// An object's creation time as a chrono time.
pub(crate) fn created<K: kube::Resource>(obj: &K) -> Option<chrono::DateTime<chrono::Utc>> {
    let t = obj.meta().creation_timestamp.as_ref()?.0;
    chrono::DateTime::from_timestamp(t.as_second(), u32::try_from(t.subsec_nanosecond()).unwrap_or(0))
}
