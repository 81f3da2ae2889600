//! The workload controllers, kept minimal: Deployments own one ReplicaSet per
//! pod template, ReplicaSets keep `replicas` pods, StatefulSets keep ordered
//! pods `<set>-<i>` with their claims. A template change replaces pods (no
//! rolling-update pacing); status counts come from the pods.

mod deployments;
mod replicasets;
mod statefulsets;

use serde_json::{Value, json};

use crate::cluster::Cluster;
use crate::meta;

pub fn reconcile(cluster: &Cluster) {
    deployments::reconcile(cluster);
    replicasets::reconcile(cluster);
    statefulsets::reconcile(cluster);
}

/// `rand.SafeEncodeString(fmt.Sprint(fnv32a(template)))`, as upstream's
/// `controller.ComputeHash`: the `pod-template-hash` of a template.
pub fn template_hash(template: &Value) -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let text = serde_json::to_string(template).unwrap_or_default();
    let mut hash: u32 = 0x811c_9dc5;
    for b in text.bytes() {
        hash ^= b as u32;
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash.to_string().bytes().map(|b| ALPHANUMS[b as usize % ALPHANUMS.len()] as char).collect()
}

/// The controller owner reference to `owner` of kind `kind` (apps/v1).
fn owner_ref(owner: &Value, kind: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": kind, "name": meta::name(owner), "uid": meta::uid(owner), "controller": true, "blockOwnerDeletion": true})
}

/// Objects of `all` in the owner's namespace controlled by it.
fn owned_by<'a>(owner: &Value, all: &'a [Value]) -> Vec<&'a Value> {
    let uid = meta::uid(owner);
    all.iter()
        .filter(|o| meta::namespace(o) == meta::namespace(owner) && meta::owner_uids(o).iter().any(|u| u == uid))
        .collect()
}

/// Sets `metadata.labels[key]` of `obj`.
fn set_label(obj: &mut Value, key: &str, value: &str) {
    let labels = meta::metadata_mut(obj).entry("labels").or_insert_with(|| json!({}));
    meta::as_map(labels).insert(key.into(), json!(value));
}

fn phase(pod: &Value) -> &str {
    meta::str_at(pod, "/status/phase").unwrap_or("Pending")
}

/// Not ended and not being deleted (upstream's `FilterActivePods`).
fn is_active(pod: &Value) -> bool {
    !meta::is_deleting(pod) && !matches!(phase(pod), "Succeeded" | "Failed")
}

/// The pod's `Ready` condition is `True`.
fn is_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions").and_then(Value::as_array).is_some_and(|cs| {
        cs.iter().any(|c| meta::str_at(c, "/type") == Some("Ready") && meta::str_at(c, "/status") == Some("True"))
    })
}

fn replicas(obj: &Value) -> i64 {
    obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1).max(0)
}

fn generation(obj: &Value) -> i64 {
    obj.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(1)
}

/// A condition that keeps its `lastTransitionTime` while its status stays.
fn condition(old: &Value, kind: &str, ok: bool, reason: &str, message: &str) -> Value {
    let status = if ok { "True" } else { "False" };
    let previous = old.pointer("/status/conditions").and_then(Value::as_array).and_then(|cs| {
        cs.iter().find(|c| meta::str_at(c, "/type") == Some(kind) && meta::str_at(c, "/status") == Some(status))
    });
    let since = previous.and_then(|c| c.get("lastTransitionTime").cloned()).unwrap_or(json!(meta::now()));
    let same = previous.is_some_and(|c| meta::str_at(c, "/reason") == Some(reason));
    let updated = if same { previous.and_then(|c| c.get("lastUpdateTime").cloned()) } else { None };
    json!({"type": kind, "status": status, "reason": reason, "message": message,
           "lastTransitionTime": since, "lastUpdateTime": updated.unwrap_or(json!(meta::now()))})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_hash_is_stable_and_safe() {
        let a = json!({"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c"}]}});
        let b = json!({"metadata": {"labels": {"app": "b"}}, "spec": {"containers": [{"name": "c"}]}});
        assert_eq!(template_hash(&a), template_hash(&a.clone()));
        assert_ne!(template_hash(&a), template_hash(&b));
        assert!(template_hash(&a).chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)));
        assert!((8..=10).contains(&template_hash(&a).len()));
    }
}
