//! CSI snapshots against the test cluster: taking one, staging it in Arca's
//! namespace as a temporary claim with the same data, and cleaning up
//! without losing the storage snapshot.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use arca_kube::api::Kube;
use arca_testcluster::{TEST_SNAPSHOT_CLASS, TEST_STORAGE_CLASS, TestCluster};
use arca_volumes::limits::Deadline;
use arca_volumes::snapshot::{self, ClaimShape, Staged};
use serde_json::{Value, json};

async fn start() -> anyhow::Result<(TestCluster, Kube)> {
    let cluster = TestCluster::builder().snapshot_crds(true).start().await?;
    let kube = Kube::new(cluster.client().await?, 8);
    for ns in ["shop", "arca-system"] {
        let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        kube.create("/api/v1/namespaces", &body, "namespace").await?;
    }
    Ok((cluster, kube))
}

async fn wait_for(k: &Kube, path: &str, ok: impl Fn(&Value) -> bool) -> anyhow::Result<Value> {
    for _ in 0..200 {
        if let Some(v) = k.get_opt(path, "waiting").await?
            && ok(&v)
        {
            return Ok(v);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("timed out waiting for {path}")
}

async fn wait_gone(k: &Kube, path: &str) -> anyhow::Result<()> {
    for _ in 0..200 {
        if k.get_opt(path, "waiting").await?.is_none() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("{path} is left")
}

/// The directory of the volume bound to claim `ns/name`.
async fn volume_dir(k: &Kube, ns: &str, name: &str) -> anyhow::Result<PathBuf> {
    let claim = wait_for(k, &format!("/api/v1/namespaces/{ns}/persistentvolumeclaims/{name}"), |c| {
        c["status"]["phase"] == "Bound"
    })
    .await?;
    let pv_name = claim["spec"]["volumeName"].as_str().unwrap_or_default();
    let pv = k.get(&format!("/api/v1/persistentvolumes/{pv_name}"), "pv").await?;
    Ok(PathBuf::from(pv["spec"]["csi"]["volumeAttributes"]["path"].as_str().unwrap_or_default()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_staged_snapshot_gives_a_claim_with_the_same_data_and_cleans_up() -> anyhow::Result<()> {
    let (_cluster, k) = start().await?;
    let claim = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": "shop"},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": TEST_STORAGE_CLASS, "resources": {"requests": {"storage": "1Mi"}}}});
    k.create("/api/v1/namespaces/shop/persistentvolumeclaims", &claim, "claim").await?;
    std::fs::write(volume_dir(&k, "shop", "data").await?.join("a.txt"), "alpha")?;

    let labels = BTreeMap::from([("app.kubernetes.io/created-by".to_string(), "arca".to_string())]);
    let deadline = Deadline::after(Duration::from_secs(20));
    let snap = snapshot::take(&k, ("shop", "data"), "snap-1", TEST_SNAPSHOT_CLASS, &labels, &deadline)
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!(snap.class, TEST_SNAPSHOT_CLASS);
    assert!(!snap.handle.is_empty() && !snap.content.is_empty(), "{snap:?}");

    let shape = ClaimShape { storage_class: TEST_STORAGE_CLASS, volume_mode: "Filesystem", capacity: "1Mi" };
    let (staged, made) = Staged::create(&k, ("arca-system", "stage-1"), &snap, &shape, &labels, &deadline).await;
    made.map_err(anyhow::Error::msg)?;
    let copy = volume_dir(&k, "arca-system", "stage-1").await?;
    assert_eq!(std::fs::read_to_string(copy.join("a.txt"))?, "alpha");
    let content = k.get("/apis/snapshot.storage.k8s.io/v1/volumesnapshotcontents/stage-1", "content").await?;
    assert_eq!(content["spec"]["deletionPolicy"], "Retain");
    assert_eq!(content["spec"]["source"]["snapshotHandle"], snap.handle.as_str());

    staged.remove(&k).await;
    for path in [
        "/api/v1/namespaces/arca-system/persistentvolumeclaims/stage-1",
        "/apis/snapshot.storage.k8s.io/v1/namespaces/arca-system/volumesnapshots/stage-1",
        "/apis/snapshot.storage.k8s.io/v1/volumesnapshotcontents/stage-1",
    ] {
        wait_gone(&k, path).await?;
    }
    // The original snapshot and its storage are untouched.
    let original = k.get("/apis/snapshot.storage.k8s.io/v1/namespaces/shop/volumesnapshots/snap-1", "vs").await?;
    assert_eq!(original["status"]["readyToUse"], true);
    assert!(PathBuf::from(&snap.handle).join("a.txt").exists());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_that_never_gets_ready_fails_in_time_with_the_reason() -> anyhow::Result<()> {
    let (_cluster, k) = start().await?;
    let deadline = Deadline::after(Duration::from_secs(1));
    let err = snapshot::take(&k, ("shop", "missing"), "snap-x", TEST_SNAPSHOT_CLASS, &BTreeMap::new(), &deadline)
        .await
        .expect_err("no claim, no snapshot");
    assert!(
        err.contains("VolumeSnapshot shop/snap-x") && (err.contains("within 1s") || err.contains("failed")),
        "{err}"
    );
    Ok(())
}
