//! Volume backups through the `arca` binary against the test cluster:
//! CSI snapshots, data moved into the repository by mover pods (which run
//! this very binary), file-level reads, and every volume that is not
//! protected reported as such.

#[path = "../../arca-kube/tests/common/app.rs"]
mod app;
mod kube_env;

use std::path::{Path, PathBuf};

use arca_kube::api::Kube;
use arca_testcluster::{TEST_STORAGE_CLASS, TestCluster};
use kube_env::{Env, wait_for};
use serde_json::{Value, json};

const NS: &str = "shop";
const MOVERS: &str = "arca-system";

/// Images of this registry cannot be pulled in the test clusters.
const UNPULLABLE: &str = "registry.invalid/";

fn builder(snapshots: bool) -> arca_testcluster::Builder {
    let bin = Path::new(env!("CARGO_BIN_EXE_arca")).parent().map(Path::to_path_buf).unwrap_or_default();
    TestCluster::builder().snapshot_crds(snapshots).container_path(bin).unpullable_image(UNPULLABLE)
}

/// A cluster with the snapshot API (or without), whose containers find `arca` on their PATH.
async fn cluster(snapshots: bool) -> anyhow::Result<TestCluster> {
    Ok(builder(snapshots).start().await?)
}

async fn kube(cluster: &TestCluster) -> anyhow::Result<Kube> {
    app::connect(cluster.kubeconfig_path()).await
}

async fn namespace(k: &Kube, ns: &str) -> anyhow::Result<()> {
    let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
    k.create("/api/v1/namespaces", &body, "namespace").await?;
    Ok(())
}

/// A bound claim of the test class holding `files`; returns its volume's directory.
async fn claim_with_files(k: &Kube, name: &str, annotations: Value, files: &[(&str, &str)]) -> anyhow::Result<PathBuf> {
    let claim = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": NS, "annotations": annotations},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": TEST_STORAGE_CLASS,
                 "resources": {"requests": {"storage": "1Mi"}}}});
    k.create(&format!("/api/v1/namespaces/{NS}/persistentvolumeclaims"), &claim, "claim").await?;
    let path = format!("/api/v1/namespaces/{NS}/persistentvolumeclaims/{name}");
    let bound = wait_for(k, &path, |c| c["status"]["phase"] == "Bound").await?;
    let pv_name = bound["spec"]["volumeName"].as_str().unwrap_or_default();
    let pv = k.get(&format!("/api/v1/persistentvolumes/{pv_name}"), "pv").await?;
    let dir = PathBuf::from(pv["spec"]["csi"]["volumeAttributes"]["path"].as_str().unwrap_or_default());
    for (file, content) in files {
        let p = dir.join(file);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(p, content)?;
    }
    Ok(dir)
}

/// A running pod mounting `claim` at /data (its volume is named `data`).
async fn app_pod(k: &Kube, name: &str, claim: &str, annotations: Value) -> anyhow::Result<Value> {
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS, "annotations": annotations},
        "spec": {"containers": [{"name": "app", "image": "busybox", "command": ["sleep", "600"],
                                 "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
                 "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]}});
    k.create(&format!("/api/v1/namespaces/{NS}/pods"), &pod, "pod").await?;
    wait_for(k, &format!("/api/v1/namespaces/{NS}/pods/{name}"), |p| p["status"]["phase"] == "Running").await
}

fn volume<'a>(report: &'a Value, claim: &str) -> anyhow::Result<&'a Value> {
    report["volumes"]
        .as_array()
        .and_then(|v| v.iter().find(|r| r["claim"] == claim))
        .ok_or_else(|| anyhow::anyhow!("no volume record {claim}: {report}"))
}

async fn list(k: &Kube, path: &str) -> anyhow::Result<Vec<Value>> {
    Ok(k.get(path, "list").await?["items"].as_array().cloned().unwrap_or_default())
}

