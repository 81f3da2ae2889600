//! Restore hooks through the `arca` binary against the test cluster: an
//! init container injected from annotations runs before the pod's own, a
//! post hook runs in the restored pod (and in a restored Deployment's new
//! pod) once it runs, and a hook that hangs or a pod that never comes up
//! ends the restore within its bounds, PartiallyFailed and named.

mod kube_env;

use std::time::{Duration, Instant};

use arca_kube::api::Kube;
use arca_testcluster::TestCluster;
use kube_env::Env;
use serde_json::{Value, json};

const NS: &str = "hooked";
const TO: &str = "hooked-copy";

async fn start() -> anyhow::Result<(TestCluster, Kube)> {
    let cluster = TestCluster::builder().start().await?;
    let options =
        arca_kube::connect::ClusterOptions { kubeconfig: Some(cluster.kubeconfig_path().to_path_buf()), context: None };
    let kube = Kube::new(arca_kube::connect::connect(&options).await?.client, 16);
    Ok((cluster, kube))
}

async fn create(k: &Kube, collection: &str, body: Value) -> anyhow::Result<()> {
    k.create(collection, &body, "fixture").await?;
    Ok(())
}

fn pod_spec() -> Value {
    json!({
        "volumes": [{"name": "work", "emptyDir": {}}],
        "containers": [
            {"name": "sidecar", "image": "busybox", "command": ["sleep", "3600"]},
            {"name": "app", "image": "busybox", "command": ["sleep", "3600"],
             "volumeMounts": [{"name": "work", "mountPath": "/scratch"}]}
        ]
    })
}

fn pod(name: &str, annotations: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS, "annotations": annotations},
        "spec": pod_spec()})
}

/// The restore's hook records for pods whose name starts with `pod` in the target namespace.
fn hooks_of<'a>(report: &'a Value, pod: &str) -> Vec<&'a Value> {
    let prefix = format!("{TO}/{pod}");
    report["hooks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|h| h["pod"].as_str().is_some_and(|p| p.starts_with(&prefix)))
        .collect()
}

