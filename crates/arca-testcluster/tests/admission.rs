//! Admission webhooks through `kube::Client`: matching, calls with real
//! AdmissionReviews, failure policies, denials, mutation, dry runs, races.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arca_testcluster::TestCluster;
use base64::Engine;
use common::{cluster, obj, status_of};
use k8s_openapi::api::admissionregistration::v1::{MutatingWebhookConfiguration, ValidatingWebhookConfiguration};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, Service};
use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

const HOOK: &str = "cm.guard.test";

async fn labelled_namespace(client: &Client, name: &str, labels: Value) -> anyhow::Result<()> {
    let api: Api<Namespace> = Api::all(client.clone());
    api.create(&PostParams::default(), &obj(json!({"metadata": {"name": name, "labels": labels}}))).await?;
    Ok(())
}

async fn service(client: &Client, ns: &str, name: &str) -> anyhow::Result<()> {
    let api: Api<Service> = Api::namespaced(client.clone(), ns);
    let svc =
        json!({"metadata": {"name": name}, "spec": {"ports": [{"name": "https", "port": 443, "targetPort": 8443}]}});
    api.create(&PostParams::default(), &obj(svc)).await?;
    Ok(())
}

/// A webhook for ConfigMap creates in namespaces labelled `guarded=yes`,
/// backed by the Service `webhooks/guard`.
fn configmap_hook(policy: &str) -> Value {
    json!({
        "name": HOOK,
        "clientConfig": {"service": {"namespace": "webhooks", "name": "guard", "path": "/validate", "port": 443}},
        "rules": [{"operations": ["CREATE", "UPDATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["configmaps"]}],
        "failurePolicy": policy,
        "namespaceSelector": {"matchLabels": {"guarded": "yes"}},
        "objectSelector": {"matchExpressions": [{"key": "skip-webhook", "operator": "DoesNotExist"}]},
        "sideEffects": "None",
        "admissionReviewVersions": ["v1"],
        "timeoutSeconds": 5,
    })
}

async fn validating(client: &Client, name: &str, hooks: Vec<Value>) -> anyhow::Result<()> {
    let api: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    api.create(&PostParams::default(), &obj(json!({"metadata": {"name": name}, "webhooks": hooks}))).await?;
    Ok(())
}

async fn mutating(client: &Client, name: &str, hooks: Vec<Value>) -> anyhow::Result<()> {
    let api: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    api.create(&PostParams::default(), &obj(json!({"metadata": {"name": name}, "webhooks": hooks}))).await?;
    Ok(())
}

/// A cluster with the `webhooks/guard` Service and the namespaces `guarded`
/// (labelled) and `open`.
async fn setup() -> anyhow::Result<(TestCluster, Client)> {
    let (c, client) = cluster().await?;
    labelled_namespace(&client, "webhooks", json!({})).await?;
    labelled_namespace(&client, "guarded", json!({"guarded": "yes"})).await?;
    labelled_namespace(&client, "open", json!({})).await?;
    service(&client, "webhooks", "guard").await?;
    Ok((c, client))
}

fn configmap(name: &str, labels: Value) -> ConfigMap {
    obj(json!({"metadata": {"name": name, "labels": labels}, "data": {"k": "v"}}))
}

/// The answer to `review`: allowed, or denied with `status`, plus an optional JSON patch.
fn answer(review: &Value, allowed: bool, status: Option<Value>, patch: Option<Value>) -> Value {
    let uid = review.pointer("/request/uid").cloned().unwrap_or(Value::Null);
    let mut response = json!({"uid": uid, "allowed": allowed});
    if let Some(s) = status {
        response["status"] = s;
    }
    if let Some(p) = patch {
        response["patch"] = json!(base64::engine::general_purpose::STANDARD.encode(p.to_string()));
        response["patchType"] = json!("JSONPatch");
    }
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response})
}

/// Records every review it gets and allows them.
fn recorder(seen: Arc<Mutex<Vec<Value>>>) -> impl Fn(Value) -> std::future::Ready<Value> + Send + Sync + 'static {
    move |review: Value| {
        let reply = answer(&review, true, None, None);
        seen.lock().expect("lock").push(review);
        std::future::ready(reply)
    }
}

