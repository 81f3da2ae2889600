//! The HTTP/1.1 accept loop, with connection-level fault injection.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::cluster::Cluster;
use crate::error::ApiError;
use crate::faults::Fault;
use crate::handlers;

/// The fault answer for a request, or a dropped connection (`Err`).
async fn faulted(cluster: &Cluster, method: &str, path: &str) -> Result<Option<http::Response<Body>>, std::io::Error> {
    let Some(fault) = cluster.faults.check(method, path) else {
        return Ok(None);
    };
    let err = match fault {
        Fault::Delay(d) => {
            tokio::time::sleep(d).await;
            return Ok(None);
        }
        Fault::DropConnection => {
            return Err(std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "injected connection drop"));
        }
        Fault::TooManyRequests { retry_after_secs } => {
            ApiError::new(429, "TooManyRequests", "Too many requests, please try again later.")
                .with_retry_after(retry_after_secs)
        }
        Fault::InternalError => {
            ApiError::internal("an error on the server (\"injected fault\") has prevented the request from succeeding")
        }
        Fault::ServiceUnavailable => {
            ApiError::new(503, "ServiceUnavailable", "the server is currently unable to handle the request")
        }
        Fault::Status(code) => ApiError::new(code, reason_for(code), format!("injected fault with status {code}")),
    };
    Ok(Some(handlers::error_response(&err)))
}

/// The `Status` reason upstream uses for a code.
fn reason_for(code: u16) -> &'static str {
    match code {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        409 => "Conflict",
        410 => "Expired",
        422 => "Invalid",
        429 => "TooManyRequests",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "InternalError",
    }
}

async fn handle(cluster: Arc<Cluster>, req: http::Request<Incoming>) -> Result<http::Response<Body>, std::io::Error> {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    if let Some(resp) = faulted(&cluster, &method, &path).await? {
        return Ok(resp);
    }
    let req = req.map(Body::new);
    let resp = match crate::auth::admit(&cluster, &req) {
        Ok(user) => crate::auth::scoped(user, handlers::dispatch(cluster, req)).await,
        Err(err) => handlers::error_response(&err),
    };
    tracing::debug!(%method, %path, status = resp.status().as_u16(), "request");
    Ok(resp)
}

/// Serves connections until the returned task is aborted; aborting it also
/// aborts every open connection.
pub fn spawn(listener: TcpListener, cluster: Arc<Cluster>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut connections: JoinSet<()> = JoinSet::new();
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            };
            let (stream, _) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let cluster = cluster.clone();
            connections.spawn(async move {
                let service = service_fn(move |req| handle(cluster.clone(), req));
                let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service).with_upgrades();
                if let Err(e) = conn.await {
                    tracing::debug!("connection ended: {e}");
                }
            });
        }
    })
}
