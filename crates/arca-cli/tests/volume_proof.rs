//! The volume data proof, end to end through the `arca` binary: claims
//! holding different trees (tens of thousands of small files, a sparse
//! 1 GiB file, links, modes, owners, times) are backed up by mover pods
//! (which run this binary), the namespace is deleted with its volumes, and
//! a restore brings every file back identical — content and metadata,
//! sparseness kept. Also: incremental backups through fresh snapshot
//! clones, the `snapshot` method after its snapshot objects are gone, `fs`
//! for a pod's hostPath volume, and a mover killed mid-way.

#[path = "../../arca-kube/tests/common/app.rs"]
mod app;
mod kube_env;

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use arca_kube::api::Kube;
use arca_testcluster::{TEST_STORAGE_CLASS, TestCluster};
use kube_env::{Env, wait_for, wait_gone};
use serde_json::{Value, json};

const NS: &str = "vault";
const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

async fn cluster() -> anyhow::Result<(TestCluster, Kube)> {
    let bin = Path::new(env!("CARGO_BIN_EXE_arca")).parent().map(Path::to_path_buf).unwrap_or_default();
    let cluster = TestCluster::builder().snapshot_crds(true).container_path(bin).start().await?;
    let k = app::connect(cluster.kubeconfig_path()).await?;
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}});
    k.create("/api/v1/namespaces", &ns, "namespace").await?;
    Ok((cluster, k))
}

/// A bound claim of the test class; returns its volume's directory.
async fn claim(k: &Kube, name: &str, size: &str) -> anyhow::Result<PathBuf> {
    let body = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "namespace": NS},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": TEST_STORAGE_CLASS,
                 "resources": {"requests": {"storage": size}}}});
    k.create(&format!("/api/v1/namespaces/{NS}/persistentvolumeclaims"), &body, "claim").await?;
    volume_dir(k, name).await
}

async fn volume_dir(k: &Kube, name: &str) -> anyhow::Result<PathBuf> {
    let path = format!("/api/v1/namespaces/{NS}/persistentvolumeclaims/{name}");
    let bound = wait_for(k, &path, |c| c["status"]["phase"] == "Bound").await?;
    let pv = k
        .get(&format!("/api/v1/persistentvolumes/{}", bound["spec"]["volumeName"].as_str().unwrap_or("")), "pv")
        .await?;
    Ok(PathBuf::from(pv["spec"]["csi"]["volumeAttributes"]["path"].as_str().unwrap_or_default()))
}

/// Deterministic bytes (xorshift), incompressible.
fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn set_mtime(path: &Path, secs: i64) -> anyhow::Result<()> {
    filetime::set_symlink_file_times(
        path,
        filetime::FileTime::from_unix_time(secs, 0),
        filetime::FileTime::from_unix_time(secs, 0),
    )?;
    Ok(())
}

/// `files` small files of 1–4 KiB in directories of 100.
fn small_tree(root: &Path, files: usize) -> anyhow::Result<()> {
    for i in 0..files {
        let dir = root.join(format!("d{:03}", i / 100));
        if i % 100 == 0 {
            std::fs::create_dir_all(&dir)?;
        }
        let f = dir.join(format!("f{i:05}.dat"));
        std::fs::write(&f, bytes(i as u64, 1024 + (i * 37) % 3072))?;
        set_mtime(&f, 1_600_000_000 + i as i64)?;
    }
    Ok(())
}

/// A 1 GiB sparse file with 1 MiB of data at three places, and a small file.
fn sparse_tree(root: &Path) -> anyhow::Result<()> {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = std::fs::File::create(root.join("disk.img"))?;
    f.set_len(GIB)?;
    for (n, at) in [0, 300 * MIB, GIB - MIB].into_iter().enumerate() {
        f.seek(SeekFrom::Start(at))?;
        f.write_all(&bytes(1000 + n as u64, MIB as usize))?;
    }
    drop(f);
    std::fs::write(root.join("README"), "a sparse disk image")?;
    Ok(())
}

