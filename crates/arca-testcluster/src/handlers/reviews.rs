//! Create-only types: the authentication and authorization reviews (answered,
//! never stored) and core/v1 `bindings` (which assign a pod to a node).
//!
//! Token reviews authenticate with the cluster's tokens; access reviews ask
//! the same authorizer requests go through.

use axum::body::Body;
use http::{Method, Request, Response};
use serde_json::{Value, json};

use super::{Target, json_response, resource};
use crate::auth::{self, Attributes, UserInfo, rbac, rbac::PolicyRule};
use crate::cluster::Cluster;
use crate::error::{ApiError, ApiResult, cause};
use crate::state::{Patch, WriteOpts};

type Answer = fn(&Cluster, &Target, &Value) -> ApiResult<Value>;

/// The status each review kind answers with (rules as data).
const ANSWERS: &[(&str, &str, Answer)] = &[
    ("authentication.k8s.io", "TokenReview", token_review),
    ("authentication.k8s.io", "SelfSubjectReview", self_subject_review),
    ("authorization.k8s.io", "SubjectAccessReview", subject_access_review),
    ("authorization.k8s.io", "SelfSubjectAccessReview", self_subject_access_review),
    ("authorization.k8s.io", "LocalSubjectAccessReview", local_subject_access_review),
    ("authorization.k8s.io", "SelfSubjectRulesReview", self_subject_rules_review),
];

fn invalid(t: &Target, field: &str, message: &str) -> ApiError {
    ApiError::invalid(&t.rt.group, &t.rt.kind, "", vec![cause("FieldValueInvalid", field, message)])
}

fn token_review(cluster: &Cluster, _: &Target, body: &Value) -> ApiResult<Value> {
    let token = body.pointer("/spec/token").and_then(Value::as_str).unwrap_or_default();
    if token.is_empty() {
        return Err(ApiError::bad_request("token is required for TokenReview in authentication"));
    }
    let audiences =
        body.pointer("/spec/audiences").cloned().unwrap_or_else(|| json!(["https://kubernetes.default.svc"]));
    match cluster.auth.authenticate(token) {
        Some(user) => Ok(json!({"authenticated": true, "user": user.to_json(), "audiences": audiences})),
        None => Ok(json!({"authenticated": false, "user": {}, "error": "invalid bearer token"})),
    }
}

