//! Patch formats: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and an
//! approximation of strategic merge patch.

use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};

/// RFC 7386: objects merge recursively, `null` deletes, anything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch_map) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(map) = target {
        for (k, v) in patch_map {
            if v.is_null() {
                map.remove(k);
            } else {
                merge_patch(map.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

/// Keys upstream uses to merge lists of objects (`patchMergeKey`), in lookup order.
const MERGE_KEYS: &[&str] = &["name", "mountPath", "devicePath", "containerPort", "port", "type", "ip", "topologyKey"];

fn merge_key(list: &[Value], patch: &[Value]) -> Option<&'static str> {
    MERGE_KEYS.iter().copied().find(|key| {
        !patch.is_empty()
            && patch.iter().chain(list.iter()).all(|item| item.get(key).is_some() || item.get("$patch").is_some())
    })
}

/// Strategic merge patch, approximated: maps merge like a merge patch; lists of
/// objects that share a known merge key (`name`, `containerPort`, ...) merge item by
/// item (honouring `$patch: delete`); `$setElementOrder`, `$retainKeys` and other
/// directives are dropped; other lists are replaced.
pub fn strategic_merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch_map) = patch else {
        *target = patch.clone();
        return;
    };
    if patch_map.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut clean = patch.clone();
        strip_directives(&mut clean);
        *target = clean;
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(map) = target else { return };
    for (k, v) in patch_map {
        if k.starts_with('$') {
            continue;
        }
        if v.is_null() {
            map.remove(k);
            continue;
        }
        let slot = map.entry(k.clone()).or_insert(Value::Null);
        match (slot.as_array_mut(), v.as_array()) {
            (Some(list), Some(items)) => {
                if let Some(key) = merge_key(list, items) {
                    merge_list(list, items, key);
                } else {
                    let mut clean = v.clone();
                    strip_directives(&mut clean);
                    *slot = clean;
                }
            }
            _ if v.is_object() => strategic_merge_patch(slot, v),
            _ => *slot = v.clone(),
        }
    }
}

fn merge_list(list: &mut Vec<Value>, items: &[Value], key: &str) {
    for item in items {
        let id = item.get(key).cloned();
        let pos = list.iter().position(|x| x.get(key) == id.as_ref());
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        match (pos, delete) {
            (Some(i), true) => {
                list.remove(i);
            }
            (Some(i), false) => strategic_merge_patch(&mut list[i], item),
            (None, false) => {
                let mut clean = item.clone();
                strip_directives(&mut clean);
                list.push(clean);
            }
            (None, true) => {}
        }
    }
}

fn strip_directives(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|k, _| !k.starts_with('$'));
            m.values_mut().for_each(strip_directives);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_directives),
        _ => {}
    }
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

fn split_pointer(path: &str) -> ApiResult<Vec<String>> {
    if path.is_empty() {
        return Ok(vec![]);
    }
    let rest = path.strip_prefix('/').ok_or_else(|| ApiError::bad_request(format!("invalid JSON pointer {path:?}")))?;
    Ok(rest.split('/').map(unescape).collect())
}

fn parent_mut<'a>(doc: &'a mut Value, tokens: &[String]) -> ApiResult<&'a mut Value> {
    let mut cur = doc;
    for t in tokens {
        cur = match cur {
            Value::Object(m) => m.get_mut(t),
            Value::Array(a) => t.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
            _ => None,
        }
        .ok_or_else(|| missing(t))?;
    }
    Ok(cur)
}

fn missing(t: &str) -> ApiError {
    ApiError::new(
        422,
        "Invalid",
        format!("the server rejected our request due to an error in our request: doc is missing path: {t}"),
    )
}

fn add(doc: &mut Value, path: &str, value: Value) -> ApiResult<()> {
    let tokens = split_pointer(path)?;
    let Some((last, parents)) = tokens.split_last() else {
        *doc = value;
        return Ok(());
    };
    match parent_mut(doc, parents)? {
        Value::Object(m) => {
            m.insert(last.clone(), value);
        }
        Value::Array(a) => {
            let i = if last == "-" { a.len() } else { last.parse::<usize>().map_err(|_| missing(last))? };
            if i > a.len() {
                return Err(missing(last));
            }
            a.insert(i, value);
        }
        _ => return Err(missing(last)),
    }
    Ok(())
}

