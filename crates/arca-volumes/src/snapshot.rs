//! CSI snapshots: a VolumeSnapshot of a claim, waited for until ready, its
//! content read into a [`SnapshotRecord`]; and, for `move`, the same
//! storage snapshot staged in Arca's namespace (a pre-provisioned content
//! with `deletionPolicy: Retain`, a VolumeSnapshot bound to it and a
//! temporary claim from it) for a mover pod to read.

use std::collections::BTreeMap;
use std::time::Duration;

use arca_kube::api::Kube;
use serde_json::{Value, json};

use crate::limits::Deadline;
use crate::record::SnapshotRecord;
use crate::run::human;

const GROUP: &str = "snapshot.storage.k8s.io";
const API: &str = "/apis/snapshot.storage.k8s.io/v1";

fn snapshots_path(ns: &str) -> String {
    format!("{API}/namespaces/{ns}/volumesnapshots")
}

fn snapshot_path(ns: &str, name: &str) -> String {
    format!("{}/{name}", snapshots_path(ns))
}

fn content_path(name: &str) -> String {
    format!("{API}/volumesnapshotcontents/{name}")
}

fn claim_path(ns: &str, name: &str) -> String {
    format!("/api/v1/namespaces/{ns}/persistentvolumeclaims/{name}")
}

/// Takes a VolumeSnapshot `name` of claim `ns/claim` with `class` and waits
/// until it is ready; the record is not yet `kept`.
pub async fn take(
    kube: &Kube,
    (ns, claim): (&str, &str),
    name: &str,
    class: &str,
    labels: &BTreeMap<String, String>,
    deadline: &Deadline,
) -> Result<SnapshotRecord, String> {
    start(kube, (ns, claim), name, class, labels).await?;
    complete(kube, ns, name, class, deadline).await
}

/// Creates the VolumeSnapshot `name` of claim `ns/claim` (not waiting).
pub async fn start(
    kube: &Kube,
    (ns, claim): (&str, &str),
    name: &str,
    class: &str,
    labels: &BTreeMap<String, String>,
) -> Result<(), String> {
    let body = json!({
        "apiVersion": format!("{GROUP}/v1"), "kind": "VolumeSnapshot",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {"volumeSnapshotClassName": class, "source": {"persistentVolumeClaimName": claim}},
    });
    let what = format!("VolumeSnapshot {ns}/{name}");
    create_fresh(kube, &snapshot_path(ns, name), &snapshots_path(ns), &body, &what).await
}

/// Waits until the storage system has cut the snapshot (`status.creationTime`
/// set, or ready): from then on the application may change its data again.
pub async fn wait_cut(kube: &Kube, ns: &str, name: &str, deadline: &Deadline) -> Result<(), String> {
    let what = format!("VolumeSnapshot {ns}/{name}");
    wait_status(kube, &snapshot_path(ns, name), &what, deadline, |s| {
        s["status"]["readyToUse"] == true || !s["status"]["creationTime"].is_null()
    })
    .await
    .map(drop)
}

/// Waits until the VolumeSnapshot `ns/name` is ready and reads its content into a record.
pub async fn complete(
    kube: &Kube,
    ns: &str,
    name: &str,
    class: &str,
    deadline: &Deadline,
) -> Result<SnapshotRecord, String> {
    let what = format!("VolumeSnapshot {ns}/{name}");
    let ready = wait_ready(kube, &snapshot_path(ns, name), &what, deadline).await?;
    let content_name = ready["status"]["boundVolumeSnapshotContentName"].as_str().unwrap_or_default();
    let content = kube
        .get(&content_path(content_name), &format!("VolumeSnapshotContent {content_name}"))
        .await
        .map_err(|e| format!("{what} is ready but its content could not be read: {e}"))?;
    let handle = content["status"]["snapshotHandle"].as_str().unwrap_or_default();
    if handle.is_empty() {
        return Err(format!("{what} is ready but its content {content_name} has no snapshotHandle"));
    }
    let restore_size = match &ready["status"]["restoreSize"] {
        Value::String(s) => Some(s.clone()),
        _ => content["status"]["restoreSize"].as_i64().map(|b| b.to_string()),
    };
    Ok(SnapshotRecord {
        name: name.to_string(),
        content: content_name.to_string(),
        class: class.to_string(),
        driver: content["spec"]["driver"].as_str().unwrap_or_default().to_string(),
        handle: handle.to_string(),
        restore_size,
        kept: false,
    })
}