/// Nothing of a backup's volume work is left in Arca's namespace. A staged
/// claim that was deleted may stay a moment, as on a real server: its
/// `pvc-protection` finalizer goes once the mover pod using it is gone.
async fn nothing_left(k: &Kube) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    for what in ["pods", "persistentvolumeclaims", "secrets"] {
        loop {
            let left: Vec<Value> = list(k, &format!("/api/v1/namespaces/{MOVERS}/{what}"))
                .await?
                .into_iter()
                .filter(|o| o["metadata"]["labels"]["app.kubernetes.io/created-by"] == "arca")
                .collect();
            let all_deleting = left.iter().all(|o| o["metadata"]["deletionTimestamp"].is_string());
            if left.is_empty() {
                break;
            }
            assert!(all_deleting && std::time::Instant::now() < deadline, "{what} left in {MOVERS}: {left:?}");
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_records_the_handle_and_keeps_the_snapshot() -> anyhow::Result<()> {
    let cluster = cluster(true).await?;
    let k = kube(&cluster).await?;
    namespace(&k, NS).await?;
    claim_with_files(&k, "data", json!({}), &[("a.txt", "alpha")]).await?;
    let dir = tempfile::tempdir()?;
    let env = Env::new(dir.path())?;
    let args = ["backup", "create", "b1", "--include-namespaces", NS, "--volumes", "snapshot"];
    let report = env.json(&cluster, 0, &args).await?;
    let v = volume(&report, "shop/data")?;
    assert_eq!((v["method"].as_str(), v["state"].as_str()), (Some("snapshot"), Some("Completed")), "{v}");
    assert_eq!(v["chosen_by"], "--volumes snapshot");
    let snap = &v["snapshot"];
    assert_eq!(snap["kept"], true);
    assert_eq!(snap["driver"], arca_testcluster::TEST_PROVISIONER);
    assert_eq!(snap["class"], arca_testcluster::TEST_SNAPSHOT_CLASS);
    let handle = snap["handle"].as_str().unwrap_or_default();
    assert!(Path::new(handle).join("a.txt").exists(), "the handle names the storage snapshot: {snap}");
    let name = snap["name"].as_str().unwrap_or_default();
    let kept = k.get(&format!("/apis/snapshot.storage.k8s.io/v1/namespaces/{NS}/volumesnapshots/{name}"), "vs").await?;
    assert_eq!(kept["metadata"]["labels"]["arca.io/backup"], "b1");
    assert_eq!(kept["metadata"]["labels"]["app.kubernetes.io/created-by"], "arca");
    assert_eq!(kept["status"]["boundVolumeSnapshotContentName"], snap["content"]);
    // No mover was needed: Arca's namespace was not even created.
    assert!(k.get_opt(&format!("/api/v1/namespaces/{MOVERS}"), "ns").await?.is_none());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skipped_and_unprotected_claims_are_reported_never_silent() -> anyhow::Result<()> {
    let cluster = cluster(false).await?;
    let k = kube(&cluster).await?;
    namespace(&k, NS).await?;
    claim_with_files(&k, "cache", json!({"backup.arca.io/volume-method": "skip"}), &[]).await?;
    claim_with_files(&k, "data", json!({}), &[("a", "1")]).await?;
    let dir = tempfile::tempdir()?;
    let env = Env::new(dir.path())?;
    let report = env.json(&cluster, 0, &["backup", "create", "b1", "--include-namespaces", NS]).await?;
    assert_eq!(report["phase"], "Completed");
    let cache = volume(&report, "shop/cache")?;
    assert_eq!(cache["state"], "Skipped");
    assert!(cache["chosen_by"].as_str().unwrap_or_default().starts_with("claim annotation"), "{cache}");
    let data = volume(&report, "shop/data")?;
    assert_eq!(data["state"], "NotProtected");
    let reason = data["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("no VolumeSnapshotClass serves driver") && reason.contains("no running pod"), "{reason}");
    let warnings = report["warnings"].to_string();
    assert!(warnings.contains("shop/data is not protected"), "{warnings}");

    let table = env.expect(&cluster, 0, &["backup", "describe", "b1", "--volumes"]).await?;
    assert!(table.contains("CLAIM") && table.contains("REASON"), "{table}");
    assert!(table.lines().any(|l| l.contains("shop/data") && l.contains("NotProtected")), "{table}");
    assert!(table.lines().any(|l| l.contains("shop/cache") && l.contains("Skipped")), "{table}");
    let described = env.json(&cluster, 0, &["backup", "describe", "b1", "--volumes"]).await?;
    assert_eq!(described["volumes"].as_array().map(Vec::len), Some(2), "{described}");
    let log = env.expect(&cluster, 0, &["backup", "logs", "b1"]).await?;
    assert!(log.contains("snapshot.storage.k8s.io/v1 API is not served"), "{log}");
    assert!(log.contains("volume shop/data: NotProtected (--volumes auto): no VolumeSnapshotClass"), "{log}");
    // --volumes none leaves them out on purpose, and says so per volume.
    let report =
        env.json(&cluster, 0, &["backup", "create", "b2", "--include-namespaces", NS, "--volumes", "none"]).await?;
    let data = volume(&report, "shop/data")?;
    assert_eq!(
        (data["state"].as_str(), data["reason"].as_str()),
        (Some("Skipped"), Some("left out by --volumes none"))
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_rule_chooses_over_the_flag() -> anyhow::Result<()> {
    let cluster = cluster(true).await?;
    let k = kube(&cluster).await?;
    namespace(&k, NS).await?;
    claim_with_files(&k, "data", json!({}), &[("a", "1")]).await?;
    let dir = tempfile::tempdir()?;
    let policy = dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        format!(
            "version: v1\nvolumePolicies:\n- conditions: {{capacity: \"0,1Ki\"}}\n  action: {{type: skip}}\n\
             - conditions: {{storageClass: [{TEST_STORAGE_CLASS}], csi: {{driver: {}}}, volumeTypes: [csi]}}\n  \
             action: {{type: snapshot}}\n",
            arca_testcluster::TEST_PROVISIONER
        ),
    )?;
    let env = Env::new(dir.path())?;
    let policy_arg = policy.display().to_string();
    let args =
        ["backup", "create", "b1", "--include-namespaces", NS, "--volumes", "none", "--volume-policies", &policy_arg];
    let report = env.json(&cluster, 0, &args).await?;
    let v = volume(&report, "shop/data")?;
    assert_eq!((v["method"].as_str(), v["state"].as_str()), (Some("snapshot"), Some("Completed")), "{v}");
    assert_eq!(v["chosen_by"], "volume policy rule 2");
    let human = env.expect(&cluster, 0, &["backup", "describe", "b1"]).await?;
    assert!(human.contains("1 volume(s): 1 Completed"), "{human}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mover_that_cannot_start_fails_its_volume_and_the_backup_partially() -> anyhow::Result<()> {
    let cluster = cluster(false).await?;
    let k = kube(&cluster).await?;
    namespace(&k, NS).await?;
    claim_with_files(&k, "data", json!({}), &[("a", "1")]).await?;
    // A pod running on a node whose kubelet is gone: the file-level reader
    // pinned to that node never starts.
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "db-0", "namespace": NS},
        "spec": {"nodeName": "lost-node", "containers": [{"name": "db", "image": "db"}],
                 "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]}});
    k.create(&format!("/api/v1/namespaces/{NS}/pods"), &pod, "pod").await?;
    let status = json!({"status": {"phase": "Running"}});
    k.merge_patch(&format!("/api/v1/namespaces/{NS}/pods/db-0/status"), &status, "pod status").await?;
    let dir = tempfile::tempdir()?;
    let env = Env::new(dir.path())?;
    let args = ["backup", "create", "b1", "--include-namespaces", NS, "--volume-timeout", "2s"];
    let report = env.json(&cluster, 3, &args).await?;
    assert_eq!(report["phase"], "PartiallyFailed");
    let v = volume(&report, "shop/data")?;
    assert_eq!((v["method"].as_str(), v["state"].as_str()), (Some("fs"), Some("Failed")), "{v}");
    let reason = v["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("did not finish within 2s"), "{reason}");
    assert_eq!(v["pod"], "shop/db-0");
    assert!(v.get("repository_snapshot").is_none(), "a failed volume is never restorable: {v}");
    let errors = report["errors"].to_string();
    assert!(errors.contains("PersistentVolumeClaim shop/data"), "{errors}");
    // The namespace was made for the movers (privileged: they mount host paths); nothing else stays.
    let movers = k.get(&format!("/api/v1/namespaces/{MOVERS}"), "ns").await?;
    assert_eq!(movers["metadata"]["labels"]["pod-security.kubernetes.io/enforce"], "privileged");
    nothing_left(&k).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unpullable_mover_image_fails_the_volume_and_cleans_up() -> anyhow::Result<()> {
    let cluster = cluster(true).await?;
    let k = kube(&cluster).await?;
    namespace(&k, NS).await?;
    claim_with_files(&k, "data", json!({}), &[("a", "1")]).await?;
    let dir = tempfile::tempdir()?;
    let env = Env::new(dir.path())?;
    let image = format!("{UNPULLABLE}arca:1");
    let args =
        ["backup", "create", "b1", "--include-namespaces", NS, "--volume-timeout", "3s", "--mover-image", &image];
    let report = env.json(&cluster, 3, &args).await?;
    assert_eq!(report["phase"], "PartiallyFailed");
    let v = volume(&report, "shop/data")?;
    assert_eq!((v["method"].as_str(), v["state"].as_str()), (Some("move"), Some("Failed")), "{v}");
    let reason = v["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("did not finish within 3s") && reason.contains(&format!("image {image} cannot be pulled")),
        "{reason}"
    );
    assert!(v.get("repository_snapshot").is_none(), "{v}");
    // The snapshot, its staged copy and the temporary claim are gone with the failure.
    let snaps = list(&k, &format!("/apis/snapshot.storage.k8s.io/v1/namespaces/{NS}/volumesnapshots")).await?;
    assert!(snaps.is_empty(), "{snaps:?}");
    let staged = list(&k, &format!("/apis/snapshot.storage.k8s.io/v1/namespaces/{MOVERS}/volumesnapshots")).await?;
    assert!(staged.is_empty(), "{staged:?}");
    nothing_left(&k).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fs_reads_a_running_pods_volume_through_its_nodes_kubelet_directory_when_velero_asks() -> anyhow::Result<()> {
    // A snapshot class exists, but Velero's annotation asks for a file-level read.
    let cluster = builder(true).nodes(3).start().await?;
    let k = kube(&cluster).await?;
    namespace(&k, NS).await?;
    claim_with_files(&k, "data", json!({}), &[("a.txt", "alpha"), ("b.txt", "bravo")]).await?;
    let pod = app_pod(&k, "db-0", "data", json!({"backup.velero.io/backup-volumes": "data"})).await?;
    let node = pod["spec"]["nodeName"].as_str().unwrap_or_default().to_string();
    let dir = tempfile::tempdir()?;
    let env = Env::new(dir.path())?;
    let args = ["backup", "create", "b1", "--include-namespaces", NS, "--volume-timeout", "60s"];
    let report = env.json(&cluster, 0, &args).await?;
    let v = volume(&report, "shop/data")?;
    assert_eq!((v["method"].as_str(), v["state"].as_str()), (Some("fs"), Some("Completed")), "{v}");
    assert_eq!(v["chosen_by"], "pod shop/db-0 annotation backup.velero.io/backup-volumes");
    assert!(v.get("snapshot").is_none(), "no CSI snapshot for a file-level read: {v}");
    assert_eq!(
        (v["pod"].as_str(), v["node"].as_str()),
        (Some("shop/db-0"), Some(node.as_str())),
        "pinned to the pod's node"
    );
    assert_eq!(v["files"], 2, "{v}");
    let snapshot = v["repository_snapshot"].as_str().unwrap_or_default().to_string();
    let target = restored(&env, &cluster, &snapshot, dir.path()).await?;
    let a = find(&target, "a.txt").ok_or_else(|| anyhow::anyhow!("a.txt not restored"))?;
    assert_eq!(std::fs::read_to_string(a)?, "alpha");
    nothing_left(&k).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_claim_is_moved_as_its_device() -> anyhow::Result<()> {
    let cluster = cluster(true).await?;
    let k = kube(&cluster).await?;
    namespace(&k, NS).await?;
    let claim = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "disk", "namespace": NS},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": TEST_STORAGE_CLASS, "volumeMode": "Block",
                 "resources": {"requests": {"storage": "1Mi"}}}});
    k.create(&format!("/api/v1/namespaces/{NS}/persistentvolumeclaims"), &claim, "claim").await?;
    let path = format!("/api/v1/namespaces/{NS}/persistentvolumeclaims/disk");
    let bound = wait_for(&k, &path, |c| c["status"]["phase"] == "Bound").await?;
    let pv_name = bound["spec"]["volumeName"].as_str().unwrap_or_default();
    let pv = k.get(&format!("/api/v1/persistentvolumes/{pv_name}"), "pv").await?;
    let device = PathBuf::from(pv["spec"]["csi"]["volumeAttributes"]["path"].as_str().unwrap_or_default());
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new().write(true).open(&device)?;
        f.seek(SeekFrom::Start(4096))?;
        f.write_all(b"block data")?;
    }
    let dir = tempfile::tempdir()?;
    let env = Env::new(dir.path())?;
    let args = ["backup", "create", "b1", "--include-namespaces", NS, "--volume-timeout", "60s", "--keep-snapshots"];
    let report = env.json(&cluster, 0, &args).await?;
    let v = volume(&report, "shop/disk")?;
    assert_eq!(v["snapshot"]["kept"], true, "{v}");
    let kept = v["snapshot"]["name"].as_str().unwrap_or_default();
    k.get(&format!("/apis/snapshot.storage.k8s.io/v1/namespaces/{NS}/volumesnapshots/{kept}"), "kept snapshot").await?;
    assert_eq!(
        (v["method"].as_str(), v["state"].as_str(), v["volume_mode"].as_str()),
        (Some("move"), Some("Completed"), Some("Block")),
        "{v}"
    );
    let snapshot = v["repository_snapshot"].as_str().unwrap_or_default().to_string();
    let image = dir.path().join("disk.img");
    std::fs::write(&image, [])?;
    let image_arg = image.display().to_string();
    env.expect(&cluster, 0, &["mover", "restore", "--snapshot", &snapshot, "--block", &image_arg]).await?;
    let restored = std::fs::read(&image)?;
    assert_eq!(restored.len(), 1024 * 1024);
    assert_eq!(&restored[4096..4106], b"block data");
    nothing_left(&k).await
}

/// The repository snapshot's files, restored into a fresh directory.
async fn restored(env: &Env, cluster: &TestCluster, snapshot: &str, into: &Path) -> anyhow::Result<PathBuf> {
    let target = into.join(&snapshot[..8]);
    let target_arg = target.display().to_string();
    env.expect(cluster, 0, &["fs", "restore", snapshot, "--target", &target_arg]).await?;
    Ok(target)
}

/// The file `name` somewhere under `dir` (movers may store the volume under a path of their choice).
fn find(dir: &Path, name: &str) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let p = entry.path();
        if p.file_name().is_some_and(|n| n == name) && p.is_file() {
            return Some(p);
        }
        if p.is_dir()
            && let Some(found) = find(&p, name)
        {
            return Some(found);
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn move_stores_the_files_and_the_next_backup_reads_only_what_changed() -> anyhow::Result<()> {
    let cluster = cluster(true).await?;
    let k = kube(&cluster).await?;
    namespace(&k, NS).await?;
    let files = [("a.txt", "alpha"), ("b.txt", "bravo bravo"), ("sub/c.txt", "charlie charlie charlie")];
    let volume_dir = claim_with_files(&k, "data", json!({}), &files).await?;
    app_pod(&k, "db-0", "data", json!({})).await?;
    let dir = tempfile::tempdir()?;
    let env = Env::new(dir.path())?;
    let args = ["backup", "create", "b1", "--include-namespaces", NS, "--volume-timeout", "60s"];
    let report = env.json(&cluster, 0, &args).await?;
    let v = volume(&report, "shop/data")?;
    assert_eq!((v["method"].as_str(), v["state"].as_str()), (Some("move"), Some("Completed")), "{v}");
    assert!(v["chosen_by"].as_str().unwrap_or_default().starts_with("auto: VolumeSnapshotClass"), "{v}");
    assert_eq!(v["files"], 3, "{v}");
    let total: usize = files.iter().map(|(_, c)| c.len()).sum();
    assert_eq!(v["bytes_read"], total as u64, "{v}");
    assert_eq!(v["snapshot"]["kept"], false);
    let first = v["repository_snapshot"].as_str().unwrap_or_default().to_string();
    let target = restored(&env, &cluster, &first, dir.path()).await?;
    for (name, content) in files {
        let leaf = Path::new(name).file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let found = find(&target, leaf).ok_or_else(|| anyhow::anyhow!("{name} not restored"))?;
        assert_eq!(std::fs::read_to_string(found)?, content);
    }
    // The original snapshot, the staged copy and the temporary claim are gone.
    let snaps = list(&k, &format!("/apis/snapshot.storage.k8s.io/v1/namespaces/{NS}/volumesnapshots")).await?;
    assert!(snaps.is_empty(), "{snaps:?}");
    let contents = list(&k, "/apis/snapshot.storage.k8s.io/v1/volumesnapshotcontents").await?;
    assert!(contents.iter().all(|c| c["spec"]["deletionPolicy"] != "Retain"), "staged content left: {contents:?}");
    nothing_left(&k).await?;

    std::fs::write(volume_dir.join("b.txt"), "bravo changed")?;
    let report = env.json(&cluster, 0, &["backup", "create", "b2", "--include-namespaces", NS]).await?;
    let v = volume(&report, "shop/data")?;
    assert_eq!(v["state"], "Completed", "{v}");
    assert_eq!(v["bytes_read"], "bravo changed".len() as u64, "only the changed file is read: {v}");
    assert_eq!(v["details"]["parent"], first.as_str());
    let second = v["repository_snapshot"].as_str().unwrap_or_default().to_string();
    let target = restored(&env, &cluster, &second, dir.path()).await?;
    let b = find(&target, "b.txt").ok_or_else(|| anyhow::anyhow!("b.txt not restored"))?;
    assert_eq!(std::fs::read_to_string(b)?, "bravo changed");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fs_reads_a_pods_host_path_volume_when_asked() -> anyhow::Result<()> {
    let cluster = cluster(false).await?;
    let k = kube(&cluster).await?;
    namespace(&k, NS).await?;
    let host = tempfile::tempdir()?;
    std::fs::write(host.path().join("events.log"), "started\n")?;
    let host_path = host.path().display().to_string();
    let pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web", "namespace": NS, "annotations": {"backup.arca.io/volume-method": "fs"}},
        "spec": {"containers": [{"name": "web", "image": "web", "command": ["sleep", "600"],
                                 "volumeMounts": [{"name": "logs", "mountPath": "/logs"}]}],
                 "volumes": [{"name": "logs", "hostPath": {"path": host_path}}]}});
    k.create(&format!("/api/v1/namespaces/{NS}/pods"), &pod, "pod").await?;
    wait_for(&k, &format!("/api/v1/namespaces/{NS}/pods/web"), |p| p["status"]["phase"] == "Running").await?;
    let dir = tempfile::tempdir()?;
    let env = Env::new(dir.path())?;
    let args = ["backup", "create", "b1", "--include-namespaces", NS, "--volume-timeout", "60s"];
    let report = env.json(&cluster, 0, &args).await?;
    let v = volume(&report, "shop/web/logs")?;
    assert_eq!((v["method"].as_str(), v["state"].as_str()), (Some("fs"), Some("Completed")), "{v}");
    assert_eq!(v["inline"], true);
    assert_eq!(v["host_path"], host_path.as_str());
    assert_eq!(v["node"], "arca-node");
    assert_eq!(v["files"], 1, "{v}");
    let snapshot = v["repository_snapshot"].as_str().unwrap_or_default().to_string();
    let target = restored(&env, &cluster, &snapshot, dir.path()).await?;
    let log = find(&target, "events.log").ok_or_else(|| anyhow::anyhow!("events.log not restored"))?;
    assert_eq!(std::fs::read_to_string(log)?, "started\n");
    nothing_left(&k).await?;
    // Without the annotation a node's hostPath is left out, and said so.
    k.merge_patch(
        &format!("/api/v1/namespaces/{NS}/pods/web"),
        &json!({"metadata": {"annotations": {"backup.arca.io/volume-method": null}}}),
        "pod",
    )
    .await?;
    let report = env.json(&cluster, 0, &["backup", "create", "b2", "--include-namespaces", NS]).await?;
    let v = volume(&report, "shop/web/logs")?;
    assert_eq!(v["state"], "Skipped", "{v}");
    assert!(v["reason"].as_str().unwrap_or_default().contains("node data"), "{v}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_volume_options_are_refused_before_anything_runs() -> anyhow::Result<()> {
    let cluster = cluster(false).await?;
    let dir = tempfile::tempdir()?;
    let env = Env::new(dir.path())?;
    let out = env.arca(&cluster, &["backup", "create", "b1", "--volumes", "copy"]).await?;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--volumes \"copy\" is not one of"), "{out:?}");
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, "version: v1\nvolumePolicies:\n- conditions: {size: 1Gi}\n  action: {type: fs}\n")?;
    let policy_arg = policy.display().to_string();
    let out = env.arca(&cluster, &["backup", "create", "b1", "--volume-policies", &policy_arg]).await?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("volumePolicies[0].conditions.size is not a known field"), "{stderr}");
    let out = env.arca(&cluster, &["backup", "create", "b1", "--volume-timeout", "soon"]).await?;
    assert!(String::from_utf8_lossy(&out.stderr).contains("--volume-timeout"), "{out:?}");
    let listed = env.json(&cluster, 0, &["backup", "list"]).await?;
    assert_eq!(listed, json!([]), "no backup was written");
    Ok(())
}