/// Links, modes, owners and times.
fn meta_tree(root: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{chown, lchown, symlink};
    let private = root.join("private");
    std::fs::create_dir_all(private.join("deep/er"))?;
    std::fs::create_dir_all(root.join("empty"))?;
    std::fs::write(private.join("key"), "secret")?;
    std::fs::set_permissions(private.join("key"), std::fs::Permissions::from_mode(0o600))?;
    std::fs::write(root.join("tool"), "#!/bin/sh\necho tool\n")?;
    std::fs::set_permissions(root.join("tool"), std::fs::Permissions::from_mode(0o4755))?;
    std::fs::write(private.join("deep/er/data"), bytes(7, 5000))?;
    std::fs::hard_link(private.join("deep/er/data"), root.join("data-link"))?;
    symlink("private/deep/er/data", root.join("relative"))?;
    symlink("/nowhere/at/all", root.join("dangling"))?;
    if nix_is_root() {
        chown(private.join("key"), Some(1234), Some(5678))?;
        lchown(root.join("relative"), Some(4321), Some(8765))?;
        chown(root.join("empty"), Some(1000), Some(1000))?;
    }
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700))?;
    for (p, t) in [("private/key", 1_500_000_000), ("tool", 1_400_000_000), ("relative", 1_300_000_000)] {
        set_mtime(&root.join(p), t)?;
    }
    for d in ["private/deep/er", "private/deep", "private", "empty"] {
        set_mtime(&root.join(d), 1_200_000_000)?;
    }
    Ok(())
}

fn nix_is_root() -> bool {
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

/// What must come back of one entry.
#[derive(Debug, PartialEq)]
struct Entry {
    kind: &'static str,
    mode: u32,
    owner: (u32, u32),
    mtime: i64,
    size: u64,
    content: u64,
    link: Option<PathBuf>,
    /// The first path (in order) sharing this file's inode: hard links.
    same_as: Option<PathBuf>,
}

fn manifest(root: &Path) -> anyhow::Result<BTreeMap<PathBuf, Entry>> {
    let mut out = BTreeMap::new();
    let mut inodes: BTreeMap<u64, PathBuf> = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mut names: Vec<_> = std::fs::read_dir(&dir)?.collect::<Result<_, _>>()?;
        names.sort_by_key(|e| e.file_name());
        for e in names {
            let path = e.path();
            let rel = path.strip_prefix(root)?.to_path_buf();
            let md = std::fs::symlink_metadata(&path)?;
            let ft = md.file_type();
            let (kind, content, link) = if ft.is_dir() {
                stack.push(path.clone());
                ("dir", 0, None)
            } else if ft.is_symlink() {
                ("symlink", 0, Some(std::fs::read_link(&path)?))
            } else {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                std::fs::read(&path)?.hash(&mut h);
                ("file", h.finish(), None)
            };
            let same_as =
                (kind == "file" && md.nlink() > 1).then(|| inodes.entry(md.ino()).or_insert(rel.clone()).clone());
            let size = if kind == "dir" { 0 } else { md.size() };
            out.insert(
                rel,
                Entry {
                    kind,
                    mode: md.mode() & 0o7777,
                    owner: (md.uid(), md.gid()),
                    mtime: md.mtime(),
                    size,
                    content,
                    link,
                    same_as,
                },
            );
        }
    }
    Ok(out)
}

fn assert_same(what: &str, before: &BTreeMap<PathBuf, Entry>, after: &BTreeMap<PathBuf, Entry>) {
    assert_eq!(before.len(), after.len(), "{what}: entry count");
    for (path, b) in before {
        let a = after.get(path).unwrap_or_else(|| panic!("{what}: {} not restored", path.display()));
        assert_eq!(b, a, "{what}: {} differs", path.display());
    }
}

fn volume<'a>(report: &'a Value, claim: &str) -> &'a Value {
    report["volumes"]
        .as_array()
        .and_then(|v| v.iter().find(|r| r["claim"] == claim))
        .unwrap_or_else(|| panic!("no volume {claim} in {report}"))
}

fn completed(report: &Value, claims: &[&str]) {
    for c in claims {
        assert_eq!(volume(report, c)["state"], "Completed", "{}", volume(report, c));
    }
}

