//! The snapshot controller and CSI snapshotter for the test driver: a
//! VolumeSnapshot of a claim gets a VolumeSnapshotContent whose `snapshotHandle`
//! is a copy of the volume's directory, then `readyToUse: true`.

use std::path::PathBuf;

use serde_json::{Value, json};

use super::volumes::{claim_volume, pv_path};
use super::{fsutil, log_err, objects, opts};
use crate::cluster::Cluster;
use crate::meta;
use crate::seed::TEST_PROVISIONER;
use crate::state::{DeleteOpts, State};

const GROUP: &str = "snapshot.storage.k8s.io";
const MANAGER: &str = "snapshot-controller";
const DEFAULT_ANNOTATION: &str = "snapshot.storage.kubernetes.io/is-default-class";

struct Work {
    snapshot: Value,
    source: PathBuf,
    volume_handle: String,
    class: String,
    deletion_policy: String,
}

pub fn reconcile(cluster: &Cluster) {
    let work = {
        let mut state = cluster.lock();
        if state.resource_any(GROUP, "volumesnapshots").is_none() {
            return;
        }
        cleanup(&mut state, cluster);
        bind_preprovisioned(&mut state);
        plan(&state)
    };
    for w in work {
        let dir = cluster.data_dir.join("snapshots").join(format!("snapcontent-{}", meta::uid(&w.snapshot)));
        match fsutil::copy_volume(&w.source, &dir) {
            Ok(_) => finish(&mut cluster.lock(), &w, &dir),
            Err(e) => tracing::warn!("snapshot copy to {}: {e}", dir.display()),
        }
    }
}

fn plan(state: &State) -> Vec<Work> {
    let classes = objects(state, GROUP, "volumesnapshotclasses");
    let mut out = Vec::new();
    for vs in objects(state, GROUP, "volumesnapshots") {
        if meta::is_deleting(&vs) || vs.pointer("/status/boundVolumeSnapshotContentName").is_some() {
            continue;
        }
        let Some(claim) = meta::str_at(&vs, "/spec/source/persistentVolumeClaimName") else {
            continue;
        };
        let class = match meta::str_at(&vs, "/spec/volumeSnapshotClassName") {
            Some(name) => classes.iter().find(|c| meta::name(c) == name),
            None => classes.iter().find(|c| {
                meta::str_at(c, &format!("/metadata/annotations/{}", DEFAULT_ANNOTATION.replace('/', "~1")))
                    == Some("true")
            }),
        };
        let Some(class) = class.filter(|c| meta::str_at(c, "/driver") == Some(TEST_PROVISIONER)) else {
            continue;
        };
        let ns = meta::namespace(&vs);
        // The class's driver must be the volume's (a node-local volume has no snapshot class).
        let Some(pv) =
            claim_volume(state, ns, claim).filter(|pv| meta::str_at(pv, "/spec/csi/driver") == Some(TEST_PROVISIONER))
        else {
            continue;
        };
        let Some(source) = pv_path(&pv) else {
            continue;
        };
        out.push(Work {
            volume_handle: source.to_string_lossy().to_string(),
            source,
            class: meta::name(class).to_string(),
            deletion_policy: meta::str_at(class, "/deletionPolicy").unwrap_or("Delete").to_string(),
            snapshot: vs,
        });
    }
    out
}

