//! Service backends: what stands behind a Service for the API server's own
//! calls (admission webhooks, aggregated APIServices). The test cluster runs
//! no service network, so tests say which Services have a ready endpoint:
//! an in-process handler served over real HTTP on 127.0.0.1, or a URL the
//! test serves itself. A Service with nothing registered has no endpoints.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::Error;
use crate::cluster::Cluster;

/// A request as a backend handler sees it (body collected).
pub type BackendRequest = http::Request<Bytes>;
/// What a backend handler answers.
pub type BackendResponse = http::Response<Bytes>;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
type HttpHandler = Arc<dyn Fn(BackendRequest) -> BoxFuture<BackendResponse> + Send + Sync>;

struct Endpoint {
    url: String,
    /// The accept loop of an in-process handler, stopped when unregistered.
    server: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        if let Some(s) = &self.server {
            s.abort();
        }
    }
}

/// The registry of service endpoints, keyed by (namespace, name).
#[derive(Default)]
pub struct Endpoints {
    by_service: Mutex<HashMap<(String, String), Endpoint>>,
}

impl Endpoints {
    /// The base URL (`http://127.0.0.1:PORT`) serving the Service, if any.
    pub fn url(&self, namespace: &str, name: &str) -> Option<String> {
        let map = self.by_service.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&(namespace.to_string(), name.to_string())).map(|e| e.url.clone())
    }

    fn insert(&self, namespace: &str, name: &str, endpoint: Endpoint) {
        let mut map = self.by_service.lock().unwrap_or_else(|e| e.into_inner());
        map.insert((namespace.to_string(), name.to_string()), endpoint);
    }

    fn remove(&self, namespace: &str, name: &str) -> bool {
        let mut map = self.by_service.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&(namespace.to_string(), name.to_string())).is_some()
    }
}

/// Registers and removes service endpoints; from [`crate::TestCluster::backends`].
pub struct Backends<'a> {
    pub(crate) cluster: &'a Arc<Cluster>,
}

impl Backends<'_> {
    /// Serves the Service `namespace/name` with an admission webhook handler:
    /// it receives each `admission.k8s.io/v1` `AdmissionReview` the API server
    /// POSTs and returns the `AdmissionReview` to answer (status 200). Needs a
    /// tokio runtime (the handler is served on it).
    pub async fn register_service<F, Fut>(&self, namespace: &str, name: &str, handler: F) -> Result<(), Error>
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Value> + Send + 'static,
    {
        let handler = Arc::new(handler);
        self.register_http(namespace, name, move |req: BackendRequest| {
            let handler = handler.clone();
            async move {
                match serde_json::from_slice::<Value>(req.body()) {
                    Ok(review) => json_reply(200, &handler(review).await),
                    Err(e) => json_reply(400, &serde_json::json!({"error": format!("the body is not JSON: {e}")})),
                }
            }
        })
        .await
    }

    /// Serves the Service `namespace/name` with a handler for any HTTP request
    /// (an aggregated API server: discovery, gets, lists, creates).
    pub async fn register_http<F, Fut>(&self, namespace: &str, name: &str, handler: F) -> Result<(), Error>
    where
        F: Fn(BackendRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = BackendResponse> + Send + 'static,
    {
        let handler: HttpHandler = Arc::new(move |req| Box::pin(handler(req)));
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let url = format!("http://{}", listener.local_addr()?);
        let server = tokio::spawn(serve(listener, handler));
        self.cluster.endpoints.insert(namespace, name, Endpoint { url, server: Some(server) });
        crate::aggregation::refresh(self.cluster);
        Ok(())
    }

    /// Points the Service `namespace/name` at a URL the test serves itself
    /// (`http://127.0.0.1:PORT`, no path).
    pub fn register_url(&self, namespace: &str, name: &str, url: &str) {
        let url = url.trim_end_matches('/').to_string();
        self.cluster.endpoints.insert(namespace, name, Endpoint { url, server: None });
        crate::aggregation::refresh(self.cluster);
    }

    /// The Service has no endpoints any more; false if it had none.
    pub fn unregister(&self, namespace: &str, name: &str) -> bool {
        let removed = self.cluster.endpoints.remove(namespace, name);
        crate::aggregation::refresh(self.cluster);
        removed
    }

    /// The base URL serving the Service, if one is registered.
    pub fn url(&self, namespace: &str, name: &str) -> Option<String> {
        self.cluster.endpoints.url(namespace, name)
    }
}

/// A JSON response for handlers.
pub fn json_reply(code: u16, body: &Value) -> BackendResponse {
    let mut resp = http::Response::new(Bytes::from(body.to_string()));
    *resp.status_mut() = http::StatusCode::from_u16(code).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    resp
}

async fn answer(handler: HttpHandler, req: http::Request<Incoming>) -> Result<http::Response<axum::body::Body>, hyper::Error> {
    let (parts, body) = req.into_parts();
    let bytes = body.collect().await?.to_bytes();
    let resp = handler(http::Request::from_parts(parts, bytes)).await;
    Ok(resp.map(axum::body::Body::from))
}

async fn serve(listener: TcpListener, handler: HttpHandler) {
    let mut connections: JoinSet<()> = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let Ok((stream, _)) = accepted else { continue };
        let handler = handler.clone();
        connections.spawn(async move {
            let service = service_fn(move |req| answer(handler.clone(), req));
            if let Err(e) = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await {
                tracing::debug!("backend connection ended: {e}");
            }
        });
    }
}
