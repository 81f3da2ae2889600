//! `metadata.managedFields` and server-side apply, approximated.
//!
//! Field ownership is tracked per manager as a set of leaf paths: maps are walked
//! key by key, while lists and scalars are atomic leaves (upstream merges some lists
//! by key; here a list is owned as a whole). Apply merges the applied configuration
//! into the live object, removes fields the manager applied before but no longer
//! applies (unless another manager owns them), and reports a conflict when another
//! manager owns a field the apply would change, unless `force` is set.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::error::{ApiError, Cause, cause};
use crate::meta;

type Path = Vec<String>;
type FieldSet = BTreeSet<Path>;

#[derive(Debug, Clone)]
struct Entry {
    manager: String,
    operation: String,
    api_version: String,
    subresource: String,
    fields: FieldSet,
}

const META_OWNED: &[&str] = &["labels", "annotations", "finalizers", "ownerReferences"];

fn walk(value: &Value, prefix: &mut Path, out: &mut FieldSet) {
    match value {
        Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                prefix.push(k.clone());
                walk(v, prefix, out);
                prefix.pop();
            }
        }
        _ => {
            out.insert(prefix.clone());
        }
    }
}

/// The leaf paths of `obj` a manager can own.
fn fields_of(obj: &Value, include_status: bool) -> FieldSet {
    let mut out = FieldSet::new();
    let Some(map) = obj.as_object() else {
        return out;
    };
    for (k, v) in map {
        match k.as_str() {
            "apiVersion" | "kind" => {}
            "status" if !include_status => {}
            "metadata" => {
                for key in META_OWNED {
                    if let Some(sub) = v.get(key) {
                        walk(sub, &mut vec!["metadata".into(), key.to_string()], &mut out);
                    }
                }
            }
            _ => walk(v, &mut vec![k.clone()], &mut out),
        }
    }
    out
}

fn value_at<'a>(obj: &'a Value, path: &Path) -> Option<&'a Value> {
    path.iter().try_fold(obj, |cur, key| cur.get(key))
}

fn remove_at(obj: &mut Value, path: &Path) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = obj;
    for key in parents {
        match cur.get_mut(key) {
            Some(next) => cur = next,
            None => return,
        }
    }
    if let Some(m) = cur.as_object_mut() {
        m.remove(last);
    }
}

fn to_fields_v1(fields: &FieldSet) -> Value {
    let mut root = Map::new();
    for path in fields {
        let mut cur = &mut root;
        for key in path {
            let slot = cur.entry(format!("f:{key}")).or_insert_with(|| json!({}));
            cur = meta::as_map(slot);
        }
    }
    Value::Object(root)
}

fn from_fields_v1(v: &Value, prefix: &mut Path, out: &mut FieldSet) {
    let Some(m) = v.as_object() else { return };
    let mut leaf = m.is_empty();
    for (k, child) in m {
        if let Some(key) = k.strip_prefix("f:") {
            prefix.push(key.to_string());
            from_fields_v1(child, prefix, out);
            prefix.pop();
        } else if k != "." {
            leaf = true;
        }
    }
    if leaf && !prefix.is_empty() {
        out.insert(prefix.clone());
    }
}

fn read_entries(obj: &Value) -> Vec<Entry> {
    let Some(list) = obj.pointer("/metadata/managedFields").and_then(Value::as_array) else {
        return vec![];
    };
    list.iter()
        .map(|e| {
            let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
            let mut fields = FieldSet::new();
            if let Some(f) = e.get("fieldsV1") {
                from_fields_v1(f, &mut vec![], &mut fields);
            }
            Entry {
                manager: s("manager"),
                operation: s("operation"),
                api_version: s("apiVersion"),
                subresource: s("subresource"),
                fields,
            }
        })
        .collect()
}

fn write_entries(obj: &mut Value, entries: &[Entry]) {
    let now = meta::now();
    let list: Vec<Value> = entries
        .iter()
        .filter(|e| !e.fields.is_empty())
        .map(|e| {
            let mut v = json!({
                "manager": e.manager,
                "operation": e.operation,
                "apiVersion": e.api_version,
                "time": now,
                "fieldsType": "FieldsV1",
                "fieldsV1": to_fields_v1(&e.fields),
            });
            if !e.subresource.is_empty() {
                v["subresource"] = json!(e.subresource);
            }
            v
        })
        .collect();
    let m = meta::metadata_mut(obj);
    if list.is_empty() {
        m.remove("managedFields");
    } else {
        m.insert("managedFields".into(), Value::Array(list));
    }
}

fn entry_mut<'a>(
    entries: &'a mut Vec<Entry>,
    manager: &str,
    operation: &str,
    api_version: &str,
    sub: &str,
) -> &'a mut Entry {
    let pos = entries.iter().position(|e| e.manager == manager && e.operation == operation && e.subresource == sub);
    let i = match pos {
        Some(i) => i,
        None => {
            entries.push(Entry {
                manager: manager.to_string(),
                operation: operation.to_string(),
                api_version: api_version.to_string(),
                subresource: sub.to_string(),
                fields: FieldSet::new(),
            });
            entries.len() - 1
        }
    };
    let e = &mut entries[i];
    e.api_version = api_version.to_string();
    e
}

