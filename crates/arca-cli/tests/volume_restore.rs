//! Volume data restores through the `arca` binary, with mover pods running
//! the real binary in the test cluster: claims re-created and filled before
//! the pods that mount them, claims from a snapshot whose original snapshot
//! and content are gone, data-only restores under a running Deployment,
//! `arca volume restore --to`, and a failing mover reported on its claim.
//!
//! The backups are made in-process with a data phase that runs
//! `arca mover backup` on each claim's volume directory as a local process
//! (or records a CSI snapshot), so each test controls its volume records.

mod kube_env;

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use arca_kube::api::Kube;
use arca_kube::backup::{BackupOptions, Quiet};
use arca_kube::data::{BackupData, BackupDataPhase, DataOutcome, DataPhase};
use arca_repo::Repository;
use arca_testcluster::{TEST_SNAPSHOT_CLASS, TEST_STORAGE_CLASS, TestCluster};
use futures::future::BoxFuture;
use kube_env::{Env, wait_for, wait_gone};
use serde_json::{Value, json};

const NS: &str = "vault";
const CLAIM: &str = "data";
const MTIME: u64 = 1_600_000_000;

fn arca_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_arca")).parent().map(Path::to_path_buf).unwrap_or_default()
}

async fn cluster() -> anyhow::Result<(TestCluster, Kube)> {
    cluster_of(1).await
}

async fn cluster_of(nodes: usize) -> anyhow::Result<(TestCluster, Kube)> {
    let cluster = TestCluster::builder().snapshot_crds(true).container_path(arca_dir()).nodes(nodes).start().await?;
    let options =
        arca_kube::connect::ClusterOptions { kubeconfig: Some(cluster.kubeconfig_path().to_path_buf()), context: None };
    let kube = Kube::new(arca_kube::connect::connect(&options).await?.client, 16);
    Ok((cluster, kube))
}

fn claim_path(ns: &str, name: &str) -> String {
    format!("/api/v1/namespaces/{ns}/persistentvolumeclaims/{name}")
}

async fn create(k: &Kube, collection: &str, body: Value) -> anyhow::Result<Value> {
    Ok(k.create(collection, &body, "fixture").await?)
}

async fn namespace(k: &Kube, ns: &str) -> anyhow::Result<()> {
    create(k, "/api/v1/namespaces", json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})).await?;
    Ok(())
}

/// A bound claim of the test class; returns its volume's directory.
async fn bound_claim(k: &Kube, ns: &str, name: &str) -> anyhow::Result<PathBuf> {
    claim_of(k, ns, name, TEST_STORAGE_CLASS).await?;
    volume_dir(k, ns, name).await
}

async fn claim_of(k: &Kube, ns: &str, name: &str, class: &str) -> anyhow::Result<()> {
    let claim = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "namespace": ns},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": class,
            "resources": {"requests": {"storage": "1Mi"}}}});
    create(k, &format!("/api/v1/namespaces/{ns}/persistentvolumeclaims"), claim).await?;
    Ok(())
}

/// The bound volume of a claim.
async fn bound_volume(k: &Kube, ns: &str, name: &str) -> anyhow::Result<Value> {
    let bound = wait_for(k, &claim_path(ns, name), |c| c["status"]["phase"] == "Bound").await?;
    let pv = bound["spec"]["volumeName"].as_str().unwrap_or_default();
    Ok(k.get(&format!("/api/v1/persistentvolumes/{pv}"), "pv").await?)
}

/// The directory of a bound claim's volume.
async fn volume_dir(k: &Kube, ns: &str, name: &str) -> anyhow::Result<PathBuf> {
    let pv = bound_volume(k, ns, name).await?;
    let path = ["/spec/csi/volumeAttributes/path", "/spec/hostPath/path", "/spec/local/path"]
        .iter()
        .find_map(|p| pv.pointer(p).and_then(Value::as_str))
        .ok_or_else(|| anyhow::anyhow!("volume without a directory: {pv}"))?;
    Ok(PathBuf::from(path))
}

