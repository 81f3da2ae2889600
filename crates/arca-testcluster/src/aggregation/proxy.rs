//! Requests under `/apis/GROUP/VERSION` of a remote APIService, and its
//! entries in aggregated discovery.

use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use serde_json::{Value, json};

use super::status;
use crate::cluster::Cluster;
use crate::http_client;

const BODY_LIMIT: usize = 64 * 1024 * 1024;
/// How long discovery waits for a backend before marking its group stale.
const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(5);
/// Upstream's proxy gives aggregated requests no timeout of its own; this
/// one only keeps a hung backend from holding a test forever.
const PROXY_TIMEOUT: Duration = Duration::from_secs(60);

/// Upstream's aggregator answers like Go's `http.Error`: plain text.
fn plain(code: StatusCode, text: &str) -> Response<Body> {
    let mut resp = Response::new(Body::from(format!("{text}\n")));
    *resp.status_mut() = code;
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/plain; charset=utf-8"));
    headers.insert("x-content-type-options", header::HeaderValue::from_static("nosniff"));
    resp
}

/// The endpoint URL of an available remote APIService; `None` if unavailable.
fn backend_of(cluster: &Cluster, apiservice: &Value) -> Option<String> {
    if !status::is_available(apiservice) {
        return None;
    }
    let svc = apiservice.pointer("/spec/service")?;
    let ns = svc.get("namespace").and_then(Value::as_str).unwrap_or_default();
    let name = svc.get("name").and_then(Value::as_str).unwrap_or_default();
    cluster.endpoints.url(ns, name)
}

/// Answers a request for `group`/`version` if a remote APIService serves it;
/// gives the request back otherwise.
pub async fn forward(
    cluster: &Cluster,
    group: &str,
    version: &str,
    req: Request<Body>,
) -> Result<Response<Body>, Request<Body>> {
    let Some(apiservice) = status::remote_for(&cluster.lock(), group, version) else { return Err(req) };
    let Some(base) = backend_of(cluster, &apiservice) else {
        return Ok(plain(StatusCode::SERVICE_UNAVAILABLE, "service unavailable"));
    };
    Ok(send(&base, req).await)
}

async fn send(base: &str, req: Request<Body>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(b) => b,
        Err(e) => return plain(StatusCode::BAD_REQUEST, &format!("reading the request body: {e}")),
    };
    let path = parts.uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into());
    let mut out = Request::builder().method(parts.method.clone()).uri(path);
    for key in [header::CONTENT_TYPE, header::ACCEPT, header::USER_AGENT] {
        if let Some(v) = parts.headers.get(&key) {
            out = out.header(key, v);
        }
    }
    let Ok(out) = out.body(bytes) else {
        return plain(StatusCode::BAD_REQUEST, "the request cannot be forwarded");
    };
    match http_client::send_within(base, out, PROXY_TIMEOUT).await {
        Ok(resp) => resp.map(Body::from),
        Err(e) => plain(StatusCode::SERVICE_UNAVAILABLE, &format!("error trying to reach service: {e}")),
    }
}

/// A legacy `APIResourceList` as aggregated discovery resources.
fn aggregated_resources(list: &Value, group: &str, version: &str) -> Vec<Value> {
    let entries = list.get("resources").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut out: Vec<Value> = Vec::new();
    for e in entries.iter().filter(|e| !e.get("name").and_then(Value::as_str).unwrap_or_default().contains('/')) {
        let name = e.get("name").and_then(Value::as_str).unwrap_or_default();
        let namespaced = e.get("namespaced").and_then(Value::as_bool).unwrap_or(false);
        let kind = e.get("kind").cloned().unwrap_or(Value::Null);
        let mut r = json!({
            "resource": name,
            "responseKind": {"group": group, "version": version, "kind": kind},
            "scope": if namespaced { "Namespaced" } else { "Cluster" },
            "singularResource": e.get("singularName").cloned().unwrap_or(json!("")),
            "verbs": e.get("verbs").cloned().unwrap_or(json!([])),
        });
        for key in ["shortNames", "categories"] {
            if let Some(v) = e.get(key) {
                r[key] = v.clone();
            }
        }
        let prefix = format!("{name}/");
        let subs: Vec<Value> = entries
            .iter()
            .filter_map(|s| {
                let sub = s.get("name").and_then(Value::as_str)?.strip_prefix(&prefix)?;
                Some(json!({
                    "subresource": sub,
                    "responseKind": {"group": group, "version": version, "kind": s.get("kind").cloned().unwrap_or(Value::Null)},
                    "verbs": s.get("verbs").cloned().unwrap_or(json!([])),
                }))
            })
            .collect();
        if !subs.is_empty() {
            r["subresources"] = Value::Array(subs);
        }
        out.push(r);
    }
    out
}

/// One version's aggregated entry: `Current` with the backend's resources,
/// or `Stale` without resources when the backend is unavailable or fails
/// (as upstream's aggregator lists an unreachable APIService).
async fn version_entry(cluster: &Cluster, apiservice: &Value, group: &str, version: &str) -> Value {
    let stale = json!({"version": version, "freshness": "Stale"});
    let Some(base) = backend_of(cluster, apiservice) else { return stale };
    let path = format!("/apis/{group}/{version}");
    let Ok(req) = Request::get(path.as_str()).header(header::ACCEPT, "application/json").body(Bytes::new()) else {
        return stale;
    };
    match http_client::send_within(&base, req, DISCOVERY_TIMEOUT).await {
        Ok(resp) if resp.status().is_success() => match serde_json::from_slice::<Value>(resp.body()) {
            Ok(list) => json!({"version": version, "resources": aggregated_resources(&list, group, version), "freshness": "Current"}),
            Err(_) => stale,
        },
        _ => stale,
    }
}

/// Aggregated discovery items (`APIGroupDiscovery`) of remote APIServices'
/// groups that this server does not serve itself.
pub async fn discovery_items(cluster: &Cluster) -> Vec<Value> {
    let (groups, services) = {
        let state = cluster.lock();
        (status::remote_groups(&state), status::remote_services(&state))
    };
    let mut items = Vec::new();
    for (group, versions) in groups {
        let mut entries = Vec::new();
        for version in &versions {
            let apiservice = services.iter().find(|s| s.pointer("/metadata/name").and_then(Value::as_str) == Some(&status::name_of(&group, version)));
            if let Some(a) = apiservice {
                entries.push(version_entry(cluster, a, &group, version).await);
            }
        }
        items.push(json!({"metadata": {"name": group}, "versions": entries}));
    }
    items
}
