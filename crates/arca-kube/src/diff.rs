//! Field-level differences between two objects, ignoring what the server
//! manages (uids, versions, timestamps, managed fields, status). Pure.

use serde::Serialize;
use serde_json::Value;

use crate::restore::sanitize::SERVER_FIELDS;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "lowercase", tag = "change")]
pub enum Change {
    Added { path: String, value: Value },
    Removed { path: String, value: Value },
    Changed { path: String, old: Value, new: Value },
}

impl Change {
    pub fn path(&self) -> &str {
        match self {
            Change::Added { path, .. } | Change::Removed { path, .. } | Change::Changed { path, .. } => path,
        }
    }
}

/// Annotations that only record server or tool bookkeeping.
pub const NOISE_ANNOTATIONS: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    "deployment.kubernetes.io/revision",
    "pv.kubernetes.io/bind-completed",
    "pv.kubernetes.io/bound-by-controller",
];

/// Removes server-managed noise so two objects compare on what people set.
pub fn normalize(obj: &Value) -> Value {
    let mut o = obj.clone();
    crate::restore::sanitize::strip_server_fields(&mut o, false);
    for p in SERVER_FIELDS {
        crate::objects::remove_at(&mut o, p);
    }
    if let Some(a) = o.pointer_mut("/metadata/annotations").and_then(Value::as_object_mut) {
        for k in NOISE_ANNOTATIONS {
            a.remove(*k);
        }
        if a.is_empty() {
            crate::objects::remove_at(&mut o, "/metadata/annotations");
        }
    }
    o
}

/// Every difference from `a` to `b`, as JSON pointers.
pub fn diff(a: &Value, b: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    walk("", a, b, &mut out);
    out
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn walk(path: &str, a: &Value, b: &Value, out: &mut Vec<Change>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, va) in x {
                let p = format!("{path}/{}", escape(k));
                match y.get(k) {
                    Some(vb) => walk(&p, va, vb, out),
                    None => out.push(Change::Removed { path: p, value: va.clone() }),
                }
            }
            for (k, vb) in y.iter().filter(|(k, _)| !x.contains_key(*k)) {
                out.push(Change::Added { path: format!("{path}/{}", escape(k)), value: vb.clone() });
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                walk(&format!("{path}/{i}"), va, vb, out);
            }
        }
        _ if a != b => out.push(Change::Changed {
            path: if path.is_empty() { "/".into() } else { path.to_string() },
            old: a.clone(),
            new: b.clone(),
        }),
        _ => {}
    }
}

/// Whether every field of `want` is in `have` with the same value (the
/// server may add defaults; those do not count as differences).
pub fn is_subset(want: &Value, have: &Value) -> bool {
    match (want, have) {
        (Value::Object(w), Value::Object(h)) => w.iter().all(|(k, v)| h.get(k).is_some_and(|hv| is_subset(v, hv))),
        (Value::Array(w), Value::Array(h)) => w.len() == h.len() && w.iter().zip(h).all(|(a, b)| is_subset(a, b)),
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => want == have,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn diffs_ignore_server_fields() {
        let a = json!({"metadata": {"name": "x", "uid": "1", "resourceVersion": "5"}, "data": {"k": "v", "gone": "1"}, "status": {"a": 1}});
        let b = json!({"metadata": {"name": "x", "uid": "2", "resourceVersion": "9"}, "data": {"k": "w", "new": "2"}});
        let changes = diff(&normalize(&a), &normalize(&b));
        let mut paths: Vec<&str> = changes.iter().map(Change::path).collect();
        paths.sort();
        assert_eq!(paths, ["/data/gone", "/data/k", "/data/new"]);
    }

    #[test]
    fn subset_tolerates_server_defaults() {
        let want = json!({"spec": {"replicas": 1, "ports": [{"port": 80}]}});
        let have = json!({"spec": {"replicas": 1, "ports": [{"port": 80, "protocol": "TCP"}], "strategy": {}}});
        assert!(is_subset(&want, &have));
        assert!(!is_subset(&json!({"spec": {"replicas": 2}}), &have));
    }
}
