//! Namespace defaults: the `kubernetes` finalizer, phase, name label.

use serde_json::{Value, json};

use crate::meta;

pub fn on_create(obj: &mut Value) {
    let name = meta::name(obj).to_string();
    let spec = meta::object_mut(obj, "spec");
    if !spec.contains_key("finalizers") {
        spec.insert("finalizers".into(), json!(["kubernetes"]));
    }
    meta::object_mut(obj, "status").insert("phase".into(), json!("Active"));
    let meta = meta::metadata_mut(obj);
    let labels = meta::as_map(meta.entry("labels").or_insert_with(|| json!({})));
    labels.insert("kubernetes.io/metadata.name".into(), json!(name));
}

pub fn on_update(old: &Value, new: &mut Value) {
    let name = meta::name(old).to_string();
    let meta = meta::metadata_mut(new);
    let labels = meta::as_map(meta.entry("labels").or_insert_with(|| json!({})));
    labels.insert("kubernetes.io/metadata.name".into(), json!(name));
    if meta::is_deleting(old) {
        meta::object_mut(new, "status").insert("phase".into(), json!("Terminating"));
    }
}
