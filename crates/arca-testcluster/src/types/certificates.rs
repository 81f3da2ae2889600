//! CertificateSigningRequests: the requester recorded on create, the fields
//! upstream requires. Nothing signs them; approval is a subresource write.

use serde_json::{Value, json};

use crate::error::{ApiResult, Cause, cause};
use crate::meta;
use crate::registry::ResourceType;

/// Fields `certificates.k8s.io/v1` requires (rules as data).
const REQUIRED: &[(&str, &str)] = &[("/spec/request", "spec.request"), ("/spec/signerName", "spec.signerName")];

fn missing(obj: &Value) -> Vec<Cause> {
    REQUIRED
        .iter()
        .filter(|(pointer, _)| obj.pointer(pointer).and_then(Value::as_str).is_none_or(str::is_empty))
        .map(|(_, field)| cause("FieldValueRequired", field, "Required value"))
        .collect()
}

/// Validates a new CSR and records the requesting user as the API server does.
pub fn csr_on_create(rt: &ResourceType, obj: &mut Value) -> ApiResult<()> {
    let causes = missing(obj);
    if !causes.is_empty() {
        return Err(crate::error::ApiError::invalid(&rt.group, &rt.kind, meta::name(obj), causes));
    }
    let spec = meta::object_mut(obj, "spec");
    let user = crate::auth::current_user();
    spec.insert("username".into(), json!(user.name));
    spec.insert("groups".into(), json!(user.groups));
    Ok(())
}
