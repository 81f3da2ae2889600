//! Backup hooks through the `arca` binary against the test cluster: the
//! hooks exec `sh -c` commands in the pods (run by the test cluster as local
//! processes, `/data` rewritten to the volume's directory) that write
//! markers into the volume, so what ran where and in which order shows in
//! the volume, the storage snapshot and the report's timestamps.

#[path = "../../arca-kube/tests/common/app.rs"]
mod app;
mod kube_env;

use std::path::{Path, PathBuf};

use arca_kube::api::Kube;
use arca_testcluster::{Fault, FaultRule, TEST_STORAGE_CLASS, TestCluster};
use chrono::{DateTime, Utc};
use kube_env::{Env, wait_for};
use serde_json::{Value, json};

const NS: &str = "shop";

async fn cluster(group_snapshots: Option<&str>) -> anyhow::Result<TestCluster> {
    let bin = Path::new(env!("CARGO_BIN_EXE_arca")).parent().map(Path::to_path_buf).unwrap_or_default();
    let mut b = TestCluster::builder().snapshot_crds(true).container_path(bin);
    if let Some(version) = group_snapshots {
        b = b.group_snapshots(version);
    }
    Ok(b.start().await?)
}

async fn setup() -> anyhow::Result<(TestCluster, Kube)> {
    setup_with(None).await
}

async fn setup_with(group_snapshots: Option<&str>) -> anyhow::Result<(TestCluster, Kube)> {
    let cluster = cluster(group_snapshots).await?;
    let k = app::connect(cluster.kubeconfig_path()).await?;
    let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}});
    k.create("/api/v1/namespaces", &body, "namespace").await?;
    Ok((cluster, k))
}

/// A bound claim of the test class; returns its volume's directory.
async fn claim(k: &Kube, name: &str) -> anyhow::Result<PathBuf> {
    let claim = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": TEST_STORAGE_CLASS,
                 "resources": {"requests": {"storage": "1Mi"}}}});
    k.create(&format!("/api/v1/namespaces/{NS}/persistentvolumeclaims"), &claim, "claim").await?;
    let path = format!("/api/v1/namespaces/{NS}/persistentvolumeclaims/{name}");
    let bound = wait_for(k, &path, |c| c["status"]["phase"] == "Bound").await?;
    let pv_name = bound["spec"]["volumeName"].as_str().unwrap_or_default();
    let pv = k.get(&format!("/api/v1/persistentvolumes/{pv_name}"), "pv").await?;
    Ok(PathBuf::from(pv["spec"]["csi"]["volumeAttributes"]["path"].as_str().unwrap_or_default()))
}

fn container(name: &str, mounts: bool) -> Value {
    let mut c = json!({"name": name, "image": "busybox", "command": ["sleep", "600"]});
    if mounts {
        c["volumeMounts"] = json!([{"name": "data", "mountPath": "/data"}]);
    }
    c
}

/// A running pod with `containers` (and `init` containers), its volume `data` from `claim`.
async fn pod(
    k: &Kube,
    name: &str,
    claim: &str,
    annotations: Value,
    containers: Value,
    init: Value,
) -> anyhow::Result<()> {
    let mut spec = json!({"containers": containers,
        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]});
    if init.as_array().is_some_and(|a| !a.is_empty()) {
        spec["initContainers"] = init;
    }
    let pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "annotations": annotations, "labels": {"app": name}}, "spec": spec});
    k.create(&format!("/api/v1/namespaces/{NS}/pods"), &pod, "pod").await?;
    wait_for(k, &format!("/api/v1/namespaces/{NS}/pods/{name}"), |p| p["status"]["phase"] == "Running").await?;
    Ok(())
}

/// A pod whose one container `app` mounts `claim` at /data.
async fn app_pod(k: &Kube, name: &str, claim: &str, annotations: Value) -> anyhow::Result<()> {
    pod(k, name, claim, annotations, json!([container("app", true)]), json!([])).await
}

fn sh(script: &str) -> String {
    serde_json::to_string(&["sh", "-c", script]).unwrap_or_default()
}

/// Annotations for a pre and a post hook.
fn hooks(pre: &str, post: &str) -> Value {
    json!({"pre.hook.backup.arca.io/command": sh(pre), "post.hook.backup.arca.io/command": sh(post)})
}

