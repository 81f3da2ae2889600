//! Restores through the `arca` binary in clusters with admission webhooks:
//! webhook configurations are restored after everything they guard (custom
//! resources included), and an object a webhook refuses names the webhook.
//!
//! Backups here are of objects (`--volumes none`): volume data has its own
//! tests (`volume_backup.rs`), and these clusters' containers have no `arca`
//! binary to run mover pods with.

#[path = "../../arca-kube/tests/common/app.rs"]
mod app;
mod kube_env;

use arca_kube::api::Kube;
use arca_testcluster::TestCluster;
use kube_env::{Env, item, reason};
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

/// A restore log line without its time.
fn message(line: &str) -> &str {
    line.split_once(' ').map_or(line, |(_, rest)| rest)
}

/// The line number in the restore log of an object's "created" line.
fn created_at(log: &str, object: &str) -> anyhow::Result<usize> {
    log.lines()
        .position(|l| message(l).starts_with(&format!("{object}: created")))
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
        .filter(|(_, l)| message(l).starts_with("configmap/") || message(l).starts_with("widget/"))
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
    env.expect(&a, 0, &["backup", "create", "all", "--volumes", "none"]).await?;

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
    env.expect(&a, 0, &["backup", "create", "all", "--volumes", "none"]).await?;
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

/// A live webhook whose backend is down refuses with 500 `failed calling
/// webhook`: the report names it, and the failure is not retried for long.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_refused_by_a_webhook_names_it() -> anyhow::Result<()> {
    let a = TestCluster::start().await?;
    let ka = kube(&a).await?;
    install_guarded_app(&ka).await?;
    let dir = tempfile::tempdir()?;
    let env = Env::new(dir.path())?;
    env.expect(&a, 0, &["backup", "create", "shop", "--include-namespaces", app::NS, "--volumes", "none"]).await?;
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

const MUTATING: &str = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations";
/// Where the webhooks' services live (not restored, not deleted).
const ADMISSION_NS: &str = "admission";

/// A webhook configuration over config map creates, served by `admission/<service>`.
fn webhook_over_config_maps(kind: &str, name: &str, service: &str) -> Value {
    json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": kind, "metadata": {"name": name},
        "webhooks": [{"name": name, "failurePolicy": "Fail", "sideEffects": "None", "admissionReviewVersions": ["v1"],
            "clientConfig": {"service": {"namespace": ADMISSION_NS, "name": service, "path": "/admit"}},
            "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["configmaps"]}]}]})
}

/// Standard base64 (the `patch` of an admission response).
fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            let pad = i > chunk.len();
            out.push(if pad { '=' } else { ABC[(n >> (18 - 6 * i) & 63) as usize] as char });
        }
    }
    out
}

/// Stamps `data.admitted` on config maps (those with data).
fn stamp(review: Value) -> Value {
    let uid = review.pointer("/request/uid").cloned().unwrap_or(Value::Null);
    let has_data = review.pointer("/request/object/data").is_some_and(Value::is_object);
    let mut response = json!({"uid": uid, "allowed": true});
    if has_data {
        let patch = json!([{"op": "add", "path": "/data/admitted", "value": "by-webhook"}]);
        response["patchType"] = json!("JSONPatch");
        response["patch"] = json!(base64(patch.to_string().as_bytes()));
    }
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response})
}

/// Refuses config maps labelled `forbidden`.
fn refuse_forbidden(review: Value) -> Value {
    let uid = review.pointer("/request/uid").cloned().unwrap_or(Value::Null);
    let forbidden = review.pointer("/request/object/metadata/labels/forbidden").is_some();
    let response = if forbidden {
        json!({"uid": uid, "allowed": false, "status": {"code": 403, "message": "forbidden config maps are not allowed here"}})
    } else {
        json!({"uid": uid, "allowed": true})
    };
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_webhooks_mutate_and_refuse_restored_objects_by_name() -> anyhow::Result<()> {
    let a = TestCluster::start().await?;
    let ka = kube(&a).await?;
    app::install(&ka).await?;
    let config_maps = format!("/api/v1/namespaces/{}/configmaps", app::NS);
    ka.create(&config_maps, &guarded_config_map(), "fixture").await?;
    let forbidden = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "contraband", "namespace": app::NS, "labels": {"forbidden": "yes"}}, "data": {"k": "v"}});
    ka.create(&config_maps, &forbidden, "fixture").await?;
    let dir = tempfile::tempdir()?;
    let env = Env::new(dir.path())?;
    env.expect(&a, 0, &["backup", "create", "shop", "--include-namespaces", app::NS, "--volumes", "none"]).await?;

    // Webhooks installed after the backup, with their services and backends up.
    app::delete_app(&ka).await?;
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ADMISSION_NS}});
    ka.create("/api/v1/namespaces", &ns, "fixture").await?;
    for service in ["stamper", "bouncer"] {
        let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": service, "namespace": ADMISSION_NS},
            "spec": {"ports": [{"port": 443, "targetPort": 8443}]}});
        ka.create(&format!("/api/v1/namespaces/{ADMISSION_NS}/services"), &svc, "fixture").await?;
    }
    a.backends().register_service(ADMISSION_NS, "stamper", |r| async move { stamp(r) }).await?;
    a.backends().register_service(ADMISSION_NS, "bouncer", |r| async move { refuse_forbidden(r) }).await?;
    let mutating = webhook_over_config_maps("MutatingWebhookConfiguration", "stamp.example.org", "stamper");
    ka.create(MUTATING, &mutating, "fixture").await?;
    let validating = webhook_over_config_maps("ValidatingWebhookConfiguration", "bouncer.example.org", "bouncer");
    ka.create(WEBHOOKS, &validating, "fixture").await?;

    let report = env.json(&a, 3, &["restore", "create", "back", "--from-backup", "shop"]).await?;
    assert_eq!(report["phase"], "PartiallyFailed", "{report}");
    let restored = ka.get(&format!("{config_maps}/guarded"), "restored").await?;
    assert_eq!(restored.pointer("/data/admitted").and_then(Value::as_str), Some("by-webhook"), "{restored}");
    assert_eq!(restored.pointer("/data/mode").and_then(Value::as_str), Some("strict"));
    let object = format!("configmap/{}/contraband", app::NS);
    assert_eq!(item(&report, &object)?["outcome"], "failed");
    assert_eq!(
        reason(&report, &object)?,
        "rejected by webhook bouncer.example.org: forbidden config maps are not allowed here"
    );
    let failed: Vec<&Value> =
        report["items"].as_array().map(|i| i.iter().filter(|x| x["outcome"] == "failed").collect()).unwrap_or_default();
    assert_eq!(failed.len(), 1, "only the refused object fails: {report}");
    Ok(())
}

#[test]
fn base64_matches_the_standard_alphabet() {
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foo"), "Zm9v");
    assert_eq!(base64(b"[{\"op\"}]"), "W3sib3AifV0=");
}
