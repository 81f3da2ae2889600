//! APIServices through `kube::Client`: the automanaged local ones, the
//! `Available` condition of remote ones, 503 while unavailable, forwarding
//! to a registered backend.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use arca_testcluster::backends::json_reply;
use arca_testcluster::{BackendRequest, BackendResponse, TestCluster};
use common::{cluster, eventually, obj};
use http_body_util::BodyExt;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use kube::Client;
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

const GROUP: &str = "metrics.example.com";
const AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// A client that does not retry 503s itself.
async fn raw_client(c: &TestCluster) -> anyhow::Result<Client> {
    let kc = kube::config::Kubeconfig::read_from(c.kubeconfig_path())?;
    let mut config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    config.default_retry = false;
    Ok(Client::try_from(config)?)
}

async fn get(client: &Client, path: &str, accept: &str) -> anyhow::Result<(u16, String)> {
    let req = http::Request::get(path).header(http::header::ACCEPT, accept).body(Vec::new())?;
    let resp = client.send(req.map(Into::into)).await?;
    let code = resp.status().as_u16();
    let body = resp.into_body().collect().await?.to_bytes();
    Ok((code, String::from_utf8_lossy(&body).to_string()))
}

async fn condition(api: &Api<APIService>, name: &str) -> anyhow::Result<Option<(String, String, String)>> {
    let a = api.get(name).await?;
    let c = a.status.and_then(|s| s.conditions).unwrap_or_default().into_iter().find(|c| c.type_ == "Available");
    Ok(c.map(|c| (c.status, c.reason.unwrap_or_default(), c.message.unwrap_or_default())))
}

async fn wait_for_reason(api: &Api<APIService>, name: &str, reason: &str) -> anyhow::Result<(String, String, String)> {
    eventually(Duration::from_secs(5), || async { Ok(condition(api, name).await?.filter(|(_, r, _)| r == reason)) })
        .await
}

async fn metrics_apiservice(client: &Client) -> anyhow::Result<Api<APIService>> {
    let api: Api<APIService> = Api::all(client.clone());
    let a = json!({
        "metadata": {"name": format!("v1beta1.{GROUP}")},
        "spec": {"group": GROUP, "version": "v1beta1", "service": {"namespace": "default", "name": "metrics", "port": 443},
                 "groupPriorityMinimum": 100, "versionPriority": 100, "insecureSkipTLSVerify": true},
    });
    api.create(&PostParams::default(), &obj(a)).await?;
    Ok(api)
}

/// An aggregated API server for `metrics.example.com/v1beta1` with one
/// namespaced resource, `gauges`, kept in memory.
fn gauges_backend(
    store: Arc<Mutex<Vec<Value>>>,
) -> impl Fn(BackendRequest) -> std::future::Ready<BackendResponse> + Send + Sync {
    move |req: BackendRequest| {
        let path = req.uri().path().to_string();
        let reply = match (req.method().as_str(), path.as_str()) {
            ("GET", "/apis/metrics.example.com/v1beta1") => json_reply(
                200,
                &json!({
                    "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "metrics.example.com/v1beta1",
                    "resources": [{"name": "gauges", "singularName": "gauge", "namespaced": true, "kind": "Gauge", "verbs": ["create", "get", "list"]}],
                }),
            ),
            ("GET", "/apis/metrics.example.com/v1beta1/namespaces/default/gauges") => {
                let items = store.lock().expect("lock").clone();
                json_reply(
                    200,
                    &json!({"kind": "GaugeList", "apiVersion": "metrics.example.com/v1beta1", "metadata": {}, "items": items}),
                )
            }
            ("POST", "/apis/metrics.example.com/v1beta1/namespaces/default/gauges") => {
                let created: Value = serde_json::from_slice(req.body()).unwrap_or_default();
                store.lock().expect("lock").push(created.clone());
                json_reply(201, &created)
            }
            _ => json_reply(
                404,
                &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404, "reason": "NotFound", "message": "not here"}),
            ),
        };
        std::future::ready(reply)
    }
}

#[tokio::test]
async fn local_apiservices_are_automanaged() -> anyhow::Result<()> {
    let (c, client) = cluster().await?;
    let api: Api<APIService> = Api::all(client.clone());
    let all = api.list(&ListParams::default()).await?.items;
    let names: Vec<String> = all.iter().filter_map(|a| a.metadata.name.clone()).collect();
    for want in ["v1.", "v1.apps", "v1.batch", "v2.autoscaling", "v1.apiregistration.k8s.io"] {
        assert!(names.iter().any(|n| n == want), "{want} missing from {names:?}");
    }
    let apps = api.get("v1.apps").await?;
    let labels = apps.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels.get("kube-aggregator.kubernetes.io/automanaged").map(String::as_str), Some("onstart"));
    assert!(apps.spec.as_ref().is_some_and(|s| s.service.is_none() && s.group.as_deref() == Some("apps")));
    let cond = condition(&api, "v1.apps").await?;
    assert_eq!(cond, Some(("True".into(), "Local".into(), "Local APIServices are always available".into())));
    // CRD group versions get theirs from the registration controller.
    c.install_snapshot_crds()?;
    let crd_one =
        eventually(Duration::from_secs(5), || async { Ok(api.get_opt("v1.snapshot.storage.k8s.io").await?) }).await?;
    let labels = crd_one.metadata.labels.unwrap_or_default();
    assert_eq!(labels.get("kube-aggregator.kubernetes.io/automanaged").map(String::as_str), Some("true"));
    Ok(())
}