#[tokio::test]
async fn fail_policy_without_endpoints_fails_matching_creates() -> anyhow::Result<()> {
    let (_c, client) = setup().await?;
    validating(&client, "guard", vec![configmap_hook("Fail")]).await?;
    let guarded: Api<ConfigMap> = Api::namespaced(client.clone(), "guarded");
    let st = status_of(guarded.create(&PostParams::default(), &configmap("a", json!({}))).await);
    assert_eq!((st.code, st.reason.as_str()), (500, "InternalError"));
    assert_eq!(
        st.message,
        "Internal error occurred: failed calling webhook \"cm.guard.test\": failed to call webhook: Post \"https://guard.webhooks.svc:443/validate?timeout=5s\": no endpoints available for service \"guard\""
    );
    assert!(guarded.get_opt("a").await?.is_none());
    // Not matched: another namespace, or an object the objectSelector leaves out.
    let open: Api<ConfigMap> = Api::namespaced(client.clone(), "open");
    open.create(&PostParams::default(), &configmap("a", json!({}))).await?;
    guarded.create(&PostParams::default(), &configmap("b", json!({"skip-webhook": "1"}))).await?;
    // Without the Service, the resolver says so.
    Api::<Service>::namespaced(client.clone(), "webhooks").delete("guard", &DeleteParams::default()).await?;
    let st = status_of(guarded.create(&PostParams::default(), &configmap("c", json!({}))).await);
    assert!(st.message.ends_with(": service \"guard\" not found"), "{}", st.message);
    Ok(())
}

#[tokio::test]
async fn ignore_policy_fails_open() -> anyhow::Result<()> {
    let (_c, client) = setup().await?;
    validating(&client, "guard", vec![configmap_hook("Ignore")]).await?;
    let guarded: Api<ConfigMap> = Api::namespaced(client.clone(), "guarded");
    guarded.create(&PostParams::default(), &configmap("a", json!({}))).await?;
    assert!(guarded.get_opt("a").await?.is_some());
    Ok(())
}

#[tokio::test]
async fn a_denial_answers_the_webhook_code_and_message() -> anyhow::Result<()> {
    let (c, client) = setup().await?;
    validating(&client, "guard", vec![configmap_hook("Fail")]).await?;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    c.backends()
        .register_service("webhooks", "guard", move |review: Value| {
            let status = json!({"code": 403, "reason": "Forbidden", "message": "no configmaps here"});
            let reply = answer(&review, false, Some(status), None);
            record.lock().expect("lock").push(review);
            std::future::ready(reply)
        })
        .await?;
    let guarded: Api<ConfigMap> = Api::namespaced(client.clone(), "guarded");
    let st = status_of(guarded.create(&PostParams::default(), &configmap("a", json!({"app": "x"}))).await);
    assert_eq!((st.code, st.reason.as_str()), (403, "Forbidden"));
    assert_eq!(st.message, "admission webhook \"cm.guard.test\" denied the request: no configmaps here");
    assert!(guarded.get_opt("a").await?.is_none());

    let reviews = seen.lock().expect("lock").clone();
    assert_eq!(reviews.len(), 1);
    let r = &reviews[0];
    assert_eq!(r["apiVersion"], "admission.k8s.io/v1");
    let req = &r["request"];
    assert!(req["uid"].as_str().is_some_and(|u| u.len() == 36));
    assert_eq!(req["operation"], "CREATE");
    assert_eq!(req["kind"], json!({"group": "", "version": "v1", "kind": "ConfigMap"}));
    assert_eq!(req["resource"], json!({"group": "", "version": "v1", "resource": "configmaps"}));
    assert_eq!(req["requestKind"], req["kind"]);
    assert_eq!((req["namespace"].as_str(), req["name"].as_str()), (Some("guarded"), Some("a")));
    assert_eq!(req["object"]["metadata"]["labels"]["app"], "x");
    assert_eq!(req["object"]["metadata"]["namespace"], "guarded");
    assert!(req["oldObject"].is_null());
    assert_eq!(req["dryRun"], false);
    assert_eq!(req["options"]["kind"], "CreateOptions");
    assert!(req["userInfo"]["username"].is_string());
    Ok(())
}

