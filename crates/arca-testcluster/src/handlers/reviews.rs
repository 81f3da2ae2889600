//! Create-only types: the authentication and authorization reviews (answered,
//! never stored) and core/v1 `bindings` (which assign a pod to a node).
//!
//! The test cluster does not authenticate or authorize: every request acts as
//! the kubeconfig user, a member of `system:masters`, so token reviews
//! authenticate any token as that user and access reviews are allowed.

use axum::body::Body;
use http::{Method, Request, Response};
use serde_json::{Value, json};

use super::{Target, json_response, resource};
use crate::cluster::Cluster;
use crate::error::{ApiError, ApiResult, cause};
use crate::state::{Patch, WriteOpts};

/// The user every request acts as.
pub const TEST_USER: &str = crate::kubeconfig::CONTEXT;
pub const TEST_GROUPS: &[&str] = &["system:masters", "system:authenticated"];
const ALLOWED_REASON: &str = "allowed: the test cluster does not enforce authorization";

type Answer = fn(&Target, &Value) -> ApiResult<Value>;

/// The status each review kind answers with (rules as data).
const ANSWERS: &[(&str, &str, Answer)] = &[
    ("authentication.k8s.io", "TokenReview", token_review),
    ("authentication.k8s.io", "SelfSubjectReview", self_subject_review),
    ("authorization.k8s.io", "SubjectAccessReview", subject_access_review),
    ("authorization.k8s.io", "SelfSubjectAccessReview", self_subject_access_review),
    ("authorization.k8s.io", "LocalSubjectAccessReview", local_subject_access_review),
    ("authorization.k8s.io", "SelfSubjectRulesReview", self_subject_rules_review),
];

fn user_info() -> Value {
    json!({"username": TEST_USER, "groups": TEST_GROUPS})
}

fn invalid(t: &Target, field: &str, message: &str) -> ApiError {
    ApiError::invalid(&t.rt.group, &t.rt.kind, "", vec![cause("FieldValueInvalid", field, message)])
}

fn token_review(_: &Target, body: &Value) -> ApiResult<Value> {
    let token = body.pointer("/spec/token").and_then(Value::as_str).unwrap_or_default();
    if token.is_empty() {
        return Err(ApiError::bad_request("token is required for TokenReview in authentication"));
    }
    let audiences = body.pointer("/spec/audiences").cloned().unwrap_or_else(|| json!(["https://kubernetes.default.svc"]));
    Ok(json!({"authenticated": true, "user": user_info(), "audiences": audiences}))
}

fn self_subject_review(_: &Target, _: &Value) -> ApiResult<Value> {
    Ok(json!({"userInfo": user_info()}))
}

/// Exactly one of `resourceAttributes` and `nonResourceAttributes`, as upstream validates.
fn check_attributes(t: &Target, body: &Value) -> ApiResult<()> {
    let has = |k: &str| body.pointer(&format!("/spec/{k}")).is_some_and(|v| !v.is_null());
    if has("resourceAttributes") == has("nonResourceAttributes") {
        return Err(invalid(
            t,
            "spec.resourceAttributes",
            "Invalid value: exactly one of nonResourceAttributes or resourceAttributes must be specified",
        ));
    }
    Ok(())
}

fn allowed() -> Value {
    json!({"allowed": true, "reason": ALLOWED_REASON})
}

fn subject_access_review(t: &Target, body: &Value) -> ApiResult<Value> {
    check_attributes(t, body)?;
    let user = body.pointer("/spec/user").and_then(Value::as_str).unwrap_or_default();
    let groups = body.pointer("/spec/groups").and_then(Value::as_array).is_some_and(|g| !g.is_empty());
    if user.is_empty() && !groups {
        return Err(invalid(t, "spec.user", "Invalid value: at least one of user or group must be specified"));
    }
    Ok(allowed())
}

fn self_subject_access_review(t: &Target, body: &Value) -> ApiResult<Value> {
    check_attributes(t, body)?;
    Ok(allowed())
}

fn local_subject_access_review(t: &Target, body: &Value) -> ApiResult<Value> {
    if body.pointer("/spec/nonResourceAttributes").is_some_and(|v| !v.is_null()) {
        return Err(invalid(t, "spec.nonResourceAttributes", "Invalid value: disallowed on this kind of request"));
    }
    let ns = body.pointer("/spec/resourceAttributes/namespace").and_then(Value::as_str).unwrap_or_default();
    if ns != t.ns() {
        return Err(ApiError::bad_request(format!("spec.resourceAttributes.namespace must match namespace: {}", t.ns())));
    }
    subject_access_review(t, body)
}

fn self_subject_rules_review(_: &Target, _: &Value) -> ApiResult<Value> {
    Ok(json!({
        "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
        "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
        "incomplete": false,
    }))
}

/// The review echoed back with its status, as the API server answers it.
fn answer(t: &Target, mut body: Value) -> ApiResult<Value> {
    let (_, _, rule) = ANSWERS
        .iter()
        .find(|(g, k, _)| *g == t.rt.group && *k == t.rt.kind)
        .ok_or_else(|| ApiError::internal(format!("no answer for create-only type {}", t.rt.kind)))?;
    let status = rule(t, &body)?;
    let m = body.as_object_mut().ok_or_else(|| ApiError::bad_request("the body of the request must be a JSON object"))?;
    m.insert("apiVersion".into(), json!(t.rt.api_version()));
    m.insert("kind".into(), json!(t.rt.kind));
    let meta = m.entry("metadata").or_insert_with(|| json!({}));
    if let Some(meta) = meta.as_object_mut() {
        meta.insert("creationTimestamp".into(), Value::Null);
        if t.rt.namespaced {
            meta.insert("namespace".into(), json!(t.ns()));
        }
    }
    m.insert("status".into(), status);
    Ok(body)
}

/// `POST .../bindings`: assigns the named pod to `target.name`, once.
fn bind(cluster: &Cluster, t: &Target, body: &Value, opts: &WriteOpts) -> ApiResult<Value> {
    let pod = crate::meta::name(body).to_string();
    let node = body.pointer("/target/name").and_then(Value::as_str).unwrap_or_default();
    if node.is_empty() {
        return Err(invalid(t, "target.name", "Required value"));
    }
    let mut state = cluster.lock();
    let pods = state.resource("", "v1", "pods").ok_or_else(|| ApiError::internal("no pods resource"))?;
    let existing = state.get(&pods, t.ns(), &pod)?;
    if let Some(bound) = existing.pointer("/spec/nodeName").and_then(Value::as_str).filter(|n| !n.is_empty()) {
        return Err(ApiError::conflict(
            "",
            "pods/binding",
            &pod,
            &format!("pod {pod} is already assigned to node \"{bound}\""),
        ));
    }
    state.patch(&pods, t.ns(), &pod, Patch::Merge(json!({"spec": {"nodeName": node}})), "", opts)?;
    Ok(json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}))
}

/// Serves a create-only type: `POST` to the collection, nothing else.
pub async fn serve(cluster: &Cluster, t: &Target, q: &super::Query, req: Request<Body>) -> ApiResult<Response<Body>> {
    if req.method() != Method::POST || t.name.is_some() || !t.sub.is_empty() {
        return Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({} {})",
            req.method(),
            t.rt.plural
        )));
    }
    let opts = resource::write_opts(q, &req);
    let body = resource::json_body(req).await?;
    let answered = if t.rt.group.is_empty() && t.rt.kind == "Binding" {
        bind(cluster, t, &body, &opts)?
    } else {
        answer(t, body)?
    };
    Ok(json_response(201, &answered))
}
