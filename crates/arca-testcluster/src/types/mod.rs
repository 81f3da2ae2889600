//! Per-type rules: defaults on create, validation and immutability on update,
//! side effects of writes (CRDs) and deletion behaviour (namespaces).

mod certificates;
mod config;
pub mod crd;
mod namespace;
mod service;
pub mod storage;
mod workloads;

use serde_json::Value;

use crate::error::{ApiError, ApiResult, cause};
use crate::meta;
use crate::registry::ResourceType;
use crate::state::State;
pub use storage::{DEFAULT_CLASS_ANNOTATION, PVC_PROTECTION};

fn is(rt: &ResourceType, group: &str, kind: &str) -> bool {
    !rt.from_crd && rt.group == group && rt.kind == kind
}

/// Name validation: DNS labels for namespaces and services, path segments for
/// RBAC objects, DNS subdomains for the rest.
pub fn validate_name(rt: &ResourceType, name: &str) -> ApiResult<()> {
    let (ok, what) = if is(rt, "", "Namespace") || is(rt, "", "Service") {
        (
            meta::is_dns_label(name),
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
        )
    } else if rt.group == "rbac.authorization.k8s.io" {
        (!name.contains('/') && !name.contains('%') && name != "." && name != "..", "may not contain '/' or '%'")
    } else {
        (
            meta::is_dns_subdomain(name),
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
        )
    };
    if ok {
        return Ok(());
    }
    Err(ApiError::invalid(
        &rt.group,
        &rt.kind,
        name,
        vec![cause("FieldValueInvalid", "metadata.name", format!("Invalid value: \"{name}\": {what}"))],
    ))
}

/// Defaults and validation of a new object.
pub fn on_create(state: &mut State, rt: &ResourceType, obj: &mut Value) -> ApiResult<()> {
    if rt.from_crd {
        crd::check_not_terminating(state, rt)?;
    }
    match (rt.from_crd, rt.group.as_str(), rt.kind.as_str()) {
        (false, "", "Namespace") => namespace::on_create(obj),
        (false, "", "Service") => service::on_create(&mut state.alloc, rt, obj)?,
        (false, "", "Secret") => config::on_write_secret(obj),
        (false, "", "Pod") => workloads::pod_on_create(obj),
        (false, "", "PersistentVolumeClaim") => storage::pvc_on_create(state, obj),
        (false, "", "PersistentVolume") => storage::pv_on_create(obj),
        (false, "batch", "Job") => workloads::job_on_create(obj),
        (false, "apiextensions.k8s.io", "CustomResourceDefinition") => crd::on_write(rt, obj, None)?,
        (false, "certificates.k8s.io", "CertificateSigningRequest") => certificates::csr_on_create(rt, obj)?,
        _ => {}
    }
    Ok(())
}

/// Defaults, validation and immutability of an update.
pub fn on_update(state: &mut State, rt: &ResourceType, old: &Value, new: &mut Value, sub: &str) -> ApiResult<()> {
    match (rt.from_crd, rt.group.as_str(), rt.kind.as_str()) {
        (false, "", "Namespace") => namespace::on_update(old, new),
        (false, "", "Service") => service::on_update(&mut state.alloc, rt, old, new)?,
        (false, "", "Secret") => {
            config::on_write_secret(new);
            config::check_immutable(rt, old, new)?;
        }
        (false, "", "ConfigMap") => config::check_immutable(rt, old, new)?,
        (false, "", "PersistentVolumeClaim") => storage::pvc_on_update(rt, old, new)?,
        (false, "batch", "Job") => workloads::job_on_update(rt, old, new)?,
        (false, "apiextensions.k8s.io", "CustomResourceDefinition") if sub.is_empty() => {
            crd::on_write(rt, new, Some(old))?
        }
        _ => {}
    }
    Ok(())
}

/// Side effects after an object was stored.
pub fn after_write(state: &mut State, rt: &ResourceType, obj: &Value) {
    if is(rt, "apiextensions.k8s.io", "CustomResourceDefinition") && !meta::is_deleting(obj) {
        crd::register(state, obj);
    }
}

/// Side effects after an object was removed.
pub fn after_delete(state: &mut State, rt: &ResourceType, obj: &Value) {
    if is(rt, "apiextensions.k8s.io", "CustomResourceDefinition") {
        crd::unregister(state, obj);
    }
}

/// Changes made when deletion starts (namespace phase, CRD condition Terminating).
pub fn on_delete_requested(rt: &ResourceType, obj: &mut Value) {
    if is(rt, "", "Namespace") {
        meta::object_mut(obj, "status").insert("phase".into(), "Terminating".into());
    }
    if is(rt, "apiextensions.k8s.io", "CustomResourceDefinition") {
        let cond = serde_json::json!({"type": "Terminating", "status": "True", "reason": "InstanceDeletionInProgress", "message": "CustomResource deletion is in progress", "lastTransitionTime": meta::now()});
        let status = meta::object_mut(obj, "status");
        let conds = status.entry("conditions").or_insert_with(|| serde_json::json!([]));
        if let Some(list) = conds.as_array_mut() {
            list.push(cond);
        }
    }
}

/// Types whose deletion is always carried out by a controller.
pub fn deferred_delete(rt: &ResourceType) -> bool {
    is(rt, "", "Namespace")
}

/// Whether a deleting object can be removed from storage now.
pub fn ready_to_remove(rt: &ResourceType, obj: &Value) -> bool {
    if !meta::finalizers(obj).is_empty() {
        return false;
    }
    if is(rt, "", "Namespace") {
        return obj.pointer("/spec/finalizers").and_then(Value::as_array).is_none_or(|a| a.is_empty());
    }
    true
}
