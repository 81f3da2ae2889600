//! The CSI external-snapshotter CRDs (snapshot.storage.k8s.io/v1) as CRD objects.
//! Schemas are reduced to `x-kubernetes-preserve-unknown-fields` (no validation).

use serde_json::{Value, json};

fn crd(plural: &str, kind: &str, scope: &str, short: &[&str], status: bool) -> Value {
    let mut version = json!({
        "name": "v1",
        "served": true,
        "storage": true,
        "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
    });
    if status {
        version["subresources"] = json!({"status": {}});
    }
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": format!("{plural}.snapshot.storage.k8s.io"),
            "annotations": {"api-approved.kubernetes.io": "https://github.com/kubernetes-csi/external-snapshotter/pull/814"},
        },
        "spec": {
            "group": "snapshot.storage.k8s.io",
            "names": {
                "kind": kind,
                "listKind": format!("{kind}List"),
                "plural": plural,
                "singular": kind.to_ascii_lowercase(),
                "shortNames": short,
            },
            "scope": scope,
            "versions": [version],
        },
    })
}

/// VolumeSnapshotClass, VolumeSnapshotContent and VolumeSnapshot.
pub fn all() -> Vec<Value> {
    vec![
        crd("volumesnapshotclasses", "VolumeSnapshotClass", "Cluster", &["vsclass", "vsclasses"], false),
        crd("volumesnapshotcontents", "VolumeSnapshotContent", "Cluster", &["vsc", "vscs"], true),
        crd("volumesnapshots", "VolumeSnapshot", "Namespaced", &["vs"], true),
    ]
}
