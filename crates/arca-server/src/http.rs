//! `/metrics`, `/healthz`, `/readyz` (stand-in until the HTTP server is merged).

use std::net::SocketAddr;
use std::sync::Arc;

use crate::error::Result;
use crate::metrics::Metrics;

pub async fn serve(
    _addr: SocketAddr,
    _metrics: Arc<Metrics>,
    _ready: tokio::sync::watch::Receiver<bool>,
) -> Result<()> {
    std::future::pending::<()>().await;
    Ok(())
}
