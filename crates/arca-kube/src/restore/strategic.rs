//! Strategic merge patches for resource modifiers (`strategicPatches`), as
//! `kubectl patch --type strategic` applies them to built-in types: maps
//! merge, `null` deletes, and lists the API declares mergeable are merged
//! element by element on their merge key instead of being replaced.
//!
//! The merge keys are a table ([`MERGE_KEYS`]): the list fields of the
//! built-in types (pod templates, Services, conditions, owner references)
//! by field name. A list field not in the table is replaced, as a JSON merge
//! patch would; that is also what custom resources get (the API server has
//! no strategic merge for them either). Directives: `$patch: delete` (a list
//! element or a map), `$patch: replace` (a map, or as an element of a list:
//! the list), `$deleteFromPrimitiveList/<field>`, `$retainKeys`; ordering
//! hints (`$setElementOrder/<field>`) are accepted and ignored. Pure.

use serde_json::{Map, Value};

/// List fields merged by key: field name, then the key (the first one an
/// element of the patch carries: `ports` are keyed by `containerPort` in a
/// container and by `port` in a Service).
pub const MERGE_KEYS: &[(&str, &[&str])] = &[
    ("containers", &["name"]),
    ("initContainers", &["name"]),
    ("ephemeralContainers", &["name"]),
    ("volumes", &["name"]),
    ("env", &["name"]),
    ("volumeMounts", &["mountPath"]),
    ("volumeDevices", &["devicePath"]),
    ("imagePullSecrets", &["name"]),
    ("ports", &["containerPort", "port"]),
    ("hostAliases", &["ip"]),
    ("topologySpreadConstraints", &["topologyKey"]),
    ("resourceClaims", &["name"]),
    ("conditions", &["type"]),
    ("ownerReferences", &["uid"]),
];

/// Lists of plain values merged as sets.
pub const SET_LISTS: &[&str] = &["finalizers"];

const DIRECTIVE: &str = "$patch";
const DELETE_FROM: &str = "$deleteFromPrimitiveList/";
const RETAIN_KEYS: &str = "$retainKeys";

/// Applies `patch` to `target`.
pub fn apply(target: &mut Value, patch: &Value) -> Result<(), String> {
    merge_value(target, patch)
}

fn directive(v: &Value) -> Option<&str> {
    v.get(DIRECTIVE).and_then(Value::as_str)
}

/// The patch without directives, as a value to store.
fn clean(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            Value::Object(m.iter().filter(|(k, _)| !k.starts_with('$')).map(|(k, v)| (k.clone(), clean(v))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().filter(|e| directive(e).is_none()).map(clean).collect()),
        other => other.clone(),
    }
}

