//! Secret values never leave the repository in clear: anything shown or
//! written outside it (logs, reports, dry-run plans, exports, diffs) goes
//! through [`redact`] first.

use serde_json::{Value, json};

/// How a field holds secret material.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// A map whose keys are names anyone may see and whose values are secret.
    MapValues,
    /// The whole value is secret.
    Whole,
}

/// A JSON pointer to a field and how it holds secret material.
pub type SecretField = (&'static str, Held);

/// Kinds whose values are secret, with the fields (JSON pointers) holding
/// them. The last-applied annotation of a Secret holds its data too; other
/// annotations and labels are not secret and stay visible.
pub const SECRET_FIELDS: &[(&str, &str, &[SecretField])] = &[(
    "",
    "Secret",
    &[
        ("/data", Held::MapValues),
        ("/stringData", Held::MapValues),
        ("/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration", Held::Whole),
    ],
)];

fn secret_fields(obj: &Value) -> &'static [SecretField] {
    let (group, _) = crate::objects::split_api_version(crate::objects::str_at(obj, "/apiVersion").unwrap_or_default());
    let kind = crate::objects::kind(obj);
    SECRET_FIELDS.iter().find(|(g, k, _)| *g == group && *k == kind).map_or(&[], |(_, _, f)| *f)
}

fn hide(v: &mut Value, with_size: bool) {
    *v = match (with_size, v.as_str()) {
        (true, Some(s)) => json!(format!("<redacted: {} bytes>", s.len())),
        (true, None) => json!("<redacted: 0 bytes>"),
        (false, _) => json!("<redacted>"),
    };
}

fn hide_field(v: &mut Value, held: Held, with_size: bool) {
    match (held, v.as_object_mut()) {
        (Held::MapValues, Some(map)) => map.values_mut().for_each(|x| hide(x, with_size)),
        _ => hide(v, with_size),
    }
}

/// Replaces every secret value by a marker with its size.
pub fn redact(obj: &mut Value) {
    for (field, held) in secret_fields(obj) {
        if let Some(v) = obj.pointer_mut(field) {
            // Sizes tell a reader which values are set; a whole document's size says nothing.
            hide_field(v, *held, *held == Held::MapValues);
        }
    }
}

/// Redacts `value`, found at `path` (a JSON pointer) of an object shaped
/// like `obj`: whole when the path lies inside a secret field, else only the
/// secret fields below it, so that which keys changed stays visible.
pub fn redact_at(obj: &Value, path: &str, value: &mut Value) {
    let path = if path == "/" { "" } else { path };
    for (field, held) in secret_fields(obj) {
        if path == *field {
            hide_field(value, *held, false);
        } else if path.starts_with(&format!("{field}/")) {
            hide(value, false);
        } else if let Some(rest) = field.strip_prefix(path).filter(|r| r.starts_with('/')) {
            if let Some(v) = value.pointer_mut(rest) {
                hide_field(v, *held, false);
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

    #[test]
    fn redacts_changes_by_path_and_keeps_key_names() {
        let sec = json!({"apiVersion": "v1", "kind": "Secret"});
        let mut whole = json!({"password": "c2VjcmV0"});
        redact_at(&sec, "/data", &mut whole);
        assert_eq!(whole, json!({"password": "<redacted>"}));
        let mut one = json!("c2VjcmV0");
        redact_at(&sec, "/data/password", &mut one);
        assert_eq!(one, "<redacted>");
        let mut notes = json!({"team": "shop", "kubectl.kubernetes.io/last-applied-configuration": "{\"data\":{}}"});
        redact_at(&sec, "/metadata/annotations", &mut notes);
        assert_eq!(notes["team"], "shop");
        assert_eq!(notes["kubectl.kubernetes.io/last-applied-configuration"], "<redacted>");
        let mut note = json!("shop");
        redact_at(&sec, "/metadata/annotations/team", &mut note);
        assert_eq!(note, "shop");
        let mut root = json!({"data": {"k": "dg=="}, "type": "Opaque"});
        redact_at(&sec, "/", &mut root);
        assert_eq!(root, json!({"data": {"k": "<redacted>"}, "type": "Opaque"}));
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap"});
        let mut data = json!({"k": "v"});
        redact_at(&cm, "/data", &mut data);
        assert_eq!(data["k"], "v");
    }
}
