//! `arca install` against the test cluster: the printed manifests are
//! accepted, the CRDs become Established and serve Arca's types, applying
//! twice changes nothing, and the Kustomize and Helm files are written.

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use arca_kube::api::Kube;
use arca_testcluster::TestCluster;
use serde_json::{Value, json};

/// Images of this prefix never pull here, so the server's pods wait
/// instead of running (these tests are about the manifests).
const IMAGE: &str = "registry.invalid/arca:test";

async fn cluster() -> anyhow::Result<TestCluster> {
    Ok(TestCluster::builder().unpullable_image("registry.invalid/").start().await?)
}

async fn arca(kubeconfig: &Path, args: &[&str]) -> anyhow::Result<Output> {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_arca"));
    cmd.arg("--kubeconfig").arg(kubeconfig).args(args);
    Ok(tokio::task::spawn_blocking(move || cmd.output()).await??)
}

fn stdout_of(out: &Output) -> anyhow::Result<String> {
    anyhow::ensure!(out.status.success(), "arca failed: {}", String::from_utf8_lossy(&out.stderr));
    Ok(String::from_utf8(out.stdout.clone())?)
}

fn path_of(obj: &Value) -> String {
    arca_install::apply::object_path(obj).expect("every object has a path")
}

async fn wait_established(kube: &Kube, name: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let path = format!("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}");
    while !arca_install::apply::established(&kube.get(&path, name).await?) {
        anyhow::ensure!(Instant::now() < deadline, "CRD {name} not Established within 10 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// A BackupLocation through the API: the arca.io types are served.
async fn create_location(kube: &Kube, ns: &str) -> anyhow::Result<()> {
    let location = json!({
        "apiVersion": "arca.io/v1alpha1",
        "kind": "BackupLocation",
        "metadata": {"name": "main", "namespace": ns},
        "spec": {"repository": "s3://bucket/arca", "passwordSecret": {"name": "repo-password", "key": "password"}},
    });
    let collection = format!("/apis/arca.io/v1alpha1/namespaces/{ns}/backuplocations");
    kube.create(&collection, &location, "BackupLocation main").await?;
    let back = kube.get(&format!("{collection}/main"), "BackupLocation main").await?;
    anyhow::ensure!(back["spec"]["repository"] == "s3://bucket/arca", "read back: {back}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_manifests_are_accepted_by_the_cluster() -> anyhow::Result<()> {
    for extra in [&[][..], &["--tenant-mode", "--node-agent", "--replicas", "2"][..]] {
        let cluster = cluster().await?;
        let kube = Kube::new(cluster.client().await?, 8);
        let mut args = vec!["install", "--dry-run", "--image", IMAGE];
        args.extend_from_slice(extra);
        let yaml = stdout_of(&arca(cluster.kubeconfig_path(), &args).await?)?;
        let mut objects = Vec::new();
        for doc in serde_yaml::Deserializer::from_str(&yaml) {
            let obj: Value = serde::Deserialize::deserialize(doc)?;
            objects.push(obj);
        }
        anyhow::ensure!(objects.len() > 10, "{} objects printed", objects.len());
        for obj in &objects {
            let what = arca_install::describe(obj);
            kube.apply_as(&path_of(obj), obj, "test", &what)
                .await
                .map_err(|e| anyhow::anyhow!("{what} was refused: {e}"))?;
        }
        for crd in objects.iter().filter(|o| o["kind"] == "CustomResourceDefinition") {
            wait_established(&kube, crd["metadata"]["name"].as_str().unwrap_or_default()).await?;
        }
        for obj in &objects {
            let stored = kube.get(&path_of(obj), "check").await?;
            assert_eq!(stored["metadata"]["name"], obj["metadata"]["name"]);
        }
        create_location(&kube, "arca-system").await?;
        let kinds: Vec<&str> = objects.iter().filter_map(|o| o["kind"].as_str()).collect();
        assert_eq!(kinds.contains(&"DaemonSet"), !extra.is_empty(), "node agent only when asked: {kinds:?}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applying_twice_leaves_everything_unchanged() -> anyhow::Result<()> {
    let cluster = cluster().await?;
    let kubeconfig = cluster.kubeconfig_path();
    let first = stdout_of(&arca(kubeconfig, &["install", "--image", IMAGE]).await?)?;
    let lines: Vec<&str> = first.lines().collect();
    assert!(lines.len() > 10, "{first}");
    assert!(lines.iter().all(|l| l.ends_with(" created")), "first run creates everything:\n{first}");
    assert!(first.contains("customresourcedefinition.apiextensions.k8s.io/backups.arca.io created"), "{first}");
    assert!(first.contains("deployment.apps/arca-server created"), "{first}");

    let second = stdout_of(&arca(kubeconfig, &["install", "--image", IMAGE]).await?)?;
    assert_eq!(second.lines().count(), lines.len(), "{second}");
    assert!(second.lines().all(|l| l.ends_with(" unchanged")), "second run changes nothing:\n{second}");

    let third = stdout_of(&arca(kubeconfig, &["install", "--image", IMAGE, "--replicas", "2"]).await?)?;
    assert!(third.contains("deployment.apps/arca-server configured"), "{third}");
    let kube = Kube::new(cluster.client().await?, 8);
    let d = kube.get("/apis/apps/v1/namespaces/arca-system/deployments/arca-server", "Deployment").await?;
    assert_eq!(d["spec"]["replicas"], 2);
    let managers: Vec<&str> =
        d["metadata"]["managedFields"].as_array().into_iter().flatten().filter_map(|f| f["manager"].as_str()).collect();
    assert!(managers.contains(&"arca-install"), "applied as arca-install: {managers:?}");
    create_location(&kube, "arca-system").await?;

    // A tenant namespace: its ServiceAccount and RoleBinding.
    kube.create("/api/v1/namespaces", &json!({"metadata": {"name": "team-a"}}), "namespace team-a").await?;
    let tenant = stdout_of(&arca(kubeconfig, &["install", "--tenant", "team-a"]).await?)?;
    assert!(tenant.contains("serviceaccount/arca-tenant created"), "{tenant}");
    assert!(tenant.contains("rolebinding.rbac.authorization.k8s.io/arca-tenant created"), "{tenant}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_the_kustomize_base_and_helm_chart() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (k, h) = (dir.path().join("base"), dir.path().join("chart"));
    let out = arca(
        Path::new("/nonexistent/kubeconfig"),
        &["install", "--kustomize", k.to_str().unwrap_or_default(), "--helm-chart", h.to_str().unwrap_or_default()],
    )
    .await?;
    stdout_of(&out)?;
    let opts = arca_install::InstallOptions::default();
    for (dir, files) in [(&k, arca_install::kustomize_base(&opts)), (&h, arca_install::helm_chart(&opts))] {
        for (rel, text) in files {
            assert_eq!(std::fs::read_to_string(dir.join(&rel))?, text, "{}", rel.display());
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_options_are_refused_with_a_reason() -> anyhow::Result<()> {
    let out = arca(Path::new("/nonexistent/kubeconfig"), &["install", "--dry-run", "--replicas", "0"]).await?;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--replicas must be at least 1"), "{err}");
    Ok(())
}