#[tokio::test]
async fn mutations_are_stored_and_seen_by_validating_webhooks() -> anyhow::Result<()> {
    let (c, client) = setup().await?;
    service(&client, "webhooks", "labeler").await?;
    let mut mutate = configmap_hook("Fail");
    mutate["name"] = json!("labeler.test");
    mutate["clientConfig"]["service"]["name"] = json!("labeler");
    mutating(&client, "labeler", vec![mutate]).await?;
    validating(&client, "guard", vec![configmap_hook("Fail")]).await?;
    let order = Arc::new(Mutex::new(Vec::<String>::new()));
    let o = order.clone();
    c.backends()
        .register_service("webhooks", "labeler", move |review: Value| {
            o.lock().expect("lock").push("mutating".into());
            let patch = json!([{"op": "add", "path": "/metadata/labels/mutated", "value": "yes"}]);
            std::future::ready(answer(&review, true, None, Some(patch)))
        })
        .await?;
    let o = order.clone();
    c.backends()
        .register_service("webhooks", "guard", move |review: Value| {
            o.lock().expect("lock").push("validating".into());
            let labelled = review.pointer("/request/object/metadata/labels/mutated") == Some(&json!("yes"));
            let status = json!({"code": 422, "message": "not mutated"});
            std::future::ready(answer(&review, labelled, (!labelled).then_some(status), None))
        })
        .await?;
    let guarded: Api<ConfigMap> = Api::namespaced(client.clone(), "guarded");
    let created = guarded.create(&PostParams::default(), &configmap("a", json!({"app": "x"}))).await?;
    let labels = created.metadata.labels.unwrap_or_default();
    assert_eq!(labels.get("mutated").map(String::as_str), Some("yes"));
    assert_eq!(labels.get("app").map(String::as_str), Some("x"));
    let stored = c.object("", "configmaps", "guarded", "a").unwrap_or_default();
    assert_eq!(stored.pointer("/metadata/labels/mutated"), Some(&json!("yes")));
    assert_eq!(*order.lock().expect("lock"), ["mutating", "validating"]);
    Ok(())
}

#[tokio::test]
async fn webhooks_that_do_not_match_are_not_called() -> anyhow::Result<()> {
    let (c, client) = setup().await?;
    validating(&client, "guard", vec![configmap_hook("Fail")]).await?;
    let seen = Arc::new(Mutex::new(Vec::new()));
    c.backends().register_service("webhooks", "guard", recorder(seen.clone())).await?;
    let pp = PostParams::default();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "guarded");
    secrets.create(&pp, &obj(json!({"metadata": {"name": "s"}}))).await?; // rules: resource
    Api::<ConfigMap>::namespaced(client.clone(), "open").create(&pp, &configmap("a", json!({}))).await?; // namespaceSelector
    let guarded: Api<ConfigMap> = Api::namespaced(client.clone(), "guarded");
    guarded.create(&pp, &configmap("skipped", json!({"skip-webhook": "1"}))).await?; // objectSelector
    guarded.delete("skipped", &DeleteParams::default()).await?; // rules: operation
    assert_eq!(seen.lock().expect("lock").len(), 0);
    guarded.create(&pp, &configmap("b", json!({}))).await?;
    let patched = json!({"data": {"k": "w"}});
    guarded.patch("b", &PatchParams::default(), &Patch::Merge(&patched)).await?;
    let reviews = seen.lock().expect("lock").clone();
    let ops: Vec<&str> =
        reviews.iter().filter_map(|r| r.pointer("/request/operation").and_then(Value::as_str)).collect();
    assert_eq!(ops, ["CREATE", "UPDATE"]);
    assert_eq!(reviews[1].pointer("/request/oldObject/data/k"), Some(&json!("v")));
    assert_eq!(reviews[1].pointer("/request/object/data/k"), Some(&json!("w")));
    assert_eq!(reviews[1].pointer("/request/options/kind"), Some(&json!("UpdateOptions")));
    Ok(())
}

#[tokio::test]
async fn webhook_configurations_are_never_sent_to_webhooks() -> anyhow::Result<()> {
    let (_c, client) = setup().await?;
    let everything = json!({
        "name": "everything.test",
        "clientConfig": {"service": {"namespace": "webhooks", "name": "guard"}},
        "rules": [{"operations": ["*"], "apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*/*"]}],
        "sideEffects": "None",
        "admissionReviewVersions": ["v1"],
    });
    validating(&client, "everything", vec![everything.clone()]).await?;
    let open: Api<ConfigMap> = Api::namespaced(client.clone(), "open");
    let st = status_of(open.create(&PostParams::default(), &configmap("a", json!({}))).await);
    assert_eq!(st.code, 500);
    // Configurations of both kinds can still be written and removed.
    let mut m = everything.clone();
    m["name"] = json!("m.test");
    mutating(&client, "also-everything", vec![m]).await?;
    let mutating_api: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    mutating_api.delete("also-everything", &DeleteParams::default()).await?;
    let api: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    api.delete("everything", &DeleteParams::default()).await?;
    open.create(&PostParams::default(), &configmap("a", json!({}))).await?;
    Ok(())
}

