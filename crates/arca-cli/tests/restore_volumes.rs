//! Restores through the `arca` binary of claims whose volumes are still in
//! the cluster: a retained volume is bound again, a volume bound to another
//! claim is left alone and reported, a volume its provisioner is deleting
//! is never bound to (the claim gets a new one).

#[path = "../../arca-kube/tests/common/app.rs"]
mod app;
mod kube_env;

use std::time::Duration;

use arca_kube::api::Kube;
use arca_testcluster::{TEST_PROVISIONER, TestCluster};
use kube_env::{Env, item, reason, wait_for, wait_gone};
use serde_json::{Value, json};

const NS: &str = "vault";
const RETAIN_CLASS: &str = "kept";

async fn kube(cluster: &TestCluster) -> anyhow::Result<Kube> {
    app::connect(cluster.kubeconfig_path()).await
}

fn claim_path(ns: &str, name: &str) -> String {
    format!("/api/v1/namespaces/{ns}/persistentvolumeclaims/{name}")
}

fn pv_path(name: &str) -> String {
    format!("/api/v1/persistentvolumes/{name}")
}

fn phase(obj: &Value) -> &str {
    obj.pointer("/status/phase").and_then(Value::as_str).unwrap_or_default()
}

async fn create_namespace(k: &Kube, ns: &str) -> anyhow::Result<()> {
    let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
    k.create("/api/v1/namespaces", &body, "namespace").await?;
    Ok(())
}

/// A claim of `class` in `ns`, bound once the provisioner made its volume;
/// returns the volume's name.
async fn bound_claim(k: &Kube, ns: &str, name: &str, class: &str) -> anyhow::Result<String> {
    let claim = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "namespace": ns},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": class, "resources": {"requests": {"storage": "1Mi"}}}});
    k.create(&format!("/api/v1/namespaces/{ns}/persistentvolumeclaims"), &claim, "claim").await?;
    let bound = wait_for(k, &claim_path(ns, name), |c| phase(c) == "Bound").await?;
    Ok(bound.pointer("/spec/volumeName").and_then(Value::as_str).unwrap_or_default().to_string())
}

async fn retain_class(k: &Kube) -> anyhow::Result<()> {
    let class = json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": RETAIN_CLASS},
        "provisioner": TEST_PROVISIONER, "reclaimPolicy": "Retain", "volumeBindingMode": "Immediate"});
    k.create("/apis/storage.k8s.io/v1/storageclasses", &class, "storage class").await?;
    Ok(())
}

