//! Dynamic provisioning for the test StorageClasses (the external
//! provisioner's job): a claim no existing volume matches gets a PV whose CSI
//! `volumeHandle` (and `volumeAttributes.path`) is a local directory (for
//! `volumeMode: Block` a sparse file of the claim's size), pre-bound to the
//! claim for the binder to complete. Claims with a VolumeSnapshot or PVC
//! `dataSource` start as a copy of that data. Claims of a
//! `WaitForFirstConsumer` class wait for the scheduler's
//! `volume.kubernetes.io/selected-node`; their PV is pinned to that node.

use std::path::PathBuf;

use serde_json::{Value, json};

use super::binder::rules;
use super::{fsutil, log_err, objects, opts};
use crate::cluster::Cluster;
use crate::meta;
use crate::seed::{TEST_LOCAL_PROVISIONER, TEST_PROVISIONER};
use crate::state::{Patch, State};

const MANAGER: &str = "persistentvolume-controller";
/// The field manager of the test driver's external provisioner.
const PROVISIONER: &str = "csi-provisioner";

/// The local directory behind a PV, if it has one.
pub fn pv_path(pv: &Value) -> Option<PathBuf> {
    ["/spec/csi/volumeAttributes/path", "/spec/hostPath/path", "/spec/local/path"]
        .iter()
        .find_map(|p| meta::str_at(pv, p))
        .map(PathBuf::from)
}

/// The directory (or block file) of the PV bound to claim `ns/name`.
pub fn claim_path(state: &State, ns: &str, name: &str) -> Option<PathBuf> {
    claim_volume(state, ns, name).and_then(|pv| pv_path(&pv))
}

/// The PV bound to claim `ns/name`.
pub fn claim_volume(state: &State, ns: &str, name: &str) -> Option<Value> {
    let pvc_rt = state.resource("", "v1", "persistentvolumeclaims")?;
    let pv_rt = state.resource("", "v1", "persistentvolumes")?;
    let pvc = state.get(&pvc_rt, ns, name).ok()?;
    let volume = meta::str_at(&pvc, "/spec/volumeName").filter(|v| !v.is_empty())?;
    state.get(&pv_rt, "", volume).ok()
}

struct Work {
    pvc: Value,
    source: Option<PathBuf>,
    reclaim: String,
    driver: String,
    node: Option<String>,
}

fn is_block(obj: &Value) -> bool {
    meta::str_at(obj, "/spec/volumeMode") == Some("Block")
}

/// Creates the volume: a directory, or for a block claim a sparse file of its size.
fn make_volume(pvc: &Value, source: Option<&std::path::Path>, target: &std::path::Path) -> std::io::Result<()> {
    if !is_block(pvc) {
        return match source {
            Some(src) => fsutil::copy_dir(src, target).map(|_| ()),
            None => std::fs::create_dir_all(target),
        };
    }
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let size = meta::str_at(pvc, "/spec/resources/requests/storage").and_then(super::quantity::parse).unwrap_or(0.0);
    match source {
        Some(src) if src.is_file() => {
            fsutil::copy_sparse(src, target)?;
        }
        Some(src) => {
            return Err(std::io::Error::other(format!("{} is not a block volume", src.display())));
        }
        None => {}
    }
    let file = std::fs::OpenOptions::new().create(true).write(true).truncate(false).open(target)?;
    if file.metadata()?.len() < size as u64 {
        file.set_len(size as u64)?;
    }
    Ok(())
}

/// Provisions volumes for the claims that need one (copies happen outside the lock).
pub fn reconcile(cluster: &Cluster) {
    let work = plan(&cluster.lock());
    for w in work {
        let dir = cluster.data_dir.join("volumes").join(format!("pvc-{}", meta::uid(&w.pvc)));
        if let Err(e) = make_volume(&w.pvc, w.source.as_deref(), &dir) {
            tracing::warn!("provisioning {}: {e}", dir.display());
            continue;
        }
        create_pv(&mut cluster.lock(), &w, &dir);
    }
}

fn plan(state: &State) -> Vec<Work> {
    let classes = objects(state, "storage.k8s.io", "storageclasses");
    let pvs = objects(state, "", "persistentvolumes");
    let mut out = Vec::new();
    for pvc in objects(state, "", "persistentvolumeclaims") {
        let class_name = rules::class_of(&pvc);
        let Some(class) = classes.iter().find(|c| meta::name(c) == class_name) else {
            continue;
        };
        let delayed = meta::str_at(class, "/volumeBindingMode") == Some("WaitForFirstConsumer");
        if !wants_provisioning(&pvc, &pvs, delayed) {
            continue;
        }
        let driver = meta::str_at(class, "/provisioner").unwrap_or_default();
        if driver != TEST_PROVISIONER && driver != TEST_LOCAL_PROVISIONER {
            continue;
        }
        let node = rules::annotation(&pvc, rules::ANN_SELECTED_NODE).map(String::from);
        if delayed && node.is_none() {
            continue;
        }
        let ns = meta::namespace(&pvc);
        let source = match pvc.pointer("/spec/dataSourceRef").or_else(|| pvc.pointer("/spec/dataSource")) {
            None => None,
            Some(ds) => {
                let kind = meta::str_at(ds, "/kind").unwrap_or_default();
                let name = meta::str_at(ds, "/name").unwrap_or_default();
                let path = match kind {
                    "VolumeSnapshot" => snapshot_path(state, ns, name),
                    "PersistentVolumeClaim" => claim_path(state, ns, name),
                    _ => None,
                };
                // Wait until the source is ready.
                let Some(path) = path else { continue };
                Some(path)
            }
        };
        let reclaim = meta::str_at(class, "/reclaimPolicy").unwrap_or("Delete").to_string();
        out.push(Work { pvc, source, reclaim, driver: driver.to_string(), node });
    }
    out
}

