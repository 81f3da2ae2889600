//! Objects every cluster starts with, and the optional snapshot support.

mod apf;
mod control_plane;
mod rbac;
mod yaml;

use serde_json::{Value, json};

use crate::cluster::Cluster;
use crate::error::ApiError;
use crate::snapshot_crds;
use crate::state::{State, WriteOpts};

/// Provisioner of the test StorageClass and driver of the test snapshot class.
pub const TEST_PROVISIONER: &str = "hostpath.csi.arca.test";
/// The default StorageClass every cluster has.
pub const TEST_STORAGE_CLASS: &str = "arca-test";
/// A StorageClass of the test provisioner with `WaitForFirstConsumer` binding.
pub const TEST_WFFC_STORAGE_CLASS: &str = "arca-test-wffc";
/// A node-local StorageClass (`WaitForFirstConsumer`, no snapshot class).
pub const TEST_LOCAL_STORAGE_CLASS: &str = "arca-test-local";
/// Provisioner and CSI driver of the node-local class.
pub const TEST_LOCAL_PROVISIONER: &str = "local.csi.arca.test";
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
    for (i, node) in cluster.nodes.iter().enumerate() {
        seed_node(&mut state, cluster, node, i)?;
    }
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
    seed_storage_classes(&mut state)?;
    // What the API server itself creates or reconciles at start.
    control_plane::seed(&mut state)?;
    rbac::seed(&mut state)?;
    apf::seed(&mut state, cluster.release)?;
    for driver in [TEST_PROVISIONER, TEST_LOCAL_PROVISIONER] {
        put(
            &mut state,
            "storage.k8s.io",
            "csidrivers",
            "",
            json!({
                "metadata": {"name": driver},
                "spec": {"attachRequired": false, "podInfoOnMount": false, "volumeLifecycleModes": ["Persistent"]},
            }),
        )?;
    }
    Ok(())
}

/// The architecture as Kubernetes names it (`GOARCH`).
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

/// A node with the labels a kubelet and a cloud provider set, `Ready`.
fn seed_node(state: &mut State, cluster: &Cluster, node: &str, index: usize) -> Result<(), ApiError> {
    let zone = format!("zone-{}", (b'a' + (index % 2) as u8) as char);
    let mut labels = json!({"kubernetes.io/hostname": node, "kubernetes.io/os": "linux", "kubernetes.io/arch": go_arch(),
                            "topology.kubernetes.io/zone": zone});
    if index == 0 {
        labels["node-role.kubernetes.io/control-plane"] = json!("");
    }
    put(
        state,
        "",
        "nodes",
        "",
        json!({"metadata": {"name": node, "labels": labels}, "spec": {"podCIDR": format!("10.244.{index}.0/24")}}),
    )?;
    let node_rt = state.resource("", "v1", "nodes").ok_or_else(|| ApiError::internal("no nodes resource"))?;
    state.update(&node_rt, "", node, json!({"status": {
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status"}],
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": node}],
        "nodeInfo": {"kubeletVersion": cluster.release.git_version(), "operatingSystem": "linux", "architecture": go_arch(), "containerRuntimeVersion": "arca://local"},
        "capacity": {"cpu": "2", "memory": "8Gi", "pods": "110"},
        "allocatable": {"cpu": "2", "memory": "8Gi", "pods": "110"},
    }}), "status", &WriteOpts::manager("kubelet"))?;
    Ok(())
}

fn seed_storage_classes(state: &mut State) -> Result<(), ApiError> {
    let classes = [
        (crate::TEST_STORAGE_CLASS, TEST_PROVISIONER, "Immediate", true),
        (TEST_WFFC_STORAGE_CLASS, TEST_PROVISIONER, "WaitForFirstConsumer", false),
        (TEST_LOCAL_STORAGE_CLASS, TEST_LOCAL_PROVISIONER, "WaitForFirstConsumer", false),
    ];
    for (name, provisioner, binding, default) in classes {
        let mut class = json!({
            "metadata": {"name": name},
            "provisioner": provisioner,
            "reclaimPolicy": "Delete",
            "volumeBindingMode": binding,
            "allowVolumeExpansion": true,
        });
        if default {
            class["metadata"]["annotations"] = json!({crate::types::DEFAULT_CLASS_ANNOTATION: "true"});
        }
        put(state, "storage.k8s.io", "storageclasses", "", class)?;
    }
    Ok(())
}

/// Installs the snapshot CRDs and the test VolumeSnapshotClass.
/// The VolumeGroupSnapshotClass of the test driver (with `Builder::group_snapshots`).
pub const TEST_GROUP_SNAPSHOT_CLASS: &str = "arca-test-group-snapshots";

pub fn group_snapshot_support(cluster: &Cluster, version: &str) -> Result<(), ApiError> {
    let mut state = cluster.lock();
    for crd in crate::group_snapshot_crds::all(version) {
        put(&mut state, "apiextensions.k8s.io", "customresourcedefinitions", "", crd)?;
    }
    let group = crate::group_snapshot_crds::GROUP;
    put(
        &mut state,
        group,
        "volumegroupsnapshotclasses",
        "",
        json!({
            "apiVersion": format!("{group}/{version}"),
            "kind": "VolumeGroupSnapshotClass",
            "metadata": {"name": TEST_GROUP_SNAPSHOT_CLASS},
            "driver": TEST_PROVISIONER,
            "deletionPolicy": "Delete",
        }),
    )
}

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
