//! Admission webhooks: which `MutatingWebhookConfiguration` and
//! `ValidatingWebhookConfiguration` webhooks a write matches, calling them
//! with a real `AdmissionReview` over HTTP, and turning their answers (or
//! their silence) into upstream's results. Selection reads the state under
//! its lock; calls happen after the lock is released.

mod matching;
pub mod review;
mod webhooks;

use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};

use crate::backends::Endpoints;
use crate::error::{ApiError, ApiResult};
use crate::http_client;
use crate::registry::ResourceType;
use crate::state::State;
use matching::RequestShape;
pub use webhooks::Phase;
use webhooks::{ServiceRef, Webhook};

/// The admission operation of a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Delete,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
        }
    }
}

/// What is known of a write besides the new object.
#[derive(Debug, Clone)]
pub struct Attributes {
    pub operation: Operation,
    pub rt: ResourceType,
    pub sub: String,
    /// Empty for cluster-scoped objects.
    pub namespace: String,
    pub name: String,
    pub dry_run: bool,
    /// `CreateOptions`, `UpdateOptions` or `DeleteOptions`.
    pub options: Value,
    pub old: Option<Value>,
}

impl Attributes {
    fn shape(&self) -> RequestShape<'_> {
        RequestShape {
            operation: self.operation.as_str(),
            group: &self.rt.group,
            version: &self.rt.version,
            resource: &self.rt.plural,
            subresource: &self.sub,
            namespace: if self.rt.namespaced { &self.namespace } else { "" },
        }
    }
}

/// The `options` of a review.
pub fn options(kind: &str, manager: &str, dry_run: bool) -> Value {
    let mut o = json!({"kind": kind, "apiVersion": "meta.k8s.io/v1"});
    if !manager.is_empty() && kind != "DeleteOptions" {
        o["fieldManager"] = json!(manager);
    }
    if dry_run {
        o["dryRun"] = json!(["All"]);
    }
    o
}

/// A webhook to call and where its backend is.
pub struct Call {
    hook: Webhook,
    /// The URL as upstream's error messages show it (`Post "URL": ...`).
    shown_url: String,
    /// The server to send to and the path with query, or why there is none.
    backend: Result<(String, String), String>,
}

/// The webhooks of `phase` that `attrs` with `object` matches, resolved to
/// their backends. Call with the state locked; the result outlives the lock.
pub fn select(state: &State, endpoints: &Endpoints, phase: Phase, attrs: &Attributes, object: Option<&Value>) -> Vec<Call> {
    if matching::is_exempt(&attrs.rt.group, &attrs.rt.kind) {
        return Vec::new();
    }
    let Some(rt) = state.resource_any(webhooks::GROUP, phase.plural()) else { return Vec::new() };
    let configurations = state.all(&rt, None);
    if configurations.is_empty() {
        return Vec::new();
    }
    let shape = attrs.shape();
    let ns_object = state.resource_any("", "namespaces").and_then(|ns| state.get(&ns, "", shape.namespace).ok());
    let ns_labels = matching::namespace_labels(&shape, object, attrs.old.as_ref(), ns_object.as_ref());
    webhooks::from_configurations(configurations)
        .into_iter()
        .filter(|h| matching::rules_match(h, &shape))
        .filter(|h| matching::namespace_matches(h, ns_labels.as_ref()))
        .filter(|h| matching::object_matches(h, object, attrs.old.as_ref()))
        .map(|hook| resolve(state, endpoints, hook))
        .collect()
}

fn with_timeout(url: &str, timeout: Duration) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}timeout={}s", timeout.as_secs())
}

fn resolve(state: &State, endpoints: &Endpoints, hook: Webhook) -> Call {
    let timeout = hook.timeout();
    let config = hook.client_config.clone();
    let (shown_url, backend) = match (config.url, config.service) {
        (Some(url), _) => {
            let shown = with_timeout(&url, timeout);
            let (base, path) = split_url(&shown);
            (shown.clone(), Ok((base, path)))
        }
        (None, Some(svc)) => resolve_service(state, endpoints, &svc, timeout),
        (None, None) => (String::new(), Err("webhook clientConfig has neither url nor service".to_string())),
    };
    Call { hook, shown_url, backend }
}

/// `http://host:port` and `/path?query` of a URL.
fn split_url(url: &str) -> (String, String) {
    let after_scheme = url.find("://").map(|i| i + 3).unwrap_or(0);
    match url[after_scheme..].find(['/', '?']) {
        Some(i) => {
            let (base, rest) = url.split_at(after_scheme + i);
            let rest = if rest.starts_with('?') { format!("/{rest}") } else { rest.to_string() };
            (base.to_string(), rest)
        }
        None => (url.to_string(), "/".to_string()),
    }
}

