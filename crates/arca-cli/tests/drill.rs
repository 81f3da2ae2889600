//! Restore drills through the `arca` binary against the test cluster, with
//! mover pods running this binary: a backup of a namespace with a claim is
//! restored into `drill-NS`, its objects and volume contents compared with
//! the backup, the scratch namespace deleted and the result stored; a drill
//! whose restore loses an object fails and names it; the live namespace is
//! never touched.

#[path = "../../arca-kube/tests/common/app.rs"]
mod app;
mod kube_env;

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use arca_kube::api::Kube;
use arca_testcluster::{Fault, FaultRule, TEST_STORAGE_CLASS, TestCluster};
use kube_env::{Env, wait_for};
use serde_json::{Value, json};

const NS: &str = "shop";
const SECRET_VALUE: &str = "drill-me-not-7f3a";

async fn cluster() -> anyhow::Result<(TestCluster, Kube)> {
    let bin = Path::new(env!("CARGO_BIN_EXE_arca")).parent().map(Path::to_path_buf).unwrap_or_default();
    let cluster = TestCluster::builder().snapshot_crds(true).container_path(bin).start().await?;
    let k = app::connect(cluster.kubeconfig_path()).await?;
    Ok((cluster, k))
}

async fn create(k: &Kube, collection: &str, body: Value) -> anyhow::Result<()> {
    k.create(collection, &body, "fixture").await?;
    Ok(())
}

