//! Small helpers for object metadata held as JSON.

use serde_json::{Map, Value, json};

pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A random version-4 UUID.
pub fn new_uid() -> String {
    let mut b = [0u8; 16];
    b.iter_mut().for_each(|x| *x = fastrand::u8(..));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// The five characters `generateName` appends (same alphabet as upstream).
pub fn random_suffix(len: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..len).map(|_| ALPHABET[fastrand::usize(..ALPHABET.len())] as char).collect()
}

pub fn str_at<'a>(obj: &'a Value, pointer: &str) -> Option<&'a str> {
    obj.pointer(pointer).and_then(Value::as_str)
}

pub fn name(obj: &Value) -> &str {
    str_at(obj, "/metadata/name").unwrap_or_default()
}

pub fn namespace(obj: &Value) -> &str {
    str_at(obj, "/metadata/namespace").unwrap_or_default()
}

pub fn uid(obj: &Value) -> &str {
    str_at(obj, "/metadata/uid").unwrap_or_default()
}

pub fn is_deleting(obj: &Value) -> bool {
    obj.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null())
}

pub fn finalizers(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
        .unwrap_or_default()
}

pub fn set_finalizers(obj: &mut Value, list: &[String]) {
    let meta = metadata_mut(obj);
    if list.is_empty() {
        meta.remove("finalizers");
    } else {
        meta.insert("finalizers".into(), json!(list));
    }
}

/// `metadata` as a mutable map, created when missing or not an object.
pub fn metadata_mut(obj: &mut Value) -> &mut Map<String, Value> {
    object_mut(obj, "metadata")
}

/// Ensures `obj` is an object and returns its map.
pub fn as_map(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.is_object() {
        *obj = Value::Object(Map::new());
    }
    match obj {
        Value::Object(m) => m,
        _ => unreachable!("made an object above"),
    }
}

/// Ensures `obj[key]` is an object and returns it.
pub fn object_mut<'a>(obj: &'a mut Value, key: &str) -> &'a mut Map<String, Value> {
    as_map(as_map(obj).entry(key).or_insert_with(|| json!({})))
}

/// The owner uids named in `metadata.ownerReferences`.
pub fn owner_uids(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|r| r.get("uid").and_then(Value::as_str)).map(String::from).collect())
        .unwrap_or_default()
}

/// Validates a DNS-1123 subdomain (most object names).
pub fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns_label_part)
}

/// Validates a DNS-1123 label (namespace and service names).
pub fn is_dns_label(s: &str) -> bool {
    s.len() <= 63 && is_dns_label_part(s)
}

fn is_dns_label_part(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_and_names() {
        let u = new_uid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(is_dns_subdomain("a.b-c"));
        assert!(!is_dns_subdomain("A"));
        assert!(!is_dns_label("a.b"));
        assert_eq!(random_suffix(5).len(), 5);
    }
}
