//! API errors rendered as the `Status` objects a real API server answers with.

use serde_json::{Value, json};

/// One entry of `details.causes` in a `Status`.
#[derive(Debug, Clone, PartialEq)]
pub struct Cause {
    pub reason: String,
    pub message: String,
    pub field: String,
}

/// The optional parts of a `Status`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Details {
    pub name: Option<String>,
    pub group: Option<String>,
    pub kind: Option<String>,
    pub causes: Vec<Cause>,
    pub retry_after: Option<u64>,
    /// `metadata.continue` of the Status (used by 410 Expired answers).
    pub continue_token: Option<String>,
}

/// An error answered to an API request, shaped like `metav1.Status`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code} {reason}: {message}")]
pub struct ApiError {
    pub code: u16,
    pub reason: String,
    pub message: String,
    pub details: Box<Details>,
}

/// Result type of the API layer.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: u16, reason: &str, message: impl Into<String>) -> Self {
        ApiError { code, reason: reason.to_string(), message: message.into(), details: Box::default() }
    }

    /// Attach `details.{name,group,kind}`.
    pub fn with_details(mut self, group: &str, kind: &str, name: &str) -> Self {
        self.details.name = Some(name.to_string());
        self.details.group = Some(group.to_string());
        self.details.kind = Some(kind.to_string());
        self
    }

    /// Attach `details.causes`.
    pub fn with_causes(mut self, causes: Vec<Cause>) -> Self {
        self.details.causes = causes;
        self
    }

    /// `details.retryAfterSeconds` and the `Retry-After` header.
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.details.retry_after = Some(secs);
        self
    }

    /// `metadata.continue` of the Status.
    pub fn with_continue(mut self, token: String) -> Self {
        self.details.continue_token = Some(token);
        self
    }

    pub fn causes(&self) -> &[Cause] {
        &self.details.causes
    }

    pub fn retry_after(&self) -> Option<u64> {
        self.details.retry_after
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// `404 NotFound` for `resource` (plural, e.g. `configmaps`) named `name`.
    pub fn not_found(group: &str, resource: &str, name: &str) -> Self {
        let qualified = qualified(resource, group);
        Self::new(404, "NotFound", format!("{qualified} \"{name}\" not found")).with_details(group, resource, name)
    }

    /// `404` for a path that names no resource at all.
    pub fn no_route(path: &str) -> Self {
        Self::new(404, "NotFound", format!("the server could not find the requested resource ({path})"))
    }

    pub fn already_exists(group: &str, resource: &str, name: &str) -> Self {
        let qualified = qualified(resource, group);
        Self::new(409, "AlreadyExists", format!("{qualified} \"{name}\" already exists"))
            .with_details(group, resource, name)
    }

    pub fn conflict(group: &str, resource: &str, name: &str, why: &str) -> Self {
        let qualified = qualified(resource, group);
        Self::new(409, "Conflict", format!("Operation cannot be fulfilled on {qualified} \"{name}\": {why}"))
            .with_details(group, resource, name)
    }

    pub fn stale(group: &str, resource: &str, name: &str) -> Self {
        Self::conflict(
            group,
            resource,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// `422 Invalid` for `kind` named `name`, with one cause per field error.
    pub fn invalid(group: &str, kind: &str, name: &str, causes: Vec<Cause>) -> Self {
        let list: Vec<String> = causes.iter().map(|c| format!("{}: {}", c.field, c.message)).collect();
        let body = if list.len() == 1 { list[0].clone() } else { format!("[{}]", list.join(", ")) };
        Self::new(422, "Invalid", format!("{kind} \"{name}\" is invalid: {body}"))
            .with_details(group, kind, name)
            .with_causes(causes)
    }

    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, "MethodNotAllowed", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", message)
    }

    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    /// The `Status` JSON object.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        let d = &self.details;
        if let Some(token) = &d.continue_token {
            status["metadata"]["continue"] = json!(token);
        }
        let mut details = serde_json::Map::new();
        if let Some(name) = &d.name {
            details.insert("name".into(), json!(name));
        }
        if let Some(group) = d.group.as_ref().filter(|g| !g.is_empty()) {
            details.insert("group".into(), json!(group));
        }
        if let Some(kind) = &d.kind {
            details.insert("kind".into(), json!(kind));
        }
        if !d.causes.is_empty() {
            let causes: Vec<Value> =
                d.causes.iter().map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field})).collect();
            details.insert("causes".into(), Value::Array(causes));
        }
        if let Some(secs) = d.retry_after {
            details.insert("retryAfterSeconds".into(), json!(secs));
        }
        if !details.is_empty() {
            status["details"] = Value::Object(details);
        }
        status
    }
}

/// A field error cause, e.g. `FieldValueInvalid`.
pub fn cause(reason: &str, field: &str, message: impl Into<String>) -> Cause {
    Cause { reason: reason.to_string(), message: message.into(), field: field.to_string() }
}

fn qualified(resource: &str, group: &str) -> String {
    if group.is_empty() { resource.to_string() } else { format!("{resource}.{group}") }
}
