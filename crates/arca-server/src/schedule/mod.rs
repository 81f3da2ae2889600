//! Schedules (stand-in until the schedule controller is merged).

use kube::Client;

use crate::config::ServerConfig;

pub async fn run(_client: Client, _config: ServerConfig) {
    std::future::pending::<()>().await
}
