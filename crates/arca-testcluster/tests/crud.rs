//! Object semantics through `kube::Client`: create, get, update, patch, delete.

mod common;

use std::collections::BTreeMap;

use common::{cluster, namespace, obj, status_of};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;

#[tokio::test]
async fn create_get_update_conflict_delete() -> anyhow::Result<()> {
    let (_c, client) = cluster().await?;
    namespace(&client, "t1").await?;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "t1");
    let cm: ConfigMap = obj(json!({"metadata": {"name": "a", "labels": {"x": "1"}}, "data": {"k": "v"}}));
    let created = api.create(&PostParams::default(), &cm).await?;
    let meta = &created.metadata;
    assert!(meta.uid.as_deref().is_some_and(|u| u.len() == 36));
    assert!(meta.creation_timestamp.is_some());
    let rv: u64 = meta.resource_version.as_deref().unwrap_or_default().parse()?;
    assert!(rv > 0);

    let st = status_of(api.create(&PostParams::default(), &cm).await);
    assert_eq!((st.code, st.reason.as_str()), (409, "AlreadyExists"));
    assert_eq!(st.message, "configmaps \"a\" already exists");
    let details = st.details.expect("details");
    assert_eq!((details.name.as_str(), details.kind.as_str()), ("a", "configmaps"));

    let mut got = api.get("a").await?;
    got.data = Some(BTreeMap::from([("k".to_string(), "w".to_string())]));
    let updated = api.replace("a", &PostParams::default(), &got).await?;
    let rv2: u64 = updated.metadata.resource_version.as_deref().unwrap_or_default().parse()?;
    assert!(rv2 > rv);
    // Stale resourceVersion.
    let st = status_of(api.replace("a", &PostParams::default(), &got).await);
    assert_eq!((st.code, st.reason.as_str()), (409, "Conflict"));
    assert!(st.message.contains("the object has been modified"), "{}", st.message);

    let st = status_of(api.get("missing").await);
    assert_eq!((st.code, st.reason.as_str()), (404, "NotFound"));
    assert_eq!(st.message, "configmaps \"missing\" not found");

    let other: Api<ConfigMap> = Api::namespaced(client.clone(), "nope");
    let st = status_of(other.create(&PostParams::default(), &cm).await);
    assert_eq!(st.code, 404);
    assert_eq!(st.message, "namespaces \"nope\" not found");

    let deleted = api.delete("a", &DeleteParams::default()).await?;
    assert!(deleted.is_right(), "immediate delete answers a Status");
    assert_eq!(status_of(api.get("a").await).code, 404);
    Ok(())
}