/// Switches a kept snapshot's content to `deletionPolicy: Retain`: the
/// backup relies on it, so deleting the namespace or the VolumeSnapshot
/// (which a `Delete` class turns into deleting the storage snapshot) must
/// leave the data with the storage system.
pub async fn retain(kube: &Kube, content: &str) -> Result<(), String> {
    let what = format!("VolumeSnapshotContent {content}");
    kube.merge_patch(&content_path(content), &json!({"spec": {"deletionPolicy": "Retain"}}), &what)
        .await
        .map(drop)
        .map_err(|e| format!("could not set {what} to deletionPolicy Retain: {e}"))
}

/// Creates `body` at `collection`, first removing a leftover of the same
/// name from an interrupted run.
async fn create_fresh(kube: &Kube, path: &str, collection: &str, body: &Value, what: &str) -> Result<(), String> {
    if let Ok(Some(_)) = kube.get_opt(path, what).await {
        tracing::info!("{what}: replacing a leftover of an earlier run");
        delete(kube, path, what).await;
        wait_gone(kube, path, what).await;
    }
    kube.create(collection, body, what).await.map(drop).map_err(|e| format!("could not create {what}: {e}"))
}

/// Polls a VolumeSnapshot until `readyToUse`; its `status.error` fails it.
async fn wait_ready(kube: &Kube, path: &str, what: &str, deadline: &Deadline) -> Result<Value, String> {
    wait_status(kube, path, what, deadline, |s| s["status"]["readyToUse"] == true).await
}

