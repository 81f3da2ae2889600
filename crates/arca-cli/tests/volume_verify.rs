//! Checking restored claims against their backup with check mover pods
//! running the real `arca` binary in the test cluster
//! (`arca_volumes::verify::check`): a claim backed up, filled into a claim
//! of another namespace by a restore mover, passes; one changed file in
//! the copy's volume fails the check naming that file; a block claim is
//! compared byte for byte; a record without a repository snapshot is
//! skipped, saying why. Nothing of the check movers is left behind.

mod kube_env;

use std::os::unix::fs::{FileExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use arca_kube::api::Kube;
use arca_testcluster::{TEST_STORAGE_CLASS, TestCluster};
use arca_volumes::mover::VolumeSource;
use arca_volumes::record::VolumeRecord;
use arca_volumes::restore::fill::{self, Target};
use arca_volumes::restore::result::RestoreState;
use arca_volumes::restore::settings::MoverSettings;
use arca_volumes::verify::{self, CheckState, CheckTarget, VolumeCheck};
use kube_env::{Env, wait_for};
use serde_json::{Value, json};

fn arca_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_arca")).parent().map(Path::to_path_buf).unwrap_or_default()
}

async fn cluster() -> anyhow::Result<(TestCluster, Kube)> {
    let cluster = TestCluster::builder().container_path(arca_dir()).start().await?;
    let options =
        arca_kube::connect::ClusterOptions { kubeconfig: Some(cluster.kubeconfig_path().to_path_buf()), context: None };
    let kube = Kube::new(arca_kube::connect::connect(&options).await?.client, 16);
    for ns in ["vault", "lab"] {
        let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        kube.create("/api/v1/namespaces", &body, "namespace").await?;
    }
    Ok((cluster, kube))
}

/// A bound claim of the test class (`Filesystem` or `Block`); returns its
/// volume's directory (or device file).
async fn claim(k: &Kube, ns: &str, name: &str, mode: &str) -> anyhow::Result<PathBuf> {
    let body = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "namespace": ns},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": TEST_STORAGE_CLASS, "volumeMode": mode,
            "resources": {"requests": {"storage": "1Mi"}}}});
    k.create(&format!("/api/v1/namespaces/{ns}/persistentvolumeclaims"), &body, "claim").await?;
    let path = format!("/api/v1/namespaces/{ns}/persistentvolumeclaims/{name}");
    let bound = wait_for(k, &path, |c| c["status"]["phase"] == "Bound").await?;
    let pv = bound["spec"]["volumeName"].as_str().unwrap_or_default();
    let pv = k.get(&format!("/api/v1/persistentvolumes/{pv}"), "pv").await?;
    let dir = ["/spec/csi/volumeAttributes/path", "/spec/hostPath/path", "/spec/local/path"]
        .iter()
        .find_map(|p| pv.pointer(p).and_then(Value::as_str))
        .ok_or_else(|| anyhow::anyhow!("volume without a directory: {pv}"))?;
    Ok(PathBuf::from(dir))
}

/// `arca mover backup` of `path` as a local process; a `move` record of
/// claim `vault/data` holding the repository snapshot.
async fn back_up(env: &Env, flag: &str, path: &Path, mode: &str) -> anyhow::Result<VolumeRecord> {
    let (repo, path, flag) = (env.repo().to_path_buf(), path.to_path_buf(), flag.to_string());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_arca"))
            .args(["-o", "json", "mover", "backup", &flag])
            .arg(&path)
            .args(["--volume", "vault/data", "--backup", "nightly"])
            .env("ARCA_REPO", &repo)
            .env("ARCA_PASSWORD", "pw")
            .env_remove("ARCA_PASSWORD_FILE")
            .output()
    })
    .await??;
    let stdout = String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(out.status.success(), "mover backup: {stdout} {}", String::from_utf8_lossy(&out.stderr));
    let result = arca_volumes::mover::parse_result(&stdout).ok_or_else(|| anyhow::anyhow!("no result: {stdout}"))?;
    Ok(serde_json::from_value(json!({"claim": "vault/data", "volume_mode": mode, "method": "move",
        "chosen_by": "test", "state": "Completed", "repository_snapshot": result.snapshot}))?)
}

fn settings(env: &Env) -> MoverSettings {
    let mut s = MoverSettings::new(&env.repo().display().to_string(), b"pw".to_vec());
    s.timeout = std::time::Duration::from_secs(120);
    s
}

/// Fills `lab/copy` from the record's snapshot with a restore mover.
async fn fill_copy(k: &Kube, settings: &MoverSettings, record: &VolumeRecord) -> anyhow::Result<()> {
    let target = Target {
        record,
        namespace: "lab",
        source: VolumeSource::Claim { name: "copy".into(), read_only: false },
        shown: "lab/copy".into(),
        mirror: false,
        restore: "drill-1",
        node: None,
    };
    let filled = fill::fill(k, settings, target).await;
    anyhow::ensure!(filled.state == RestoreState::Completed, "{filled:?}");
    Ok(())
}

async fn check_copy(k: &Kube, settings: &MoverSettings, record: &VolumeRecord) -> VolumeCheck {
    let target = CheckTarget { record, namespace: "lab", claim: "copy", run: "drill-1", node: None };
    verify::check(k, settings, target).await
}