#[tokio::test]
async fn custom_resources_are_guarded_on_update() -> anyhow::Result<()> {
    let (c, client) = setup().await?;
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]},
    });
    c.create_objects([crd])?;
    let hook = json!({
        "name": "widgets.test",
        "clientConfig": {"service": {"namespace": "webhooks", "name": "guard", "path": "/widgets"}},
        "rules": [{"operations": ["UPDATE"], "apiGroups": ["example.com"], "apiVersions": ["*"], "resources": ["widgets"], "scope": "Namespaced"}],
        "sideEffects": "None",
        "admissionReviewVersions": ["v1"],
    });
    validating(&client, "widgets", vec![hook]).await?;
    let calls = Arc::new(AtomicUsize::new(0));
    let n = calls.clone();
    c.backends()
        .register_service("webhooks", "guard", move |review: Value| {
            n.fetch_add(1, Ordering::SeqCst);
            let same_size =
                review.pointer("/request/object/spec/size") == review.pointer("/request/oldObject/spec/size");
            let status = json!({"code": 400, "reason": "BadRequest", "message": "widgets do not change size"});
            std::future::ready(answer(&review, same_size, (!same_size).then_some(status), None))
        })
        .await?;
    let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("example.com", "v1", "Widget"), "widgets");
    let widgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), "open", &ar);
    let w: DynamicObject = serde_json::from_value(
        json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 1}}),
    )?;
    widgets.create(&PostParams::default(), &w).await?;
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    let grow = json!({"spec": {"size": 2}});
    let st = status_of(widgets.patch("w", &PatchParams::default(), &Patch::Merge(&grow)).await);
    assert_eq!((st.code, st.reason.as_str()), (400, "BadRequest"));
    assert_eq!(st.message, "admission webhook \"widgets.test\" denied the request: widgets do not change size");
    let stored = c.object("example.com", "widgets", "open", "w").unwrap_or_default();
    assert_eq!(stored.pointer("/spec/size"), Some(&json!(1)));
    let relabel = json!({"metadata": {"labels": {"a": "b"}}});
    widgets.patch("w", &PatchParams::default(), &Patch::Merge(&relabel)).await?;
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    Ok(())
}

#[tokio::test]
async fn dry_runs_reach_only_side_effect_free_webhooks() -> anyhow::Result<()> {
    let (c, client) = setup().await?;
    validating(&client, "guard", vec![configmap_hook("Fail")]).await?;
    let seen = Arc::new(Mutex::new(Vec::new()));
    c.backends().register_service("webhooks", "guard", recorder(seen.clone())).await?;
    let guarded: Api<ConfigMap> = Api::namespaced(client.clone(), "guarded");
    let dry = PostParams { dry_run: true, ..Default::default() };
    guarded.create(&dry, &configmap("a", json!({}))).await?;
    assert!(guarded.get_opt("a").await?.is_none());
    let reviews = seen.lock().expect("lock").clone();
    assert_eq!(reviews.len(), 1);
    assert_eq!(reviews[0].pointer("/request/dryRun"), Some(&json!(true)));
    assert_eq!(reviews[0].pointer("/request/options/dryRun"), Some(&json!(["All"])));

    let api: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    let with_effects = json!({"webhooks": [{"name": HOOK, "sideEffects": "Some"}]});
    let mut current = api.get("guard").await?;
    let mut hooks = serde_json::to_value(current.webhooks.take())?;
    hooks[0]["sideEffects"] = with_effects["webhooks"][0]["sideEffects"].clone();
    current.webhooks = serde_json::from_value(hooks)?;
    api.replace("guard", &PostParams::default(), &current).await?;
    let st = status_of(guarded.create(&dry, &configmap("a", json!({}))).await);
    assert_eq!((st.code, st.reason.as_str()), (400, "BadRequest"));
    assert_eq!(st.message, "admission webhook \"cm.guard.test\" does not support dry run");
    guarded.create(&PostParams::default(), &configmap("a", json!({}))).await?;
    Ok(())
}

