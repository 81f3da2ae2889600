//! Single-object verbs: get, create, update, patch, delete, deletecollection.

use axum::body::Body;
use http::{Request, Response, header};
use serde_json::{Value, json};

use super::{Query, Target, admitted, json_response, list, table};
use crate::cluster::Cluster;
use crate::error::{ApiError, ApiResult};
use crate::state::{DeleteOpts, Deleted, Patch, WriteOpts, as_version};

const BODY_LIMIT: usize = 64 * 1024 * 1024;

/// Only JSON bodies are understood; protobuf and CBOR answer 415 as a server
/// without those encodings would, so clients fall back to JSON.
fn check_json(req: &Request<Body>) -> ApiResult<()> {
    let ct = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("application/json");
    if ct.contains("protobuf") || ct.contains("cbor") {
        return Err(ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (got {ct:?})"
            ),
        ));
    }
    Ok(())
}

async fn read_body(req: Request<Body>) -> ApiResult<Vec<u8>> {
    axum::body::to_bytes(req.into_body(), BODY_LIMIT)
        .await
        .map(|b| b.to_vec())
        .map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))
}

fn parse_json(bytes: &[u8]) -> ApiResult<Value> {
    serde_json::from_slice(bytes).map_err(|e| ApiError::bad_request(format!("the request body is not valid JSON: {e}")))
}

/// A JSON request body, refusing other encodings.
pub async fn json_body(req: Request<Body>) -> ApiResult<Value> {
    check_json(&req)?;
    parse_json(&read_body(req).await?)
}

fn name(t: &Target) -> &str {
    t.name.as_deref().unwrap_or_default()
}

/// Write options from the query: fieldManager (defaulted from the User-Agent as
/// upstream), dryRun, force.
pub fn write_opts(q: &Query, req: &Request<Body>) -> WriteOpts {
    let manager = q.get("fieldManager").map(String::from).unwrap_or_else(|| {
        req.headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .and_then(|ua| ua.split('/').next())
            .filter(|s| !s.is_empty())
            .unwrap_or("unknown")
            .to_string()
    });
    WriteOpts { manager, dry_run: q.get("dryRun") == Some("All"), force: q.flag("force") }
}

pub fn get(cluster: &Cluster, t: &Target, req: &Request<Body>) -> ApiResult<Response<Body>> {
    let obj = cluster.lock().get(&t.rt, t.ns(), name(t))?;
    if table::wants_table(req) {
        return Ok(json_response(200, &table::render(&[obj], None)));
    }
    Ok(json_response(200, &obj))
}

pub async fn create(cluster: &Cluster, t: &Target, q: &Query, req: Request<Body>) -> ApiResult<Response<Body>> {
    let opts = write_opts(q, &req);
    check_json(&req)?;
    let body = parse_json(&read_body(req).await?)?;
    let obj = admitted::create(cluster, &t.rt, t.ns(), body, &opts).await?;
    Ok(json_response(201, &obj))
}

pub async fn update(cluster: &Cluster, t: &Target, q: &Query, req: Request<Body>) -> ApiResult<Response<Body>> {
    let opts = write_opts(q, &req);
    check_json(&req)?;
    let body = parse_json(&read_body(req).await?)?;
    let change = admitted::Change::Replace(body);
    let (_, obj) = admitted::update(cluster, &t.rt, t.ns(), name(t), &t.sub, &change, &opts).await?;
    Ok(json_response(200, &obj))
}

