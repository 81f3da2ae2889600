//! A claim's data from its CSI snapshot, after the original VolumeSnapshot
//! and its content may be gone: a pre-provisioned VolumeSnapshotContent
//! (the recorded driver and handle, deletion policy `Retain`: the storage
//! system's snapshot is never deleted by a restore) bound to a new
//! VolumeSnapshot in the claim's namespace, which the claim names as its
//! data source.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use arca_kube::api::Kube;
use serde_json::{Value, json};

use crate::mover::pod_name;
use crate::record::SnapshotRecord;

const API: &str = "/apis/snapshot.storage.k8s.io/v1";
const DEFAULT_CLASS: &str = "storageclass.kubernetes.io/is-default-class";

/// Names of the content and snapshot a restore makes for one claim.
pub struct SnapshotNames {
    pub content: String,
    pub snapshot: String,
}

pub fn names(restore: &str, namespace: &str, claim: &str) -> SnapshotNames {
    SnapshotNames {
        content: pod_name("arca-restore-content", &[restore, namespace, claim]),
        snapshot: pod_name(&format!("arca-restore-{claim}"), &[restore, namespace, claim]),
    }
}

/// The pre-provisioned content for `snap`, bound to `namespace/snapshot`.
pub fn content_object(
    names: &SnapshotNames,
    namespace: &str,
    snap: &SnapshotRecord,
    labels: &BTreeMap<String, String>,
) -> Value {
    let mut spec = json!({
        "deletionPolicy": "Retain",
        "driver": snap.driver,
        "source": {"snapshotHandle": snap.handle},
        "volumeSnapshotRef": {"namespace": namespace, "name": names.snapshot},
    });
    if !snap.class.is_empty() {
        spec["volumeSnapshotClassName"] = json!(snap.class);
    }
    json!({
        "apiVersion": "snapshot.storage.k8s.io/v1",
        "kind": "VolumeSnapshotContent",
        "metadata": {"name": names.content, "labels": labels},
        "spec": spec,
    })
}

/// The VolumeSnapshot naming the pre-provisioned content.
pub fn snapshot_object(
    names: &SnapshotNames,
    namespace: &str,
    snap: &SnapshotRecord,
    labels: &BTreeMap<String, String>,
) -> Value {
    let mut spec = json!({"source": {"volumeSnapshotContentName": names.content}});
    if !snap.class.is_empty() {
        spec["volumeSnapshotClassName"] = json!(snap.class);
    }
    json!({
        "apiVersion": "snapshot.storage.k8s.io/v1",
        "kind": "VolumeSnapshot",
        "metadata": {"name": names.snapshot, "namespace": namespace, "labels": labels},
        "spec": spec,
    })
}

/// The CSI driver (provisioner) of the target storage class: `class`, or
/// the cluster's default class when the claim names none.
pub async fn class_driver(kube: &Kube, class: Option<&str>) -> Result<(String, String), String> {
    let what = "reading storage classes";
    match class {
        Some(name) => {
            let path = format!("/apis/storage.k8s.io/v1/storageclasses/{name}");
            match kube.get_opt(&path, what).await {
                Ok(Some(c)) => Ok((name.to_string(), provisioner(&c))),
                Ok(None) => Err(format!(
                    "its storage class {name} does not exist in the target cluster: create it, or map it with \
                     --storage-class-mappings {name}:OTHER"
                )),
                Err(e) => Err(format!("reading storage class {name}: {}", e.reason())),
            }
        }
        None => {
            let list = kube.get("/apis/storage.k8s.io/v1/storageclasses", what).await.map_err(|e| e.reason())?;
            let items = list["items"].as_array().cloned().unwrap_or_default();
            let default = items.iter().find(|c| c["metadata"]["annotations"][DEFAULT_CLASS] == "true");
            default
                .map(|c| (c["metadata"]["name"].as_str().unwrap_or_default().to_string(), provisioner(c)))
                .ok_or_else(|| "it names no storage class and the target cluster has no default one".to_string())
        }
    }
}

fn provisioner(class: &Value) -> String {
    class["provisioner"].as_str().unwrap_or_default().to_string()
}

/// Creates the content and the snapshot (or finds them from an earlier
/// attempt of the same restore) and waits until the snapshot is
/// `readyToUse`. Returns a description for the report.
pub async fn provision(
    kube: &Kube,
    names: &SnapshotNames,
    namespace: &str,
    snap: &SnapshotRecord,
    labels: &BTreeMap<String, String>,
    timeout: Duration,
) -> Result<String, String> {
    let content = content_object(names, namespace, snap, labels);
    create_or_keep(
        kube,
        &format!("{API}/volumesnapshotcontents"),
        &content,
        &format!("VolumeSnapshotContent {}", names.content),
    )
    .await?;
    let vs = snapshot_object(names, namespace, snap, labels);
    let vs_what = format!("VolumeSnapshot {namespace}/{}", names.snapshot);
    create_or_keep(kube, &format!("{API}/namespaces/{namespace}/volumesnapshots"), &vs, &vs_what).await?;
    let path = format!("{API}/namespaces/{namespace}/volumesnapshots/{}", names.snapshot);
    let start = Instant::now();
    loop {
        let live = kube.get_opt(&path, &vs_what).await.map_err(|e| e.reason())?;
        let status = live.as_ref().map(|v| &v["status"]);
        if status.is_some_and(|s| s["readyToUse"] == true) {
            return Ok(format!("{vs_what} (content {}, handle {})", names.content, snap.handle));
        }
        if let Some(msg) = status.and_then(|s| s["error"]["message"].as_str()) {
            return Err(format!("{vs_what} failed: {msg}"));
        }
        if start.elapsed() >= timeout {
            return Err(format!(
                "{vs_what} was not ready to use within {}: the driver {} may not know the snapshot handle {} any more",
                crate::run::human(timeout),
                snap.driver,
                snap.handle
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn create_or_keep(kube: &Kube, collection: &str, body: &Value, what: &str) -> Result<(), String> {
    match kube.create(collection, body, &format!("creating {what}")).await {
        Ok(_) => Ok(()),
        Err(e) if e.api_code() == Some(409) => Ok(()),
        Err(e) if e.api_code() == Some(404) => Err(format!(
            "creating {what}: the target cluster does not serve snapshot.storage.k8s.io/v1 (install the CSI snapshot CRDs and controller)"
        )),
        Err(e) => Err(format!("creating {what}: {}", e.reason())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_content_is_retained_and_bound_to_the_new_snapshot() {
        let snap = SnapshotRecord {
            name: "old".into(),
            content: "snapcontent-1".into(),
            class: "csi-snap".into(),
            driver: "ebs.csi.aws.com".into(),
            handle: "snap-0abc".into(),
            restore_size: Some("1Gi".into()),
            kept: true,
        };
        let n = names("r1", "shop", "data");
        let c = content_object(&n, "shop", &snap, &BTreeMap::new());
        assert_eq!(c["spec"]["deletionPolicy"], "Retain");
        assert_eq!(c["spec"]["source"]["snapshotHandle"], "snap-0abc");
        assert_eq!(c["spec"]["volumeSnapshotRef"], json!({"namespace": "shop", "name": n.snapshot}));
        let vs = snapshot_object(&n, "shop", &snap, &BTreeMap::new());
        assert_eq!(vs["spec"]["source"]["volumeSnapshotContentName"], n.content);
        assert!(n.snapshot.len() <= 63 && n.content.len() <= 63);
        assert_ne!(names("r2", "shop", "data").snapshot, n.snapshot);
    }
}