#[tokio::test]
async fn unreachable_and_slow_webhooks_fail_with_the_upstream_text() -> anyhow::Result<()> {
    let (c, client) = setup().await?;
    // A port nothing listens on.
    let free = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let mut refused = configmap_hook("Fail");
    refused["clientConfig"] = json!({"url": format!("http://{free}/check")});
    validating(&client, "guard", vec![refused]).await?;
    let guarded: Api<ConfigMap> = Api::namespaced(client.clone(), "guarded");
    let st = status_of(guarded.create(&PostParams::default(), &configmap("a", json!({}))).await);
    assert_eq!(
        st.message,
        format!(
            "Internal error occurred: failed calling webhook \"cm.guard.test\": failed to call webhook: Post \"http://{free}/check?timeout=5s\": dial tcp {free}: connect: connection refused"
        )
    );

    Api::<ValidatingWebhookConfiguration>::all(client.clone()).delete("guard", &DeleteParams::default()).await?;
    let mut slow = configmap_hook("Fail");
    slow["timeoutSeconds"] = json!(1);
    validating(&client, "slow", vec![slow]).await?;
    c.backends()
        .register_service("webhooks", "guard", |review: Value| async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            answer(&review, true, None, None)
        })
        .await?;
    let started = std::time::Instant::now();
    let st = status_of(guarded.create(&PostParams::default(), &configmap("b", json!({}))).await);
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(st.message.ends_with("?timeout=1s\": context deadline exceeded"), "{}", st.message);
    // A backend that answers garbage.
    c.backends()
        .register_service("webhooks", "guard", |_review: Value| std::future::ready(json!({"kind": "Nope"})))
        .await?;
    let st = status_of(guarded.create(&PostParams::default(), &configmap("c", json!({}))).await);
    assert!(
        st.message.contains("failed calling webhook \"cm.guard.test\": received invalid webhook response: "),
        "{}",
        st.message
    );
    Ok(())
}

/// The webhook writes the object itself while the request waits for it: the
/// API server must not hold its lock across the call, a conditional update
/// then loses with 409, and a patch is planned again and succeeds.
#[tokio::test]
async fn concurrent_writes_during_admission() -> anyhow::Result<()> {
    let (c, client) = setup().await?;
    validating(&client, "guard", vec![configmap_hook("Fail")]).await?;
    let guarded: Api<ConfigMap> = Api::namespaced(client.clone(), "guarded");
    let interfere = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicUsize::new(0));
    let (flag, n, api) = (interfere.clone(), calls.clone(), guarded.clone());
    c.backends()
        .register_service("webhooks", "guard", move |review: Value| {
            let (flag, api) = (flag.clone(), api.clone());
            n.fetch_add(1, Ordering::SeqCst);
            async move {
                if flag.swap(false, Ordering::SeqCst) {
                    // A new value each time, so the side write is never a no-op.
                    let side = json!({"metadata": {"labels": {"side": review.pointer("/request/uid")}}});
                    let _ = api.patch("a", &PatchParams::default(), &Patch::Merge(&side)).await;
                }
                answer(&review, true, None, None)
            }
        })
        .await?;
    guarded.create(&PostParams::default(), &configmap("a", json!({}))).await?;
    let mut current = guarded.get("a").await?;
    current.data = Some([("k".to_string(), "put".to_string())].into());
    interfere.store(true, Ordering::SeqCst);
    let st = status_of(guarded.replace("a", &PostParams::default(), &current).await);
    assert_eq!((st.code, st.reason.as_str()), (409, "Conflict"));
    assert_eq!(
        st.message,
        "Operation cannot be fulfilled on configmaps \"a\": the object has been modified; please apply your changes to the latest version and try again"
    );
    interfere.store(true, Ordering::SeqCst);
    calls.store(0, Ordering::SeqCst);
    let change = json!({"data": {"k": "patched"}});
    let patched = guarded.patch("a", &PatchParams::default(), &Patch::Merge(&change)).await?;
    // outer call, the side write's call, the outer call again after the retry
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(patched.data.unwrap_or_default().get("k").map(String::as_str), Some("patched"));
    assert!(patched.metadata.labels.unwrap_or_default().contains_key("side"));
    Ok(())
}