pub async fn patch(cluster: &Cluster, t: &Target, q: &Query, req: Request<Body>) -> ApiResult<Response<Body>> {
    let opts = write_opts(q, &req);
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    let bytes = read_body(req).await?;
    let p = match content_type.as_str() {
        "application/merge-patch+json" => Patch::Merge(parse_json(&bytes)?),
        "application/strategic-merge-patch+json" => Patch::Strategic(parse_json(&bytes)?),
        "application/json-patch+json" => Patch::Json(parse_json(&bytes)?),
        "application/apply-patch+yaml" | "application/apply-patch+cbor" => {
            let v: Value = serde_yaml::from_slice(&bytes)
                .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
            Patch::Apply(v)
        }
        other => {
            return Err(ApiError::new(
                415,
                "UnsupportedMediaType",
                format!(
                    "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {other:?})"
                ),
            ));
        }
    };
    let change = admitted::Change::Patch(p);
    let (created, obj) = admitted::update(cluster, &t.rt, t.ns(), name(t), &t.sub, &change, &opts).await?;
    let code = if created { 201 } else { 200 };
    Ok(json_response(code, &obj))
}

fn delete_opts(q: &Query, body: &[u8]) -> ApiResult<DeleteOpts> {
    let mut opts = DeleteOpts {
        propagation: q.get("propagationPolicy").map(String::from),
        dry_run: q.get("dryRun") == Some("All"),
        ..Default::default()
    };
    if q.get("orphanDependents") == Some("true") {
        opts.propagation = Some("Orphan".into());
    }
    if body.iter().any(|b| !b.is_ascii_whitespace()) {
        let v = parse_json(body)?;
        if let Some(p) = v.get("propagationPolicy").and_then(Value::as_str) {
            opts.propagation = Some(p.to_string());
        }
        if v.get("orphanDependents").and_then(Value::as_bool) == Some(true) {
            opts.propagation = Some("Orphan".into());
        }
        let s = |p: &str| v.pointer(p).and_then(Value::as_str).map(String::from);
        opts.uid = s("/preconditions/uid");
        opts.resource_version = s("/preconditions/resourceVersion");
        if let Some(Value::Array(d)) = v.get("dryRun") {
            opts.dry_run = d.iter().any(|x| x == "All");
        }
    }
    Ok(opts)
}

fn success_status(t: &Target, obj: &Value) -> Value {
    let mut details = json!({
        "name": crate::meta::name(obj),
        "kind": t.rt.plural,
        "uid": crate::meta::uid(obj),
    });
    if !t.rt.group.is_empty() {
        details["group"] = json!(t.rt.group);
    }
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})
}

pub async fn delete(cluster: &Cluster, t: &Target, q: &Query, req: Request<Body>) -> ApiResult<Response<Body>> {
    let body = read_body(req).await?;
    let opts = delete_opts(q, &body)?;
    let outcome = admitted::delete(cluster, &t.rt, t.ns(), name(t), &opts).await?;
    Ok(match outcome {
        Deleted::Pending(obj) => json_response(200, &obj),
        Deleted::Gone(obj) => json_response(200, &success_status(t, &obj)),
    })
}

pub async fn delete_collection(
    cluster: &Cluster,
    t: &Target,
    q: &Query,
    req: Request<Body>,
) -> ApiResult<Response<Body>> {
    let body = read_body(req).await?;
    let opts = delete_opts(q, &body)?;
    let (label, field) = list::selectors(&t.rt, q)?;
    let victims: Vec<Value> = cluster
        .lock()
        .all(&t.rt, t.namespace.as_deref())
        .into_iter()
        .filter(|o| label.matches_object(o) && field.matches(o))
        .collect();
    let mut items = Vec::new();
    // Upstream admits each object of a collection delete on its own.
    for obj in victims {
        let ns = crate::meta::namespace(&obj).to_string();
        let name = crate::meta::name(&obj).to_string();
        match admitted::delete(cluster, &t.rt, &ns, &name, &opts).await {
            Ok(Deleted::Gone(o)) | Ok(Deleted::Pending(o)) => items.push(o),
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    let rv = cluster.lock().store.rv().to_string();
    let items: Vec<Value> = items.into_iter().map(|o| as_version(&t.rt, o)).collect();
    Ok(json_response(
        200,
        &json!({"kind": t.rt.list_kind(), "apiVersion": t.rt.api_version(), "metadata": {"resourceVersion": rv}, "items": items}),
    ))
}
