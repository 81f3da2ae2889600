//! Naming the admission control that refused an object, for the retry rule
//! (`api.rs`) and the restore report. The API server's own message says
//! which webhook or policy it was, in fixed shapes (k8s.io/apiserver
//! `admission/plugin/webhook/errors` and the ValidatingAdmissionPolicy
//! dispatcher):
//!
//! | the server answers | shape of the message | the report says |
//! |---|---|---|
//! | a webhook denied (4xx, or the code the webhook chose) | `admission webhook "NAME" denied the request: MSG` (or `… without explanation`) | `rejected by webhook NAME: MSG` |
//! | a webhook could not be called (500 `InternalError`) | `Internal error occurred: failed calling webhook "NAME": CAUSE` | `webhook NAME could not be called: CAUSE; …` (it is restored last: its backend may be down) |
//! | a policy denied (403/422) | `ValidatingAdmissionPolicy 'NAME' with binding 'BINDING' denied request: MSG` | `rejected by admission policy NAME (binding BINDING): MSG` |
//!
//! Both webhook answers are final for a restore: [`is_final`] keeps the
//! API layer from retrying them as it retries other 5xx (a backend that is
//! down stays down for the seconds retries last, and every call already
//! waits out the webhook's timeout).

use crate::error::{ApiFailure, Error};

/// Who refused, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A webhook answered `allowed: false`.
    Denied { webhook: String, message: String },
    /// A webhook with `failurePolicy: Fail` could not be reached or answered badly.
    Unreachable { webhook: String, cause: String },
    /// A ValidatingAdmissionPolicy's validation failed.
    Policy { policy: String, binding: String, message: String },
}

type Parser = fn(&str) -> Option<Refusal>;

/// One row per message shape (module table).
const SHAPES: &[Parser] = &[webhook_denied, webhook_unreachable, policy_denied];

/// The admission refusal an API failure reports, if it is one.
pub fn refusal(failure: &ApiFailure) -> Option<Refusal> {
    SHAPES.iter().find_map(|parse| parse(&failure.message))
}

/// Whether retrying cannot help: a webhook's answer, whatever its code.
pub fn is_final(failure: &ApiFailure) -> bool {
    matches!(refusal(failure), Some(Refusal::Denied { .. } | Refusal::Unreachable { .. }))
}

/// The reason an item's report gives for `e`: the refusal named when it is
/// one, else the error's own reason.
pub fn explain(e: &Error) -> String {
    match e {
        Error::Api { failure, .. } => refusal(failure).map_or_else(|| e.reason(), |r| r.to_string()),
        _ => e.reason(),
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Denied { webhook, message } => write!(f, "rejected by webhook {webhook}: {message}"),
            Refusal::Unreachable { webhook, cause } => write!(
                f,
                "webhook {webhook} could not be called: {cause}; webhook configurations are restored last, so if \
                 this one was already in the cluster its backend is down or not restored yet: start it (or delete \
                 the configuration) and restore again"
            ),
            Refusal::Policy { policy, binding, message } => {
                write!(f, "rejected by admission policy {policy} (binding {binding}): {message}")
            }
        }
    }
}

/// `"NAME"` at the start of `s` (Go's `%q`): the name and the rest.
fn quoted(s: &str) -> Option<(String, &str)> {
    let body = s.strip_prefix('"')?;
    let end = body.find('"')?;
    Some((body[..end].to_string(), &body[end + 1..]))
}

/// `'NAME'` at the start of `s`: the name and the rest.
fn single_quoted(s: &str) -> Option<(String, &str)> {
    let body = s.strip_prefix('\'')?;
    let end = body.find('\'')?;
    Some((body[..end].to_string(), &body[end + 1..]))
}

fn webhook_denied(message: &str) -> Option<Refusal> {
    let (_, at) = message.split_once("admission webhook ")?;
    let (webhook, rest) = quoted(at)?;
    let rest = rest.strip_prefix(" denied the request")?;
    let message = match rest.strip_prefix(": ") {
        Some(why) => why.to_string(),
        None => "no explanation given".to_string(),
    };
    Some(Refusal::Denied { webhook, message })
}

