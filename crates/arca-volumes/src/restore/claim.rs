//! Rewriting a backed-up claim to receive its data, pure: a fresh volume
//! (no `volumeName`, no bind annotations, no stale data source) to be filled
//! by a mover, or a volume provisioned from a VolumeSnapshot.

use serde_json::{Value, json};

/// Annotations the binder and provisioners set on a claim bound before:
/// kept, they would tie the new claim to the old volume or node.
pub const BIND_ANNOTATIONS: &[&str] = &[
    "pv.kubernetes.io/bind-completed",
    "pv.kubernetes.io/bound-by-controller",
    "volume.kubernetes.io/selected-node",
    "volume.beta.kubernetes.io/storage-provisioner",
    "volume.kubernetes.io/storage-provisioner",
];

const SNAPSHOT_GROUP: &str = "snapshot.storage.k8s.io";

/// A claim for a new, empty volume: its old volume, bind annotations and
/// data source (a snapshot or claim that may be gone) are dropped.
pub fn fresh(claim: &mut Value) {
    if let Some(spec) = claim.get_mut("spec").and_then(Value::as_object_mut) {
        for key in ["volumeName", "dataSource", "dataSourceRef"] {
            spec.remove(key);
        }
    }
    if let Some(ann) = claim.pointer_mut("/metadata/annotations").and_then(Value::as_object_mut) {
        for key in BIND_ANNOTATIONS {
            ann.remove(*key);
        }
    }
}

/// A claim provisioned from the VolumeSnapshot `snapshot` of its namespace,
/// at least `restore_size` large. Only `dataSource` is set when the backup
/// had no `dataSourceRef` (servers copy it over where the field exists,
/// and 1.24's without the feature refuse the field).
pub fn from_snapshot(claim: &mut Value, snapshot: &str, restore_size: Option<&str>) {
    let had_ref = claim.pointer("/spec/dataSourceRef").is_some_and(|r| !r.is_null());
    fresh(claim);
    let source = json!({"apiGroup": SNAPSHOT_GROUP, "kind": "VolumeSnapshot", "name": snapshot});
    claim["spec"]["dataSource"] = source.clone();
    if had_ref {
        claim["spec"]["dataSourceRef"] = source;
    }
    if let Some(size) = restore_size {
        let requested = claim.pointer("/spec/resources/requests/storage").and_then(Value::as_str);
        if requested.is_none_or(|r| quantity_bytes(r).zip(quantity_bytes(size)).is_some_and(|(r, s)| r < s)) {
            claim["spec"]["resources"]["requests"]["storage"] = json!(size);
        }
    }
}

/// The claim's storage class (`None`: the cluster's default).
pub fn storage_class(claim: &Value) -> Option<&str> {
    claim.pointer("/spec/storageClassName").and_then(Value::as_str).filter(|c| !c.is_empty())
}

/// The volume the claim is pre-bound to, if any.
pub fn volume_name(claim: &Value) -> Option<&str> {
    claim.pointer("/spec/volumeName").and_then(Value::as_str).filter(|v| !v.is_empty())
}

/// Bytes of a Kubernetes quantity (`1Gi`, `500M`, `1024`); `None` if not one.
pub fn quantity_bytes(q: &str) -> Option<u128> {
    let q = q.trim();
    let split = q.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(q.len());
    let (num, unit) = q.split_at(split);
    let factor: u128 = match unit {
        "" => 1,
        "k" => 1000,
        "M" => 1000u128.pow(2),
        "G" => 1000u128.pow(3),
        "T" => 1000u128.pow(4),
        "P" => 1000u128.pow(5),
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        "Pi" => 1 << 50,
        _ => return None,
    };
    let value: f64 = num.parse().ok()?;
    Some((value * factor as f64).ceil() as u128)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bound_claim() -> Value {
        json!({"metadata": {"name": "data", "annotations": {"pv.kubernetes.io/bind-completed": "yes",
            "volume.kubernetes.io/selected-node": "n1", "team": "a"}},
            "spec": {"volumeName": "pvc-1", "storageClassName": "fast", "resources": {"requests": {"storage": "1Gi"}},
                "dataSource": {"kind": "VolumeSnapshot", "name": "gone"}}})
    }

    #[test]
    fn a_fresh_claim_forgets_its_old_volume_and_source() {
        let mut c = bound_claim();
        fresh(&mut c);
        assert_eq!(volume_name(&c), None);
        assert!(c["spec"].get("dataSource").is_none());
        assert_eq!(c["metadata"]["annotations"], json!({"team": "a"}));
        assert_eq!(storage_class(&c), Some("fast"));
    }

    #[test]
    fn a_claim_from_a_snapshot_is_large_enough() {
        let mut c = bound_claim();
        from_snapshot(&mut c, "arca-restore-x", Some("2Gi"));
        assert_eq!(c["spec"]["dataSource"]["name"], "arca-restore-x");
        assert_eq!(c["spec"]["dataSource"]["apiGroup"], "snapshot.storage.k8s.io");
        assert!(c["spec"].get("dataSourceRef").is_none());
        assert_eq!(c["spec"]["resources"]["requests"]["storage"], "2Gi");
        let mut c = bound_claim();
        c["spec"]["dataSourceRef"] = json!({"kind": "VolumeSnapshot", "name": "gone"});
        from_snapshot(&mut c, "s", Some("1M"));
        assert_eq!(c["spec"]["dataSourceRef"]["name"], "s");
        assert_eq!(c["spec"]["resources"]["requests"]["storage"], "1Gi");
    }

    #[test]
    fn quantities() {
        assert_eq!(quantity_bytes("1Gi"), Some(1 << 30));
        assert_eq!(quantity_bytes("1.5k"), Some(1500));
        assert_eq!(quantity_bytes("12"), Some(12));
        assert_eq!(quantity_bytes("1Xi"), None);
    }
}
