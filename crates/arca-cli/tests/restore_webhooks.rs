//! Restores through the `arca` binary in clusters with admission webhooks:
//! webhook configurations are restored after everything they guard (custom
//! resources included), and an object a webhook refuses names the webhook.

#[path = "../../arca-kube/tests/common/app.rs"]
mod app;
mod restore_env;

use arca_kube::api::Kube;
use arca_testcluster::TestCluster;
use restore_env::{Env, item, reason};
use serde_json::{Value, json};

const WEBHOOKS: &str = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations";
const GUARD: &str = "guard.example.org";

/// A validating webhook over config maps and widgets whose backend (service
/// shop/guard) has no pods: with `failurePolicy: Fail` it refuses every
/// matching create.
fn guard() -> Value {
    json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": GUARD},
        "webhooks": [{"name": GUARD, "failurePolicy": "Fail", "sideEffects": "None", "admissionReviewVersions": ["v1"],
            "clientConfig": {"service": {"namespace": app::NS, "name": "guard", "path": "/validate"}},
            "rules": [{"operations": ["CREATE", "UPDATE"], "apiGroups": ["", "example.com"], "apiVersions": ["*"],
                       "resources": ["configmaps", "widgets"], "scope": "Namespaced"}]}]})
}

fn guarded_config_map() -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "guarded", "namespace": app::NS},
        "data": {"mode": "strict"}})
}

async fn kube(cluster: &TestCluster) -> anyhow::Result<Kube> {
    app::connect(cluster.kubeconfig_path()).await
}

/// The app, a config map, and last the webhook (it would refuse them).
async fn install_guarded_app(k: &Kube) -> anyhow::Result<()> {
    app::install(k).await?;
    k.create(&format!("/api/v1/namespaces/{}/configmaps", app::NS), &guarded_config_map(), "fixture").await?;
    k.create(WEBHOOKS, &guard(), "fixture").await?;
    Ok(())
}

/// Line numbers in the restore log of each object's "created" line.
fn created_at(log: &str, object: &str) -> anyhow::Result<usize> {
    log.lines()
        .position(|l| l.starts_with(&format!("{object}: created")))
        .ok_or_else(|| anyhow::anyhow!("{object} not created in the log:\n{log}"))
}

/// The webhook configuration comes after every config map and widget it guards.
fn assert_webhook_last(log: &str) -> anyhow::Result<()> {
    let webhook = created_at(log, &format!("validatingwebhookconfiguration/{GUARD}"))?;
    for object in ["configmap/shop/guarded", "widget/shop/w1", "customresourcedefinition/widgets.example.com"] {
        assert!(created_at(log, object)? < webhook, "{object} after the webhook:\n{log}");
    }
    let last_guarded = log
        .lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with("configmap/") || l.starts_with("widget/"))
        .map(|(n, _)| n)
        .max()
        .unwrap_or_default();
    assert!(last_guarded < webhook, "a guarded object after the webhook:\n{log}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_webhook_in_the_backup_is_restored_last() -> anyhow::Result<()> {
    let a = TestCluster::start().await?;
    let ka = kube(&a).await?;
    install_guarded_app(&ka).await?;
    let dir = tempfile::tempdir()?;
    let env = Env::new(dir.path())?;
    env.expect(&a, 0, &["backup", "create", "all"]).await?;

    // Same cluster, after losing the app and its webhook.
    ka.delete(&format!("{WEBHOOKS}/{GUARD}"), "delete webhook").await?;
    app::delete_app(&ka).await?;
    let report = env.json(&a, 0, &["restore", "create", "back", "--from-backup", "all"]).await?;
    assert_eq!(report["phase"], "Completed", "{report}");
    assert_eq!(item(&report, &format!("validatingwebhookconfiguration/{GUARD}"))?["outcome"], "created");
    assert_webhook_last(&env.expect(&a, 0, &["restore", "logs", "back"]).await?)?;
    ka.get(&format!("/api/v1/namespaces/{}/configmaps/guarded", app::NS), "restored").await?;

    // Disaster recovery: a new, empty cluster.
    let fresh = TestCluster::start().await?;
    let report = env.json(&fresh, 0, &["restore", "create", "dr", "--from-backup", "all"]).await?;
    assert_eq!(report["phase"], "Completed", "{report}");
    assert_webhook_last(&env.expect(&fresh, 0, &["restore", "logs", "dr"]).await?)?;
    let kf = kube(&fresh).await?;
    kf.get(&format!("/apis/example.com/v1/namespaces/{}/widgets/w1", app::NS), "restored").await?;
    kf.get(&format!("{WEBHOOKS}/{GUARD}"), "restored").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_restore_order_can_still_be_overridden() -> anyhow::Result<()> {
    let a = TestCluster::start().await?;
    let ka = kube(&a).await?;
    install_guarded_app(&ka).await?;
    let dir = tempfile::tempdir()?;
    let env = Env::new(dir.path())?;
    env.expect(&a, 0, &["backup", "create", "all"]).await?;
    let fresh = TestCluster::start().await?;
    let first = "validatingwebhookconfigurations.admissionregistration.k8s.io";
    let dry = env
        .json(&fresh, 0, &["restore", "create", "plan", "--from-backup", "all", "--dry-run", "--priorities", first])
        .await?;
    let objects: Vec<&str> =
        dry["items"].as_array().map(|i| i.iter().filter_map(|x| x["object"].as_str()).collect()).unwrap_or_default();
    assert_eq!(objects.first().copied(), Some(format!("validatingwebhookconfiguration/{GUARD}").as_str()), "{dry}");
    Ok(())
}

/// Needs the test cluster to call webhooks (`failurePolicy`, a service
/// without a backend answering 500 `failed calling webhook`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_refused_by_a_webhook_names_it() -> anyhow::Result<()> {
    let a = TestCluster::start().await?;
    let ka = kube(&a).await?;
    install_guarded_app(&ka).await?;
    let dir = tempfile::tempdir()?;
    let env = Env::new(dir.path())?;
    env.expect(&a, 0, &["backup", "create", "shop", "--include-namespaces", app::NS]).await?;
    // Deleting is not admission-checked for this webhook (CREATE, UPDATE).
    ka.delete(&format!("/api/v1/namespaces/{}/configmaps/guarded", app::NS), "delete").await?;

    let started = std::time::Instant::now();
    let report = env.json(&a, 3, &["restore", "create", "again", "--from-backup", "shop"]).await?;
    assert_eq!(report["phase"], "PartiallyFailed", "{report}");
    let object = format!("configmap/{}/guarded", app::NS);
    assert_eq!(item(&report, &object)?["outcome"], "failed");
    let why = reason(&report, &object)?;
    assert!(why.starts_with(&format!("webhook {GUARD} could not be called: ")), "{why}");
    assert!(why.contains("restored last"), "{why}");
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "webhook failures are not retried for long");
    Ok(())
}
