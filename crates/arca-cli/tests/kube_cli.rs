//! The `arca` binary against test clusters over HTTP: backup, restore
//! (whole, namespace-mapped clone, single item, update policy, dry run, a
//! second cluster), reports, export and diff, and exit codes.
//!
//! Backups here are of objects (`--volumes none`): volume data has its own
//! tests (`volume_backup.rs`), and these clusters' containers have no `arca`
//! binary to run mover pods with.

#[path = "../../arca-kube/tests/common/app.rs"]
mod app;
mod kube_env;

use arca_kube::api::Kube;
use arca_testcluster::{Fault, FaultRule, TestCluster};
use serde_json::{Value, json};

use kube_env::Env;

async fn kube(cluster: &TestCluster) -> anyhow::Result<Kube> {
    app::connect(cluster.kubeconfig_path()).await
}

async fn assert_restored(kube: &Kube, before: &[(String, Value)], from_ns: &str, to_ns: &str) -> anyhow::Result<()> {
    for (path, original) in before {
        let path = path.replace(&format!("/namespaces/{from_ns}/"), &format!("/namespaces/{to_ns}/"));
        let now = kube.get(&path, "check").await?;
        let mut want = app::comparable(original);
        if from_ns != to_ns {
            // Bindings follow the namespace mapping.
            if let Some(subjects) = want.get_mut("subjects").and_then(Value::as_array_mut) {
                for s in subjects {
                    s["namespace"] = json!(to_ns);
                }
            }
        }
        assert_eq!(app::comparable(&now), want, "{path} differs after restore");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_backup_restore_round_trip_through_the_binary() -> anyhow::Result<()> {
    let a = TestCluster::start().await?;
    let ka = kube(&a).await?;
    app::install(&ka).await?;
    let before = app::snapshot(&ka, app::NS).await?;
    let dir = tempfile::tempdir()?;
    let env = Env::new(dir.path())?;

    let created = env
        .json(&a, 0, &["backup", "create", "shop-1", "--include-namespaces", "shop", "--wait", "--volumes", "none"])
        .await?;
    assert_eq!(created["phase"], "Completed");
    assert_eq!(created["counts"]["widgets.example.com"], 2);
    let list = env.json(&a, 0, &["backup", "list"]).await?;
    assert_eq!(list[0]["name"], "shop-1");
    let details = env.expect(&a, 0, &["backup", "describe", "shop-1", "--details"]).await?;
    assert!(details.contains("namespaces/shop/core/secrets/db-credentials.json"), "{details}");
    assert!(details.contains("binds included serviceaccount/shop/web"), "{details}");
    assert!(!details.contains("czNjcjN0"), "no secret value in describe output");
    let logs = env.expect(&a, 0, &["backup", "logs", "shop-1"]).await?;
    assert!(logs.contains("widgets.example.com: 2 object(s)"), "{logs}");
    env.expect(&a, 1, &["backup", "create", "shop-1", "--volumes", "none"]).await?; // names are unique

    // Full restore after deleting the namespace and the CRD.
    app::delete_app(&ka).await?;
    let r1 = env.json(&a, 0, &["restore", "create", "r1", "--from-backup", "shop-1"]).await?;
    assert_eq!(r1["phase"], "Completed", "{r1}");
    assert_restored(&ka, &before, "shop", "shop").await?;

    // Dry run: a plan, nothing written, no secret values shown.
    let dry =
        env.expect(&a, 0, &["restore", "create", "dry", "--from-backup", "shop-1", "--dry-run", "-o", "json"]).await?;
    assert!(!dry.contains("czNjcjN0") && dry.contains("\"dry_run\": true"), "{dry}");

    // A namespace-mapped clone next to the original.
    let clone = env
        .json(
            &a,
            0,
            &[
                "restore",
                "create",
                "qa",
                "--from-backup",
                "shop-1",
                "--include-namespaces",
                "shop",
                "--namespace-mappings",
                "shop:shop-qa",
            ],
        )
        .await?;
    assert_eq!(clone["phase"], "Completed", "{clone}");
    assert_restored(&ka, &before, "shop", "shop-qa").await?;
    assert_restored(&ka, &before, "shop", "shop").await?;

    // A single Secret.
    ka.delete("/api/v1/namespaces/shop/secrets/db-credentials", "delete").await?;
    let one = env
        .json(&a, 0, &["restore", "create", "one", "--from-backup", "shop-1", "--item", "secret/shop/db-credentials"])
        .await?;
    assert_eq!(one["counts"]["created"], 1, "{one}");
    let secret = ka.get("/api/v1/namespaces/shop/secrets/db-credentials", "secret").await?;
    assert_eq!(secret["data"]["password"], "czNjcjN0LXBhc3N3b3Jk");

    // Drift cleaned up by update, twice: the second run changes nothing.
    ka.merge_patch("/api/v1/namespaces/shop/configmaps/web-config", &json!({"data": {"LOG_LEVEL": "debug"}}), "drift")
        .await?;
    let none = env
        .json(&a, 0, &["restore", "create", "keep", "--from-backup", "shop-1", "--include-namespaces", "shop"])
        .await?;
    assert!(none["items"].as_array().is_some_and(|i| {
        i.iter().any(|x| x["object"] == "configmap/shop/web-config" && x["outcome"] == "skipped")
    }));
    let up1 = env
        .json(
            &a,
            0,
            &[
                "restore",
                "create",
                "up1",
                "--from-backup",
                "shop-1",
                "--include-namespaces",
                "shop",
                "--existing-resource-policy",
                "update",
            ],
        )
        .await?;
    assert_eq!(up1["counts"]["updated"], 1, "{}", up1["counts"]);
    let cm = ka.get("/api/v1/namespaces/shop/configmaps/web-config", "cm").await?;
    assert_eq!(cm["data"]["LOG_LEVEL"], "info");
    let up2 = env
        .json(
            &a,
            0,
            &[
                "restore",
                "create",
                "up2",
                "--from-backup",
                "shop-1",
                "--include-namespaces",
                "shop",
                "--existing-resource-policy",
                "update",
            ],
        )
        .await?;
    assert!(up2["counts"].get("updated").is_none() && up2["counts"].get("created").is_none(), "{}", up2["counts"]);

    // Reports are kept in the repository.
    let restores = env.json(&a, 0, &["restore", "list"]).await?;
    let names: Vec<&str> =
        restores.as_array().map(|l| l.iter().filter_map(|r| r["name"].as_str()).collect()).unwrap_or_default();
    for n in ["r1", "qa", "one", "keep", "up1", "up2"] {
        assert!(names.contains(&n), "{n} not in {names:?}");
    }
    assert!(!names.contains(&"dry"), "dry runs are not stored");
    let described = env.expect(&a, 0, &["restore", "describe", "r1", "--details"]).await?;
    assert!(described.contains("secret/shop/db-credentials") && described.contains("created"), "{described}");

    // Into a second, empty cluster with only the repository.
    let b = TestCluster::start().await?;
    let kb = kube(&b).await?;
    let rb = env.json(&b, 0, &["restore", "create", "to-b", "--from-backup", "shop-1"]).await?;
    assert_eq!(rb["phase"], "Completed", "{rb}");
    assert_restored(&kb, &before, "shop", "shop").await?;

    // Export and diff.
    let out = dir.path().join("export");
    env.expect(&a, 0, &["export", "shop-1", "--to", &out.display().to_string()]).await?;
    let deploy = std::fs::read_to_string(out.join("shop/deployment/web.yaml"))?;
    assert!(deploy.contains("replicas: 2") && !deploy.contains("uid:"), "{deploy}");
    let exported_secret = std::fs::read_to_string(out.join("shop/secret/db-credentials.yaml"))?;
    assert!(!exported_secret.contains("czNjcjN0") && exported_secret.contains("redacted"));
    let same = env.expect(&a, 0, &["diff", "shop-1", "shop-1"]).await?;
    assert!(same.contains("no differences"));
    env.expect(&a, 0, &["backup", "create", "shop-2", "--include-namespaces", "shop", "--volumes", "none"]).await?;
    let drift = env.expect(&a, 3, &["diff", "shop-1", "shop-2", "--exit-code"]).await?;
    assert!(drift.contains("~ core/ConfigMap/shop/web-config") || drift.contains("shop"), "{drift}");

    // Drift against the live cluster, in both directions (the live side is
    // streamed either way).
    ka.merge_patch("/api/v1/namespaces/shop/configmaps/web-config", &json!({"data": {"hotfix": "1"}}), "patch").await?;
    let key = "core/ConfigMap/shop/web-config";
    let to_live = env.json(&a, 0, &["diff", "shop-2", "live"]).await?;
    assert_eq!(
        to_live["changed"][key],
        json!([{"change": "added", "path": "/data/hotfix", "value": "1"}]),
        "{to_live}"
    );
    let shop_changes: Vec<&String> =
        to_live["changed"].as_object().map(|m| m.keys().filter(|k| k.contains("/shop/")).collect()).unwrap_or_default();
    assert_eq!(shop_changes, [key], "only the hot fix drifted in shop: {to_live}");
    assert!(to_live["added"].as_array().is_some_and(|a| a.iter().any(|k| k == "core/Namespace/_/kube-system")));
    let from_live = env.json(&a, 0, &["diff", "live", "shop-2"]).await?;
    assert_eq!(from_live["changed"][key], json!([{"change": "removed", "path": "/data/hotfix", "value": "1"}]));
    assert!(from_live["removed"].as_array().is_some_and(|a| a.iter().any(|k| k == "core/Namespace/_/kube-system")));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_faults_give_partially_failed_and_exit_code_3() -> anyhow::Result<()> {
    let cluster = TestCluster::start().await?;
    let k = kube(&cluster).await?;
    k.create("/api/v1/namespaces", &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "p"}}), "ns")
        .await?;
    for name in ["a", "b"] {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "p"}, "data": {"x": name}});
        k.create("/api/v1/namespaces/p/configmaps", &cm, "cm").await?;
    }
    let dir = tempfile::tempdir()?;
    let env = Env::new(dir.path())?;
    let faults = cluster.faults();
    faults.add(FaultRule::new(Fault::InternalError).method("GET").path("^/api/v1/namespaces/p/configmaps$")?.times(2));
    faults.add(
        FaultRule::new(Fault::TooManyRequests { retry_after_secs: 1 })
            .method("GET")
            .path("^/api/v1/namespaces/p/serviceaccounts$")?
            .times(1),
    );
    let ok =
        env.json(&cluster, 0, &["backup", "create", "p-1", "--include-namespaces", "p", "--volumes", "none"]).await?;
    assert_eq!(ok["counts"]["configmaps"], 3);
    faults.clear();

    k.delete("/api/v1/namespaces/p", "delete").await?;
    app::wait_gone(&k, "/api/v1/namespaces/p").await?;
    faults.add(FaultRule::new(Fault::Status(403)).method("POST").path("^/api/v1/namespaces/p/configmaps$")?.times(1));
    let out = env.expect(&cluster, 3, &["restore", "create", "p-r", "--from-backup", "p-1"]).await?;
    assert!(out.contains("PartiallyFailed") && out.contains("failed"), "{out}");
    let report = env.json(&cluster, 0, &["restore", "describe", "p-r"]).await?;
    let failed: Vec<&Value> =
        report["items"].as_array().map(|i| i.iter().filter(|x| x["outcome"] == "failed").collect()).unwrap_or_default();
    assert_eq!(failed.len(), 1, "{report}");
    assert!(failed[0]["object"].as_str().is_some_and(|o| o.starts_with("configmap/p/")));
    assert!(failed[0]["reason"].as_str().is_some_and(|r| r.contains("403")));
    Ok(())
}