/// Pods and Secrets Arca made in `ns` that are still there.
async fn leftovers(k: &Kube, ns: &str) -> anyhow::Result<Vec<String>> {
    let mut left = Vec::new();
    for kind in ["pods", "secrets"] {
        let list = k.get(&format!("/api/v1/namespaces/{ns}/{kind}"), kind).await?;
        for item in list["items"].as_array().into_iter().flatten() {
            let name = item["metadata"]["name"].as_str().unwrap_or_default();
            if name.starts_with("arca-") && item["metadata"]["deletionTimestamp"].is_null() {
                left.push(format!("{kind}/{name}"));
            }
        }
    }
    Ok(left)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_claim_passes_and_a_changed_file_fails_naming_it() -> anyhow::Result<()> {
    let (_cluster, k) = cluster().await?;
    let original = claim(&k, "vault", "data", "Filesystem").await?;
    std::fs::create_dir_all(original.join("sub"))?;
    std::fs::write(original.join("hello.txt"), b"hello volume\n")?;
    std::fs::write(original.join("sub/table.dat"), (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect::<Vec<_>>())?;
    std::fs::set_permissions(original.join("sub/table.dat"), std::fs::Permissions::from_mode(0o600))?;
    std::os::unix::fs::symlink("hello.txt", original.join("link"))?;
    let dir = tempfile::tempdir()?;
    let env = Env::new(dir.path())?;
    let record = back_up(&env, "--source", &original, "Filesystem").await?;
    let settings = settings(&env);
    let copy = claim(&k, "lab", "copy", "Filesystem").await?;
    fill_copy(&k, &settings, &record).await?;

    let passed = check_copy(&k, &settings, &record).await;
    assert_eq!(passed.state, CheckState::Passed, "{passed:?}");
    assert_eq!((passed.claim.as_str(), passed.source.as_str()), ("lab/copy", "vault/data"));
    assert_eq!(Some(&passed.snapshot), record.repository_snapshot.as_ref());
    assert_eq!(passed.files, 2, "{passed:?}");
    assert_eq!(passed.bytes, 300_013, "{passed:?}");
    assert!(passed.mismatches.is_empty() && passed.reason.is_empty(), "{passed:?}");
    let json = serde_json::to_value(&passed)?;
    assert_eq!(json["state"], "Passed", "{json}");

    // One byte of one file of the copy changes behind the restore's back.
    std::fs::OpenOptions::new().write(true).open(copy.join("sub/table.dat"))?.write_all_at(b"X", 123_456)?;
    let failed = check_copy(&k, &settings, &record).await;
    assert_eq!(failed.state, CheckState::Failed, "{failed:?}");
    assert_eq!(failed.mismatches.len(), 1, "{failed:?}");
    assert!(failed.mismatches[0].starts_with("sub/table.dat: content: bytes "), "{failed:?}");
    assert!(failed.reason.starts_with("1 difference(s) from repository snapshot"), "{failed:?}");
    assert!(failed.log_line().contains("sub/table.dat"), "{}", failed.log_line());
    // The original is what the backup holds.
    assert_eq!(std::fs::read(original.join("hello.txt"))?, b"hello volume\n");

    // A record whose data stays in a CSI snapshot has nothing to compare with.
    let mut snapshot_only = record.clone();
    snapshot_only.repository_snapshot = None;
    snapshot_only.snapshot = Some(Default::default());
    let skipped = check_copy(&k, &settings, &snapshot_only).await;
    assert_eq!(skipped.state, CheckState::Skipped, "{skipped:?}");
    assert!(skipped.reason.contains("no repository snapshot"), "{skipped:?}");

    let left = leftovers(&k, "lab").await?;
    assert!(left.is_empty(), "check movers left: {left:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_claim_is_compared_byte_for_byte() -> anyhow::Result<()> {
    let (_cluster, k) = cluster().await?;
    let device = claim(&k, "vault", "data", "Block").await?;
    let mut data = vec![0u8; 3 << 20];
    data[..11].copy_from_slice(b"block start");
    data[2_500_000..2_500_009].copy_from_slice(b"block mid");
    std::fs::write(&device, &data)?;
    let dir = tempfile::tempdir()?;
    let env = Env::new(dir.path())?;
    let record = back_up(&env, "--block", &device, "Block").await?;
    let settings = settings(&env);
    let copy = claim(&k, "lab", "copy", "Block").await?;
    fill_copy(&k, &settings, &record).await?;
    assert!(std::fs::read(&copy)? == data, "the restore mover wrote the image");

    let passed = check_copy(&k, &settings, &record).await;
    assert_eq!(passed.state, CheckState::Passed, "{passed:?}");
    assert_eq!((passed.files, passed.bytes), (1, 3 << 20), "{passed:?}");

    std::fs::OpenOptions::new().write(true).open(&copy)?.write_all_at(b"?", (2 << 20) + 5)?;
    let failed = check_copy(&k, &settings, &record).await;
    assert_eq!(failed.state, CheckState::Failed, "{failed:?}");
    assert_eq!(
        failed.mismatches,
        ["volume.img: content: bytes 2097152..3145728 differ from the snapshot's (chunk 3 of 3)"],
        "{failed:?}"
    );
    Ok(())
}