/// Namespace `shop`: a ConfigMap, a Secret, a Service and a bound claim
/// holding a few files; returns the claim's volume directory.
async fn seed(k: &Kube) -> anyhow::Result<PathBuf> {
    create(k, "/api/v1/namespaces", json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})).await?;
    let ns = format!("/api/v1/namespaces/{NS}");
    create(
        k,
        &format!("{ns}/configmaps"),
        json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "settings", "labels": {"app": "shop"}}, "data": {"mode": "live"}}),
    )
    .await?;
    create(
        k,
        &format!("{ns}/secrets"),
        json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "creds"}, "stringData": {"password": SECRET_VALUE}}),
    )
    .await?;
    create(
        k,
        &format!("{ns}/services"),
        json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web"}, "spec": {"selector": {"app": "shop"}, "ports": [{"port": 80}]}}),
    )
    .await?;
    create(
        k,
        &format!("{ns}/persistentvolumeclaims"),
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": TEST_STORAGE_CLASS,
        "resources": {"requests": {"storage": "64Mi"}}}}),
    )
    .await?;
    let bound = wait_for(k, &format!("{ns}/persistentvolumeclaims/data"), |c| c["status"]["phase"] == "Bound").await?;
    let pv = format!("/api/v1/persistentvolumes/{}", bound["spec"]["volumeName"].as_str().unwrap_or_default());
    let pv = k.get(&pv, "pv").await?;
    let dir = PathBuf::from(pv["spec"]["csi"]["volumeAttributes"]["path"].as_str().unwrap_or_default());
    std::fs::create_dir_all(dir.join("orders"))?;
    // Several chunks' worth, so the comparison covers a multi-blob file.
    let big: Vec<u8> = (0..6_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(dir.join("orders/ledger.bin"), &big)?;
    std::fs::write(dir.join("README"), "orders live here\n")?;
    std::fs::write(dir.join("orders/key"), "k")?;
    std::fs::set_permissions(dir.join("orders/key"), std::fs::Permissions::from_mode(0o600))?;
    std::os::unix::fs::symlink("orders/ledger.bin", dir.join("latest"))?;
    // The app writes to its volume as soon as it starts: in a drill it
    // starts on the restored copy, so that copy is checked before it runs.
    create(
        k,
        &format!("{ns}/pods"),
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "db"},
        "spec": {"containers": [{"name": "db", "image": "busybox",
            "command": ["sh", "-c", "date +%s%N >> /data/starts; sleep 3600"],
            "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]}}),
    )
    .await?;
    wait_for(k, &format!("{ns}/pods/db"), |p| p["status"]["phase"] == "Running").await?;
    Ok(dir)
}

fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_restores_compares_and_cleans_up() -> anyhow::Result<()> {
    let (cluster, k) = cluster().await?;
    seed(&k).await?;
    let dir = tempfile::tempdir()?;
    let env = Env::new(dir.path())?;
    let backup = ["backup", "create", "shop-1", "--include-namespaces", NS, "--volumes", "move"];
    env.expect(&cluster, 0, &backup).await?;

    let drill = ["verify", "shop-1", "--drill", "--name", "drill-1", "--wait-timeout", "60s"];
    let out = env.expect(&cluster, 0, &[&["-o", "json"], &drill[..]].concat()).await?;
    assert!(!out.contains(SECRET_VALUE), "a drill report shows no Secret value: {out}");
    let report: Value = serde_json::from_str(&out)?;
    assert_eq!(text(&report, "/result"), "Passed", "{report:#}");
    assert_eq!(report["namespaces"], json!({NS: "drill-shop"}));
    let objects = &report["objects"];
    // Namespace, ConfigMap, Secret, Service, claim, pod (and the ServiceAccount the cluster makes).
    assert!(objects["compared"].as_u64() >= Some(6), "{objects:#}");
    assert_eq!(objects["equal"], objects["compared"], "{objects:#}");
    let volumes = report["volumes"].as_array().cloned().unwrap_or_default();
    assert_eq!(volumes.len(), 1, "{report:#}");
    assert_eq!(text(&volumes[0], "/claim"), "drill-shop/data", "{volumes:#?}");
    assert_eq!(text(&volumes[0], "/state"), "Passed", "{volumes:#?}");
    assert!(volumes[0]["files"].as_u64() >= Some(4), "{volumes:#?}");
    assert!(text(&report, "/readiness").starts_with("waited"), "{report:#}");
    assert_eq!(text(&report, "/cleanup"), "deleted drill-shop");
    assert!(k.get_opt("/api/v1/namespaces/drill-shop", "ns").await?.is_none(), "the scratch namespace is gone");
    let live = k.get(&format!("/api/v1/namespaces/{NS}/configmaps/settings"), "cm").await?;
    assert_eq!(live["data"]["mode"], "live", "the live namespace is untouched");

    // Stored: `arca drills` lists it, and its restore has a report.
    let drills = env.json(&cluster, 0, &["drills"]).await?;
    let listed = drills.as_array().cloned().unwrap_or_default();
    assert_eq!(listed.len(), 1, "{drills:#}");
    assert_eq!(text(&listed[0], "/name"), "drill-1");
    assert_eq!(text(&listed[0], "/result"), "Passed");
    env.expect(&cluster, 0, &["restore", "describe", "drill-1"]).await?;
    let human = env.expect(&cluster, 0, &["drills"]).await?;
    assert!(human.contains("drill-1") && human.contains("Passed"), "{human}");

    // Without --drill: the backup's own data read back from the repository.
    let read = env.json(&cluster, 0, &["verify", "shop-1"]).await?;
    assert_eq!(read["snapshots"].as_array().map(Vec::len), Some(2), "objects and the volume: {read:#}");
    assert!(read["bytes"].as_u64() >= Some(6_000_000), "{read:#}");

    // A restore that loses an object: the drill fails and names it.
    let refused = cluster
        .faults()
        .add(FaultRule::new(Fault::Status(403)).method("POST").path(r"^/api/v1/namespaces/drill-shop/configmaps$")?);
    let failing = ["verify", "shop-1", "--drill", "--name", "drill-2", "--wait-timeout", "60s"];
    let report = env.json(&cluster, 3, &failing).await?;
    assert!(cluster.faults().fired(refused) >= 1);
    assert_eq!(text(&report, "/result"), "Failed", "{report:#}");
    let missing = report["objects"]["missing"].as_array().cloned().unwrap_or_default();
    assert_eq!(missing, [json!("configmap/drill-shop/settings")], "{report:#}");
    let problems = report["problems"].to_string();
    assert!(problems.contains("missing"), "{problems}");
    cluster.faults().clear();
    assert!(k.get_opt("/api/v1/namespaces/drill-shop", "ns").await?.is_none(), "a failed drill cleans up too");

    // A leftover scratch namespace: the drill refuses before doing anything.
    create(
        &k,
        "/api/v1/namespaces",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "drill-shop"}}),
    )
    .await?;
    let out = env.arca(&cluster, &["verify", "shop-1", "--drill"]).await?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("namespace drill-shop") && stderr.contains("--prefix"), "{stderr}");
    let drills = env.json(&cluster, 0, &["drills"]).await?;
    assert_eq!(drills.as_array().map(Vec::len), Some(2), "a refused drill stores nothing: {drills:#}");
    k.delete("/api/v1/namespaces/drill-shop", "ns").await?;
    kube_env::wait_gone(&k, "/api/v1/namespaces/drill-shop").await?;

    // The volume's data lost from the repository (its biggest pack): the
    // read-back names it, and the drill fails on the volume.
    let biggest = biggest_pack(&env.repo().join("data"))?;
    std::fs::remove_file(&biggest)?;
    let read = env.json(&cluster, 3, &["verify", "shop-1"]).await?;
    assert!(read["problems"].to_string().contains("volume shop/data"), "{read:#}");
    let report =
        env.json(&cluster, 3, &["verify", "shop-1", "--drill", "--name", "drill-3", "--wait-timeout", "60s"]).await?;
    assert_eq!(text(&report, "/result"), "Failed", "{report:#}");
    assert_eq!(text(&report, "/volumes/0/state"), "Failed", "{report:#}");
    assert!(report["problems"].to_string().contains("volume drill-shop/data"), "{report:#}");
    Ok(())
}

