//! Catalog sync (stand-in until catalog sync is merged).

use std::sync::Arc;

use kube::Client;

use crate::config::ServerConfig;
use crate::metrics::Metrics;

pub async fn run(_client: Client, _config: ServerConfig, _metrics: Arc<Metrics>) {
    std::future::pending::<()>().await
}
