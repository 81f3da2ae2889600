//! `componentstatuses`: a read-only view computed on each request, as upstream
//! (which probes the scheduler, controller manager and etcd); every component
//! of the test cluster is healthy.

use axum::body::Body;
use http::{Method, Request, Response};
use serde_json::{Value, json};

use super::{Target, json_response, table};
use crate::error::{ApiError, ApiResult};

const COMPONENTS: &[&str] = &["controller-manager", "scheduler", "etcd-0"];

fn status_of(name: &str) -> Value {
    json!({
        "kind": "ComponentStatus",
        "apiVersion": "v1",
        "metadata": {"name": name, "creationTimestamp": null},
        "conditions": [{"type": "Healthy", "status": "True", "message": "ok"}],
    })
}

/// `get` and `list`; other verbs answer 405 as upstream.
pub fn serve(t: &Target, req: &Request<Body>) -> ApiResult<Response<Body>> {
    if req.method() != Method::GET || !t.sub.is_empty() {
        return Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({} {})",
            req.method(),
            t.rt.plural
        )));
    }
    let items: Vec<Value> = match &t.name {
        Some(name) if COMPONENTS.contains(&name.as_str()) => vec![status_of(name)],
        Some(name) => return Err(ApiError::not_found("", &t.rt.plural, name)),
        None => COMPONENTS.iter().copied().map(status_of).collect(),
    };
    if table::wants_table(req) {
        return Ok(json_response(200, &table::render(&items, None)));
    }
    let body = match (&t.name, items.first()) {
        (Some(_), Some(one)) => one.clone(),
        _ => json!({"kind": "ComponentStatusList", "apiVersion": "v1", "metadata": {}, "items": items}),
    };
    Ok(json_response(200, &body))
}
