//! The CSI external-snapshotter's volume group snapshot CRDs
//! (`groupsnapshot.storage.k8s.io`, `v1beta1` as in external-snapshotter
//! 8.0–8.2, `v1beta2` in newer ones) as CRD objects. Schemas are reduced to
//! `x-kubernetes-preserve-unknown-fields` (no validation).

use serde_json::{Value, json};

pub const GROUP: &str = "groupsnapshot.storage.k8s.io";

fn crd(version: &str, plural: &str, kind: &str, scope: &str, status: bool) -> Value {
    let mut v = json!({
        "name": version,
        "served": true,
        "storage": true,
        "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
    });
    if status {
        v["subresources"] = json!({"status": {}});
    }
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": format!("{plural}.{GROUP}"),
            "annotations": {"api-approved.kubernetes.io": "https://github.com/kubernetes-csi/external-snapshotter/pull/1150"},
        },
        "spec": {
            "group": GROUP,
            "names": {"kind": kind, "listKind": format!("{kind}List"), "plural": plural, "singular": kind.to_ascii_lowercase()},
            "scope": scope,
            "versions": [v],
        },
    })
}

/// VolumeGroupSnapshotClass, VolumeGroupSnapshotContent and VolumeGroupSnapshot served at `version`.
pub fn all(version: &str) -> Vec<Value> {
    vec![
        crd(version, "volumegroupsnapshotclasses", "VolumeGroupSnapshotClass", "Cluster", false),
        crd(version, "volumegroupsnapshotcontents", "VolumeGroupSnapshotContent", "Cluster", true),
        crd(version, "volumegroupsnapshots", "VolumeGroupSnapshot", "Namespaced", true),
    ]
}