/// Upstream dials `https://NAME.NAMESPACE.svc:PORT/PATH`; here the Service must
/// exist and have a registered endpoint.
fn resolve_service(
    state: &State,
    endpoints: &Endpoints,
    svc: &ServiceRef,
    timeout: Duration,
) -> (String, Result<(String, String), String>) {
    let path = match svc.path.as_deref() {
        None | Some("") => "/".to_string(),
        Some(p) => p.to_string(),
    };
    let port = svc.port.unwrap_or(443);
    let shown = with_timeout(&format!("https://{}.{}.svc:{port}{path}", svc.name, svc.namespace), timeout);
    let path_and_query = with_timeout(&path, timeout);
    let exists = state.resource_any("", "services").is_some_and(|rt| state.get(&rt, &svc.namespace, &svc.name).is_ok());
    let backend = match (exists, endpoints.url(&svc.namespace, &svc.name)) {
        (false, _) => Err(format!("service {:?} not found", svc.name)),
        (true, None) => Err(format!("no endpoints available for service {:?}", svc.name)),
        (true, Some(base)) => Ok((base, path_and_query)),
    };
    (shown, backend)
}

/// How one call ended.
enum Outcome {
    Allowed(Option<Value>),
    Denied(ApiError),
    /// Not called or no usable answer: subject to `failurePolicy`.
    Failed(String),
}

async fn post(call: &Call, review: &Value) -> Result<Value, String> {
    let (base, path) = call.backend.as_ref().map_err(|why| format!("failed to call webhook: Post {:?}: {why}", call.shown_url))?;
    let req = http::Request::post(path.as_str())
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::ACCEPT, "application/json, */*")
        .body(Bytes::from(review.to_string()))
        .map_err(|e| format!("failed to call webhook: {e}"))?;
    let resp = http_client::send_within(base, req, call.hook.timeout())
        .await
        .map_err(|e| format!("failed to call webhook: Post {:?}: {e}", call.shown_url))?;
    if !resp.status().is_success() {
        return Err(format!("failed to call webhook: {}", review::http_failure(resp.status().as_u16(), resp.body())));
    }
    serde_json::from_slice(resp.body()).map_err(|e| format!("failed to call webhook: {e}"))
}

async fn call_one(call: &Call, phase: Phase, attrs: &Attributes, object: Option<&Value>) -> Result<Outcome, ApiError> {
    let hook = &call.hook;
    if attrs.dry_run {
        match hook.side_effects.as_deref() {
            None => return Ok(Outcome::Failed("Webhook SideEffects is nil".into())),
            Some(_) if !hook.supports_dry_run() => {
                return Err(ApiError::bad_request(format!("admission webhook {:?} does not support dry run", hook.name)));
            }
            Some(_) => {}
        }
    }
    let uid = crate::meta::new_uid();
    let answer = match post(call, &review::request(&uid, attrs, object)).await {
        Ok(a) => a,
        Err(why) => return Ok(Outcome::Failed(why)),
    };
    Ok(match review::verify(&uid, phase == Phase::Mutating, &answer) {
        Err(why) => Outcome::Failed(format!("received invalid webhook response: {why}")),
        Ok(v) if !v.allowed => Outcome::Denied(review::denial(&hook.name, v.status.as_ref())),
        Ok(v) => Outcome::Allowed(v.patch),
    })
}

/// Runs one webhook; `Ok(Some(patch))` when a mutating webhook returned one.
async fn run(call: &Call, phase: Phase, attrs: &Attributes, object: Option<&Value>) -> ApiResult<Option<Value>> {
    match call_one(call, phase, attrs, object).await? {
        Outcome::Allowed(patch) => Ok(patch),
        Outcome::Denied(e) => Err(e),
        Outcome::Failed(why) if call.hook.ignores_failures() => {
            tracing::warn!("failed calling webhook, failing open {}: {why}", call.hook.name);
            Ok(None)
        }
        Outcome::Failed(why) => Err(review::call_failure(&call.hook.name, &why)),
    }
}

/// Calls the mutating webhooks in order, each on the previous one's result;
/// the object as mutated (`None` stays `None`, e.g. for deletes).
pub async fn mutate(calls: &[Call], attrs: &Attributes, mut object: Option<Value>) -> ApiResult<Option<Value>> {
    for call in calls {
        let Some(patch) = run(call, Phase::Mutating, attrs, object.as_ref()).await? else { continue };
        let empty = patch.as_array().is_some_and(|a| a.is_empty());
        match object.as_mut() {
            _ if empty => {}
            None => {
                return Err(ApiError::internal(format!(
                    "Internal error occurred: admission webhook {:?} attempted to modify the object, which is not supported for this operation",
                    call.hook.name
                )));
            }
            Some(obj) => crate::patch::json_patch(obj, &patch)
                .map_err(|e| ApiError::internal(format!("Internal error occurred: {}", e.message)))?,
        }
    }
    Ok(object)
}

/// Calls the validating webhooks; the first denial or failure wins.
pub async fn validate(calls: &[Call], attrs: &Attributes, object: Option<&Value>) -> ApiResult<()> {
    for call in calls {
        run(call, Phase::Validating, attrs, object).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_server_and_path() {
        assert_eq!(split_url("http://127.0.0.1:1/v?timeout=10s"), ("http://127.0.0.1:1".into(), "/v?timeout=10s".into()));
        assert_eq!(split_url("http://127.0.0.1:1?timeout=10s"), ("http://127.0.0.1:1".into(), "/?timeout=10s".into()));
        assert_eq!(with_timeout("http://h/x?a=b", Duration::from_secs(5)), "http://h/x?a=b&timeout=5s");
    }
}
