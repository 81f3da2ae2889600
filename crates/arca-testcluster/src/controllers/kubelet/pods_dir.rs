//! The kubelet's pods directory on a node (`/var/lib/kubelet/pods/<uid>`):
//! while a pod runs, `volumes/kubernetes.io~csi/<pv>/mount` (claims bound to
//! CSI volumes of mode `Filesystem`), `volumes/kubernetes.io~empty-dir/<name>`
//! and `volumeDevices/kubernetes.io~csi/<pv>` (block claims) point at the
//! volumes, as data movers with a `hostPath` of the kubelet directory expect.
//! Real kubelets bind-mount directories (and link block devices); here all
//! are symlinks.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::env::pod_dir;
use crate::cluster::Cluster;
use crate::controllers::volumes::{claim_volume, pv_path};
use crate::meta;
use crate::state::State;

fn kubelet_pod_dir(cluster: &Cluster, node: &str, uid: &str) -> PathBuf {
    cluster.kubelet_dir(node).join("pods").join(uid)
}

/// Where a volume of a pod appears in the kubelet's directory of the pod,
/// and what it points at.
fn links(cluster: &Cluster, state: &State, pod: &Value) -> Vec<(PathBuf, PathBuf)> {
    let volumes = pod.pointer("/spec/volumes").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut out = Vec::new();
    for v in &volumes {
        let name = meta::str_at(v, "/name").unwrap_or_default();
        if let Some(claim) = meta::str_at(v, "/persistentVolumeClaim/claimName") {
            let Some(pv) = claim_volume(state, meta::namespace(pod), claim) else {
                continue;
            };
            let (Some(_), Some(target)) = (pv.pointer("/spec/csi"), pv_path(&pv)) else {
                continue;
            };
            let at = match meta::str_at(&pv, "/spec/volumeMode") {
                Some("Block") => Path::new("volumeDevices/kubernetes.io~csi").join(meta::name(&pv)),
                _ => Path::new("volumes/kubernetes.io~csi").join(meta::name(&pv)).join("mount"),
            };
            out.push((at, target));
        } else if v.get("emptyDir").is_some() {
            let target = pod_dir(&cluster.data_dir, meta::uid(pod)).join("volumes").join(name);
            out.push((Path::new("volumes/kubernetes.io~empty-dir").join(name), target));
        }
    }
    out
}

/// Publishes a starting pod's volumes in its node's kubelet directory.
pub fn publish(cluster: &Cluster, state: &State, pod: &Value, node: &str) {
    let root = kubelet_pod_dir(cluster, node, meta::uid(pod));
    for (at, target) in links(cluster, state, pod) {
        let link = root.join(at);
        let made = link
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|_| std::os::unix::fs::symlink(&target, &link));
        if let Err(e) = made {
            tracing::warn!("publishing {} at {}: {e}", target.display(), link.display());
        }
    }
}

/// Removes a pod's directory from its node's kubelet directory (the links
/// only: removing a directory tree does not follow symlinks).
pub fn unpublish(cluster: &Cluster, node: &str, uid: &str) {
    let dir = kubelet_pod_dir(cluster, node, uid);
    if dir.exists() {
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            tracing::warn!("removing {}: {e}", dir.display());
        }
    }
}