/// Records a non-apply write by `manager`: it takes ownership of every field it changed.
pub fn record_update(old: Option<&Value>, new: &mut Value, manager: &str, api_version: &str, subresource: &str) {
    let status = subresource == "status";
    let mut entries = old.map(read_entries).unwrap_or_default();
    let new_fields = fields_of(new, status);
    let changed: FieldSet =
        new_fields.iter().filter(|p| old.is_none_or(|o| value_at(o, p) != value_at(new, p))).cloned().collect();
    for e in entries.iter_mut() {
        e.fields.retain(|p| value_at(new, p).is_some() && !changed.contains(p));
    }
    if !changed.is_empty() {
        entry_mut(&mut entries, manager, "Update", api_version, subresource).fields.extend(changed);
    }
    write_entries(new, &entries);
}

/// Deep-merges an applied configuration: maps merge, everything else replaces.
fn merge_applied(target: &mut Value, applied: &Value) {
    match (target.as_object_mut(), applied.as_object()) {
        (Some(t), Some(a)) => {
            for (k, v) in a {
                merge_applied(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        _ => *target = applied.clone(),
    }
}

/// Server-side apply of `applied` by `manager` onto `live` (None when creating).
/// Returns the new object, or a 409 Conflict listing the contested fields.
pub fn apply(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    api_version: &str,
    subresource: &str,
) -> Result<Value, ApiError> {
    let status = subresource == "status";
    let applied_fields = fields_of(applied, status);
    let mut entries = live.map(read_entries).unwrap_or_default();
    let mut result = live.cloned().unwrap_or_else(|| json!({}));
    let mut conflicts: Vec<(String, Path)> = Vec::new();
    for e in entries.iter().filter(|e| e.manager != manager) {
        for p in e.fields.intersection(&applied_fields) {
            if value_at(&result, p) != value_at(applied, p) {
                conflicts.push((e.manager.clone(), p.clone()));
            }
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(conflict_error(&conflicts));
    }
    for e in entries.iter_mut().filter(|e| e.manager != manager) {
        e.fields.retain(|p| !conflicts.iter().any(|(_, c)| c == p));
    }
    let previous: FieldSet = entries
        .iter()
        .filter(|e| e.manager == manager && e.operation == "Apply")
        .flat_map(|e| e.fields.iter().cloned())
        .collect();
    merge_applied(&mut result, applied);
    for p in previous.difference(&applied_fields) {
        let owned_by_other = entries.iter().any(|e| e.manager != manager && e.fields.contains(p));
        if !owned_by_other {
            remove_at(&mut result, p);
        }
    }
    // Fields changed by this apply leave the other managers' Update entries.
    for e in entries.iter_mut().filter(|e| e.manager != manager) {
        e.fields.retain(|p| !applied_fields.contains(p) || e.operation == "Apply");
    }
    entry_mut(&mut entries, manager, "Apply", api_version, subresource).fields = applied_fields;
    write_entries(&mut result, &entries);
    Ok(result)
}

fn conflict_error(conflicts: &[(String, Path)]) -> ApiError {
    let causes: Vec<Cause> = conflicts
        .iter()
        .map(|(m, p)| cause("FieldManagerConflict", &format!(".{}", p.join(".")), format!("conflict with \"{m}\"")))
        .collect();
    let detail: Vec<String> = causes.iter().map(|c| format!("{}: {}", c.message, c.field)).collect();
    let n = conflicts.len();
    let plural = if n == 1 { "" } else { "s" };
    ApiError::new(409, "Conflict", format!("Apply failed with {n} conflict{plural}: {}", detail.join("\n")))
        .with_causes(causes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_conflicts_and_force() {
        let a =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"k": "1", "o": "a"}});
        let live = apply(None, &a, "alice", false, "v1", "").expect("create");
        let b = json!({"metadata": {"name": "x"}, "data": {"k": "2"}});
        let err = apply(Some(&live), &b, "bob", false, "v1", "").expect_err("conflict");
        assert_eq!(err.code, 409);
        assert_eq!(err.causes()[0].field, ".data.k");
        let forced = apply(Some(&live), &b, "bob", true, "v1", "").expect("force");
        assert_eq!(forced["data"], json!({"k": "2", "o": "a"}));
        // alice stops applying `o`: it is removed; `k` now belongs to bob.
        let a2 = json!({"metadata": {"name": "x"}, "data": {}});
        let after = apply(Some(&forced), &a2, "alice", false, "v1", "").expect("apply");
        assert_eq!(after["data"], json!({"k": "2"}));
    }

    #[test]
    fn fields_v1_round_trip() {
        let obj = json!({"spec": {"a": 1, "b": {"c": [1]}}, "metadata": {"labels": {"x": "y"}}});
        let fields = fields_of(&obj, false);
        let mut back = FieldSet::new();
        from_fields_v1(&to_fields_v1(&fields), &mut vec![], &mut back);
        assert_eq!(fields, back);
    }
}