fn hook_records<'a>(report: &'a Value, pod: &str, phase: &str) -> Vec<&'a Value> {
    report["hooks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|h| h["pod"] == format!("{NS}/{pod}") && h["phase"] == phase)
        .collect()
}

fn one<'a>(report: &'a Value, pod: &str, phase: &str) -> anyhow::Result<&'a Value> {
    let all = hook_records(report, pod, phase);
    anyhow::ensure!(all.len() == 1, "expected one {phase} hook of {pod}, got {all:?}\nreport: {report}");
    Ok(all[0])
}

fn volume<'a>(report: &'a Value, claim: &str) -> anyhow::Result<&'a Value> {
    report["volumes"]
        .as_array()
        .and_then(|v| v.iter().find(|r| r["claim"] == format!("{NS}/{claim}")))
        .ok_or_else(|| anyhow::anyhow!("no volume record {claim}: {report}"))
}

fn time(v: &Value) -> anyhow::Result<DateTime<Utc>> {
    let s = v.as_str().ok_or_else(|| anyhow::anyhow!("not a timestamp: {v}"))?;
    Ok(DateTime::parse_from_rfc3339(s)?.with_timezone(&Utc))
}

const BACKUP: [&str; 6] = ["backup", "create", "b1", "--include-namespaces", NS, "--volumes"];