#[tokio::test]
async fn generate_name_generation_and_status_split() -> anyhow::Result<()> {
    let (_c, client) = cluster().await?;
    let api: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let d: Deployment = obj(json!({
        "metadata": {"generateName": "web-"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
        "status": {"replicas": 7}
    }));
    let created = api.create(&PostParams::default(), &d).await?;
    let name = created.metadata.name.clone().expect("name");
    assert!(name.starts_with("web-") && name.len() == 9, "{name}");
    assert_eq!(created.metadata.generation, Some(1));
    assert!(created.status.is_none(), "status is dropped on create");

    // Status changes through the main resource are ignored.
    let p = Patch::Merge(json!({"spec": {"replicas": 3}, "status": {"replicas": 5}}));
    let patched = api.patch(&name, &PatchParams::default(), &p).await?;
    assert_eq!(patched.metadata.generation, Some(2));
    assert!(patched.status.is_none());
    // The status subresource changes only status.
    let p = Patch::Merge(json!({"spec": {"replicas": 9}, "status": {"replicas": 3}}));
    let st = api.patch_status(&name, &PatchParams::default(), &p).await?;
    assert_eq!(st.status.and_then(|s| s.replicas), Some(3));
    assert_eq!(st.spec.replicas, Some(3));
    assert_eq!(st.metadata.generation, Some(2));
    // Metadata-only change does not bump generation.
    let p = Patch::Merge(json!({"metadata": {"labels": {"a": "b"}}}));
    let m = api.patch(&name, &PatchParams::default(), &p).await?;
    assert_eq!(m.metadata.generation, Some(2));
    // JSON patch.
    let p: Patch<()> =
        Patch::Json(serde_json::from_value(json!([{"op": "replace", "path": "/spec/replicas", "value": 4}]))?);
    let j = api.patch(&name, &PatchParams::default(), &p).await?;
    assert_eq!(j.spec.replicas, Some(4));
    // Strategic merge keeps other containers.
    let p =
        Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx:2"}]}}}}));
    let s = api.patch(&name, &PatchParams::default(), &p).await?;
    let image = s.spec.template.spec.map(|p| p.containers[0].image.clone());
    assert_eq!(image, Some(Some("nginx:2".to_string())));
    Ok(())
}

#[tokio::test]
async fn validation_and_immutability() -> anyhow::Result<()> {
    let (_c, client) = cluster().await?;
    let svcs: Api<Service> = Api::namespaced(client.clone(), "default");
    let svc: Service = obj(json!({"metadata": {"name": "s"}, "spec": {"type": "NodePort", "ports": [{"port": 80}]}}));
    let created = svcs.create(&PostParams::default(), &svc).await?;
    let spec = created.spec.clone().expect("spec");
    let ip = spec.cluster_ip.clone().expect("clusterIP assigned");
    assert!(ip.starts_with("10.96."), "{ip}");
    let node_port = spec.ports.as_ref().and_then(|p| p[0].node_port).expect("nodePort");
    assert!((30000..=32767).contains(&node_port));
    let p = Patch::Merge(json!({"spec": {"clusterIP": "10.96.200.200", "clusterIPs": ["10.96.200.200"]}}));
    let st = status_of(svcs.patch("s", &PatchParams::default(), &p).await);
    assert_eq!((st.code, st.reason.as_str()), (422, "Invalid"));
    let causes = st.details.expect("details").causes;
    assert_eq!(causes[0].field, "spec.clusterIPs[0]");
    // Leaving clusterIP out of a replace keeps the allocated one.
    let mut again = svcs.get("s").await?;
    if let Some(s) = again.spec.as_mut() {
        s.cluster_ip = None;
        s.cluster_ips = None;
    }
    let kept = svcs.replace("s", &PostParams::default(), &again).await?;
    assert_eq!(kept.spec.and_then(|s| s.cluster_ip), Some(ip));

    let secrets: Api<Secret> = Api::namespaced(client.clone(), "default");
    let s: Secret = obj(json!({"metadata": {"name": "sec"}, "immutable": true, "stringData": {"a": "b"}}));
    let created = secrets.create(&PostParams::default(), &s).await?;
    assert_eq!(created.data.and_then(|d| d.get("a").map(|b| b.0.clone())), Some(b"b".to_vec()));
    assert_eq!(created.type_.as_deref(), Some("Opaque"));
    let p = Patch::Merge(json!({"data": {"a": "Yw=="}}));
    let st = status_of(secrets.patch("sec", &PatchParams::default(), &p).await);
    assert_eq!(st.code, 422);
    assert_eq!(st.details.expect("details").causes[0].field, "data");

    let bad: ConfigMap = obj(json!({"metadata": {"name": "Bad_Name"}}));
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let st = status_of(cms.create(&PostParams::default(), &bad).await);
    assert_eq!(st.code, 422);
    assert_eq!(st.details.expect("details").causes[0].field, "metadata.name");
    Ok(())
}

#[tokio::test]
async fn malformed_requests_answer_400() -> anyhow::Result<()> {
    let (c, _client) = cluster().await?;
    let url = format!("{}/api/v1/namespaces/default/configmaps", c.url());
    let body = raw_request("POST", &url, "application/json", "{not json").await?;
    assert!(body.starts_with("HTTP/1.1 400"), "{body}");
    assert!(body.contains("\"kind\":\"Status\""));
    let url = format!("{}/api/v1/namespaces/default/configmaps?labelSelector=a%20in%20b", c.url());
    let body = raw_request("GET", &url, "application/json", "").await?;
    assert!(body.starts_with("HTTP/1.1 400"), "{body}");
    Ok(())
}

async fn raw_request(method: &str, url: &str, content_type: &str, body: &str) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.trim_start_matches("http://");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut s = tokio::net::TcpStream::connect(host).await?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await?;
    let mut out = String::new();
    s.read_to_string(&mut out).await?;
    Ok(out)
}

#[tokio::test]
async fn scale_subresource() -> anyhow::Result<()> {
    let (_c, client) = cluster().await?;
    let api: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let d: Deployment = obj(json!({
        "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}
    }));
    api.create(&PostParams::default(), &d).await?;
    let scale = api.get_scale("web").await?;
    assert_eq!(scale.spec.and_then(|s| s.replicas), Some(2));
    assert_eq!(scale.status.and_then(|s| s.selector).as_deref(), Some("app=web"));
    let scaled =
        api.patch_scale("web", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 0}}))).await?;
    assert_eq!(scaled.spec.and_then(|s| s.replicas), Some(0));
    let d = api.get("web").await?;
    assert_eq!(d.spec.replicas, Some(0));
    assert_eq!(d.metadata.generation, Some(2));
    Ok(())
}

#[tokio::test]
async fn delete_collection_and_dry_run() -> anyhow::Result<()> {
    let (_c, client) = cluster().await?;
    namespace(&client, "dc").await?;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "dc");
    for (name, app) in [("a", "x"), ("b", "x"), ("c", "y")] {
        api.create(&PostParams::default(), &obj(json!({"metadata": {"name": name, "labels": {"app": app}}}))).await?;
    }
    let dry = PostParams { dry_run: true, ..Default::default() };
    let would = api.create(&dry, &obj(json!({"metadata": {"name": "dry"}}))).await?;
    assert_eq!(would.metadata.name.as_deref(), Some("dry"));
    assert_eq!(status_of(api.get("dry").await).code, 404);

    let gone =
        api.delete_collection(&DeleteParams::default(), &kube::api::ListParams::default().labels("app=x")).await?;
    let names: Vec<String> =
        gone.left().map(|l| l.items.into_iter().filter_map(|c| c.metadata.name).collect()).unwrap_or_default();
    assert_eq!(names, ["a", "b"]);
    let left: Vec<String> = api
        .list(&kube::api::ListParams::default().labels("app"))
        .await?
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();
    assert_eq!(left, ["c"]);
    Ok(())
}
