//! Secret values never leave the repository in clear: anything shown or
//! written outside it (logs, reports, dry-run plans, exports, diffs) goes
//! through [`redact`] first.

use serde_json::{Value, json};

/// Kinds whose values are secret, with the fields holding them.
pub const SECRET_FIELDS: &[(&str, &str, &[&str])] = &[("", "Secret", &["data", "stringData"])];

/// Replaces every secret value by a marker with its size.
pub fn redact(obj: &mut Value) {
    let (group, _) = crate::objects::split_api_version(crate::objects::str_at(obj, "/apiVersion").unwrap_or_default());
    let group = group.to_string();
    let kind = crate::objects::kind(obj).to_string();
    for (_, _, fields) in SECRET_FIELDS.iter().filter(|(g, k, _)| *g == group && *k == kind) {
        for f in *fields {
            if let Some(map) = obj.get_mut(*f).and_then(Value::as_object_mut) {
                for v in map.values_mut() {
                    let len = v.as_str().map_or(0, str::len);
                    *v = json!(format!("<redacted: {len} bytes>"));
                }
            }
        }
    }
    // The last-applied annotation of a Secret holds its data too.
    if SECRET_FIELDS.iter().any(|(g, k, _)| *g == group && *k == kind) {
        if let Some(a) = obj.pointer_mut("/metadata/annotations").and_then(Value::as_object_mut) {
            if let Some(v) = a.get_mut("kubectl.kubernetes.io/last-applied-configuration") {
                *v = json!("<redacted>");
            }
        }
    }
}

/// Whether an object carries secret values.
pub fn is_secret(obj: &Value) -> bool {
    let (group, _) = crate::objects::split_api_version(crate::objects::str_at(obj, "/apiVersion").unwrap_or_default());
    SECRET_FIELDS.iter().any(|(g, k, _)| *g == group && *k == crate::objects::kind(obj))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_secret_values_only() {
        let mut s = json!({"apiVersion": "v1", "kind": "Secret", "data": {"password": "c2VjcmV0"}, "stringData": {"t": "x"},
            "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"data\":{}}"}}});
        redact(&mut s);
        assert_eq!(s["data"]["password"], "<redacted: 8 bytes>");
        assert_eq!(s["stringData"]["t"], "<redacted: 1 bytes>");
        assert_eq!(s["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"], "<redacted>");
        let mut c = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "v"}});
        redact(&mut c);
        assert_eq!(c["data"]["k"], "v");
    }
}