/// Files with content, modes, an old mtime and a symlink.
fn write_files(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir.join("sub"))?;
    std::fs::write(dir.join("hello.txt"), b"hello volume\n")?;
    std::fs::write(dir.join("sub/secret.key"), vec![7u8; 70_000])?;
    std::fs::set_permissions(dir.join("sub/secret.key"), std::fs::Permissions::from_mode(0o600))?;
    std::fs::set_permissions(dir.join("hello.txt"), std::fs::Permissions::from_mode(0o640))?;
    let old = UNIX_EPOCH + Duration::from_secs(MTIME);
    std::fs::File::options().write(true).open(dir.join("hello.txt"))?.set_modified(old)?;
    std::os::unix::fs::symlink("hello.txt", dir.join("link"))?;
    Ok(())
}

fn assert_files(dir: &Path) -> anyhow::Result<()> {
    assert_file_data(dir)?;
    let meta = std::fs::metadata(dir.join("hello.txt"))?;
    assert_eq!(meta.modified()?, UNIX_EPOCH + Duration::from_secs(MTIME), "in {}", dir.display());
    Ok(())
}

/// Contents, modes and symlinks.
fn assert_file_data(dir: &Path) -> anyhow::Result<()> {
    assert_eq!(std::fs::read(dir.join("hello.txt"))?, b"hello volume\n", "in {}", dir.display());
    assert_eq!(std::fs::read(dir.join("sub/secret.key"))?, vec![7u8; 70_000]);
    let meta = std::fs::metadata(dir.join("hello.txt"))?;
    assert_eq!(meta.mode() & 0o777, 0o640);
    assert_eq!(std::fs::metadata(dir.join("sub/secret.key"))?.mode() & 0o777, 0o600);
    assert_eq!(std::fs::read_link(dir.join("link"))?, PathBuf::from("hello.txt"));
    Ok(())
}

/// How the test data phase protects each claim.
#[derive(Clone)]
enum Protect {
    /// `arca mover backup` of the volume directory (method `move`).
    Mover,
    /// `arca mover backup --block` of the volume's device (a block claim).
    Block,
    /// A record naming a repository snapshot that does not exist.
    MissingSnapshot,
    /// The CSI snapshot made by the test beforehand.
    Snapshot(Value),
    /// Pod `app`'s inline `hostPath` volume `cache` at this directory, by `arca mover backup`.
    Inline(PathBuf),
}

struct TestPhase {
    repo: PathBuf,
    protect: Protect,
}

impl BackupDataPhase for TestPhase {
    fn run<'a>(&'a self, ctx: BackupData<'a>) -> BoxFuture<'a, DataOutcome> {
        Box::pin(async move {
            let mut out = DataOutcome::default();
            if let Protect::Inline(dir) = &self.protect {
                match mover_backup(&self.repo, dir, &format!("{NS}/app/cache"), ctx.backup).await {
                    Ok(snapshot) => out.volumes.push(json!({"claim": format!("{NS}/app/cache"), "inline": true,
                        "host_path": dir, "volume_mode": "Filesystem", "method": "fs", "chosen_by": "test",
                        "state": "Completed", "repository_snapshot": snapshot, "pod": format!("{NS}/app")})),
                    Err(e) => {
                        out.errors.push(arca_kube::backup::ItemError { object: "cache".into(), reason: e.to_string() })
                    }
                }
                return out;
            }
            let claims = ctx.kube.get(&format!("/api/v1/namespaces/{NS}/persistentvolumeclaims"), "claims").await;
            for claim in claims.map(|l| l["items"].as_array().cloned().unwrap_or_default()).unwrap_or_default() {
                let name = claim["metadata"]["name"].as_str().unwrap_or_default().to_string();
                match self.record(ctx.kube, &name, ctx.backup).await {
                    Ok(r) => out.volumes.push(r),
                    Err(e) => out.errors.push(arca_kube::backup::ItemError { object: name, reason: e.to_string() }),
                }
            }
            out
        })
    }
}

