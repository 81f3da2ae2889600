//! HTTP request routing: discovery paths and resource paths
//! (`/api/v1/...`, `/apis/{group}/{version}/...`).

mod admitted;
mod components;
mod discovery;
mod list;
mod openapi;
pub(crate) mod pods;
mod resource;
mod reviews;
mod scale;
mod table;
mod watch;

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use http::{Method, Request, Response, StatusCode, header};
use serde_json::Value;

use crate::cluster::Cluster;
use crate::error::{ApiError, ApiResult};
use crate::registry::{Access, ResourceType};

/// Query parameters: all values in order, and the first value of each key.
pub struct Query {
    pub pairs: Vec<(String, String)>,
    first: HashMap<String, String>,
}

impl Query {
    pub fn parse(raw: Option<&str>) -> ApiResult<Query> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or_default())
            .map_err(|e| ApiError::bad_request(format!("invalid query: {e}")))?;
        let mut first = HashMap::new();
        for (k, v) in &pairs {
            first.entry(k.clone()).or_insert_with(|| v.clone());
        }
        Ok(Query { pairs, first })
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.first.get(key).map(String::as_str).filter(|v| !v.is_empty())
    }

    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("1") | Some("true"))
    }

    pub fn all(&self, key: &str) -> Vec<String> {
        self.pairs.iter().filter(|(k, _)| k == key).map(|(_, v)| v.clone()).collect()
    }
}

/// A resolved resource path.
pub struct Target {
    pub rt: ResourceType,
    /// Namespace from the URL (`None` for cluster-wide requests).
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub sub: String,
}

impl Target {
    pub fn ns(&self) -> &str {
        self.namespace.as_deref().unwrap_or_default()
    }
}

pub fn json_response(code: u16, body: &Value) -> Response<Body> {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = Response::new(Body::from(body.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    resp
}

pub fn error_response(err: &ApiError) -> Response<Body> {
    let mut resp = json_response(err.code, &err.to_status());
    if let Some(secs) = err.retry_after() {
        if let Ok(v) = header::HeaderValue::from_str(&secs.to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    resp
}

/// Routes one request.
pub async fn dispatch(cluster: Arc<Cluster>, req: Request<Body>) -> Response<Body> {
    match route(cluster, req).await {
        Ok(resp) => resp,
        Err(err) => error_response(&err),
    }
}

async fn route(cluster: Arc<Cluster>, mut req: Request<Body>) -> ApiResult<Response<Body>> {
    let path = req.uri().path().trim_end_matches('/').to_string();
    let query = Query::parse(req.uri().query())?;
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if let ["apis", group, version, ..] = segs.as_slice() {
        match crate::aggregation::forward(&cluster, group, version, req).await {
            Ok(resp) => return Ok(resp),
            Err(back) => req = back,
        }
    }
    if req.method() == Method::GET {
        let accept = req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or_default();
        if segs == ["apis"] && discovery::wants_aggregated(accept) {
            let remote = crate::aggregation::discovery_items(&cluster).await;
            return Ok(discovery::aggregated(&cluster, false, remote));
        }
        if let Some(resp) = discovery::serve(&cluster, &segs, accept)? {
            return Ok(resp);
        }
    }
    let target = resolve(&cluster, &segs).ok_or_else(|| ApiError::no_route(&path))?;
    let t = &target;
    match t.rt.access {
        Access::CreateOnly => return reviews::serve(&cluster, t, &query, req).await,
        Access::ReadOnly => return components::serve(t, &req),
        Access::Stored => {}
    }
    let method = req.method().clone();
    match (method, t.name.is_some(), t.sub.as_str()) {
        (Method::GET, true, "exec") | (Method::POST, true, "exec") if is_pod(t) => {
            crate::exec::serve(cluster, t, &query, req).await
        }
        (Method::GET, true, "log") if is_pod(t) => pods::log(&cluster, t, &query).await,
        (Method::POST, true, "token") if t.rt.group.is_empty() && t.rt.plural == "serviceaccounts" => {
            let body = resource::json_body(req).await?;
            let name = t.name.as_deref().unwrap_or_default();
            Ok(json_response(201, &crate::auth::tokens::request(&cluster, t.ns(), name, &body)?))
        }
        (Method::GET, true, "scale") if t.rt.scale.is_some() => scale::get(&cluster, t),
        (Method::PUT, true, "scale") | (Method::PATCH, true, "scale") if t.rt.scale.is_some() => {
            let opts = resource::write_opts(&query, &req);
            scale::write(&cluster, t, req, opts).await
        }
        (_, _, sub) if !sub.is_empty() && !t.rt.has_subresource(sub) => Err(ApiError::no_route(&path)),
        (Method::GET, true, _) => resource::get(&cluster, t, &req),
        (Method::GET, false, _) if query.flag("watch") => watch::serve(&cluster, t, &query),
        (Method::GET, false, _) => list::serve(&cluster, t, &query, &req),
        (Method::POST, false, _) => resource::create(&cluster, t, &query, req).await,
        (Method::PUT, true, _) => resource::update(&cluster, t, &query, req).await,
        (Method::PATCH, true, _) => resource::patch(&cluster, t, &query, req).await,
        (Method::DELETE, true, _) => resource::delete(&cluster, t, &query, req).await,
        (Method::DELETE, false, "") => resource::delete_collection(&cluster, t, &query, req).await,
        (m, _, _) => Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({m} {path})"
        ))),
    }
}

fn is_pod(t: &Target) -> bool {
    t.rt.group.is_empty() && t.rt.plural == "pods"
}

/// Parses `/api/v1/...` and `/apis/{group}/{version}/...` resource paths.
fn resolve(cluster: &Cluster, segs: &[&str]) -> Option<Target> {
    let (group, version, rest) = match segs {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return None,
    };
    let state = cluster.lock();
    let find = |plural: &str| state.resource(group, version, plural);
    let (namespace, plural, name, sub) = match rest {
        ["namespaces", ns, plural, tail @ ..] if find(plural).is_some_and(|r| r.namespaced) => {
            (Some(ns.to_string()), *plural, tail.first(), tail.get(1..))
        }
        [plural, tail @ ..] => (None, *plural, tail.first(), tail.get(1..)),
        [] => return None,
    };
    let rt = find(plural)?;
    let sub = sub.unwrap_or_default();
    let unscoped_name = rt.namespaced && namespace.is_none() && name.is_some();
    if sub.len() > 1 || (!rt.namespaced && namespace.is_some()) || unscoped_name {
        return None;
    }
    Some(Target {
        rt,
        namespace,
        name: name.map(|n| n.to_string()),
        sub: sub.first().map(|s| s.to_string()).unwrap_or_default(),
    })
}
