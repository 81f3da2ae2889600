//! PersistentVolumeClaims and PersistentVolumes: defaults, default StorageClass,
//! protection finalizer, spec immutability.

use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult, cause};
use crate::meta;
use crate::registry::ResourceType;
use crate::state::State;
use crate::store::res_key;

pub const DEFAULT_CLASS_ANNOTATION: &str = "storageclass.kubernetes.io/is-default-class";
pub const PVC_PROTECTION: &str = "kubernetes.io/pvc-protection";
/// Added to every PV by the PersistentVolumeProtection admission plugin.
pub const PV_PROTECTION: &str = "kubernetes.io/pv-protection";

fn default_class(state: &State) -> Option<String> {
    state
        .store
        .iter(&res_key("storage.k8s.io", "storageclasses"), None)
        .find(|(_, sc)| {
            sc.pointer("/metadata/annotations").and_then(|a| a.get(DEFAULT_CLASS_ANNOTATION)).and_then(Value::as_str)
                == Some("true")
        })
        .map(|(k, _)| k.1.clone())
}

pub fn pvc_on_create(state: &State, obj: &mut Value) {
    let class = default_class(state);
    let spec = meta::object_mut(obj, "spec");
    spec.entry("volumeMode").or_insert_with(|| json!("Filesystem"));
    if !spec.contains_key("storageClassName") {
        if let Some(class) = class {
            spec.insert("storageClassName".into(), json!(class));
        }
    }
    meta::object_mut(obj, "status").insert("phase".into(), json!("Pending"));
    let mut fins = meta::finalizers(obj);
    if !fins.iter().any(|f| f == PVC_PROTECTION) {
        fins.push(PVC_PROTECTION.to_string());
        meta::set_finalizers(obj, &fins);
    }
}

/// A new PV starts `Pending` (the API server's defaulting); the PV controller
/// then moves it to `Available`, `Bound` or `Released`.
pub fn pv_on_create(obj: &mut Value) {
    let spec = meta::object_mut(obj, "spec");
    spec.entry("volumeMode").or_insert_with(|| json!("Filesystem"));
    spec.entry("persistentVolumeReclaimPolicy").or_insert_with(|| json!("Retain"));
    let status = meta::object_mut(obj, "status");
    status.insert("phase".into(), json!("Pending"));
    status.insert("lastPhaseTransitionTime".into(), json!(meta::now()));
    let mut fins = meta::finalizers(obj);
    if !fins.iter().any(|f| f == PV_PROTECTION) {
        fins.push(PV_PROTECTION.to_string());
        meta::set_finalizers(obj, &fins);
    }
}

/// The spec of a claim is immutable except `resources.requests`,
/// `volumeAttributesClassName`, and the binding of `volumeName`.
pub fn pvc_on_update(rt: &ResourceType, old: &Value, new: &mut Value) -> ApiResult<()> {
    let strip = |v: &Value, old_unbound: bool| {
        let mut s = v.get("spec").cloned().unwrap_or(json!({}));
        if let Some(m) = s.as_object_mut() {
            m.remove("volumeAttributesClassName");
            if old_unbound {
                m.remove("volumeName");
            }
            if let Some(r) = m.get_mut("resources").and_then(Value::as_object_mut) {
                r.remove("requests");
            }
        }
        s
    };
    let unbound = old.pointer("/spec/volumeName").and_then(Value::as_str).unwrap_or_default().is_empty();
    if strip(old, unbound) != strip(new, unbound) {
        return Err(ApiError::invalid(
            &rt.group,
            &rt.kind,
            meta::name(old),
            vec![cause(
                "FieldValueForbidden",
                "spec",
                "Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims",
            )],
        ));
    }
    Ok(())
}