impl TestPhase {
    async fn record(&self, k: &Kube, name: &str, backup: &str) -> anyhow::Result<Value> {
        let claim = format!("{NS}/{name}");
        let mut record = json!({"claim": claim, "volume_mode": "Filesystem", "method": "move", "chosen_by": "test",
            "state": "Completed", "storage_class": TEST_STORAGE_CLASS, "capacity": "1Mi"});
        if let Some(affinity) = bound_volume(k, NS, name).await?["spec"].get("nodeAffinity") {
            record["node_affinity"] = affinity.clone();
        }
        match &self.protect {
            Protect::Mover => {
                let dir = volume_dir(k, NS, name).await?;
                record["repository_snapshot"] = json!(mover_backup(&self.repo, &dir, &claim, backup).await?);
            }
            Protect::Inline(_) => {}
            Protect::Block => {
                let device = volume_dir(k, NS, name).await?;
                record["volume_mode"] = json!("Block");
                record["repository_snapshot"] = json!(mover_backup_block(&self.repo, &device, &claim, backup).await?);
            }
            Protect::MissingSnapshot => record["repository_snapshot"] = json!("0".repeat(64)),
            Protect::Snapshot(snapshot) => {
                record["method"] = json!("snapshot");
                record["snapshot"] = snapshot.clone();
            }
        }
        Ok(record)
    }
}

/// `arca mover backup` of `dir` as a local process; the repository snapshot's id.
async fn mover_backup(repo: &Path, dir: &Path, volume: &str, backup: &str) -> anyhow::Result<String> {
    run_mover_backup(repo, "--source", dir, volume, backup).await
}

async fn mover_backup_block(repo: &Path, device: &Path, volume: &str, backup: &str) -> anyhow::Result<String> {
    run_mover_backup(repo, "--block", device, volume, backup).await
}

async fn run_mover_backup(repo: &Path, flag: &str, dir: &Path, volume: &str, backup: &str) -> anyhow::Result<String> {
    let (repo, dir, volume, backup) = (repo.to_path_buf(), dir.to_path_buf(), volume.to_string(), backup.to_string());
    let flag = flag.to_string();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_arca"))
            .args(["-o", "json", "mover", "backup", &flag])
            .arg(&dir)
            .args(["--volume", &volume, "--backup", &backup])
            .env("ARCA_REPO", &repo)
            .env("ARCA_PASSWORD", "pw")
            .output()
    })
    .await??;
    let stdout = String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(out.status.success(), "mover backup: {stdout} {}", String::from_utf8_lossy(&out.stderr));
    let result: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())?;
    Ok(result["snapshot"].as_str().unwrap_or_default().to_string())
}

/// A backup of namespace [`NS`] whose volume records the test phase makes.
async fn backup(cluster: &TestCluster, k: &Kube, env: &Env, name: &str, protect: Protect) -> anyhow::Result<Value> {
    let url = env.repo().display().to_string();
    let repo = tokio::task::spawn_blocking(move || -> anyhow::Result<Repository> {
        let repo = Repository::open(arca_repo::open_backend(&url, false)?, b"pw")?;
        repo.load_index()?;
        Ok(repo)
    })
    .await??;
    let mut opts = BackupOptions::new(name);
    opts.filter.include_namespaces = vec![NS.to_string()];
    opts.data = Some(DataPhase(Arc::new(TestPhase { repo: env.repo().to_path_buf(), protect })));
    let result = arca_kube::backup::run(k, &cluster.url(), &repo, &opts, &Quiet).await;
    tokio::task::spawn_blocking(move || drop(repo)).await?;
    let (report, _) = result?;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    Ok(serde_json::to_value(report)?)
}

async fn delete_namespace(k: &Kube, ns: &str) -> anyhow::Result<()> {
    k.delete(&format!("/api/v1/namespaces/{ns}"), "delete namespace").await?;
    wait_gone(k, &format!("/api/v1/namespaces/{ns}")).await
}

/// Waits until no volume is left (the provisioner deletes released `Delete` volumes).
async fn volumes_gone(k: &Kube) -> anyhow::Result<()> {
    for _ in 0..200 {
        let pvs = k.get("/api/v1/persistentvolumes", "pvs").await?;
        if pvs["items"].as_array().is_none_or(Vec::is_empty) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("volumes are still there")
}

fn volume_result<'a>(report: &'a Value, claim: &str) -> anyhow::Result<&'a Value> {
    report["volumes"]
        .as_array()
        .and_then(|v| v.iter().find(|v| v["claim"] == claim))
        .ok_or_else(|| anyhow::anyhow!("no volume {claim} in the report: {report}"))
}

