//! Secrets and ConfigMaps: `stringData` folding and `immutable: true`.

use base64::Engine;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult, cause};
use crate::meta;
use crate::registry::ResourceType;

/// Folds `stringData` into base64 `data` and defaults `type`, as upstream.
pub fn on_write_secret(obj: &mut Value) {
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    if let Some(Value::Object(strings)) = map.remove("stringData") {
        let data = meta::as_map(map.entry("data").or_insert_with(|| json!({})));
        for (k, v) in strings {
            let raw = v.as_str().unwrap_or_default();
            let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
            data.insert(k, json!(encoded));
        }
    }
    map.entry("type").or_insert_with(|| json!("Opaque"));
}

/// Data of an immutable Secret or ConfigMap can't change, nor can `immutable`.
pub fn check_immutable(rt: &ResourceType, old: &Value, new: &Value) -> ApiResult<()> {
    if old.get("immutable").and_then(Value::as_bool) != Some(true) {
        return Ok(());
    }
    let msg = "Forbidden: field is immutable when `immutable` is set";
    let mut causes = Vec::new();
    for field in ["data", "binaryData"] {
        if old.get(field) != new.get(field) {
            causes.push(cause("FieldValueForbidden", field, msg));
        }
    }
    if new.get("immutable").and_then(Value::as_bool) != Some(true) {
        causes.push(cause("FieldValueForbidden", "immutable", msg));
    }
    if causes.is_empty() { Ok(()) } else { Err(ApiError::invalid(&rt.group, &rt.kind, meta::name(old), causes)) }
}