fn remove(doc: &mut Value, path: &str) -> ApiResult<Value> {
    let tokens = split_pointer(path)?;
    let Some((last, parents)) = tokens.split_last() else {
        return Err(ApiError::bad_request("cannot remove the whole document"));
    };
    match parent_mut(doc, parents)? {
        Value::Object(m) => m.remove(last).ok_or_else(|| missing(last)),
        Value::Array(a) => {
            let i = last.parse::<usize>().map_err(|_| missing(last))?;
            if i >= a.len() {
                return Err(missing(last));
            }
            Ok(a.remove(i))
        }
        _ => Err(missing(last)),
    }
}

fn get(doc: &Value, path: &str) -> ApiResult<Value> {
    doc.pointer(path).cloned().ok_or_else(|| missing(path))
}

/// RFC 6902 JSON patch.
pub fn json_patch(doc: &mut Value, ops: &Value) -> ApiResult<()> {
    let ops = ops.as_array().ok_or_else(|| ApiError::bad_request("json patch must be a JSON array"))?;
    for op in ops {
        let kind = op.get("op").and_then(Value::as_str).unwrap_or_default();
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::bad_request("json patch operation without path"))?;
        let from = op.get("from").and_then(Value::as_str);
        let value = op.get("value").cloned();
        match (kind, value, from) {
            ("add", Some(v), _) => add(doc, path, v)?,
            ("remove", _, _) => {
                remove(doc, path)?;
            }
            ("replace", Some(v), _) => {
                remove(doc, path)?;
                add(doc, path, v)?;
            }
            ("move", _, Some(from)) => {
                let v = remove(doc, from)?;
                add(doc, path, v)?;
            }
            ("copy", _, Some(from)) => {
                let v = get(doc, from)?;
                add(doc, path, v)?;
            }
            ("test", Some(v), _) => {
                // As the API server's json-patch library: a missing path
                // tests equal to `null` (kube-runtime's finalizer helper
                // relies on it when an object has no finalizers yet).
                let actual =
                    if v.is_null() { doc.pointer(path).cloned().unwrap_or(Value::Null) } else { get(doc, path)? };
                if actual != v {
                    return Err(ApiError::new(
                        422,
                        "Invalid",
                        format!(
                            "the server rejected our request due to an error in our request: testing value {path} failed"
                        ),
                    ));
                }
            }
            _ => {
                return Err(ApiError::bad_request(format!("invalid json patch operation: {op}")));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_rfc7386() {
        let mut t = json!({"a": {"b": 1, "c": 2}, "l": [1, 2]});
        merge_patch(&mut t, &json!({"a": {"b": null, "d": 3}, "l": [3]}));
        assert_eq!(t, json!({"a": {"c": 2, "d": 3}, "l": [3]}));
    }

    #[test]
    fn json_patch_ops() {
        let mut t = json!({"a": [1, 2], "b": {"c": 1}});
        json_patch(
            &mut t,
            &json!([
                {"op": "add", "path": "/a/-", "value": 3},
                {"op": "replace", "path": "/b/c", "value": 2},
                {"op": "copy", "from": "/b", "path": "/d"},
                {"op": "remove", "path": "/a/0"},
                {"op": "test", "path": "/d/c", "value": 2}
            ]),
        )
        .expect("patch");
        assert_eq!(t, json!({"a": [2, 3], "b": {"c": 2}, "d": {"c": 2}}));
        assert!(json_patch(&mut t, &json!([{"op": "remove", "path": "/zz"}])).is_err());
        // A missing path tests equal to null, and to nothing else.
        assert!(json_patch(&mut t, &json!([{"op": "test", "path": "/none", "value": null}])).is_ok());
        assert!(json_patch(&mut t, &json!([{"op": "test", "path": "/none", "value": 1}])).is_err());
    }

    #[test]
    fn strategic_merges_containers_by_name() {
        let mut t = json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}});
        strategic_merge_patch(
            &mut t,
            &json!({"spec": {"$setElementOrder/containers": [{"name": "a"}], "containers": [{"name": "a", "image": "z"}, {"name": "b", "$patch": "delete"}]}}),
        );
        assert_eq!(t, json!({"spec": {"containers": [{"name": "a", "image": "z"}]}}));
    }
}
