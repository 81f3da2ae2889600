//! Field differences between the versions of a built-in type, where they are
//! a plain rename (rules as data). Others are not converted: one stored copy
//! answers every version with only `apiVersion` rewritten.

use serde_json::Value;

use crate::registry::{ResourceType, split_api_version};

/// A field named `old_name` in `old_versions` and `new_name` in the others.
struct Rename {
    group: &'static str,
    kind: &'static str,
    /// JSON pointer of the object holding the field.
    parent: &'static str,
    old_name: &'static str,
    new_name: &'static str,
    old_versions: &'static [&'static str],
}

const RENAMES: &[Rename] = &[Rename {
    group: "flowcontrol.apiserver.k8s.io",
    kind: "PriorityLevelConfiguration",
    parent: "/spec/limited",
    old_name: "assuredConcurrencyShares",
    new_name: "nominalConcurrencyShares",
    old_versions: &["v1beta1", "v1beta2"],
}];

fn rename(obj: &mut Value, parent: &str, from: &str, to: &str) {
    let Some(holder) = obj.pointer_mut(parent).and_then(Value::as_object_mut) else {
        return;
    };
    if let Some(v) = holder.remove(from) {
        holder.insert(to.to_string(), v);
    }
}

/// Converts `obj` (at the version its `apiVersion` names) to `rt`'s version.
/// An object without an `apiVersion` of `rt`'s group is taken as already there.
pub fn between_versions(rt: &ResourceType, obj: &mut Value) {
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or_default().to_string();
    let (group, from) = split_api_version(&api_version);
    if group != rt.group || from == rt.version {
        return;
    }
    for r in RENAMES.iter().filter(|r| r.group == rt.group && r.kind == rt.kind) {
        let (from_old, to_old) = (r.old_versions.contains(&from), r.old_versions.contains(&rt.version.as_str()));
        match (from_old, to_old) {
            (true, false) => rename(obj, r.parent, r.old_name, r.new_name),
            (false, true) => rename(obj, r.parent, r.new_name, r.old_name),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;
    use serde_json::json;

    #[test]
    fn concurrency_shares_follow_the_version() {
        let reg = Registry::for_release("1.25".parse().expect("profile"));
        let beta = reg.find("flowcontrol.apiserver.k8s.io", "v1beta2", "prioritylevelconfigurations").expect("row");
        let mut obj = json!({
            "apiVersion": "flowcontrol.apiserver.k8s.io/v1",
            "spec": {"type": "Limited", "limited": {"nominalConcurrencyShares": 30}},
        });
        between_versions(beta, &mut obj);
        assert_eq!(obj.pointer("/spec/limited/assuredConcurrencyShares"), Some(&json!(30)));
        assert!(obj.pointer("/spec/limited/nominalConcurrencyShares").is_none());
        let mut same = json!({"apiVersion": "flowcontrol.apiserver.k8s.io/v1beta2", "spec": {"limited": {"assuredConcurrencyShares": 5}}});
        between_versions(beta, &mut same);
        assert_eq!(same.pointer("/spec/limited/assuredConcurrencyShares"), Some(&json!(5)));
    }
}