fn webhook_unreachable(message: &str) -> Option<Refusal> {
    let (_, at) = message.split_once("failed calling webhook ")?;
    let (webhook, rest) = quoted(at)?;
    let cause = rest.strip_prefix(": ").unwrap_or("no further details available");
    Some(Refusal::Unreachable { webhook, cause: cause.to_string() })
}

fn policy_denied(message: &str) -> Option<Refusal> {
    let (_, at) = message.split_once("ValidatingAdmissionPolicy ")?;
    let (policy, rest) = single_quoted(at)?;
    let (binding, rest) = single_quoted(rest.strip_prefix(" with binding ")?)?;
    let message = rest.strip_prefix(" denied request: ").unwrap_or(rest).to_string();
    Some(Refusal::Policy { policy, binding, message })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(code: u16, reason: &str, message: &str) -> ApiFailure {
        ApiFailure { code, reason: reason.into(), message: message.into() }
    }

    #[test]
    fn names_the_webhook_that_denied() {
        let f = failure(403, "Forbidden", r#"admission webhook "guard.example.org" denied the request: no widgets"#);
        assert_eq!(
            refusal(&f),
            Some(Refusal::Denied { webhook: "guard.example.org".into(), message: "no widgets".into() })
        );
        assert_eq!(
            refusal(&f).map(|r| r.to_string()).as_deref(),
            Some("rejected by webhook guard.example.org: no widgets")
        );
        let silent = failure(
            400,
            "BadRequest",
            r#"admission webhook "guard.example.org" denied the request without explanation"#,
        );
        assert!(matches!(refusal(&silent), Some(Refusal::Denied { message, .. }) if message == "no explanation given"));
        assert!(is_final(&f) && is_final(&silent));
    }

    #[test]
    fn a_denial_with_a_server_error_code_is_still_final() {
        let f = failure(500, "InternalError", r#"admission webhook "guard.example.org" denied the request: busy"#);
        assert!(is_final(&f));
    }

    #[test]
    fn names_the_webhook_that_could_not_be_called() {
        let f = failure(
            500,
            "InternalError",
            r#"Internal error occurred: failed calling webhook "guard.example.org": failed to call webhook: Post "https://guard.ns.svc:443/validate?timeout=10s": no endpoints available for service "guard""#,
        );
        let Some(Refusal::Unreachable { webhook, cause }) = refusal(&f) else {
            panic!("not recognised: {f}");
        };
        assert_eq!(webhook, "guard.example.org");
        assert!(cause.starts_with("failed to call webhook: Post"), "{cause}");
        let text = refusal(&f).map(|r| r.to_string()).unwrap_or_default();
        assert!(text.starts_with("webhook guard.example.org could not be called: failed to call webhook"), "{text}");
        assert!(text.contains("restored last"), "{text}");
        assert!(is_final(&f));
        let bare = failure(
            500,
            "InternalError",
            r#"Internal error occurred: failed calling webhook "w.io"; no further details available"#,
        );
        assert!(
            matches!(refusal(&bare), Some(Refusal::Unreachable { cause, .. }) if cause == "no further details available")
        );
    }

    #[test]
    fn names_the_policy_that_denied() {
        let f = failure(
            422,
            "Invalid",
            "ValidatingAdmissionPolicy 'replicas-limit' with binding 'replicas-limit-prod' denied request: too many",
        );
        assert_eq!(
            refusal(&f).map(|r| r.to_string()).as_deref(),
            Some("rejected by admission policy replicas-limit (binding replicas-limit-prod): too many")
        );
        assert!(!is_final(&f), "4xx is never retried anyway; only webhook answers need the exception");
    }

    #[test]
    fn other_failures_keep_their_reason_and_are_retried_as_before() {
        let plain = failure(500, "InternalError", "Internal error occurred: etcdserver: request timed out");
        assert_eq!(refusal(&plain), None);
        assert!(!is_final(&plain));
        let e = Error::Api { what: "creating configmap/a/b".into(), failure: plain.clone() };
        assert_eq!(explain(&e), plain.to_string());
        let quoted_only = failure(400, "BadRequest", r#"admission webhook "unterminated"#);
        assert_eq!(refusal(&quoted_only), None);
    }
}