fn self_subject_review(_: &Cluster, _: &Target, _: &Value) -> ApiResult<Value> {
    Ok(json!({"userInfo": auth::current_user().to_json()}))
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

fn strings(v: &Value, pointer: &str) -> Vec<String> {
    v.pointer(pointer)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
        .unwrap_or_default()
}

fn text(v: &Value, pointer: &str) -> String {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or_default().to_string()
}

/// The attributes a review's `spec` asks about, for `user`.
fn review_attributes(user: UserInfo, spec: &Value) -> Attributes {
    if let Some(r) = spec.get("resourceAttributes").filter(|v| !v.is_null()) {
        return Attributes {
            user,
            verb: text(r, "/verb"),
            resource_request: true,
            namespace: text(r, "/namespace"),
            api_group: text(r, "/group"),
            api_version: text(r, "/version"),
            resource: text(r, "/resource"),
            subresource: text(r, "/subresource"),
            name: text(r, "/name"),
            ..Default::default()
        };
    }
    Attributes {
        user,
        verb: text(spec, "/nonResourceAttributes/verb"),
        path: text(spec, "/nonResourceAttributes/path"),
        ..Default::default()
    }
}

/// The review's status from the authorizer.
fn decide(cluster: &Cluster, user: UserInfo, body: &Value) -> Value {
    let spec = body.get("spec").cloned().unwrap_or_default();
    let attrs = review_attributes(user, &spec);
    match auth::authorize(cluster, &cluster.lock(), &attrs) {
        Some(reason) if reason.is_empty() => json!({"allowed": true}),
        Some(reason) => json!({"allowed": true, "reason": reason}),
        None => json!({"allowed": false}),
    }
}

/// The subject a `SubjectAccessReview` names.
fn spec_user(body: &Value) -> UserInfo {
    let extra = body
        .pointer("/spec/extra")
        .and_then(Value::as_object)
        .map(|m| m.keys().map(|k| (k.clone(), strings(body, &format!("/spec/extra/{k}")))).collect())
        .unwrap_or_default();
    UserInfo {
        name: text(body, "/spec/user"),
        uid: text(body, "/spec/uid"),
        groups: strings(body, "/spec/groups"),
        extra,
    }
}

fn subject_access_review(cluster: &Cluster, t: &Target, body: &Value) -> ApiResult<Value> {
    check_attributes(t, body)?;
    let user = body.pointer("/spec/user").and_then(Value::as_str).unwrap_or_default();
    let groups = body.pointer("/spec/groups").and_then(Value::as_array).is_some_and(|g| !g.is_empty());
    if user.is_empty() && !groups {
        return Err(invalid(t, "spec.user", "Invalid value: at least one of user or group must be specified"));
    }
    Ok(decide(cluster, spec_user(body), body))
}

fn self_subject_access_review(cluster: &Cluster, t: &Target, body: &Value) -> ApiResult<Value> {
    check_attributes(t, body)?;
    Ok(decide(cluster, auth::current_user(), body))
}

fn local_subject_access_review(cluster: &Cluster, t: &Target, body: &Value) -> ApiResult<Value> {
    if body.pointer("/spec/nonResourceAttributes").is_some_and(|v| !v.is_null()) {
        return Err(invalid(t, "spec.nonResourceAttributes", "Invalid value: disallowed on this kind of request"));
    }
    let ns = body.pointer("/spec/resourceAttributes/namespace").and_then(Value::as_str).unwrap_or_default();
    if ns != t.ns() {
        return Err(ApiError::bad_request(format!(
            "spec.resourceAttributes.namespace must match namespace: {}",
            t.ns()
        )));
    }
    subject_access_review(cluster, t, body)
}

/// The rules of the requester in `spec.namespace`; everything without RBAC.
fn self_subject_rules_review(cluster: &Cluster, _: &Target, body: &Value) -> ApiResult<Value> {
    let user = auth::current_user();
    let rules = if !cluster.auth.rbac || user.is_privileged() {
        vec![
            PolicyRule {
                verbs: vec!["*".into()],
                api_groups: vec!["*".into()],
                resources: vec!["*".into()],
                ..Default::default()
            },
            PolicyRule { verbs: vec!["*".into()], non_resource_urls: vec!["*".into()], ..Default::default() },
        ]
    } else {
        rbac::rules_for(&cluster.lock(), &user, &text(body, "/spec/namespace"))
    };
    let (urls, resources): (Vec<PolicyRule>, Vec<PolicyRule>) =
        rules.into_iter().partition(|r| !r.non_resource_urls.is_empty());
    let non_resource: Vec<Value> =
        urls.iter().map(|r| json!({"verbs": r.verbs, "nonResourceURLs": r.non_resource_urls})).collect();
    Ok(json!({"resourceRules": resources, "nonResourceRules": non_resource, "incomplete": false}))
}

/// The review echoed back with its status, as the API server answers it.
fn answer(cluster: &Cluster, t: &Target, mut body: Value) -> ApiResult<Value> {
    let (_, _, rule) = ANSWERS
        .iter()
        .find(|(g, k, _)| *g == t.rt.group && *k == t.rt.kind)
        .ok_or_else(|| ApiError::internal(format!("no answer for create-only type {}", t.rt.kind)))?;
    let status = rule(cluster, t, &body)?;
    let m =
        body.as_object_mut().ok_or_else(|| ApiError::bad_request("the body of the request must be a JSON object"))?;
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
        answer(cluster, t, body)?
    };
    Ok(json_response(201, &answered))
}