/// Polls a VolumeSnapshot until `done` holds; its `status.error` fails it.
async fn wait_status(
    kube: &Kube,
    path: &str,
    what: &str,
    deadline: &Deadline,
    done: impl Fn(&Value) -> bool,
) -> Result<Value, String> {
    let mut last = Value::Null;
    loop {
        match kube.get_opt(path, what).await {
            Ok(Some(s)) => {
                if done(&s) {
                    return Ok(s);
                }
                if let Some(m) = s["status"]["error"]["message"].as_str() {
                    return Err(format!("{what} failed: {m}"));
                }
                last = s;
            }
            Ok(None) => return Err(format!("{what} was deleted before it was ready")),
            Err(e) => tracing::info!("{what}: reading its status: {e}"),
        }
        if deadline.passed() {
            let state = if last.is_null() { "no status" } else { "not readyToUse" };
            return Err(format!("{what} was not ready within {} ({state})", human(deadline.total)));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Deletes a VolumeSnapshot (its class's deletion policy decides about the storage snapshot).
pub async fn delete_snapshot(kube: &Kube, ns: &str, name: &str) {
    delete(kube, &snapshot_path(ns, name), &format!("VolumeSnapshot {ns}/{name}")).await;
}

/// What a `move` created in Arca's namespace; all of it goes afterwards.
#[derive(Debug, Clone)]
pub struct Staged {
    pub namespace: String,
    /// The temporary claim (and the staged VolumeSnapshot and content, all one name).
    pub name: String,
}

/// What the temporary claim copies from the original.
pub struct ClaimShape<'a> {
    pub storage_class: &'a str,
    pub volume_mode: &'a str,
    pub capacity: &'a str,
}

impl Staged {
    /// Stages `snapshot` in `namespace` as `name` and creates the temporary
    /// claim from it. On error, whatever was created is still named by the
    /// returned `Staged` for [`Staged::remove`].
    pub async fn create(
        kube: &Kube,
        (namespace, name): (&str, &str),
        snapshot: &SnapshotRecord,
        shape: &ClaimShape<'_>,
        labels: &BTreeMap<String, String>,
        deadline: &Deadline,
    ) -> (Staged, Result<(), String>) {
        let staged = Staged { namespace: namespace.to_string(), name: name.to_string() };
        let result = staged.build(kube, snapshot, shape, labels, deadline).await;
        (staged, result)
    }

    async fn build(
        &self,
        kube: &Kube,
        snapshot: &SnapshotRecord,
        shape: &ClaimShape<'_>,
        labels: &BTreeMap<String, String>,
        deadline: &Deadline,
    ) -> Result<(), String> {
        let (ns, name) = (self.namespace.as_str(), self.name.as_str());
        let content = json!({
            "apiVersion": format!("{GROUP}/v1"), "kind": "VolumeSnapshotContent",
            "metadata": {"name": name, "labels": labels},
            "spec": {
                // Retain: deleting this copy must never delete the storage snapshot.
                "deletionPolicy": "Retain",
                "driver": snapshot.driver,
                "source": {"snapshotHandle": snapshot.handle},
                "volumeSnapshotClassName": snapshot.class,
                "volumeSnapshotRef": {"name": name, "namespace": ns},
            },
        });
        let what = format!("VolumeSnapshotContent {name}");
        create_fresh(kube, &content_path(name), &format!("{API}/volumesnapshotcontents"), &content, &what).await?;
        let vs = json!({
            "apiVersion": format!("{GROUP}/v1"), "kind": "VolumeSnapshot",
            "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"volumeSnapshotClassName": snapshot.class, "source": {"volumeSnapshotContentName": name}},
        });
        let what = format!("VolumeSnapshot {ns}/{name}");
        create_fresh(kube, &snapshot_path(ns, name), &snapshots_path(ns), &vs, &what).await?;
        wait_ready(kube, &snapshot_path(ns, name), &what, deadline).await?;
        let mut claim = json!({
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "volumeMode": shape.volume_mode,
                "resources": {"requests": {"storage": claim_size(shape.capacity, snapshot.restore_size.as_deref())}},
                "dataSource": {"apiGroup": GROUP, "kind": "VolumeSnapshot", "name": name},
            },
        });
        // No class named: the cluster's default class provisions it (`""` would mean none).
        if !shape.storage_class.is_empty() {
            claim["spec"]["storageClassName"] = json!(shape.storage_class);
        }
        let what = format!("temporary claim {ns}/{name}");
        let collection = format!("/api/v1/namespaces/{ns}/persistentvolumeclaims");
        create_fresh(kube, &claim_path(ns, name), &collection, &claim, &what).await
    }

    /// Deletes the temporary claim, then the staged VolumeSnapshot and content.
    pub async fn remove(&self, kube: &Kube) {
        let (ns, name) = (self.namespace.as_str(), self.name.as_str());
        delete(kube, &claim_path(ns, name), &format!("temporary claim {ns}/{name}")).await;
        delete(kube, &snapshot_path(ns, name), &format!("VolumeSnapshot {ns}/{name}")).await;
        delete(kube, &content_path(name), &format!("VolumeSnapshotContent {name}")).await;
    }
}

/// The larger of the claim's size and the snapshot's restore size (a claim
/// from a snapshot must be at least that big).
pub fn claim_size(capacity: &str, restore_size: Option<&str>) -> String {
    let bytes = |q: &str| crate::policy::parse_quantity(q).ok();
    match (bytes(capacity), restore_size.and_then(|r| bytes(r).map(|b| (r, b)))) {
        (Some(c), Some((r, b))) if b > c => r.to_string(),
        (None, Some((r, _))) => r.to_string(),
        (Some(_), _) => capacity.to_string(),
        (None, None) => "1Gi".to_string(),
    }
}

async fn delete(kube: &Kube, path: &str, what: &str) {
    if let Err(e) = kube.delete(path, what).await
        && e.api_code() != Some(404)
    {
        tracing::warn!("{what}: could not delete it: {e}");
    }
}

async fn wait_gone(kube: &Kube, path: &str, what: &str) {
    for _ in 0..300 {
        if let Ok(None) = kube.get_opt(path, what).await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_claims_hold_the_restore_size() {
        assert_eq!(claim_size("1Gi", Some("2Gi")), "2Gi");
        assert_eq!(claim_size("1Gi", Some("1048576")), "1Gi");
        assert_eq!(claim_size("", Some("5Mi")), "5Mi");
        assert_eq!(claim_size("3Gi", None), "3Gi");
    }
}