fn merge_value(target: &mut Value, patch: &Value) -> Result<(), String> {
    let Value::Object(p) = patch else {
        *target = clean(patch);
        return Ok(());
    };
    match directive(patch) {
        Some("replace") => {
            *target = clean(patch);
            return Ok(());
        }
        Some("delete") => return Err("`$patch: delete` belongs inside a map or a list element".into()),
        Some(other) => return Err(format!("unknown directive `$patch: {other}`")),
        None => {}
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(t) = target else {
        return Ok(());
    };
    for (key, value) in p {
        if key.starts_with('$') {
            continue;
        }
        match value {
            Value::Null => {
                t.remove(key);
            }
            v if directive(v) == Some("delete") => {
                t.remove(key);
            }
            Value::Array(items) => {
                let merged = merge_list(key, t.get(key), items)?;
                t.insert(key.clone(), merged);
            }
            v => merge_value(t.entry(key.clone()).or_insert(Value::Null), v)?,
        }
    }
    // Directives last, over the merged map.
    for (key, value) in p {
        if let Some(field) = key.strip_prefix(DELETE_FROM) {
            delete_from_list(t, field, value);
        }
    }
    if let Some(Value::Array(keep)) = p.get(RETAIN_KEYS) {
        let keep: Vec<&str> = keep.iter().filter_map(Value::as_str).collect();
        t.retain(|k, _| keep.contains(&k.as_str()));
    }
    Ok(())
}

fn delete_from_list(t: &mut Map<String, Value>, field: &str, values: &Value) {
    let Value::Array(gone) = values else {
        return;
    };
    if let Some(Value::Array(list)) = t.get_mut(field) {
        list.retain(|v| !gone.contains(v));
    }
}

fn merge_key<'a>(field: &str, items: &[Value]) -> Option<&'a str> {
    let (_, keys) = MERGE_KEYS.iter().find(|(f, _)| *f == field)?;
    keys.iter().copied().find(|k| items.iter().any(|e| e.get(*k).is_some()))
}

fn merge_list(field: &str, current: Option<&Value>, items: &[Value]) -> Result<Value, String> {
    if items.iter().any(|e| directive(e) == Some("replace")) {
        return Ok(clean(&Value::Array(items.to_vec())));
    }
    let mut list = match current {
        Some(Value::Array(a)) => a.clone(),
        _ => Vec::new(),
    };
    if SET_LISTS.contains(&field) {
        for v in items.iter().filter(|v| !v.is_object()) {
            if !list.contains(v) {
                list.push(v.clone());
            }
        }
        return Ok(Value::Array(list));
    }
    let Some(key) = merge_key(field, items) else {
        return Ok(clean(&Value::Array(items.to_vec())));
    };
    for item in items {
        let Some(id) = item.get(key) else {
            return Err(format!("an element of {field} has no {key}: it cannot be matched"));
        };
        let position = list.iter().position(|e| e.get(key) == Some(id));
        match (directive(item), position) {
            (Some("delete"), Some(i)) => {
                list.remove(i);
            }
            (Some("delete"), None) => {}
            (_, Some(i)) => merge_value(&mut list[i], item)?,
            (_, None) => list.push(clean(item)),
        }
    }
    Ok(Value::Array(list))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment() -> Value {
        json!({"metadata": {"name": "web", "labels": {"app": "web", "old": "x"}, "finalizers": ["a"]},
               "spec": {"template": {"spec": {
                   "containers": [
                       {"name": "app", "image": "app:1", "args": ["--a", "--b"],
                        "env": [{"name": "MODE", "value": "prod"}, {"name": "DEBUG", "value": "0"}],
                        "ports": [{"containerPort": 80, "name": "http"}]},
                       {"name": "sidecar", "image": "proxy:1"}],
                   "volumes": [{"name": "data", "emptyDir": {}}]}}}})
    }

    fn patched(patch: Value) -> Value {
        let mut d = deployment();
        match apply(&mut d, &patch) {
            Ok(()) => d,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn containers_merge_by_name_and_other_lists_are_replaced() {
        let d = patched(json!({"spec": {"template": {"spec": {"containers": [
            {"name": "app", "image": "app:2", "args": ["--c"], "env": [{"name": "DEBUG", "value": "1"}]},
            {"name": "new", "image": "n:1"}]}}}}));
        let cs = &d["spec"]["template"]["spec"]["containers"];
        assert_eq!(cs.as_array().map(Vec::len), Some(3), "sidecar kept, new appended");
        assert_eq!(cs[0]["image"], "app:2");
        assert_eq!(cs[0]["args"], json!(["--c"]), "args has no merge key: replaced");
        assert_eq!(cs[0]["env"], json!([{"name": "MODE", "value": "prod"}, {"name": "DEBUG", "value": "1"}]));
        assert_eq!(cs[0]["ports"][0]["name"], "http", "untouched fields stay");
        assert_eq!(cs[1]["name"], "sidecar");
        assert_eq!(cs[2]["name"], "new");
    }

    #[test]
    fn directives_delete_replace_and_null() {
        let d = patched(json!({
            "metadata": {"labels": {"old": null, "restored": "yes"}, "finalizers": ["b", "a"],
                         "$deleteFromPrimitiveList/finalizers": ["a"]},
            "spec": {"template": {"spec": {
                "containers": [{"name": "sidecar", "$patch": "delete"},
                               {"name": "app", "env": [{"name": "MODE", "$patch": "delete"}]}],
                "volumes": [{"name": "cache", "emptyDir": {}}, {"$patch": "replace"}]}}}}));
        assert_eq!(d["metadata"]["labels"], json!({"app": "web", "restored": "yes"}));
        assert_eq!(d["metadata"]["finalizers"], json!(["b"]));
        let spec = &d["spec"]["template"]["spec"];
        assert_eq!(spec["containers"].as_array().map(Vec::len), Some(1));
        assert_eq!(spec["containers"][0]["env"], json!([{"name": "DEBUG", "value": "0"}]));
        assert_eq!(spec["volumes"], json!([{"name": "cache", "emptyDir": {}}]), "replaced whole");
        let replaced = patched(json!({"metadata": {"labels": {"$patch": "replace", "only": "this"}}}));
        assert_eq!(replaced["metadata"]["labels"], json!({"only": "this"}));
    }

    #[test]
    fn service_ports_key_on_port_and_bad_patches_are_refused() {
        let mut svc = json!({"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}});
        assert_eq!(apply(&mut svc, &json!({"spec": {"ports": [{"port": 80, "nodePort": 30080}]}})), Ok(()));
        assert_eq!(svc["spec"]["ports"], json!([{"port": 80, "targetPort": 8080, "nodePort": 30080}, {"port": 443}]));
        let mut d = deployment();
        let unkeyed = json!({"spec": {"template": {"spec": {"containers": [{"name": "app"}, {"image": "x"}]}}}});
        assert!(apply(&mut d, &unkeyed).is_err_and(|e| e.contains("no name")));
        assert!(apply(&mut d, &json!({"$patch": "merge-ish"})).is_err());
    }
}
