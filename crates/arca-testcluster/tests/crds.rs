//! CustomResourceDefinitions served at runtime, through `DynamicObject`.

mod common;

use std::time::Duration;

use common::{cluster, eventually, status_of};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
};
use kube::discovery::Discovery;
use serde_json::json;

fn widget_crd(scope: &str) -> serde_json::Value {
    let schema = json!({"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}});
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "shortNames": ["wd"]},
            "scope": scope,
            "versions": [
                {"name": "v1", "served": true, "storage": true, "schema": schema, "subresources": {"status": {}}},
                {"name": "v1beta1", "served": true, "storage": false, "schema": schema},
            ],
        },
    })
}

#[tokio::test]
async fn crd_lifecycle() -> anyhow::Result<()> {
    let (_c, client) = cluster().await?;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd: CustomResourceDefinition = serde_json::from_value(widget_crd("Namespaced"))?;
    let created = crds.create(&PostParams::default(), &crd).await?;
    let conds = created.status.and_then(|s| s.conditions).unwrap_or_default();
    for kind in ["Established", "NamesAccepted"] {
        assert!(conds.iter().any(|c| c.type_ == kind && c.status == "True"), "{kind}");
    }

    let discovery = Discovery::new(client.clone()).run().await?;
    let gvk = GroupVersionKind::gvk("example.com", "v1", "Widget");
    let (ar, caps) = discovery.resolve_gvk(&gvk).expect("widgets discovered");
    assert_eq!(caps.scope, kube::discovery::Scope::Namespaced);
    let group = discovery.get("example.com").expect("group");
    assert_eq!(group.preferred_version_or_latest(), "v1");

    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let w: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "w1"}, "spec": {"size": 3}, "status": {"ok": true}
    }))?;
    let created = api.create(&PostParams::default(), &w).await?;
    assert_eq!(created.metadata.generation, Some(1));
    assert!(created.data.get("status").is_none(), "status subresource drops status on create");
    let st = api.patch_status("w1", &PatchParams::default(), &Patch::Merge(json!({"status": {"ok": true}}))).await?;
    assert_eq!(st.data["status"]["ok"], true);

    // The same object served at the other version.
    let beta = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("example.com", "v1beta1", "Widget"), "widgets");
    let beta_api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &beta);
    let got = beta_api.get("w1").await?;
    assert_eq!(got.types.map(|t| t.api_version).as_deref(), Some("example.com/v1beta1"));
    assert_eq!(got.data["spec"]["size"], 3);

    let st = status_of(api.get("nope").await);
    assert_eq!(st.message, "widgets.example.com \"nope\" not found");

    // Deleting the CRD removes its objects and its resources.
    crds.delete("widgets.example.com", &DeleteParams::default()).await?;
    eventually(Duration::from_secs(5), || {
        let api = api.clone();
        async move {
            Ok(match api.list(&ListParams::default()).await {
                Err(kube::Error::Api(s)) if s.code == 404 => Some(()),
                _ => None,
            })
        }
    })
    .await?;
    let discovery = Discovery::new(client.clone()).run().await?;
    assert!(discovery.resolve_gvk(&gvk).is_none());
    Ok(())
}

#[tokio::test]
async fn invalid_crd_is_rejected() -> anyhow::Result<()> {
    let (_c, client) = cluster().await?;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut bad = widget_crd("Cluster");
    bad["metadata"]["name"] = json!("wrong.example.com");
    let crd: CustomResourceDefinition = serde_json::from_value(bad)?;
    let st = status_of(crds.create(&PostParams::default(), &crd).await);
    assert_eq!((st.code, st.reason.as_str()), (422, "Invalid"));
    Ok(())
}

#[tokio::test]
async fn cluster_scoped_custom_resources() -> anyhow::Result<()> {
    let (_c, client) = cluster().await?;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &serde_json::from_value(widget_crd("Cluster"))?).await?;
    let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("example.com", "v1", "Widget"), "widgets");
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
    let w: DynamicObject =
        serde_json::from_value(json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "g"}}))?;
    api.create(&PostParams::default(), &w).await?;
    assert_eq!(api.list(&ListParams::default()).await?.items.len(), 1);
    Ok(())
}

#[tokio::test]
async fn crd_deletion_waits_for_custom_resource_finalizers() -> anyhow::Result<()> {
    let (_c, client) = cluster().await?;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &serde_json::from_value(widget_crd("Namespaced"))?).await?;
    let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("example.com", "v1", "Widget"), "widgets");
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let held: DynamicObject = serde_json::from_value(
        json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "held", "finalizers": ["example.com/hold"]}}),
    )?;
    api.create(&PostParams::default(), &held).await?;
    let crd = crds.get("widgets.example.com").await?;
    assert_eq!(crd.metadata.finalizers, Some(vec!["customresourcecleanup.apiextensions.k8s.io".to_string()]));

    crds.delete("widgets.example.com", &DeleteParams::default()).await?;
    let terminating = eventually(Duration::from_secs(5), || {
        let api = api.clone();
        async move { Ok(api.get("held").await?.metadata.deletion_timestamp.map(|_| ())) }
    })
    .await;
    assert!(terminating.is_ok());
    let crd = crds.get("widgets.example.com").await?;
    let conds = crd.status.and_then(|s| s.conditions).unwrap_or_default();
    assert!(conds.iter().any(|c| c.type_ == "Terminating" && c.status == "True"));
    let new: DynamicObject =
        serde_json::from_value(json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "new"}}))?;
    assert_eq!(status_of(api.create(&PostParams::default(), &new).await).code, 405);

    api.patch("held", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"finalizers": null}}))).await?;
    eventually(Duration::from_secs(5), || {
        let crds = crds.clone();
        async move { Ok(crds.get_opt("widgets.example.com").await?.is_none().then_some(())) }
    })
    .await?;
    Ok(())
}
