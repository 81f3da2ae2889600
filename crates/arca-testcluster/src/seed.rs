//! Objects every cluster starts with, and the optional snapshot support.

mod apf;
mod control_plane;
mod rbac;
mod yaml;

use serde_json::{Value, json};

use crate::cluster::{Cluster, NODE_NAME};
use crate::error::ApiError;
use crate::snapshot_crds;
use crate::state::{State, WriteOpts};

/// Provisioner of the test StorageClass and driver of the test snapshot class.
pub const TEST_PROVISIONER: &str = "hostpath.csi.arca.test";
/// The default StorageClass every cluster has.
pub const TEST_STORAGE_CLASS: &str = "arca-test";
/// The default VolumeSnapshotClass installed with the snapshot CRDs.
pub const TEST_SNAPSHOT_CLASS: &str = "arca-test-snapshots";

const MANAGER: &str = "kube-apiserver";

pub(crate) fn put(state: &mut State, group: &str, plural: &str, ns: &str, obj: Value) -> Result<(), ApiError> {
    let rt =
        state.resource_any(group, plural).ok_or_else(|| ApiError::internal(format!("no resource {plural}.{group}")))?;
    match state.create(&rt, ns, obj, &WriteOpts::manager(MANAGER)) {
        Ok(_) => Ok(()),
        Err(e) if e.code == 409 => Ok(()),
        Err(e) => Err(e),
    }
}

pub fn defaults(cluster: &Cluster) -> Result<(), ApiError> {
    let mut state = cluster.lock();
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        put(&mut state, "", "namespaces", "", json!({"metadata": {"name": ns}}))?;
    }
    put(
        &mut state,
        "",
        "nodes",
        "",
        json!({
            "metadata": {"name": NODE_NAME, "labels": {"kubernetes.io/hostname": NODE_NAME, "kubernetes.io/os": "linux", "node-role.kubernetes.io/control-plane": ""}},
            "spec": {"podCIDR": "10.244.0.0/24"},
        }),
    )?;
    let node_rt = state.resource("", "v1", "nodes").ok_or_else(|| ApiError::internal("no nodes resource"))?;
    state.update(&node_rt, "", NODE_NAME, json!({"status": {
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status"}],
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": NODE_NAME}],
        "nodeInfo": {"kubeletVersion": cluster.release.git_version(), "operatingSystem": "linux", "architecture": "amd64", "containerRuntimeVersion": "arca://local"},
        "capacity": {"cpu": "2", "memory": "8Gi", "pods": "110"},
        "allocatable": {"cpu": "2", "memory": "8Gi", "pods": "110"},
    }}), "status", &WriteOpts::manager("kubelet"))?;
    put(
        &mut state,
        "",
        "services",
        "default",
        json!({
            "metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]},
        }),
    )?;
    put(
        &mut state,
        "storage.k8s.io",
        "storageclasses",
        "",
        json!({
            "metadata": {"name": crate::TEST_STORAGE_CLASS, "annotations": {crate::types::DEFAULT_CLASS_ANNOTATION: "true"}},
            "provisioner": TEST_PROVISIONER,
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "Immediate",
            "allowVolumeExpansion": true,
        }),
    )?;
    // What the API server itself creates or reconciles at start.
    control_plane::seed(&mut state)?;
    rbac::seed(&mut state)?;
    apf::seed(&mut state, cluster.release)?;
    put(
        &mut state,
        "storage.k8s.io",
        "csidrivers",
        "",
        json!({
            "metadata": {"name": TEST_PROVISIONER},
            "spec": {"attachRequired": false, "podInfoOnMount": false, "volumeLifecycleModes": ["Persistent"]},
        }),
    )?;
    Ok(())
}

/// Installs the snapshot CRDs and the test VolumeSnapshotClass.
pub fn snapshot_support(cluster: &Cluster) -> Result<(), ApiError> {
    let mut state = cluster.lock();
    for crd in snapshot_crds::all() {
        put(&mut state, "apiextensions.k8s.io", "customresourcedefinitions", "", crd)?;
    }
    put(
        &mut state,
        "snapshot.storage.k8s.io",
        "volumesnapshotclasses",
        "",
        json!({
            "apiVersion": "snapshot.storage.k8s.io/v1",
            "kind": "VolumeSnapshotClass",
            "metadata": {"name": TEST_SNAPSHOT_CLASS, "annotations": {"snapshot.storage.kubernetes.io/is-default-class": "true"}},
            "driver": TEST_PROVISIONER,
            "deletionPolicy": "Delete",
        }),
    )
}