/// The largest file under a repository's `data/`.
fn biggest_pack(dir: &Path) -> anyhow::Result<PathBuf> {
    let mut best: Option<(u64, PathBuf)> = None;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let e = e?;
            let meta = e.metadata()?;
            if meta.is_dir() {
                stack.push(e.path());
            } else if best.as_ref().is_none_or(|(size, _)| meta.len() > *size) {
                best = Some((meta.len(), e.path()));
            }
        }
    }
    best.map(|(_, p)| p).ok_or_else(|| anyhow::anyhow!("no pack under {}", dir.display()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_can_go_to_another_cluster() -> anyhow::Result<()> {
    let (target, t) = cluster().await?;
    let (cluster, k) = cluster().await?;
    seed(&k).await?;
    let dir = tempfile::tempdir()?;
    let env = Env::new(dir.path())?;
    env.expect(&cluster, 0, &["backup", "create", "shop-1", "--include-namespaces", NS, "--volumes", "move"]).await?;
    let kubeconfig = target.kubeconfig_path().display().to_string();
    let drill = ["verify", "shop-1", "--drill", "--kubeconfig-target", &kubeconfig, "--keep", "--wait-timeout", "60s"];
    let report = env.json(&cluster, 0, &drill).await?;
    assert_eq!(text(&report, "/result"), "Passed", "{report:#}");
    assert_eq!(text(&report, "/cluster"), t_server(&target), "{report:#}");
    assert_eq!(text(&report, "/volumes/0/state"), "Passed", "{report:#}");
    assert!(text(&report, "/cleanup").starts_with("kept drill-shop"), "{report:#}");
    // Kept, in the target cluster only; the source has no scratch namespace.
    let kept = t.get("/api/v1/namespaces/drill-shop/configmaps/settings", "cm").await?;
    assert_eq!(kept["data"]["mode"], "live");
    assert!(k.get_opt("/api/v1/namespaces/drill-shop", "ns").await?.is_none());
    // Kept namespaces refuse the next drill there until they are gone.
    let out = env.arca(&cluster, &drill).await?;
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    Ok(())
}

/// The API server address a cluster's kubeconfig names.
fn t_server(cluster: &TestCluster) -> String {
    let text = std::fs::read_to_string(cluster.kubeconfig_path()).unwrap_or_default();
    text.lines()
        .find_map(|l| l.trim().strip_prefix("server: "))
        .map(|s| format!("{}/", s.trim_end_matches('/')))
        .unwrap_or_default()
}