/// As upstream, a claim is provisioned for only when it names no volume, was
/// never bound, and no existing volume matches it (the binder binds those);
/// a volume already provisioned for it waits for the binder too. For a
/// `delayed` (`WaitForFirstConsumer`) claim only a volume pre-bound to it
/// counts: the scheduler pre-binds a free one that fits the node.
fn wants_provisioning(pvc: &Value, pvs: &[Value], delayed: bool) -> bool {
    let named = meta::str_at(pvc, "/spec/volumeName").is_some_and(|v| !v.is_empty());
    let provisioned = format!("pvc-{}", meta::uid(pvc));
    !meta::is_deleting(pvc)
        && !named
        && rules::annotation(pvc, rules::ANN_BIND_COMPLETED).is_none()
        && !pvs.iter().any(|pv| meta::name(pv) == provisioned)
        && !rules::best_match(pvc, pvs).is_some_and(|pv| !delayed || rules::bound_to_claim(pv, pvc))
}

fn snapshot_path(state: &State, ns: &str, name: &str) -> Option<PathBuf> {
    let vs_rt = state.resource_any("snapshot.storage.k8s.io", "volumesnapshots")?;
    let vsc_rt = state.resource_any("snapshot.storage.k8s.io", "volumesnapshotcontents")?;
    let vs = state.get(&vs_rt, ns, name).ok()?;
    if vs.pointer("/status/readyToUse").and_then(Value::as_bool) != Some(true) {
        return None;
    }
    let content = meta::str_at(&vs, "/status/boundVolumeSnapshotContentName")?;
    let vsc = state.get(&vsc_rt, "", content).ok()?;
    meta::str_at(&vsc, "/status/snapshotHandle").map(PathBuf::from)
}

/// Creates the PV for a claim, bound to it by `claimRef` as an external
/// provisioner does; the binder then completes the binding.
fn create_pv(state: &mut State, w: &Work, dir: &std::path::Path) {
    let (Some(pvc_rt), Some(pv_rt)) =
        (state.resource("", "v1", "persistentvolumeclaims"), state.resource("", "v1", "persistentvolumes"))
    else {
        return;
    };
    let pvc = &w.pvc;
    let (ns, name, uid) = (meta::namespace(pvc), meta::name(pvc), meta::uid(pvc));
    // The PV controller's `setClaimProvisioner`, before the provisioner runs.
    let driver = w.driver.as_str();
    let p = Patch::Merge(
        json!({"metadata": {"annotations": {"volume.beta.kubernetes.io/storage-provisioner": driver, "volume.kubernetes.io/storage-provisioner": driver}}}),
    );
    let Some(pvc) = log_err("annotate pvc", state.patch(&pvc_rt, ns, name, p, "", &opts(MANAGER))) else {
        return;
    };
    let storage = pvc.pointer("/spec/resources/requests/storage").cloned().unwrap_or(json!("1Gi"));
    let modes = pvc.pointer("/spec/accessModes").cloned().unwrap_or(json!(["ReadWriteOnce"]));
    let path = dir.to_string_lossy().to_string();
    let mut pv = json!({
        "metadata": {"name": format!("pvc-{uid}"), "annotations": {rules::ANN_PROVISIONED_BY: driver, "volume.kubernetes.io/provisioner-deletion-secret-name": "", "volume.kubernetes.io/provisioner-deletion-secret-namespace": ""}},
        "spec": {
            "capacity": {"storage": storage},
            "accessModes": modes,
            "persistentVolumeReclaimPolicy": w.reclaim,
            "storageClassName": pvc.pointer("/spec/storageClassName").cloned().unwrap_or(Value::Null),
            "volumeMode": pvc.pointer("/spec/volumeMode").cloned().unwrap_or(json!("Filesystem")),
            "claimRef": {"kind": "PersistentVolumeClaim", "apiVersion": "v1", "namespace": ns, "name": name, "uid": uid, "resourceVersion": meta::str_at(&pvc, "/metadata/resourceVersion")},
            "csi": {"driver": driver, "volumeHandle": path, "fsType": "ext4", "volumeAttributes": {"path": path}},
        },
    });
    if let Some(node) = &w.node {
        pv["spec"]["nodeAffinity"] = json!({"required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}});
    }
    if is_block(&pvc) {
        if let Some(csi) = pv.pointer_mut("/spec/csi").and_then(Value::as_object_mut) {
            csi.remove("fsType");
        }
    }
    log_err("create pv", state.create(&pv_rt, "", pv, &opts(PROVISIONER)));
}
