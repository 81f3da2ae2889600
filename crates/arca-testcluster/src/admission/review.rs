//! The `admission.k8s.io/v1` `AdmissionReview` sent to a webhook, and the
//! reading of its answer, with upstream's texts for bad answers and denials.

use base64::Engine;
use serde_json::{Value, json};

use super::Attributes;
use crate::error::ApiError;

pub const API_VERSION: &str = "admission.k8s.io/v1";
pub const KIND: &str = "AdmissionReview";

/// The user the request acts as.
fn user_info() -> Value {
    crate::auth::current_user().to_json()
}

/// The review for one call; `uid` identifies it in the answer.
pub fn request(uid: &str, attrs: &Attributes, object: Option<&Value>) -> Value {
    let rt = &attrs.rt;
    let kind = json!({"group": rt.group, "version": rt.version, "kind": rt.kind});
    let resource = json!({"group": rt.group, "version": rt.version, "resource": rt.plural});
    let mut req = json!({
        "uid": uid,
        "kind": kind,
        "resource": resource,
        "requestKind": kind,
        "requestResource": resource,
        "operation": attrs.operation.as_str(),
        "userInfo": user_info(),
        "object": object.cloned().unwrap_or(Value::Null),
        "oldObject": attrs.old.clone().unwrap_or(Value::Null),
        "dryRun": attrs.dry_run,
        "options": attrs.options,
    });
    let optional = [
        ("subResource", &attrs.sub),
        ("requestSubResource", &attrs.sub),
        ("name", &attrs.name),
        ("namespace", &attrs.namespace),
    ];
    for (key, value) in optional {
        if !value.is_empty() {
            req[key] = json!(value);
        }
    }
    json!({"apiVersion": API_VERSION, "kind": KIND, "request": req})
}

/// What an answer said.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub allowed: bool,
    pub status: Option<Value>,
    /// A decoded RFC 6902 JSON patch (mutating webhooks only).
    pub patch: Option<Value>,
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// Reads an answer as upstream's `VerifyAdmissionResponse` does; the error
/// text follows `received invalid webhook response: `.
pub fn verify(uid: &str, mutating: bool, answer: &Value) -> Result<Verdict, String> {
    let (api_version, kind) = (str_of(answer, "apiVersion"), str_of(answer, "kind"));
    if api_version != API_VERSION || kind != KIND {
        return Err(format!("expected webhook response of {API_VERSION}, Kind={KIND}, got {api_version}, Kind={kind}"));
    }
    let Some(resp) = answer.get("response").filter(|r| r.is_object()) else {
        return Err("webhook response was absent".into());
    };
    let got = str_of(resp, "uid");
    if got != uid {
        return Err(format!("expected response.uid={uid:?}, got {got:?}"));
    }
    let patch = str_of(resp, "patch");
    let patch_type = str_of(resp, "patchType");
    if !mutating && (!patch.is_empty() || !patch_type.is_empty()) {
        return Err("validating webhook may not return response.patch or response.patchType".into());
    }
    let patch = match (patch.is_empty(), patch_type) {
        (true, _) => None,
        (false, "") => return Err("webhook returned response.patch but not response.patchType".into()),
        (false, "JSONPatch") => Some(decode_patch(patch)?),
        (false, other) => return Err(format!("webhook returned invalid response.patchType of {other:?}")),
    };
    Ok(Verdict {
        allowed: resp.get("allowed").and_then(Value::as_bool).unwrap_or(false),
        status: resp.get("status").cloned(),
        patch,
    })
}

fn decode_patch(b64: &str) -> Result<Value, String> {
    let bytes =
        base64::engine::general_purpose::STANDARD.decode(b64).map_err(|e| format!("illegal base64 data: {e}"))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("received undecodable patch in webhook response: {e}"))
}

/// The error of a denial (upstream's `ToStatusErr` of Kubernetes 1.24–1.33):
/// the webhook's code (at least 400) and reason, the message prefixed.
pub fn denial(webhook: &str, status: Option<&Value>) -> ApiError {
    let status = status.cloned().unwrap_or(Value::Null);
    let code = status.get("code").and_then(Value::as_u64).unwrap_or(0).clamp(400, 599) as u16;
    let (message, reason) = (str_of(&status, "message"), str_of(&status, "reason"));
    let denied = format!("admission webhook {webhook:?} denied the request");
    let text = match (message.is_empty(), reason.is_empty()) {
        (false, _) => format!("{denied}: {message}"),
        (true, false) => format!("{denied}: {reason}"),
        (true, true) => format!("{denied} without explanation"),
    };
    ApiError::new(code, reason, text)
}

/// The error of a webhook that could not be called under `failurePolicy: Fail`.
pub fn call_failure(webhook: &str, why: &str) -> ApiError {
    let err = format!("failed calling webhook {webhook:?}: {why}");
    ApiError::internal(format!("Internal error occurred: {err}")).with_causes(vec![crate::error::cause("", "", err)])
}

/// What client-go reports for a non-2xx answer without a `Status` body.
pub fn http_failure(code: u16, body: &[u8]) -> String {
    if let Ok(status) = serde_json::from_slice::<Value>(body) {
        if str_of(&status, "kind") == "Status" && !str_of(&status, "message").is_empty() {
            return str_of(&status, "message").to_string();
        }
    }
    let text = String::from_utf8_lossy(body).trim().to_string();
    match code {
        400 => "the server rejected our request for an unknown reason".into(),
        401 => "the server has asked for the client to provide credentials".into(),
        403 => "the server does not allow access to the requested resource".into(),
        404 => "the server could not find the requested resource".into(),
        503 => "the server is currently unable to handle the request".into(),
        504 => {
            "the server was unable to return a response in the time allotted, but may still be processing the request"
                .into()
        }
        500 => format!("an error on the server ({text:?}) has prevented the request from succeeding"),
        _ => format!("the server responded with the status code {code} but did not return more information"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denials_take_code_and_reason_from_the_webhook() {
        let e = denial("guard", Some(&json!({"code": 403, "reason": "Forbidden", "message": "no way"})));
        assert_eq!((e.code, e.reason.as_str()), (403, "Forbidden"));
        assert_eq!(e.message, "admission webhook \"guard\" denied the request: no way");
        let e = denial("guard", Some(&json!({"code": 200})));
        assert_eq!(
            (e.code, e.message.as_str()),
            (400, "admission webhook \"guard\" denied the request without explanation")
        );
    }

    #[test]
    fn answers_are_verified() {
        let ok = json!({"apiVersion": API_VERSION, "kind": KIND, "response": {"uid": "u", "allowed": true}});
        assert_eq!(verify("u", false, &ok).map(|v| v.allowed), Ok(true));
        assert!(verify("other", false, &ok).is_err_and(|e| e.contains("expected response.uid=\"other\"")));
        let patch = base64::engine::general_purpose::STANDARD.encode(br#"[{"op":"add","path":"/x","value":1}]"#);
        let mutated = json!({"apiVersion": API_VERSION, "kind": KIND, "response": {"uid": "u", "allowed": true, "patch": patch, "patchType": "JSONPatch"}});
        assert!(verify("u", true, &mutated).is_ok_and(|v| v.patch.is_some()));
        assert!(verify("u", false, &mutated).is_err());
        assert!(verify("u", true, &json!({"apiVersion": "v1", "kind": "Status"})).is_err());
    }
}