async fn delete_namespace(k: &Kube, ns: &str) -> anyhow::Result<()> {
    k.delete(&format!("/api/v1/namespaces/{ns}"), "delete namespace").await?;
    wait_gone(k, &format!("/api/v1/namespaces/{ns}")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_binds_again_to_its_retained_volume() -> anyhow::Result<()> {
    let cluster = TestCluster::start().await?;
    let k = kube(&cluster).await?;
    retain_class(&k).await?;
    create_namespace(&k, NS).await?;
    let volume = bound_claim(&k, NS, "data", RETAIN_CLASS).await?;
    let dir = tempfile::tempdir()?;
    let env = Env::new(dir.path())?;
    env.expect(&cluster, 0, &["backup", "create", "vault", "--include-namespaces", NS]).await?;

    delete_namespace(&k, NS).await?;
    let released = wait_for(&k, &pv_path(&volume), |pv| phase(pv) == "Released").await?;
    assert!(released.pointer("/spec/claimRef/uid").is_some(), "a Released volume keeps its old claim: {released}");

    let args = ["restore", "create", "back", "--from-backup", "vault", "--wait", "--wait-timeout", "20s"];
    let report = env.json(&cluster, 0, &args).await?;
    assert_eq!(report["phase"], "Completed", "{report}");
    let object = format!("persistentvolumeclaim/{NS}/data");
    assert_eq!(item(&report, &object)?["ready"], true, "{report}");
    assert!(reason(&report, &object)?.contains(&format!("rebound to retained volume {volume}")), "{report}");
    let claim = k.get(&claim_path(NS, "data"), "restored claim").await?;
    assert_eq!(claim.pointer("/spec/volumeName").and_then(Value::as_str), Some(volume.as_str()));
    let pv = k.get(&pv_path(&volume), "volume").await?;
    assert_eq!(phase(&pv), "Bound", "{pv}");
    assert_eq!(pv.pointer("/spec/claimRef/uid"), claim.pointer("/metadata/uid"), "bound to the new claim");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_volume_bound_to_another_claim_is_left_alone_and_reported() -> anyhow::Result<()> {
    let cluster = TestCluster::start().await?;
    let k = kube(&cluster).await?;
    retain_class(&k).await?;
    create_namespace(&k, NS).await?;
    let volume = bound_claim(&k, NS, "data", RETAIN_CLASS).await?;
    let dir = tempfile::tempdir()?;
    let env = Env::new(dir.path())?;
    env.expect(&cluster, 0, &["backup", "create", "vault", "--include-namespaces", NS]).await?;

    // The volume is handed to another claim after its namespace is gone.
    delete_namespace(&k, NS).await?;
    wait_for(&k, &pv_path(&volume), |pv| phase(pv) == "Released").await?;
    create_namespace(&k, "other").await?;
    let taker = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "taker", "namespace": "other"},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": RETAIN_CLASS, "volumeName": volume,
                 "resources": {"requests": {"storage": "1Mi"}}}});
    k.create("/api/v1/namespaces/other/persistentvolumeclaims", &taker, "claim").await?;
    let handed =
        json!({"spec": {"claimRef": {"namespace": "other", "name": "taker", "uid": null, "resourceVersion": null}}});
    k.merge_patch(&pv_path(&volume), &handed, "hand the volume over").await?;
    let taken = wait_for(&k, &claim_path("other", "taker"), |c| phase(c) == "Bound").await?;
    let before = k.get(&pv_path(&volume), "volume").await?;

    let report = env.json(&cluster, 3, &["restore", "create", "back", "--from-backup", "vault"]).await?;
    assert_eq!(report["phase"], "PartiallyFailed", "{report}");
    let object = format!("persistentvolumeclaim/{NS}/data");
    assert_eq!(item(&report, &object)?["outcome"], "failed", "{report}");
    let why = reason(&report, &object)?;
    assert!(why.contains(&volume) && why.contains("other/taker"), "{why}");
    assert!(k.get_opt(&claim_path(NS, "data"), "claim").await?.is_none(), "the claim is not created");
    let after = k.get(&pv_path(&volume), "volume").await?;
    assert_eq!(after.pointer("/spec/claimRef"), before.pointer("/spec/claimRef"), "the volume is untouched");
    assert_eq!(after.pointer("/spec/claimRef/uid"), taken.pointer("/metadata/uid"));
    Ok(())
}

/// The race after a namespace deletion: the provisioner deletes a
/// `Delete` volume some time after it was released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_volume_being_deleted_is_never_bound_to() -> anyhow::Result<()> {
    // Long enough to outlast the restore's start on a busy machine.
    let cluster = TestCluster::builder().volume_deletion_delay(Duration::from_secs(15)).start().await?;
    let k = kube(&cluster).await?;
    create_namespace(&k, NS).await?;
    let volume = bound_claim(&k, NS, "scratch", arca_testcluster::TEST_STORAGE_CLASS).await?;
    let dir = tempfile::tempdir()?;
    let env = Env::new(dir.path())?;
    env.expect(&cluster, 0, &["backup", "create", "vault", "--include-namespaces", NS]).await?;

    k.delete(&format!("/api/v1/namespaces/{NS}"), "delete namespace").await?;
    let released = wait_for(&k, &pv_path(&volume), |pv| phase(pv) == "Released").await?;
    assert_eq!(released.pointer("/spec/persistentVolumeReclaimPolicy").and_then(Value::as_str), Some("Delete"));

    // Right away, while the provisioner is still deleting the volume.
    let args = ["restore", "create", "back", "--from-backup", "vault", "--wait", "--wait-timeout", "20s"];
    let report = env.json(&cluster, 0, &args).await?;
    assert_eq!(report["phase"], "Completed", "{report}");
    let object = format!("persistentvolumeclaim/{NS}/scratch");
    let why = reason(&report, &object)?;
    assert!(why.contains("new volume") && why.contains(&volume), "{why}");
    assert!(why.contains("reclaim policy Delete") || why.contains("being deleted"), "seen while going: {why}");
    let claim = k.get(&claim_path(NS, "scratch"), "restored claim").await?;
    let now = claim.pointer("/spec/volumeName").and_then(Value::as_str).unwrap_or_default();
    assert!(!now.is_empty() && now != volume, "a fresh volume, not {volume}: {claim}");
    wait_gone(&k, &pv_path(&volume)).await?;
    Ok(())
}