/// `restore create --wait`: a claim and a pod become ready and the restore
/// completes; a Deployment whose image cannot be pulled never gets an
/// available replica, is named as not ready and the exit code is 3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_wait_reports_what_did_not_become_ready() -> anyhow::Result<()> {
    let cluster = TestCluster::start().await?;
    let k = kube(&cluster).await?;
    k.create("/api/v1/namespaces", &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "w"}}), "ns")
        .await?;
    let claim = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": "w"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Mi"}}}});
    k.create("/api/v1/namespaces/w/persistentvolumeclaims", &claim, "pvc").await?;
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "sleeper", "namespace": "w"},
        "spec": {"containers": [{"name": "main", "image": "busybox", "command": ["sleep", "60"]}]}});
    k.create("/api/v1/namespaces/w/pods", &pod, "pod").await?;
    let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "w"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}});
    let dir = tempfile::tempdir()?;
    let env = Env::new(dir.path())?;
    let only_ready_kinds = ["backup", "create", "w-1", "--include-namespaces", "w", "--volumes", "none"];
    env.expect(&cluster, 0, &only_ready_kinds).await?;
    k.create("/apis/apps/v1/namespaces/w/deployments", &deployment, "deployment").await?;
    env.expect(&cluster, 0, &["backup", "create", "w-2", "--include-namespaces", "w", "--volumes", "none"]).await?;

    let target = TestCluster::start().await?;
    let ready = env.json(&target, 0, &["restore", "create", "r-1", "--from-backup", "w-1", "--wait"]).await?;
    assert_eq!(ready["phase"], "Completed", "{ready}");
    let waited: Vec<&Value> =
        ready["items"].as_array().map(|i| i.iter().filter(|x| x["ready"] == true).collect()).unwrap_or_default();
    assert_eq!(waited.len(), 2, "the claim and the pod were waited for: {ready}");

    let other = TestCluster::builder().unpullable_image("nginx").start().await?;
    let args = ["restore", "create", "r-2", "--from-backup", "w-2", "--wait", "--wait-timeout", "2s"];
    let late = env.json(&other, 3, &args).await?;
    assert_eq!(late["phase"], "PartiallyFailed", "{late}");
    let not_ready: Vec<&Value> =
        late["items"].as_array().map(|i| i.iter().filter(|x| x["ready"] == false).collect()).unwrap_or_default();
    assert_eq!(not_ready.len(), 1, "{late}");
    assert_eq!(not_ready[0]["object"], "deployment/w/web");
    assert!(not_ready[0]["reason"].as_str().is_some_and(|r| r.contains("0/2 replicas available")), "{late}");
    Ok(())
}
