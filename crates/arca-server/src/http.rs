//! The server's HTTP endpoints: `/metrics` (text exposition), `/healthz`
//! (200 while the process serves) and `/readyz` (200 once the server says
//! it is ready: leading with its controllers running, or a healthy
//! standby; 503 with the reason before that), and the dashboard under
//! `/ui/` unless it is off.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::ui::Ui;

/// The content type of the OpenMetrics text prometheus-client writes
/// (Prometheus scrapes it; the classic text parsers read it too).
pub const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone)]
struct AppState {
    metrics: Arc<Metrics>,
    ready: watch::Receiver<bool>,
}

/// Binds `addr`; an address in use or not local is an error naming it.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        Error::Other(format!(
            "cannot serve /metrics, /healthz and /readyz on {addr}: {e}; choose another address with --metrics-address"
        ))
    })
}

/// Serves the endpoints on `addr` until the future is dropped.
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    ready: watch::Receiver<bool>,
    ui: Option<Arc<Ui>>,
) -> Result<()> {
    serve_on(bind(addr).await?, metrics, ready, ui).await
}

/// Serves on a listener already bound (tests bind port 0 and read the port).
pub async fn serve_on(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    ready: watch::Receiver<bool>,
    ui: Option<Arc<Ui>>,
) -> Result<()> {
    let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_else(|_| "?".into());
    let with_ui = if ui.is_some() { " and the dashboard at /ui/" } else { "" };
    tracing::info!("serving /metrics, /healthz, /readyz{with_ui} on {addr}");
    axum::serve(listener, router(metrics, ready, ui))
        .await
        .map_err(|e| Error::Other(format!("serving /metrics on {addr}: {e}")))
}

fn router(metrics: Arc<Metrics>, ready: watch::Receiver<bool>, ui: Option<Arc<Ui>>) -> Router {
    let base = Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready_handler))
        .with_state(AppState { metrics, ready });
    match ui {
        Some(ui) => base.merge(crate::ui::router(ui)),
        None => base,
    }
}

async fn metrics_handler(State(state): State<AppState>) -> Response {
    ([(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)], state.metrics.render()).into_response()
}

async fn ready_handler(State(state): State<AppState>) -> Response {
    if *state.ready.borrow() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the server has not yet reached the Kubernetes API and started its controllers \
             (as leader) or joined as a standby\n",
        )
            .into_response()
    }
}