fn finish(state: &mut State, w: &Work, dir: &std::path::Path) {
    let (Some(vs_rt), Some(vsc_rt)) =
        (state.resource_any(GROUP, "volumesnapshots"), state.resource_any(GROUP, "volumesnapshotcontents"))
    else {
        return;
    };
    let vs = &w.snapshot;
    let (ns, name, uid) = (meta::namespace(vs), meta::name(vs), meta::uid(vs));
    let content = format!("snapcontent-{uid}");
    let size = fsutil::dir_size(dir);
    let now = chrono::Utc::now();
    let vsc = json!({
        "apiVersion": format!("{GROUP}/v1"),
        "kind": "VolumeSnapshotContent",
        "metadata": {"name": content, "finalizers": ["snapshot.storage.kubernetes.io/volumesnapshotcontent-bound-protection"]},
        "spec": {
            "deletionPolicy": w.deletion_policy,
            "driver": TEST_PROVISIONER,
            "source": {"volumeHandle": w.volume_handle},
            "volumeSnapshotClassName": w.class,
            "volumeSnapshotRef": {"apiVersion": format!("{GROUP}/v1"), "kind": "VolumeSnapshot", "name": name, "namespace": ns, "uid": uid},
        },
    });
    if log_err("create content", state.create(&vsc_rt, "", vsc, &opts(MANAGER))).is_none() {
        return;
    }
    let nanos = now.timestamp_nanos_opt().unwrap_or_default();
    let status = json!({"status": {"snapshotHandle": dir.to_string_lossy(), "readyToUse": true, "restoreSize": size, "creationTime": nanos}});
    log_err("content status", state.update(&vsc_rt, "", &content, status, "status", &opts("csi-snapshotter")));
    let status = json!({"status": {
        "boundVolumeSnapshotContentName": content,
        "readyToUse": true,
        "restoreSize": size.to_string(),
        "creationTime": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    }});
    log_err("snapshot status", state.update(&vs_rt, ns, name, status, "status", &opts(MANAGER)));
}

/// VolumeSnapshots naming an existing content (`spec.source.volumeSnapshotContentName`).
fn bind_preprovisioned(state: &mut State) {
    let (Some(vs_rt), Some(vsc_rt)) =
        (state.resource_any(GROUP, "volumesnapshots"), state.resource_any(GROUP, "volumesnapshotcontents"))
    else {
        return;
    };
    for vs in state.all(&vs_rt, None) {
        if vs.pointer("/status/boundVolumeSnapshotContentName").is_some() {
            continue;
        }
        let Some(content) = meta::str_at(&vs, "/spec/source/volumeSnapshotContentName") else {
            continue;
        };
        let Ok(vsc) = state.get(&vsc_rt, "", content) else {
            continue;
        };
        let ready = vsc.pointer("/spec/source/snapshotHandle").is_some();
        if ready && vsc.pointer("/status/snapshotHandle").is_none() {
            let handle = vsc.pointer("/spec/source/snapshotHandle").cloned().unwrap_or(Value::Null);
            let st = json!({"status": {"snapshotHandle": handle, "readyToUse": true}});
            log_err("content status", state.update(&vsc_rt, "", content, st, "status", &opts("csi-snapshotter")));
        }
        let st = json!({"status": {"boundVolumeSnapshotContentName": content, "readyToUse": ready}});
        log_err(
            "snapshot bind",
            state.update(&vs_rt, meta::namespace(&vs), meta::name(&vs), st, "status", &opts(MANAGER)),
        );
    }
}

/// Contents whose snapshot is gone: `Delete` removes content and copy.
fn cleanup(state: &mut State, cluster: &Cluster) {
    let (Some(vs_rt), Some(vsc_rt)) =
        (state.resource_any(GROUP, "volumesnapshots"), state.resource_any(GROUP, "volumesnapshotcontents"))
    else {
        return;
    };
    for vsc in state.all(&vsc_rt, None) {
        let Some(r) = vsc.pointer("/spec/volumeSnapshotRef") else {
            continue;
        };
        let ns = meta::str_at(r, "/namespace").unwrap_or_default();
        let name = meta::str_at(r, "/name").unwrap_or_default();
        let uid = meta::str_at(r, "/uid").unwrap_or_default();
        if uid.is_empty() || state.get(&vs_rt, ns, name).is_ok_and(|v| meta::uid(&v) == uid) {
            continue;
        }
        let content = meta::name(&vsc).to_string();
        if !meta::finalizers(&vsc).is_empty() {
            let p = crate::state::Patch::Merge(json!({"metadata": {"finalizers": null}}));
            log_err("content finalizer", state.patch(&vsc_rt, "", &content, p, "", &opts(MANAGER)));
        }
        if meta::str_at(&vsc, "/spec/deletionPolicy") == Some("Delete") {
            if let Some(dir) = meta::str_at(&vsc, "/status/snapshotHandle").map(PathBuf::from) {
                if dir.starts_with(&cluster.data_dir) {
                    let _ = fsutil::remove_volume(&dir);
                }
            }
            let _ = state.delete(&vsc_rt, "", &content, &DeleteOpts::default());
        }
    }
}
