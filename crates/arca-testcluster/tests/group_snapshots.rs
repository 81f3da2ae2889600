//! Volume group snapshots as external-snapshotter's controller makes them:
//! one VolumeSnapshot and content per claim the group's selector picks,
//! owned by the group, all of one moment; `v1beta1` lists the members in
//! the group's status, `v1beta2` does not.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use arca_testcluster::{TEST_GROUP_SNAPSHOT_CLASS, TEST_STORAGE_CLASS, TestCluster};
use common::eventually;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(15);

fn claim(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": "default", "labels": labels},
        "spec": {"storageClassName": TEST_STORAGE_CLASS, "accessModes": ["ReadWriteOnce"],
                 "resources": {"requests": {"storage": "1Mi"}}}})
}

async fn volume_dir(cluster: &TestCluster, claim: &str) -> anyhow::Result<PathBuf> {
    let pv = eventually(WAIT, || async move {
        let c = cluster.object("", "persistentvolumeclaims", "default", claim);
        let name = c.as_ref().and_then(|c| c["spec"]["volumeName"].as_str().map(String::from));
        Ok(name.and_then(|n| cluster.object("", "persistentvolumes", "", &n)))
    })
    .await?;
    Ok(PathBuf::from(pv["spec"]["csi"]["volumeAttributes"]["path"].as_str().unwrap_or_default()))
}

async fn group_of(version: &str) -> anyhow::Result<()> {
    let cluster = TestCluster::builder().snapshot_crds(true).group_snapshots(version).start().await?;
    cluster.create_objects([
        claim("a", json!({"app": "shop"})),
        claim("b", json!({"app": "shop"})),
        claim("other", json!({"app": "else"})),
    ])?;
    for c in ["a", "b"] {
        std::fs::write(volume_dir(&cluster, c).await?.join("f"), c)?;
    }
    volume_dir(&cluster, "other").await?;
    cluster.create_objects([json!({
        "apiVersion": format!("groupsnapshot.storage.k8s.io/{version}"), "kind": "VolumeGroupSnapshot",
        "metadata": {"name": "g", "namespace": "default"},
        "spec": {"volumeGroupSnapshotClassName": TEST_GROUP_SNAPSHOT_CLASS,
                 "source": {"selector": {"matchLabels": {"app": "shop"}}}},
    })])?;
    let group = eventually(WAIT, || async {
        let g = cluster.object("groupsnapshot.storage.k8s.io", "volumegroupsnapshots", "default", "g");
        Ok(g.filter(|g| g["status"]["readyToUse"] == true))
    })
    .await?;
    assert!(group["status"]["creationTime"].is_string(), "{group}");
    let uid = group["metadata"]["uid"].as_str().unwrap_or_default().to_string();
    let content_name = group["status"]["boundVolumeGroupSnapshotContentName"].as_str().unwrap_or_default();
    let content = cluster.object("groupsnapshot.storage.k8s.io", "volumegroupsnapshotcontents", "", content_name);
    let pairs = content.as_ref().map(|c| c["status"]["volumeSnapshotHandlePairList"].clone()).unwrap_or_default();
    assert_eq!(pairs.as_array().map(Vec::len), Some(2), "{content:?}");
    let refs = &group["status"]["pvcVolumeSnapshotRefList"];
    assert_eq!(refs.is_array(), version == "v1beta1", "member list only in v1beta1: {group}");
    // Two members, owned by the group, each holding its claim's data.
    let member = |i: usize| format!("snapshot-{}-{i}", &uid[..uid.len().min(8)]);
    let snaps: Vec<Value> = (0..3)
        .filter_map(|i| cluster.object("snapshot.storage.k8s.io", "volumesnapshots", "default", &member(i)))
        .collect();
    assert_eq!(snaps.len(), 2);
    let mut seen = Vec::new();
    for s in &snaps {
        assert_eq!(s["metadata"]["ownerReferences"][0]["uid"], uid.as_str());
        assert_eq!(s["status"]["readyToUse"], true);
        let c = s["status"]["boundVolumeSnapshotContentName"].as_str().unwrap_or_default();
        let vsc = cluster.object("snapshot.storage.k8s.io", "volumesnapshotcontents", "", c);
        let handle = vsc.as_ref().and_then(|v| v["status"]["snapshotHandle"].as_str().map(PathBuf::from));
        let handle = handle.ok_or_else(|| anyhow::anyhow!("no snapshotHandle: {vsc:?}"))?;
        seen.push(std::fs::read_to_string(handle.join("f"))?);
        assert!(vsc.is_some_and(|v| v["spec"]["source"]["volumeHandle"].is_string()));
    }
    seen.sort();
    assert_eq!(seen, ["a", "b"]);
    Ok(())
}

#[tokio::test]
async fn a_v1beta1_group_snapshot_has_one_member_per_selected_claim() -> anyhow::Result<()> {
    group_of("v1beta1").await
}

#[tokio::test]
async fn a_v1beta2_group_snapshot_has_one_member_per_selected_claim() -> anyhow::Result<()> {
    group_of("v1beta2").await
}

#[tokio::test]
async fn a_group_selecting_no_claim_reports_an_error() -> anyhow::Result<()> {
    let cluster = TestCluster::builder().snapshot_crds(true).group_snapshots("v1beta2").start().await?;
    cluster.create_objects([json!({
        "apiVersion": "groupsnapshot.storage.k8s.io/v1beta2", "kind": "VolumeGroupSnapshot",
        "metadata": {"name": "g", "namespace": "default"},
        "spec": {"volumeGroupSnapshotClassName": TEST_GROUP_SNAPSHOT_CLASS,
                 "source": {"selector": {"matchLabels": {"app": "none"}}}},
    })])?;
    let group = eventually(WAIT, || async {
        let g = cluster.object("groupsnapshot.storage.k8s.io", "volumegroupsnapshots", "default", "g");
        Ok(g.filter(|g| g["status"]["error"]["message"].is_string()))
    })
    .await?;
    assert!(group["status"]["error"]["message"].as_str().unwrap_or_default().contains("no claim"), "{group}");
    assert_ne!(group["status"]["readyToUse"], true);
    Ok(())
}
