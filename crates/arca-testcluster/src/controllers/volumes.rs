//! Dynamic provisioning for the test StorageClass: each claim gets a bound PV whose
//! CSI `volumeHandle` (and `volumeAttributes.path`) is a local directory. Claims
//! with a VolumeSnapshot or PVC `dataSource` start as a copy of that data.

use std::path::PathBuf;

use serde_json::{Value, json};

use super::{fsutil, log_err, objects, opts};
use crate::cluster::Cluster;
use crate::meta;
use crate::seed::TEST_PROVISIONER;
use crate::state::{DeleteOpts, Patch, State};
use crate::types::PVC_PROTECTION;

const MANAGER: &str = "persistentvolume-controller";

/// The local directory behind a PV, if it has one.
pub fn pv_path(pv: &Value) -> Option<PathBuf> {
    ["/spec/csi/volumeAttributes/path", "/spec/hostPath/path", "/spec/local/path"]
        .iter()
        .find_map(|p| meta::str_at(pv, p))
        .map(PathBuf::from)
}

/// The directory of the PV bound to claim `ns/name`.
pub fn claim_path(state: &State, ns: &str, name: &str) -> Option<PathBuf> {
    let pvc_rt = state.resource("", "v1", "persistentvolumeclaims")?;
    let pv_rt = state.resource("", "v1", "persistentvolumes")?;
    let pvc = state.get(&pvc_rt, ns, name).ok()?;
    let volume = meta::str_at(&pvc, "/spec/volumeName").filter(|v| !v.is_empty())?;
    let pv = state.get(&pv_rt, "", volume).ok()?;
    pv_path(&pv)
}

struct Work {
    pvc: Value,
    source: Option<PathBuf>,
    reclaim: String,
}

pub fn reconcile(cluster: &Cluster) {
    let work = {
        let mut state = cluster.lock();
        release(&mut state, cluster);
        unprotect(&mut state);
        plan(&state)
    };
    for w in work {
        let dir = cluster.data_dir.join("volumes").join(format!("pvc-{}", meta::uid(&w.pvc)));
        let copied = match &w.source {
            Some(src) => fsutil::copy_dir(src, &dir).map(|_| ()),
            None => std::fs::create_dir_all(&dir),
        };
        if let Err(e) = copied {
            tracing::warn!("provisioning {}: {e}", dir.display());
            continue;
        }
        bind(&mut cluster.lock(), &w, &dir);
    }
}