#[tokio::test]
async fn an_apiservice_without_backend_makes_its_group_answer_503() -> anyhow::Result<()> {
    let (c, client) = cluster().await?;
    let raw = raw_client(&c).await?;
    let api = metrics_apiservice(&client).await?;
    let name = format!("v1beta1.{GROUP}");
    let (status, _, message) = wait_for_reason(&api, &name, "ServiceNotFound").await?;
    assert_eq!((status.as_str(), message.as_str()), ("False", "service/metrics in \"default\" is not present"));

    let (code, body) = get(&raw, "/apis/metrics.example.com/v1beta1", "application/json").await?;
    assert_eq!((code, body.as_str()), (503, "service unavailable\n"));
    let (code, _) =
        get(&raw, "/apis/metrics.example.com/v1beta1/namespaces/default/gauges", "application/json").await?;
    assert_eq!(code, 503);
    // Legacy discovery lists the group; aggregated discovery marks it stale.
    let (_, groups) = get(&raw, "/apis", "application/json").await?;
    let groups: Value = serde_json::from_str(&groups)?;
    let listed = groups["groups"].as_array().is_some_and(|g| g.iter().any(|g| g["name"] == GROUP));
    assert!(listed);
    let (_, agg) = get(&raw, "/apis", AGGREGATED).await?;
    let agg: Value = serde_json::from_str(&agg)?;
    let item = agg["items"].as_array().and_then(|i| i.iter().find(|i| i["metadata"]["name"] == GROUP)).cloned();
    assert_eq!(item.map(|i| i["versions"].clone()), Some(json!([{"version": "v1beta1", "freshness": "Stale"}])));

    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    services
        .create(
            &PostParams::default(),
            &obj(json!({"metadata": {"name": "metrics"}, "spec": {"ports": [{"name": "https", "port": 443}]}})),
        )
        .await?;
    let (_, _, message) = wait_for_reason(&api, &name, "MissingEndpoints").await?;
    assert_eq!(message, "endpointslices for service/metrics in \"default\" have no addresses with port name \"https\"");
    Ok(())
}

#[tokio::test]
async fn a_registered_backend_makes_it_available_and_serves_its_requests() -> anyhow::Result<()> {
    let (c, client) = cluster().await?;
    let raw = raw_client(&c).await?;
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    services
        .create(
            &PostParams::default(),
            &obj(json!({"metadata": {"name": "metrics"}, "spec": {"ports": [{"name": "https", "port": 443}]}})),
        )
        .await?;
    let api = metrics_apiservice(&client).await?;
    let name = format!("v1beta1.{GROUP}");
    wait_for_reason(&api, &name, "MissingEndpoints").await?;
    let store = Arc::new(Mutex::new(Vec::new()));
    c.backends().register_http("default", "metrics", gauges_backend(store.clone())).await?;
    let cond = condition(&api, &name).await?;
    assert_eq!(cond, Some(("True".into(), "Passed".into(), "all checks passed".into())));

    let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(GROUP, "v1beta1", "Gauge"), "gauges");
    let gauges: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let g: DynamicObject = serde_json::from_value(
        json!({"apiVersion": "metrics.example.com/v1beta1", "kind": "Gauge", "metadata": {"name": "g1", "namespace": "default"}}),
    )?;
    gauges.create(&PostParams::default(), &g).await?;
    let listed = gauges.list(&ListParams::default()).await?;
    assert_eq!(listed.items.iter().filter_map(|o| o.metadata.name.clone()).collect::<Vec<_>>(), ["g1"]);
    assert_eq!(store.lock().map(|s| s.len()).unwrap_or_default(), 1);

    let discovery = kube::discovery::Discovery::new(client.clone()).run_aggregated().await?;
    let group = discovery.groups().find(|g| g.name() == GROUP).map(|g| g.recommended_resources());
    let kinds: Vec<String> = group.unwrap_or_default().into_iter().map(|(r, _)| r.kind).collect();
    assert_eq!(kinds, ["Gauge"]);

    assert!(c.backends().unregister("default", "metrics"));
    let (code, _) =
        get(&raw, "/apis/metrics.example.com/v1beta1/namespaces/default/gauges", "application/json").await?;
    assert_eq!(code, 503);
    assert_eq!(condition(&api, &name).await?.map(|c| c.1), Some("MissingEndpoints".to_string()));
    Ok(())
}
