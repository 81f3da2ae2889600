//! The freeze watchdog: a pod whose snapshots outlive its freeze bound is
//! thawed anyway, so no application is left frozen by a stuck snapshot.

use std::time::Duration;

use super::backup::{BackupHooks, ThawBy};

/// After `bound`, runs `pod`'s post hooks if nobody has yet.
pub fn start(hooks: BackupHooks, pod: String, bound: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        tokio::time::sleep(bound).await;
        hooks.thaw(&pod, ThawBy::Watchdog).await;
    })
}