fn args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut a: Vec<&str> = BACKUP.to_vec();
    a.push("snapshot");
    a.extend(extra);
    a
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_pod_the_snapshot_is_cut_between_pre_and_post() -> anyhow::Result<()> {
    let (cluster, k) = setup().await?;
    let dir = claim(&k, "data").await?;
    app_pod(&k, "db", "data", hooks("echo frozen > /data/frozen", "rm /data/frozen; echo thawed > /data/thawed"))
        .await?;
    let env_dir = tempfile::tempdir()?;
    let env = Env::new(env_dir.path())?;
    let report = env.json(&cluster, 0, &args(&[])).await?;
    let (pre, post) = (one(&report, "db", "pre")?, one(&report, "db", "post")?);
    assert_eq!((pre["state"].as_str(), post["state"].as_str()), (Some("Succeeded"), Some("Succeeded")), "{report}");
    assert_eq!(pre["container"], "app");
    assert_eq!(pre["source"], "annotation");
    assert_eq!(post["thawed_by"], "backup");
    assert!(post["freeze_secs"].as_f64().is_some_and(|f| f >= 0.0), "{post}");
    let v = volume(&report, "data")?;
    assert_eq!(v["state"], "Completed", "{v}");
    assert!(time(&pre["finished"])? <= time(&v["details"]["cut_started"])?, "pre ends before the cut: {report}");
    assert!(time(&post["started"])? >= time(&v["details"]["cut_finished"])?, "post starts after the cut: {report}");
    // The storage snapshot holds the frozen state; the live volume the thawed one.
    let handle = PathBuf::from(v["snapshot"]["handle"].as_str().unwrap_or_default());
    assert!(handle.join("frozen").exists() && !handle.join("thawed").exists(), "snapshot at {}", handle.display());
    assert!(dir.join("thawed").exists() && !dir.join("frozen").exists());
    let described = env.expect(&cluster, 0, &["backup", "describe", "b1"]).await?;
    assert!(described.contains("2 hook run(s): 2 Succeeded; longest freeze"), "{described}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_move_the_freeze_ends_at_the_cut_and_the_frozen_state_is_moved() -> anyhow::Result<()> {
    let (cluster, k) = setup().await?;
    let dir = claim(&k, "data").await?;
    app_pod(&k, "db", "data", hooks("echo frozen > /data/frozen", "rm /data/frozen")).await?;
    let env_dir = tempfile::tempdir()?;
    let env = Env::new(env_dir.path())?;
    let mut a: Vec<&str> = BACKUP.to_vec();
    a.push("move");
    let report = env.json(&cluster, 0, &a).await?;
    let v = volume(&report, "data")?;
    assert_eq!((v["method"].as_str(), v["state"].as_str()), (Some("move"), Some("Completed")), "{v}");
    let post = one(&report, "db", "post")?;
    assert!(time(&post["started"])? >= time(&v["details"]["cut_finished"])?);
    // Thawed at the cut, before the mover read the snapshot: the freeze is shorter than the volume's work.
    let freeze = post["freeze_secs"].as_f64().unwrap_or(f64::MAX);
    assert!(freeze < v["duration_secs"].as_f64().unwrap_or_default(), "freeze {freeze}s: {report}");
    assert!(!dir.join("frozen").exists());
    let target = env_dir.path().join("restored");
    let target_arg = target.display().to_string();
    env.expect(&cluster, 0, &["volume", "files", "b1", "shop/data", "--target", &target_arg]).await?;
    assert_eq!(std::fs::read_to_string(target.join("frozen"))?, "frozen\n", "the repository holds the frozen state");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_fail_pre_hook_fails_the_pods_volumes_with_its_stderr() -> anyhow::Result<()> {
    let (cluster, k) = setup().await?;
    let dir = claim(&k, "data").await?;
    app_pod(&k, "db", "data", hooks("echo cannot freeze: busy >&2; exit 3", "touch /data/thawed")).await?;
    let env_dir = tempfile::tempdir()?;
    let env = Env::new(env_dir.path())?;
    let report = env.json(&cluster, 3, &args(&[])).await?;
    assert_eq!(report["phase"], "PartiallyFailed");
    let pre = one(&report, "db", "pre")?;
    assert_eq!((pre["state"].as_str(), pre["exit_code"].as_i64()), (Some("Failed"), Some(3)), "{pre}");
    assert!(pre["stderr"].as_str().unwrap_or_default().contains("cannot freeze: busy"), "{pre}");
    let v = volume(&report, "data")?;
    assert_eq!(v["state"], "Failed");
    let reason = v["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("cannot freeze: busy") && reason.contains("not snapshotted"), "{reason}");
    assert!(v["snapshot"].is_null(), "no snapshot of a volume whose freeze failed: {v}");
    let error = report["errors"].as_array().into_iter().flatten().find(|e| e["object"] == "pod shop/db");
    let error = error.ok_or_else(|| anyhow::anyhow!("no error for the pod: {report}"))?;
    let why = error["reason"].as_str().unwrap_or_default();
    assert!(why.contains("\"app\"") && why.contains("cannot freeze: busy"), "names container and stderr: {why}");
    // No pre hook succeeded: nothing to thaw, the post hook is recorded as skipped.
    assert_eq!(one(&report, "db", "post")?["state"], "Skipped");
    assert!(!dir.join("thawed").exists());
    let snaps = k.get(&format!("/apis/snapshot.storage.k8s.io/v1/namespaces/{NS}/volumesnapshots"), "vs").await?;
    assert_eq!(snaps["items"].as_array().map(Vec::len), Some(0), "{snaps}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hook_that_hangs_is_stopped_at_its_timeout() -> anyhow::Result<()> {
    let (cluster, k) = setup().await?;
    claim(&k, "data").await?;
    let mut ann = hooks("sleep 30", "true");
    ann["pre.hook.backup.arca.io/timeout"] = json!("1s");
    app_pod(&k, "db", "data", ann).await?;
    let env_dir = tempfile::tempdir()?;
    let env = Env::new(env_dir.path())?;
    let started = std::time::Instant::now();
    let report = env.json(&cluster, 3, &args(&[])).await?;
    assert!(started.elapsed() < std::time::Duration::from_secs(15), "the hook's timeout was kept");
    let pre = one(&report, "db", "pre")?;
    assert_eq!(pre["state"], "TimedOut", "{pre}");
    assert!(pre["duration_secs"].as_f64().is_some_and(|d| (0.9..5.0).contains(&d)), "{pre}");
    assert_eq!(volume(&report, "data")?["state"], "Failed");
    assert_eq!(one(&report, "db", "post")?["state"], "Succeeded", "a stopped pre hook may have frozen: thawed");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_continue_pre_hook_is_a_warning_and_the_snapshot_goes_on() -> anyhow::Result<()> {
    let (cluster, k) = setup().await?;
    let dir = claim(&k, "data").await?;
    let mut ann = hooks("echo no fsfreeze here >&2; exit 1", "touch /data/thawed");
    ann["pre.hook.backup.arca.io/on-error"] = json!("Continue");
    app_pod(&k, "db", "data", ann).await?;
    let env_dir = tempfile::tempdir()?;
    let env = Env::new(env_dir.path())?;
    let report = env.json(&cluster, 0, &args(&[])).await?;
    assert_eq!(report["phase"], "Completed", "{report}");
    assert_eq!(one(&report, "db", "pre")?["state"], "Failed");
    let warned = report["warnings"].as_array().into_iter().flatten().any(|w| {
        let w = w.as_str().unwrap_or_default();
        w.contains("no fsfreeze here") && w.contains("Continue")
    });
    assert!(warned, "{report}");
    assert_eq!(volume(&report, "data")?["state"], "Completed");
    assert_eq!(one(&report, "db", "post")?["state"], "Succeeded");
    assert!(dir.join("thawed").exists());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_post_hook_runs_after_a_failed_snapshot() -> anyhow::Result<()> {
    let (cluster, k) = setup().await?;
    let dir = claim(&k, "data").await?;
    app_pod(&k, "db", "data", hooks("touch /data/frozen", "touch /data/thawed")).await?;
    let rule = FaultRule::new(Fault::Status(403)).method("POST").path("/volumesnapshots$")?;
    cluster.faults().add(rule);
    let env_dir = tempfile::tempdir()?;
    let env = Env::new(env_dir.path())?;
    let report = env.json(&cluster, 3, &args(&[])).await?;
    assert_eq!(volume(&report, "data")?["state"], "Failed", "{report}");
    assert_eq!(one(&report, "db", "post")?["state"], "Succeeded", "{report}");
    assert!(dir.join("thawed").exists(), "thawed although the snapshot failed");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_the_named_one_the_one_mounting_the_volume_a_sidecar_or_an_error_listing_them() -> anyhow::Result<()>
{
    let (cluster, k) = setup().await?;
    for c in ["c1", "c2", "c3"] {
        claim(&k, c).await?;
    }
    let two = || json!([container("exporter", false), container("db", true)]);
    // No container named: the one that mounts the volume, not the first.
    let ann = json!({"pre.hook.backup.arca.io/command": sh("echo $HOSTNAME > /data/ran-in")});
    pod(&k, "default", "c1", ann, two(), json!([])).await?;
    // A native sidecar named.
    let mut sidecar = container("shipper", true);
    sidecar["restartPolicy"] = json!("Always");
    let ann = json!({"pre.hook.backup.arca.io/container": "shipper",
        "pre.hook.backup.arca.io/command": sh("touch /data/sidecar-ran")});
    pod(&k, "sidecar", "c2", ann, two(), json!([sidecar])).await?;
    // A name the pod does not have.
    let ann = json!({"pre.hook.backup.arca.io/container": "pgbouncer",
        "pre.hook.backup.arca.io/command": sh("true")});
    pod(&k, "wrong", "c3", ann, two(), json!([])).await?;
    let env_dir = tempfile::tempdir()?;
    let env = Env::new(env_dir.path())?;
    let report = env.json(&cluster, 3, &args(&[])).await?;
    let default = one(&report, "default", "pre")?;
    assert_eq!((default["container"].as_str(), default["state"].as_str()), (Some("db"), Some("Succeeded")));
    let sidecar = one(&report, "sidecar", "pre")?;
    assert_eq!((sidecar["container"].as_str(), sidecar["state"].as_str()), (Some("shipper"), Some("Succeeded")));
    let wrong = one(&report, "wrong", "pre")?;
    assert_eq!(wrong["state"], "Failed");
    let why = wrong["reason"].as_str().unwrap_or_default();
    assert!(why.contains("\"pgbouncer\"") && why.contains("exporter, db"), "{why}");
    assert_eq!(volume(&report, "c3")?["state"], "Failed");
    assert_eq!(volume(&report, "c1")?["state"], "Completed");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn velero_annotations_work() -> anyhow::Result<()> {
    let (cluster, k) = setup().await?;
    let dir = claim(&k, "data").await?;
    let ann = json!({"pre.hook.backup.velero.io/command": sh("touch /data/velero-pre"),
        "pre.hook.backup.velero.io/container": "app",
        "post.hook.backup.velero.io/command": sh("touch /data/velero-post")});
    app_pod(&k, "db", "data", ann).await?;
    // A pod with hooks and no volume in the backup still runs pre, then post.
    let lone = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "lone", "namespace": NS, "annotations": hooks("true", "true")},
        "spec": {"containers": [{"name": "app", "image": "busybox", "command": ["sleep", "600"]}]}});
    k.create(&format!("/api/v1/namespaces/{NS}/pods"), &lone, "pod").await?;
    wait_for(&k, &format!("/api/v1/namespaces/{NS}/pods/lone"), |p| p["status"]["phase"] == "Running").await?;
    let env_dir = tempfile::tempdir()?;
    let env = Env::new(env_dir.path())?;
    let report = env.json(&cluster, 0, &args(&[])).await?;
    assert_eq!(one(&report, "db", "pre")?["source"], "velero-annotation");
    assert!(dir.join("velero-pre").exists() && dir.join("velero-post").exists());
    let (pre, post) = (one(&report, "lone", "pre")?, one(&report, "lone", "post")?);
    assert_eq!((pre["state"].as_str(), post["state"].as_str()), (Some("Succeeded"), Some("Succeeded")));
    assert!(time(&pre["finished"])? <= time(&post["started"])?);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hooks_file_selects_pods_and_unknown_fields_are_refused() -> anyhow::Result<()> {
    let (cluster, k) = setup().await?;
    let dir = claim(&k, "data").await?;
    claim(&k, "other").await?;
    app_pod(&k, "db", "data", json!({})).await?;
    app_pod(&k, "web", "other", json!({})).await?;
    let env_dir = tempfile::tempdir()?;
    let env = Env::new(env_dir.path())?;
    let file = env_dir.path().join("hooks.yaml");
    std::fs::write(
        &file,
        "hooks:\n  - name: freeze-db\n    includedNamespaces: [shop]\n    labelSelector: {matchLabels: {app: db}}\n    \
         pre:\n      - exec: {command: [sh, -c, 'touch /data/from-file'], timeout: 10s}\n",
    )?;
    let path = file.display().to_string();
    let report = env.json(&cluster, 0, &args(&["--hooks", &path])).await?;
    let pre = one(&report, "db", "pre")?;
    assert_eq!((pre["name"].as_str(), pre["source"].as_str()), (Some("freeze-db"), Some("file")));
    assert!(hook_records(&report, "web", "pre").is_empty(), "the label selector leaves web out");
    assert!(dir.join("from-file").exists());
    std::fs::write(&file, "hooks:\n  - name: x\n    labelSelectr: {}\n    pre: [{exec: {command: [a]}}]\n")?;
    let out = env.arca(&cluster, &["backup", "create", "b2", "--hooks", &path]).await?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("labelSelectr") && stderr.contains("hooks.yaml"), "{stderr}");
    Ok(())
}

/// Every pre hook ends before the first cut starts; every post starts after the last cut ended.
fn assert_group_order(report: &Value, pods: &[&str], claims: &[&str]) -> anyhow::Result<()> {
    let mut last_pre = None::<DateTime<Utc>>;
    let mut first_post = None::<DateTime<Utc>>;
    for p in pods {
        let pre = time(&one(report, p, "pre")?["finished"])?;
        let post = time(&one(report, p, "post")?["started"])?;
        last_pre = Some(last_pre.map_or(pre, |l| l.max(pre)));
        first_post = Some(first_post.map_or(post, |f| f.min(post)));
    }
    let mut first_cut = None::<DateTime<Utc>>;
    let mut last_cut = None::<DateTime<Utc>>;
    for c in claims {
        let v = volume(report, c)?;
        assert_eq!(v["state"], "Completed", "{v}");
        let (s, e) = (time(&v["details"]["cut_started"])?, time(&v["details"]["cut_finished"])?);
        first_cut = Some(first_cut.map_or(s, |f| f.min(s)));
        last_cut = Some(last_cut.map_or(e, |l| l.max(e)));
    }
    assert!(last_pre <= first_cut, "every pre hook ends before the first snapshot starts: {report}");
    assert!(first_post >= last_cut, "every post hook starts after the last snapshot ends: {report}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_consistency_freezes_every_pod_before_any_snapshot() -> anyhow::Result<()> {
    let (cluster, k) = setup().await?;
    for (p, c) in [("a", "ca"), ("b", "cb"), ("c", "cc")] {
        claim(&k, c).await?;
        app_pod(&k, p, c, hooks("sleep 0.2; touch /data/frozen", "rm /data/frozen")).await?;
    }
    let env_dir = tempfile::tempdir()?;
    let env = Env::new(env_dir.path())?;
    let report = env.json(&cluster, 0, &args(&["--consistency", "group"])).await?;
    assert_group_order(&report, &["a", "b", "c"], &["ca", "cb", "cc"])?;
    for c in ["ca", "cb", "cc"] {
        let handle = PathBuf::from(volume(&report, c)?["snapshot"]["handle"].as_str().unwrap_or_default());
        assert!(handle.join("frozen").exists(), "{c} was cut frozen");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_consistency_takes_a_v1beta1_volume_group_snapshot_where_a_class_serves_the_driver() -> anyhow::Result<()>
{
    group_snapshot_of("v1beta1").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_consistency_takes_a_v1beta2_volume_group_snapshot_where_a_class_serves_the_driver() -> anyhow::Result<()>
{
    group_snapshot_of("v1beta2").await
}

async fn group_snapshot_of(version: &str) -> anyhow::Result<()> {
    let (cluster, k) = setup_with(Some(version)).await?;
    for (p, c) in [("a", "ca"), ("b", "cb")] {
        claim(&k, c).await?;
        app_pod(&k, p, c, hooks("touch /data/frozen", "rm /data/frozen")).await?;
    }
    let env_dir = tempfile::tempdir()?;
    let env = Env::new(env_dir.path())?;
    let report = env.json(&cluster, 0, &args(&["--consistency", "group"])).await?;
    assert_group_order(&report, &["a", "b"], &["ca", "cb"])?;
    let (va, vb) = (volume(&report, "ca")?, volume(&report, "cb")?);
    let group = va["details"]["group_snapshot"].as_str().unwrap_or_default();
    assert!(!group.is_empty() && va["details"]["group_snapshot"] == vb["details"]["group_snapshot"], "{report}");
    for v in [va, vb] {
        let handle = PathBuf::from(v["snapshot"]["handle"].as_str().unwrap_or_default());
        assert!(handle.join("frozen").exists(), "cut frozen: {v}");
    }
    let (ns, name) = group.split_once('/').unwrap_or_default();
    let path = format!("/apis/groupsnapshot.storage.k8s.io/{version}/namespaces/{ns}/volumegroupsnapshots/{name}");
    assert!(k.get_opt(&path, "group").await?.is_some(), "kept with its kept members");
    for c in ["ca", "cb"] {
        let claim = k.get(&format!("/api/v1/namespaces/{NS}/persistentvolumeclaims/{c}"), "claim").await?;
        assert!(claim["metadata"]["labels"]["arca.io/group-snapshot"].is_null(), "label removed: {claim}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watchdog_thaws_a_freeze_that_outlives_its_bound() -> anyhow::Result<()> {
    let (cluster, k) = setup().await?;
    let dir = claim(&k, "data").await?;
    app_pod(&k, "db", "data", hooks("touch /data/frozen", "date +%s > /data/thawed")).await?;
    // The snapshot hangs: every read of it is slow.
    let rule =
        FaultRule::new(Fault::Delay(std::time::Duration::from_secs(3))).method("GET").path("/volumesnapshots/")?;
    cluster.faults().add(rule.times(3));
    let env_dir = tempfile::tempdir()?;
    let env = Env::new(env_dir.path())?;
    let report = env.json(&cluster, 3, &args(&["--freeze-timeout", "1s"])).await?;
    let (pre, post) = (one(&report, "db", "pre")?, one(&report, "db", "post")?);
    assert_eq!((post["state"].as_str(), post["thawed_by"].as_str()), (Some("Succeeded"), Some("watchdog")), "{report}");
    let freeze = (time(&post["started"])? - time(&pre["finished"])?).num_milliseconds();
    assert!((900..2900).contains(&freeze), "thawed at the bound, not after the snapshot: {freeze} ms");
    let v = volume(&report, "data")?;
    assert!(time(&post["started"])? < time(&v["details"]["cut_finished"])?, "thawed before the cut ended");
    let err = report["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|e| e["object"] == "pod shop/db" && e["reason"].as_str().unwrap_or_default().contains("watchdog"));
    assert!(err, "the late thaw is reported: {report}");
    assert!(dir.join("thawed").exists());
    assert_eq!(hook_records(&report, "db", "post").len(), 1, "thawed once");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_backup_thaws_every_frozen_pod_and_exits_130() -> anyhow::Result<()> {
    let (cluster, k) = setup().await?;
    let dir = claim(&k, "data").await?;
    app_pod(&k, "db", "data", hooks("touch /data/frozen", "touch /data/thawed")).await?;
    // The snapshot takes long: the interrupt comes while the pod is frozen.
    let rule =
        FaultRule::new(Fault::Delay(std::time::Duration::from_secs(20))).method("GET").path("/volumesnapshots/")?;
    cluster.faults().add(rule);
    let env_dir = tempfile::tempdir()?;
    let env = Env::new(env_dir.path())?;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_arca"))
        .args(args(&[]))
        .arg("--kubeconfig")
        .arg(cluster.kubeconfig_path())
        .env("ARCA_REPO", env.repo())
        .env("ARCA_PASSWORD", "pw")
        .env_remove("ARCA_PASSWORD_FILE")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let frozen = dir.join("frozen");
    for _ in 0..200 {
        if frozen.exists() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(frozen.exists(), "the pre hook ran");
    let status = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status()?;
    assert!(status.success());
    let started = std::time::Instant::now();
    let out = tokio::task::spawn_blocking(move || {
        let status = child.wait();
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut err);
        }
        (status, err)
    })
    .await?;
    let (status, stderr) = (out.0?, out.1);
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "it did not wait for the snapshot");
    assert!(dir.join("thawed").exists(), "the post hook ran before the exit: {stderr}");
    assert!(stderr.contains("thawed"), "{stderr}");
    // No backup was written.
    let listed = env.expect(&cluster, 0, &["backup", "list"]).await?;
    assert!(!listed.contains("b1"), "{listed}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_cut_by_a_group_snapshot_is_restored_from_it() -> anyhow::Result<()> {
    let (cluster, k) = setup_with(Some("v1beta2")).await?;
    let dir = claim(&k, "data").await?;
    std::fs::write(dir.join("rows"), "1,2,3")?;
    app_pod(&k, "db", "data", hooks("touch /data/frozen", "rm /data/frozen")).await?;
    let env_dir = tempfile::tempdir()?;
    let env = Env::new(env_dir.path())?;
    let report = env.json(&cluster, 0, &args(&["--consistency", "group"])).await?;
    assert!(volume(&report, "data")?["details"]["group_snapshot"].is_string(), "{report}");
    k.delete(&format!("/api/v1/namespaces/{NS}"), "namespace").await?;
    kube_env::wait_gone(&k, &format!("/api/v1/namespaces/{NS}")).await?;
    let restore = ["restore", "create", "back", "--from-backup", "b1", "--wait", "--wait-timeout", "20s"];
    let restored = env.json(&cluster, 0, &restore).await?;
    assert_eq!(restored["phase"], "Completed", "{restored}");
    let path = format!("/api/v1/namespaces/{NS}/persistentvolumeclaims/data");
    let bound = wait_for(&k, &path, |c| c["status"]["phase"] == "Bound").await?;
    let pv_name = bound["spec"]["volumeName"].as_str().unwrap_or_default();
    let pv = k.get(&format!("/api/v1/persistentvolumes/{pv_name}"), "pv").await?;
    let new_dir = PathBuf::from(pv["spec"]["csi"]["volumeAttributes"]["path"].as_str().unwrap_or_default());
    assert_eq!(std::fs::read_to_string(new_dir.join("rows"))?, "1,2,3");
    assert!(new_dir.join("frozen").exists(), "restored as it was cut, frozen");
    Ok(())
}