fn app_pod(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS},
        "spec": {"containers": [{"name": "app", "image": "busybox", "command": ["sleep", "600"],
            "volumeMounts": [{"name": "d", "mountPath": "/data"}]}],
            "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": CLAIM}}]}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_are_filled_from_the_repository_before_their_pods_come_back() -> anyhow::Result<()> {
    let (cluster, k) = cluster().await?;
    namespace(&k, NS).await?;
    write_files(&bound_claim(&k, NS, CLAIM).await?)?;
    create(&k, &format!("/api/v1/namespaces/{NS}/pods"), app_pod("app")).await?;
    let dir = tempfile::tempdir()?;
    let env = Env::new(dir.path())?;
    let report = backup(&cluster, &k, &env, "nightly", Protect::Mover).await?;
    assert_eq!(report["volumes"][0]["claim"], "vault/data", "{report}");

    delete_namespace(&k, NS).await?;
    volumes_gone(&k).await?;
    let restored = env.json(&cluster, 0, &["restore", "create", "back", "--from-backup", "nightly"]).await?;
    let v = volume_result(&restored, "vault/data")?;
    assert_eq!(v["state"], "Completed", "{restored}");
    assert!(v["from"].as_str().unwrap_or_default().starts_with("repository snapshot"), "{v}");
    assert!(v["files"].as_u64().unwrap_or(0) >= 2, "{v}");
    assert_files(&volume_dir(&k, NS, CLAIM).await?)?;

    // The pod was created only after its claim was filled.
    let log = env.expect(&cluster, 0, &["restore", "logs", "back"]).await?;
    let filled = log.find("volume vault/data: filled").ok_or_else(|| anyhow::anyhow!("no fill in the log:\n{log}"))?;
    let pod = log.find("pod/vault/app: created").ok_or_else(|| anyhow::anyhow!("no pod in the log:\n{log}"))?;
    assert!(filled < pod, "the pod came back before its data:\n{log}");
    // Nothing of the mover is left: pod and credentials Secret.
    let secrets = k.get(&format!("/api/v1/namespaces/{NS}/secrets"), "secrets").await?;
    let left: Vec<&Value> = secrets["items"]
        .as_array()
        .map(|s| s.iter().filter(|s| s["metadata"]["name"].as_str().is_some_and(|n| n.starts_with("arca-"))).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "mover Secrets left: {left:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_backup_restores_after_its_snapshot_and_content_were_deleted() -> anyhow::Result<()> {
    let (cluster, k) = cluster().await?;
    namespace(&k, NS).await?;
    write_files(&bound_claim(&k, NS, CLAIM).await?)?;
    let api = "/apis/snapshot.storage.k8s.io/v1";
    let vs = json!({"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
        "metadata": {"name": "before", "namespace": NS},
        "spec": {"volumeSnapshotClassName": TEST_SNAPSHOT_CLASS, "source": {"persistentVolumeClaimName": CLAIM}}});
    create(&k, &format!("{api}/namespaces/{NS}/volumesnapshots"), vs).await?;
    let vs_path = format!("{api}/namespaces/{NS}/volumesnapshots/before");
    let ready = wait_for(&k, &vs_path, |v| v["status"]["readyToUse"] == true).await?;
    let content_name = ready["status"]["boundVolumeSnapshotContentName"].as_str().unwrap_or_default().to_string();
    let content_path = format!("{api}/volumesnapshotcontents/{content_name}");
    // The storage system keeps the snapshot when its objects go.
    k.merge_patch(&content_path, &json!({"spec": {"deletionPolicy": "Retain"}}), "retain").await?;
    let content = k.get(&content_path, "content").await?;
    let snapshot = json!({"name": "before", "content": content_name, "class": TEST_SNAPSHOT_CLASS,
        "driver": content["spec"]["driver"], "handle": content["status"]["snapshotHandle"], "kept": true});
    let env_dir = tempfile::tempdir()?;
    let env = Env::new(env_dir.path())?;
    backup(&cluster, &k, &env, "snap", Protect::Snapshot(snapshot)).await?;

    k.delete(&vs_path, "vs").await?;
    wait_gone(&k, &vs_path).await?;
    k.delete(&content_path, "vsc").await?;
    wait_gone(&k, &content_path).await?;
    delete_namespace(&k, NS).await?;
    volumes_gone(&k).await?;

    let restored = env.json(&cluster, 0, &["restore", "create", "back", "--from-backup", "snap"]).await?;
    let v = volume_result(&restored, "vault/data")?;
    assert_eq!(v["state"], "Completed", "{restored}");
    assert_eq!(v["method"], "snapshot");
    let claim = k.get(&claim_path(NS, CLAIM), "claim").await?;
    assert_eq!(claim["spec"]["dataSource"]["kind"], "VolumeSnapshot", "{claim}");
    assert_files(&volume_dir(&k, NS, CLAIM).await?)?;

    // Into a class of another driver the claim fails, saying why.
    delete_namespace(&k, NS).await?;
    let other = json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "elsewhere"},
        "provisioner": "other.csi.example.com"});
    create(&k, "/apis/storage.k8s.io/v1/storageclasses", other).await?;
    let args =
        ["restore", "create", "cross", "--from-backup", "snap", "--storage-class-mappings", "arca-test:elsewhere"];
    let crossed = env.json(&cluster, 3, &args).await?;
    let v = volume_result(&crossed, "vault/data")?;
    assert_eq!(v["state"], "Failed", "{crossed}");
    assert!(v["reason"].as_str().unwrap_or_default().contains("other.csi.example.com"), "{v}");
    assert!(v["reason"].as_str().unwrap_or_default().contains("move"), "{v}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_mover_fails_its_claim_with_the_reason() -> anyhow::Result<()> {
    let (cluster, k) = cluster().await?;
    namespace(&k, NS).await?;
    bound_claim(&k, NS, CLAIM).await?;
    let dir = tempfile::tempdir()?;
    let env = Env::new(dir.path())?;
    backup(&cluster, &k, &env, "broken", Protect::MissingSnapshot).await?;
    delete_namespace(&k, NS).await?;
    volumes_gone(&k).await?;
    let args = ["restore", "create", "back", "--from-backup", "broken", "--volume-timeout", "60s"];
    let restored = env.json(&cluster, 3, &args).await?;
    assert_eq!(restored["phase"], "PartiallyFailed", "{restored}");
    let v = volume_result(&restored, "vault/data")?;
    assert_eq!(v["state"], "Failed", "{v}");
    assert!(v["reason"].as_str().unwrap_or_default().contains("exited with code"), "{v}");
    assert!(v["reason"].as_str().unwrap_or_default().contains("its log ends"), "{v}");
    let human = env.expect(&cluster, 0, &["restore", "describe", "back"]).await?;
    assert!(human.contains("volume vault/data: failed: the mover exited with code"), "{human}");
    // The claim itself was restored (empty); the report says its data is not.
    k.get(&claim_path(NS, CLAIM), "claim").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volume_restore_fills_a_new_claim_beside_the_original() -> anyhow::Result<()> {
    let (cluster, k) = cluster().await?;
    namespace(&k, NS).await?;
    namespace(&k, "lab").await?;
    let original = bound_claim(&k, NS, CLAIM).await?;
    write_files(&original)?;
    let dir = tempfile::tempdir()?;
    let env = Env::new(dir.path())?;
    backup(&cluster, &k, &env, "nightly", Protect::Mover).await?;
    std::fs::write(original.join("hello.txt"), b"changed since")?;

    let out = env.json(&cluster, 0, &["volume", "restore", "nightly", "vault/data", "--to", "lab/copy"]).await?;
    assert_eq!(out["state"], "Completed", "{out}");
    assert_eq!(out["claim"], "lab/copy");
    assert_files(&volume_dir(&k, "lab", "copy").await?)?;
    assert_eq!(std::fs::read(original.join("hello.txt"))?, b"changed since", "the original is left alone");
    env.expect(&cluster, 1, &["volume", "restore", "nightly", "vault/nope"]).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_only_scales_the_deployment_to_zero_and_back() -> anyhow::Result<()> {
    let (cluster, k) = cluster().await?;
    namespace(&k, NS).await?;
    let volume = bound_claim(&k, NS, CLAIM).await?;
    write_files(&volume)?;
    let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": NS},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": app_pod("x")["spec"].clone()}}});
    create(&k, &format!("/apis/apps/v1/namespaces/{NS}/deployments"), deployment).await?;
    let pods_running = |n: usize| {
        let k = k.clone();
        async move {
            for _ in 0..200 {
                let pods = k.get(&format!("/api/v1/namespaces/{NS}/pods"), "pods").await?;
                let running = pods["items"]
                    .as_array()
                    .map_or(0, |p| p.iter().filter(|p| p["status"]["phase"] == "Running").count());
                if running == n {
                    return anyhow::Ok(());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            anyhow::bail!("not {n} running pods")
        }
    };
    pods_running(2).await?;
    let dir = tempfile::tempdir()?;
    let env = Env::new(dir.path())?;
    backup(&cluster, &k, &env, "nightly", Protect::Mover).await?;
    // The claim is emptied, and gets a file the backup does not have.
    for entry in std::fs::read_dir(&volume)? {
        let path = entry?.path();
        if path.is_dir() && !path.is_symlink() { std::fs::remove_dir_all(path)? } else { std::fs::remove_file(path)? }
    }
    std::fs::write(volume.join("stray"), b"not in the backup")?;

    let args = [
        "restore",
        "create",
        "fill",
        "--from-backup",
        "nightly",
        "--data-only",
        "--item",
        "persistentvolumeclaims/vault/data",
    ];
    let mut dry = args.to_vec();
    dry.push("--dry-run");
    let planned = env.json(&cluster, 0, &dry).await?;
    let reason = volume_result(&planned, "vault/data")?["reason"].as_str().unwrap_or_default().to_string();
    assert!(reason.contains("would scale deployment/vault/web to zero"), "{planned}");
    assert!(volume.join("stray").exists(), "a dry run writes nothing");
    let restored = env.json(&cluster, 0, &args).await?;
    let v = volume_result(&restored, "vault/data")?;
    assert_eq!(v["state"], "Completed", "{restored}");
    assert_eq!(v["scaled"][0], "deployment/vault/web: 2 → 0 → 2", "{v}");
    assert!(v["removed"].as_u64().unwrap_or(0) >= 1, "{v}");
    assert_files(&volume)?;
    assert!(!volume.join("stray").exists());
    let web = k.get(&format!("/apis/apps/v1/namespaces/{NS}/deployments/web"), "deployment").await?;
    assert_eq!(web["spec"]["replicas"], 2);
    assert!(web["metadata"]["annotations"].get("arca.io/restore-scaled-from").is_none(), "{web}");
    pods_running(2).await?;
    // A claim that does not exist is refused, naming what to do.
    delete_namespace(&k, NS).await?;
    let missing = env.json(&cluster, 1, &args).await?;
    let reason = volume_result(&missing, "vault/data")?["reason"].as_str().unwrap_or_default().to_string();
    assert!(reason.contains("without --data-only"), "{reason}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_local_claim_comes_back_on_its_node_with_the_mover_as_first_consumer() -> anyhow::Result<()> {
    let (cluster, k) = cluster_of(3).await?;
    namespace(&k, NS).await?;
    claim_of(&k, NS, CLAIM, "arca-test-local").await?;
    create(&k, &format!("/api/v1/namespaces/{NS}/pods"), app_pod("app")).await?;
    let before = bound_volume(&k, NS, CLAIM).await?;
    let affinity = before["spec"]["nodeAffinity"].clone();
    assert!(affinity.is_object(), "a node-local volume is pinned: {before}");
    write_files(&volume_dir(&k, NS, CLAIM).await?)?;
    let dir = tempfile::tempdir()?;
    let env = Env::new(dir.path())?;
    backup(&cluster, &k, &env, "nightly", Protect::Mover).await?;

    delete_namespace(&k, NS).await?;
    volumes_gone(&k).await?;
    let restored = env.json(&cluster, 0, &["restore", "create", "back", "--from-backup", "nightly"]).await?;
    let v = volume_result(&restored, "vault/data")?;
    assert_eq!(v["state"], "Completed", "{restored}");
    let after = bound_volume(&k, NS, CLAIM).await?;
    assert_eq!(after["spec"]["nodeAffinity"], affinity, "the volume is provisioned where it was");
    let node = affinity.pointer("/required/nodeSelectorTerms/0/matchExpressions/0/values/0").cloned();
    assert_eq!(v["node"].clone(), node.unwrap_or_default(), "the mover ran on the recorded node: {v}");
    assert_files(&volume_dir(&k, NS, CLAIM).await?)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pods_inline_host_path_is_filled_before_the_pod_comes_back() -> anyhow::Result<()> {
    let (cluster, k) = cluster().await?;
    namespace(&k, NS).await?;
    let host = tempfile::tempdir()?;
    let cache = host.path().join("cache");
    write_files(&cache)?;
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "app", "namespace": NS},
        "spec": {"containers": [{"name": "app", "image": "busybox", "command": ["sleep", "600"],
            "volumeMounts": [{"name": "cache", "mountPath": "/cache"}]}],
            "volumes": [{"name": "cache", "hostPath": {"path": cache, "type": "DirectoryOrCreate"}}]}});
    create(&k, &format!("/api/v1/namespaces/{NS}/pods"), pod).await?;
    let dir = tempfile::tempdir()?;
    let env = Env::new(dir.path())?;
    backup(&cluster, &k, &env, "nightly", Protect::Inline(cache.clone())).await?;
    delete_namespace(&k, NS).await?;
    std::fs::remove_dir_all(&cache)?;

    let restored = env.json(&cluster, 0, &["restore", "create", "back", "--from-backup", "nightly"]).await?;
    let v = volume_result(&restored, "vault/app/cache")?;
    assert_eq!(v["state"], "Completed", "{restored}");
    assert_files(&cache)?;
    let log = env.expect(&cluster, 0, &["restore", "logs", "back"]).await?;
    let filled = log.find("volume vault/app/cache: filled").ok_or_else(|| anyhow::anyhow!("no fill:\n{log}"))?;
    let created = log.find("pod/vault/app: created").ok_or_else(|| anyhow::anyhow!("no pod:\n{log}"))?;
    assert!(filled < created, "the pod came back before its data:\n{log}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_only_stops_at_a_pod_it_cannot_scale_unless_told_not_to_scale() -> anyhow::Result<()> {
    let (cluster, k) = cluster_of(3).await?;
    namespace(&k, NS).await?;
    let volume = bound_claim(&k, NS, CLAIM).await?;
    write_files(&volume)?;
    create(&k, &format!("/api/v1/namespaces/{NS}/pods"), app_pod("app")).await?;
    let dir = tempfile::tempdir()?;
    let env = Env::new(dir.path())?;
    backup(&cluster, &k, &env, "nightly", Protect::Mover).await?;
    std::fs::write(volume.join("hello.txt"), b"overwritten")?;

    let args = ["restore", "create", "fill", "--from-backup", "nightly", "--data-only", "--include-namespaces", NS];
    let stopped = env.json(&cluster, 1, &args).await?;
    let reason = volume_result(&stopped, "vault/data")?["reason"].as_str().unwrap_or_default().to_string();
    assert!(reason.contains("pod vault/app has no owner") && reason.contains("--no-scale"), "{reason}");
    assert_eq!(std::fs::read(volume.join("hello.txt"))?, b"overwritten", "nothing was written");

    let mut beside = args.to_vec();
    beside[2] = "beside";
    beside.push("--no-scale");
    let filled = env.json(&cluster, 0, &beside).await?;
    assert_eq!(volume_result(&filled, "vault/data")?["state"], "Completed", "{filled}");
    assert_files(&volume)?;
    let pod = k.get(&format!("/api/v1/namespaces/{NS}/pods/app"), "the pod ran on").await?;
    let v = volume_result(&filled, "vault/data")?;
    assert_eq!(v["node"], pod["spec"]["nodeName"], "the mover ran beside the pod (a ReadWriteOnce claim): {v}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_claim_gets_its_device_back() -> anyhow::Result<()> {
    let (cluster, k) = cluster().await?;
    namespace(&k, NS).await?;
    let claim = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": CLAIM, "namespace": NS},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": TEST_STORAGE_CLASS, "volumeMode": "Block",
            "resources": {"requests": {"storage": "1Mi"}}}});
    create(&k, &format!("/api/v1/namespaces/{NS}/persistentvolumeclaims"), claim).await?;
    let device = volume_dir(&k, NS, CLAIM).await?;
    let mut data = vec![0u8; 1 << 20];
    data[..11].copy_from_slice(b"block start");
    data[700_000..700_009].copy_from_slice(b"block mid");
    std::fs::write(&device, &data)?;
    let dir = tempfile::tempdir()?;
    let env = Env::new(dir.path())?;
    backup(&cluster, &k, &env, "nightly", Protect::Block).await?;
    delete_namespace(&k, NS).await?;
    volumes_gone(&k).await?;

    let restored = env.json(&cluster, 0, &["restore", "create", "back", "--from-backup", "nightly"]).await?;
    assert_eq!(volume_result(&restored, "vault/data")?["state"], "Completed", "{restored}");
    let device = volume_dir(&k, NS, CLAIM).await?;
    assert_ne!(device, PathBuf::new());
    assert!(std::fs::read(&device)? == data, "the device's bytes are back");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_moved_by_arca_backup_comes_back_with_its_files() -> anyhow::Result<()> {
    let (cluster, k) = cluster().await?;
    namespace(&k, NS).await?;
    write_files(&bound_claim(&k, NS, CLAIM).await?)?;
    let dir = tempfile::tempdir()?;
    let env = Env::new(dir.path())?;
    let made =
        env.json(&cluster, 0, &["backup", "create", "real", "--include-namespaces", NS, "--volumes", "move"]).await?;
    assert_eq!(made["volumes"][0]["state"], "Completed", "{made}");
    delete_namespace(&k, NS).await?;
    volumes_gone(&k).await?;

    let restored = env.json(&cluster, 0, &["restore", "create", "back", "--from-backup", "real"]).await?;
    let v = volume_result(&restored, "vault/data")?;
    assert_eq!(v["state"], "Completed", "{restored}");
    assert_eq!(v["method"], "move");
    assert_files(&volume_dir(&k, NS, CLAIM).await?)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_bound_again_to_its_retained_volume_keeps_that_data() -> anyhow::Result<()> {
    let (cluster, k) = cluster().await?;
    let class = json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "kept"},
        "provisioner": arca_testcluster::TEST_PROVISIONER, "reclaimPolicy": "Retain", "volumeBindingMode": "Immediate"});
    create(&k, "/apis/storage.k8s.io/v1/storageclasses", class).await?;
    namespace(&k, NS).await?;
    claim_of(&k, NS, CLAIM, "kept").await?;
    let volume = volume_dir(&k, NS, CLAIM).await?;
    write_files(&volume)?;
    let dir = tempfile::tempdir()?;
    let env = Env::new(dir.path())?;
    backup(&cluster, &k, &env, "nightly", Protect::Mover).await?;
    std::fs::write(volume.join("hello.txt"), b"newer than the backup")?;
    delete_namespace(&k, NS).await?;

    let restored = env.json(&cluster, 0, &["restore", "create", "back", "--from-backup", "nightly"]).await?;
    let v = volume_result(&restored, "vault/data")?;
    assert_eq!(v["state"], "Skipped", "{restored}");
    assert!(v["reason"].as_str().unwrap_or_default().contains("kept volume"), "{v}");
    assert_eq!(volume_dir(&k, NS, CLAIM).await?, volume, "bound to its old volume");
    assert_eq!(std::fs::read(volume.join("hello.txt"))?, b"newer than the backup", "its data is not written over");
    Ok(())
}