fn plan(state: &State) -> Vec<Work> {
    let classes = objects(state, "storage.k8s.io", "storageclasses");
    let mut out = Vec::new();
    for pvc in objects(state, "", "persistentvolumeclaims") {
        if meta::is_deleting(&pvc) || meta::str_at(&pvc, "/spec/volumeName").is_some_and(|v| !v.is_empty()) {
            continue;
        }
        let class_name = meta::str_at(&pvc, "/spec/storageClassName").unwrap_or_default();
        let Some(class) = classes.iter().find(|c| meta::name(c) == class_name) else {
            continue;
        };
        if meta::str_at(class, "/provisioner") != Some(TEST_PROVISIONER) {
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
        out.push(Work { pvc, source, reclaim });
    }
    out
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

fn bind(state: &mut State, w: &Work, dir: &std::path::Path) {
    let (Some(pvc_rt), Some(pv_rt)) =
        (state.resource("", "v1", "persistentvolumeclaims"), state.resource("", "v1", "persistentvolumes"))
    else {
        return;
    };
    let pvc = &w.pvc;
    let (ns, name, uid) = (meta::namespace(pvc), meta::name(pvc), meta::uid(pvc));
    let pv_name = format!("pvc-{uid}");
    let storage = pvc.pointer("/spec/resources/requests/storage").cloned().unwrap_or(json!("1Gi"));
    let modes = pvc.pointer("/spec/accessModes").cloned().unwrap_or(json!(["ReadWriteOnce"]));
    let path = dir.to_string_lossy().to_string();
    let pv = json!({
        "metadata": {"name": pv_name, "annotations": {"pv.kubernetes.io/provisioned-by": TEST_PROVISIONER, "volume.kubernetes.io/provisioner-deletion-secret-name": "", "volume.kubernetes.io/provisioner-deletion-secret-namespace": ""}, "finalizers": ["kubernetes.io/pv-protection"]},
        "spec": {
            "capacity": {"storage": storage},
            "accessModes": modes,
            "persistentVolumeReclaimPolicy": w.reclaim,
            "storageClassName": pvc.pointer("/spec/storageClassName").cloned().unwrap_or(Value::Null),
            "volumeMode": pvc.pointer("/spec/volumeMode").cloned().unwrap_or(json!("Filesystem")),
            "claimRef": {"kind": "PersistentVolumeClaim", "apiVersion": "v1", "namespace": ns, "name": name, "uid": uid, "resourceVersion": meta::str_at(pvc, "/metadata/resourceVersion")},
            "csi": {"driver": TEST_PROVISIONER, "volumeHandle": path, "fsType": "ext4", "volumeAttributes": {"path": path}},
        },
    });
    if log_err("create pv", state.create(&pv_rt, "", pv, &opts(MANAGER))).is_none() {
        return;
    }
    log_err(
        "pv status",
        state.update(&pv_rt, "", &pv_name, json!({"status": {"phase": "Bound"}}), "status", &opts(MANAGER)),
    );
    let p = Patch::Merge(json!({
        "metadata": {"annotations": {"pv.kubernetes.io/bind-completed": "yes", "pv.kubernetes.io/bound-by-controller": "yes", "volume.beta.kubernetes.io/storage-provisioner": TEST_PROVISIONER, "volume.kubernetes.io/storage-provisioner": TEST_PROVISIONER}},
        "spec": {"volumeName": pv_name},
    }));
    log_err("bind pvc", state.patch(&pvc_rt, ns, name, p, "", &opts(MANAGER)));
    let status = json!({"status": {"phase": "Bound", "accessModes": modes, "capacity": {"storage": storage}}});
    log_err("pvc status", state.update(&pvc_rt, ns, name, status, "status", &opts(MANAGER)));
}

/// Removes `kubernetes.io/pvc-protection` from deleting claims no running pod uses.
fn unprotect(state: &mut State) {
    let Some(pvc_rt) = state.resource("", "v1", "persistentvolumeclaims") else {
        return;
    };
    let pods = objects(state, "", "pods");
    let in_use = |ns: &str, claim: &str| {
        pods.iter().any(|p| {
            meta::namespace(p) == ns
                && !matches!(meta::str_at(p, "/status/phase"), Some("Succeeded") | Some("Failed"))
                && p.pointer("/spec/volumes").and_then(Value::as_array).is_some_and(|vs| {
                    vs.iter().any(|v| meta::str_at(v, "/persistentVolumeClaim/claimName") == Some(claim))
                })
        })
    };
    for pvc in state.all(&pvc_rt, None) {
        let fins = meta::finalizers(&pvc);
        if !meta::is_deleting(&pvc) || !fins.iter().any(|f| f == PVC_PROTECTION) {
            continue;
        }
        if in_use(meta::namespace(&pvc), meta::name(&pvc)) {
            continue;
        }
        let rest: Vec<String> = fins.into_iter().filter(|f| f != PVC_PROTECTION).collect();
        let p =
            Patch::Merge(json!({"metadata": {"finalizers": if rest.is_empty() { Value::Null } else { json!(rest) }}}));
        log_err("pvc protection", state.patch(&pvc_rt, meta::namespace(&pvc), meta::name(&pvc), p, "", &opts(MANAGER)));
    }
}

/// PVs whose claim is gone: `Delete` removes PV and directory, `Retain` marks Released.
fn release(state: &mut State, cluster: &Cluster) {
    let (Some(pvc_rt), Some(pv_rt)) =
        (state.resource("", "v1", "persistentvolumeclaims"), state.resource("", "v1", "persistentvolumes"))
    else {
        return;
    };
    for pv in state.all(&pv_rt, None) {
        let Some(claim) = pv.pointer("/spec/claimRef") else {
            continue;
        };
        let ns = meta::str_at(claim, "/namespace").unwrap_or_default();
        let name = meta::str_at(claim, "/name").unwrap_or_default();
        let uid = meta::str_at(claim, "/uid").unwrap_or_default();
        let bound = state.get(&pvc_rt, ns, name).is_ok_and(|c| meta::uid(&c) == uid);
        if bound {
            continue;
        }
        let pv_name = meta::name(&pv).to_string();
        let ours =
            meta::str_at(&pv, "/metadata/annotations/pv.kubernetes.io~1provisioned-by") == Some(TEST_PROVISIONER);
        let policy = meta::str_at(&pv, "/spec/persistentVolumeReclaimPolicy").unwrap_or("Retain");
        if ours && policy == "Delete" {
            if let Some(dir) = pv_path(&pv).filter(|d| d.starts_with(&cluster.data_dir)) {
                let _ = std::fs::remove_dir_all(dir);
            }
            let p = Patch::Merge(json!({"metadata": {"finalizers": null}}));
            log_err("pv finalizer", state.patch(&pv_rt, "", &pv_name, p, "", &opts(MANAGER)));
            let _ = state.delete(&pv_rt, "", &pv_name, &DeleteOpts::default());
        } else if meta::str_at(&pv, "/status/phase") != Some("Released") {
            log_err(
                "pv release",
                state.update(&pv_rt, "", &pv_name, json!({"status": {"phase": "Released"}}), "status", &opts(MANAGER)),
            );
        }
    }
}
