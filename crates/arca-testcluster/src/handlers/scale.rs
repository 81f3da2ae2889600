//! The `scale` subresource (`autoscaling/v1` Scale) of built-in workloads and of
//! CRDs that declare one.

use axum::body::Body;
use http::{Request, Response};
use serde_json::{Value, json};

use super::{Target, json_response};
use crate::cluster::Cluster;
use crate::error::{ApiError, ApiResult};
use crate::meta;
use crate::patch;
use crate::registry::{ResourceType, ScalePaths};
use crate::state::WriteOpts;

fn pointer(path: &str) -> String {
    path.trim_start_matches('.').split('.').fold(String::new(), |acc, p| format!("{acc}/{p}"))
}

fn selector_string(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Object(sel) => {
            let mut parts: Vec<String> = sel
                .get("matchLabels")
                .and_then(Value::as_object)
                .map(|m| m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default())).collect())
                .unwrap_or_default();
            for e in sel.get("matchExpressions").and_then(Value::as_array).into_iter().flatten() {
                let key = meta::str_at(e, "/key").unwrap_or_default();
                let values: Vec<&str> = e
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                parts.push(match meta::str_at(e, "/operator").unwrap_or_default() {
                    "In" => format!("{key} in ({})", values.join(",")),
                    "NotIn" => format!("{key} notin ({})", values.join(",")),
                    "Exists" => key.to_string(),
                    _ => format!("!{key}"),
                });
            }
            Some(parts.join(","))
        }
        _ => None,
    }
}

fn paths(rt: &ResourceType) -> ApiResult<&ScalePaths> {
    rt.scale.as_ref().ok_or_else(|| ApiError::no_route(&format!("{}/scale", rt.plural)))
}

/// The Scale view of an object.
pub fn to_scale(rt: &ResourceType, obj: &Value) -> ApiResult<Value> {
    let p = paths(rt)?;
    let m = obj.get("metadata").cloned().unwrap_or_default();
    let mut metadata = json!({});
    for k in ["name", "namespace", "uid", "resourceVersion", "creationTimestamp"] {
        if let Some(v) = m.get(k) {
            metadata[k] = v.clone();
        }
    }
    let spec = obj.pointer(&pointer(&p.spec_replicas)).cloned().unwrap_or(json!(0));
    let status = obj.pointer(&pointer(&p.status_replicas)).cloned().unwrap_or(json!(0));
    let mut st = json!({"replicas": status});
    if let Some(sel) = selector_string(p.selector.as_deref().and_then(|s| obj.pointer(&pointer(s)))) {
        st["selector"] = json!(sel);
    }
    Ok(
        json!({"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": metadata, "spec": {"replicas": spec}, "status": st}),
    )
}

pub fn get(cluster: &Cluster, t: &Target) -> ApiResult<Response<Body>> {
    let obj = cluster.lock().get(&t.rt, t.ns(), t.name.as_deref().unwrap_or_default())?;
    Ok(json_response(200, &to_scale(&t.rt, &obj)?))
}

/// PUT (a Scale body) or PATCH (merge or JSON patch of the Scale).
pub async fn write(cluster: &Cluster, t: &Target, req: Request<Body>, opts: WriteOpts) -> ApiResult<Response<Body>> {
    let is_patch = req.method() == http::Method::PATCH;
    let json_patch = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json-patch+json"));
    let bytes = axum::body::to_bytes(req.into_body(), 1 << 20)
        .await
        .map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))?;
    let body: Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("the request body is not valid JSON: {e}")))?;
    let name = t.name.as_deref().unwrap_or_default();
    let mut state = cluster.lock();
    let obj = state.get(&t.rt, t.ns(), name)?;
    let current = to_scale(&t.rt, &obj)?;
    let scale = match (is_patch, json_patch) {
        (false, _) => body,
        (true, true) => {
            let mut s = current.clone();
            patch::json_patch(&mut s, &body)?;
            s
        }
        (true, false) => {
            let mut s = current.clone();
            patch::merge_patch(&mut s, &body);
            s
        }
    };
    if let Some(rv) = meta::str_at(&scale, "/metadata/resourceVersion").filter(|r| !r.is_empty()) {
        if Some(rv) != meta::str_at(&obj, "/metadata/resourceVersion") {
            return Err(ApiError::stale(&t.rt.group, &t.rt.plural, name));
        }
    }
    let replicas = scale
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .ok_or_else(|| ApiError::bad_request("spec.replicas is required"))?;
    let mut cand = obj.clone();
    let p = paths(&t.rt)?;
    patch::json_patch(&mut cand, &json!([{"op": "add", "path": pointer(&p.spec_replicas), "value": replicas}]))?;
    let updated = state.update(&t.rt, t.ns(), name, cand, "", &opts)?;
    Ok(json_response(200, &to_scale(&t.rt, &updated)?))
}