async fn backup_and_restore(
    env: &Env,
    cluster: &TestCluster,
    extra: &[&str],
    code: i32,
) -> anyhow::Result<(Value, Duration)> {
    env.expect(cluster, 0, &["backup", "create", "hooked", "--volumes", "none", "--include-namespaces", NS]).await?;
    let started = Instant::now();
    let mut args = vec!["restore", "create", "--from-backup", "hooked", "--namespace-mappings", "hooked:hooked-copy"];
    args.extend_from_slice(extra);
    let report = env.json(cluster, code, &args).await?;
    Ok((report, started.elapsed()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_and_post_hooks_run_in_the_restored_pods() -> anyhow::Result<()> {
    let (cluster, k) = start().await?;
    let dir = tempfile::tempdir()?;
    let env = Env::new(dir.path())?;
    create(&k, "/api/v1/namespaces", json!({"metadata": {"name": NS}})).await?;
    // The init hook writes a marker into the shared emptyDir; the post hook
    // reads it from the app container (the one named).
    let annotations = json!({
        "init.hook.restore.arca.io/container-image": "busybox",
        "init.hook.restore.arca.io/command": r#"["sh", "-c", "echo init-ran > /scratch/marker"]"#,
        "post.hook.restore.arca.io/container": "app",
        "post.hook.restore.arca.io/command": r#"["sh", "-c", "cat /scratch/marker; echo to-stderr >&2"]"#,
        "post.hook.restore.arca.io/on-error": "Fail",
    });
    create(&k, &format!("/api/v1/namespaces/{NS}/pods"), pod("single", annotations)).await?;
    // A Deployment whose template asks (Velero's annotations) for a hook: it
    // runs in the pod the restored Deployment makes.
    let template_annotations = json!({"post.hook.restore.velero.io/command": r#"["sh", "-c", "echo from-template"]"#});
    create(&k, &format!("/apis/apps/v1/namespaces/{NS}/deployments"), json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": NS},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}, "annotations": template_annotations}, "spec": pod_spec()}}
    })).await?;
    let (report, _) = backup_and_restore(&env, &cluster, &[], 0).await?;
    assert_eq!(report["phase"], "Completed", "{report:#}");
    let single = hooks_of(&report, "single");
    assert_eq!(single.len(), 1, "{report:#}");
    let h = single[0];
    assert_eq!(
        (h["state"].as_str(), h["container"].as_str(), h["phase"].as_str()),
        (Some("Succeeded"), Some("app"), Some("restore")),
        "{h:#}"
    );
    assert_eq!(h["stdout"], "init-ran\n", "the init container ran before the app: {h:#}");
    assert_eq!(h["stderr"], "to-stderr\n");
    assert_eq!(h["exit_code"], 0);
    let live = k.get(&format!("/api/v1/namespaces/{TO}/pods/single"), "t").await?;
    assert_eq!(live.pointer("/spec/initContainers/0/name"), Some(&json!("restore-hook")), "{live:#}");
    let web = hooks_of(&report, "web-");
    assert_eq!(web.len(), 1, "the Deployment's pod ran its template's hook: {report:#}");
    assert_eq!(
        (web[0]["stdout"].as_str(), web[0]["source"].as_str()),
        (Some("from-template\n"), Some("velero-annotation"))
    );
    assert_eq!(web[0]["container"], "sidecar", "the first container by default");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_hook_and_a_pod_that_never_runs_end_the_restore_in_time() -> anyhow::Result<()> {
    let (cluster, k) = start().await?;
    let dir = tempfile::tempdir()?;
    let env = Env::new(dir.path())?;
    create(&k, "/api/v1/namespaces", json!({"metadata": {"name": NS}})).await?;
    let hangs = json!({
        "post.hook.restore.arca.io/command": r#"["sleep", "600"]"#,
        "post.hook.restore.arca.io/exec-timeout": "2s",
        "post.hook.restore.arca.io/on-error": "Fail",
    });
    create(&k, &format!("/api/v1/namespaces/{NS}/pods"), pod("hangs", hangs)).await?;
    // Never scheduled: no node has this label.
    let mut stuck = pod(
        "stuck",
        json!({"post.hook.restore.arca.io/command": "true", "post.hook.restore.arca.io/wait-timeout": "2s"}),
    );
    create(&k, &format!("/api/v1/namespaces/{NS}/pods"), pod("ok", json!({}))).await?;
    stuck["spec"]["nodeSelector"] = json!({"arca.test/nowhere": "true"});
    create(&k, &format!("/api/v1/namespaces/{NS}/pods"), stuck).await?;
    let (report, took) = backup_and_restore(&env, &cluster, &[], 3).await?;
    assert_eq!(report["phase"], "PartiallyFailed", "{report:#}");
    assert!(took < Duration::from_secs(60), "bounded: {took:?}");
    let hung = hooks_of(&report, "hangs");
    assert_eq!(hung[0]["state"], "TimedOut", "{report:#}");
    let stuck = hooks_of(&report, "stuck");
    assert_eq!(stuck[0]["state"], "Failed", "{report:#}");
    assert!(stuck[0]["reason"].as_str().is_some_and(|r| r.contains("wait-timeout")), "{report:#}");
    let warnings = report["warnings"].to_string();
    assert!(warnings.contains("hooked-copy/hangs"), "the hook is named: {warnings}");
    // The restore's objects are all there regardless.
    k.get(&format!("/api/v1/namespaces/{TO}/pods/ok"), "t").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_hook_annotations_fail_the_hook_not_the_restore_and_hooks_can_be_switched_off() -> anyhow::Result<()> {
    let (cluster, k) = start().await?;
    let dir = tempfile::tempdir()?;
    let env = Env::new(dir.path())?;
    create(&k, "/api/v1/namespaces", json!({"metadata": {"name": NS}})).await?;
    let wrong = json!({"post.hook.restore.arca.io/command": "[\"sh\"", "post.hook.restore.arca.io/container": "app"});
    create(&k, &format!("/api/v1/namespaces/{NS}/pods"), pod("wrong", wrong)).await?;
    let missing = json!({"post.hook.restore.arca.io/command": "true", "post.hook.restore.arca.io/container": "db"});
    create(&k, &format!("/api/v1/namespaces/{NS}/pods"), pod("missing", missing)).await?;
    let (report, _) = backup_and_restore(&env, &cluster, &[], 3).await?;
    let warnings = report["warnings"].to_string();
    assert!(warnings.contains("not a JSON array"), "{report:#}");
    let missing = hooks_of(&report, "missing");
    assert!(
        missing[0]["reason"].as_str().is_some_and(|r| r.contains("sidecar, app")),
        "lists the containers: {report:#}"
    );
    let off = env
        .json(
            &cluster,
            0,
            &[
                "restore",
                "create",
                "--from-backup",
                "hooked",
                "--namespace-mappings",
                "hooked:hooked-off",
                "--no-restore-hooks",
            ],
        )
        .await?;
    assert!(off.get("hooks").is_none_or(|h| h.as_array().is_some_and(Vec::is_empty)), "{off:#}");
    Ok(())
}