async fn delete_namespace_and_volumes(k: &Kube) -> anyhow::Result<()> {
    // Removing volumes of many files takes the test provisioner a while.
    k.delete(&format!("/api/v1/namespaces/{NS}"), "namespace").await?;
    for _ in 0..1200 {
        let ns = k.get_opt(&format!("/api/v1/namespaces/{NS}"), "namespace").await?;
        let pvs = k.get("/api/v1/persistentvolumes", "pvs").await?;
        if ns.is_none() && pvs["items"].as_array().is_none_or(Vec::is_empty) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("the namespace and its volumes were not deleted within 2 minutes")
}

fn allocated(path: &Path) -> anyhow::Result<u64> {
    Ok(std::fs::metadata(path)?.blocks() * 512)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_claims_come_back_identical_after_their_namespace_and_volumes_are_gone() -> anyhow::Result<()> {
    let (cluster, k) = cluster().await?;
    let small = claim(&k, "small", "1Gi").await?;
    let sparse = claim(&k, "sparse", "2Gi").await?;
    let meta = claim(&k, "meta", "1Gi").await?;
    small_tree(&small, 20_000)?;
    sparse_tree(&sparse)?;
    meta_tree(&meta)?;
    let dir = tempfile::tempdir()?;
    let env = Env::new(dir.path())?;
    let claims = ["vault/small", "vault/sparse", "vault/meta"];
    let args = ["backup", "create", "one", "--include-namespaces", NS, "--volumes", "move", "--volume-timeout", "10m"];
    let one = env.json(&cluster, 0, &args).await?;
    completed(&one, &claims);
    assert_eq!(volume(&one, "vault/small")["files"], 20_000);

    // 1 % of the small files change; the next backup (through new snapshot
    // clones: new inodes, new ctimes) reads and stores about that much, and
    // reads nothing of the unchanged volumes.
    let mut changed = 0u64;
    for i in (0..20_000).step_by(100) {
        let f = small.join(format!("d{:03}/f{i:05}.dat", i / 100));
        let len = std::fs::metadata(&f)?.len() as usize;
        std::fs::write(&f, bytes(1_000_000 + i as u64, len))?;
        changed += len as u64;
    }
    let total: u64 = (0..20_000u64).map(|i| 1024 + (i * 37) % 3072).sum();
    let args = ["backup", "create", "two", "--include-namespaces", NS, "--volumes", "move", "--volume-timeout", "10m"];
    let two = env.json(&cluster, 0, &args).await?;
    completed(&two, &claims);
    let v = volume(&two, "vault/small");
    assert_eq!(v["bytes_read"], changed, "only the changed files are read: {v}");
    // Uploaded: the changed files plus the listings of the directories
    // holding them (every directory here: one file in each of the 200 changed).
    let stored = v["bytes_stored"].as_u64().unwrap_or(u64::MAX);
    assert!(
        stored > 0 && stored < total / 25,
        "about 1 % of the {total} bytes is uploaded ({changed} changed), not {stored}: {v}"
    );
    eprintln!("1 % changed: {changed} of {total} bytes read, {stored} uploaded");
    for unchanged in ["vault/sparse", "vault/meta"] {
        assert_eq!(volume(&two, unchanged)["bytes_read"], 0, "{}", volume(&two, unchanged));
    }

    let expected = [("small", manifest(&small)?), ("sparse", manifest(&sparse)?), ("meta", manifest(&meta)?)];
    delete_namespace_and_volumes(&k).await?;
    let restored = env
        .json(&cluster, 0, &["restore", "create", "back", "--from-backup", "two", "--volume-timeout", "10m"])
        .await?;
    completed(&restored, &claims);
    for (name, before) in &expected {
        let dir = volume_dir(&k, name).await?;
        assert_same(name, before, &manifest(&dir)?);
    }
    let image = volume_dir(&k, "sparse").await?.join("disk.img");
    assert!(allocated(&image)? < 64 * MIB, "the image stays sparse: {} bytes allocated", allocated(&image)?);
    env.expect(&cluster, 0, &["repo", "check", "--read-data"]).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_backup_restores_after_its_snapshots_and_contents_are_deleted() -> anyhow::Result<()> {
    let (cluster, k) = cluster().await?;
    let small = claim(&k, "small", "1Gi").await?;
    let meta = claim(&k, "meta", "1Gi").await?;
    small_tree(&small, 2_000)?;
    meta_tree(&meta)?;
    let dir = tempfile::tempdir()?;
    let env = Env::new(dir.path())?;
    let args = ["backup", "create", "snap", "--include-namespaces", NS, "--volumes", "snapshot"];
    let report = env.json(&cluster, 0, &args).await?;
    completed(&report, &["vault/small", "vault/meta"]);
    let expected = [("small", manifest(&small)?), ("meta", manifest(&meta)?)];

    let api = "/apis/snapshot.storage.k8s.io/v1";
    for claim in ["vault/small", "vault/meta"] {
        let s = &volume(&report, claim)["snapshot"];
        let (name, content) = (s["name"].as_str().unwrap_or(""), s["content"].as_str().unwrap_or(""));
        k.delete(&format!("{api}/namespaces/{NS}/volumesnapshots/{name}"), "vs").await?;
        wait_gone(&k, &format!("{api}/namespaces/{NS}/volumesnapshots/{name}")).await?;
        k.delete(&format!("{api}/volumesnapshotcontents/{content}"), "vsc").await?;
        wait_gone(&k, &format!("{api}/volumesnapshotcontents/{content}")).await?;
    }
    delete_namespace_and_volumes(&k).await?;
    let restored = env.json(&cluster, 0, &["restore", "create", "back", "--from-backup", "snap"]).await?;
    completed(&restored, &["vault/small", "vault/meta"]);
    for (name, before) in &expected {
        assert_same(name, before, &manifest(&volume_dir(&k, name).await?)?);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pods_host_path_volume_is_read_in_place_and_comes_back() -> anyhow::Result<()> {
    let (cluster, k) = cluster().await?;
    let host = tempfile::tempdir()?;
    let data = host.path().join("data");
    std::fs::create_dir(&data)?;
    small_tree(&data, 500)?;
    meta_tree(&data)?;
    let pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "agent", "namespace": NS, "annotations": {"backup.arca.io/volume-method": "fs"}},
        "spec": {"containers": [{"name": "agent", "image": "busybox", "command": ["sleep", "600"],
                                 "volumeMounts": [{"name": "state", "mountPath": "/state"}]}],
                 "volumes": [{"name": "state", "hostPath": {"path": data.display().to_string(), "type": "Directory"}}]}});
    k.create(&format!("/api/v1/namespaces/{NS}/pods"), &pod, "pod").await?;
    wait_for(&k, &format!("/api/v1/namespaces/{NS}/pods/agent"), |p| p["status"]["phase"] == "Running").await?;
    let dir = tempfile::tempdir()?;
    let env = Env::new(dir.path())?;
    let report = env.json(&cluster, 0, &["backup", "create", "node", "--include-namespaces", NS]).await?;
    let v = volume(&report, "vault/agent/state");
    assert_eq!((v["method"].as_str(), v["state"].as_str()), (Some("fs"), Some("Completed")), "{v}");
    let before = manifest(&data)?;

    delete_namespace_and_volumes(&k).await?;
    std::fs::remove_dir_all(&data)?;
    std::fs::create_dir(&data)?;
    let restored = env.json(&cluster, 0, &["restore", "create", "back", "--from-backup", "node"]).await?;
    completed(&restored, &["vault/agent/state"]);
    assert_same("hostPath", &before, &manifest(&data)?);
    Ok(())
}

/// The pid of the process whose command line holds every one of `words`.
fn process_with(words: &[&str]) -> Option<String> {
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else { continue };
        let args: Vec<String> = cmdline.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        if words.iter().all(|w| args.iter().any(|a| a == w)) {
            return Some(e.file_name().to_string_lossy().into_owned());
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mover_killed_mid_way_fails_its_volume_and_leaves_the_repository_valid() -> anyhow::Result<()> {
    let (cluster, k) = cluster().await?;
    let big = claim(&k, "big", "1Gi").await?;
    for i in 0..8u64 {
        std::fs::write(big.join(format!("part-{i}")), bytes(i, 32 * MIB as usize))?;
    }
    let dir = tempfile::tempdir()?;
    let env = Env::new(dir.path())?;
    let args =
        ["backup", "create", "killed", "--include-namespaces", NS, "--volumes", "move", "--volume-timeout", "5m"];
    let backup = env.json(&cluster, 3, &args);
    let killer = async {
        for _ in 0..6000 {
            if let Some(pid) = process_with(&["mover", "backup", "vault/big"]) {
                let _ = std::process::Command::new("kill").args(["-KILL", &pid]).status();
                return true;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        false
    };
    let (report, killed) = tokio::join!(backup, killer);
    assert!(killed, "the mover process was never seen");
    let report = report?;
    assert_eq!(report["phase"], "PartiallyFailed", "{report}");
    let v = volume(&report, "vault/big");
    assert_eq!(v["state"], "Failed", "{v}");
    assert!(v["reason"].as_str().unwrap_or_default().contains("killed"), "the reason says it was killed: {v}");
    assert!(
        v.get("repository_snapshot").is_none_or(Value::is_null),
        "a killed mover stores no restorable snapshot: {v}"
    );
    env.expect(&cluster, 0, &["repo", "check"]).await?;
    let again =
        env.json(&cluster, 0, &["backup", "create", "again", "--include-namespaces", NS, "--volumes", "move"]).await?;
    completed(&again, &["vault/big"]);
    assert_eq!(volume(&again, "vault/big")["files"], 8);
    Ok(())
}
