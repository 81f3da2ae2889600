//! A minimal HTTP/1.1 client for the API server's outgoing calls (webhooks,
//! aggregated APIs), with failure texts shaped like Go's `net/http` ones,
//! since upstream error messages embed them.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Why an outgoing call got no answer, in Go's words.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    #[error("dial tcp {0}: connect: connection refused")]
    Refused(String),
    #[error("dial tcp {addr}: {why}")]
    Dial { addr: String, why: String },
    #[error("context deadline exceeded")]
    Timeout,
    #[error("unsupported protocol scheme {0:?}")]
    Scheme(String),
    #[error("{0}")]
    Transport(String),
}

/// `host:port` of an `http://host:port[/...]` URL.
fn authority(url: &str) -> Result<String, CallError> {
    let Some(rest) = url.strip_prefix("http://") else {
        let scheme = url.split_once("://").map(|(s, _)| s).unwrap_or_default();
        return Err(CallError::Scheme(scheme.to_string()));
    };
    let host = rest.split('/').next().unwrap_or_default();
    Ok(if host.contains(':') { host.to_string() } else { format!("{host}:80") })
}

async fn connect(addr: &str) -> Result<TcpStream, CallError> {
    TcpStream::connect(addr).await.map_err(|e| match e.kind() {
        std::io::ErrorKind::ConnectionRefused => CallError::Refused(addr.to_string()),
        _ => CallError::Dial { addr: addr.to_string(), why: e.to_string() },
    })
}

/// Sends `req` (its URI a path and query) to the server at `base` (`http://host:port`).
pub async fn send(base: &str, req: http::Request<Bytes>) -> Result<http::Response<Bytes>, CallError> {
    let addr = authority(base)?;
    let stream = connect(&addr).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| CallError::Transport(e.to_string()))?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let (mut parts, body) = req.into_parts();
    parts.headers.insert(http::header::HOST, http::HeaderValue::from_str(&addr).map_err(|e| CallError::Transport(e.to_string()))?);
    let resp = sender
        .send_request(http::Request::from_parts(parts, Full::new(body)))
        .await
        .map_err(|e| CallError::Transport(e.to_string()))?;
    let (parts, body) = resp.into_parts();
    let bytes = body.collect().await.map_err(|e| CallError::Transport(e.to_string()))?.to_bytes();
    driver.abort();
    Ok(http::Response::from_parts(parts, bytes))
}

/// [`send`] within `timeout`.
pub async fn send_within(
    base: &str,
    req: http::Request<Bytes>,
    timeout: std::time::Duration,
) -> Result<http::Response<Bytes>, CallError> {
    tokio::time::timeout(timeout, send(base, req)).await.unwrap_or(Err(CallError::Timeout))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authority_of_urls() {
        assert_eq!(authority("http://127.0.0.1:8080/x"), Ok("127.0.0.1:8080".to_string()));
        assert_eq!(authority("http://example"), Ok("example:80".to_string()));
        assert_eq!(authority("https://x:443/"), Err(CallError::Scheme("https".into())));
    }
}
