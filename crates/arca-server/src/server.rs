//! The main loop of `arca server`: `/metrics` and health from the start,
//! leadership, then the controllers; on shutdown, running work gets a grace
//! period, then what is left is stopped and marked failed (`ServerStopped`).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::Client;

use crate::config::ServerConfig;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::metrics::Metrics;

/// How long stopped jobs may take to mark themselves failed and thaw pods.
const STOP_WAIT: Duration = Duration::from_secs(30);

/// Runs until `shutdown` resolves (then `Ok`) or leadership is lost (then
/// `Err`: the process should exit and be restarted).
pub async fn run(client: Client, config: ServerConfig, shutdown: impl Future<Output = ()>) -> Result<()> {
    let mut shutdown = std::pin::pin!(shutdown);
    let metrics = Arc::new(Metrics::new());
    let (ready, ready_rx) = tokio::sync::watch::channel(false);
    let ui = (config.ui_auth != crate::ui::access::UiAuth::Off)
        .then(|| crate::ui::Ui::new(client.clone(), config.ui_auth, &config));
    let http = config.metrics_address.map(|addr| {
        let metrics = metrics.clone();
        tokio::spawn(async move {
            if let Err(e) = crate::http::serve(addr, metrics, ready_rx, ui).await {
                tracing::error!("serving {addr}: {e}");
            }
        })
    });
    let _http = AbortOnDrop(http);
    let lead = tokio::select! {
        lead = crate::leader::acquire(client.clone(), &config) => lead?,
        _ = &mut shutdown => return Ok(()),
    };
    tracing::info!("{} leads; starting the controllers", config.identity);
    let _ = ready.send(true);
    let ctx = Arc::new(Context::new(client.clone(), config.clone()));
    let controllers = async {
        tokio::join!(
            crate::backup::run(ctx.clone()),
            crate::restore::run(ctx.clone()),
            crate::schedule::run(client.clone(), config.clone()),
            crate::catalog::run(client.clone(), config.kube_config.clone(), config.clone(), metrics.clone()),
        )
    };
    let outcome = tokio::select! {
        _ = controllers => Err(Error::Other("the controllers stopped unexpectedly".into())),
        _ = lead.lost() => Err(Error::Other(format!("{} lost leadership; stopping", config.identity))),
        _ = &mut shutdown => Ok(()),
    };
    let _ = ready.send(false);
    wind_down(&ctx, config.shutdown_grace).await;
    outcome
}

/// Stops taking work, lets running jobs finish for up to `grace`, then
/// stops the rest (their snapshots are never written) and waits for them
/// to mark themselves failed.
pub async fn wind_down(ctx: &Context, grace: Duration) {
    ctx.stop_taking_work();
    if !wait_idle(ctx, grace).await {
        let stopped = ctx.cancel_all();
        tracing::warn!("shutdown grace of {grace:?} over; stopping {}", stopped.join(", "));
        if !wait_idle(ctx, STOP_WAIT).await {
            tracing::error!("{} job(s) did not stop in {STOP_WAIT:?}", ctx.running_count());
        }
    }
}

async fn wait_idle(ctx: &Context, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while ctx.running_count() > 0 {
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    true
}

struct AbortOnDrop(Option<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(h) = &self.0 {
            h.abort();
        }
    }
}
