//! Namespace termination, finalizers, owner-reference garbage collection.

mod common;

use std::time::Duration;

use common::{cluster, eventually, namespace, obj, status_of};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;

#[tokio::test]
async fn delete_namespace_with_finalizers() -> anyhow::Result<()> {
    let (_c, client) = cluster().await?;
    namespace(&client, "doomed").await?;
    let nss: Api<Namespace> = Api::all(client.clone());
    let ns = nss.get("doomed").await?;
    assert_eq!(ns.status.and_then(|s| s.phase).as_deref(), Some("Active"));
    assert_eq!(ns.spec.and_then(|s| s.finalizers), Some(vec!["kubernetes".to_string()]));

    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "doomed");
    let held: ConfigMap = obj(json!({"metadata": {"name": "held", "finalizers": ["example.com/hold"]}}));
    cms.create(&PostParams::default(), &held).await?;
    cms.create(&PostParams::default(), &obj(json!({"metadata": {"name": "free"}}))).await?;

    let deleted = nss.delete("doomed", &DeleteParams::default()).await?;
    let ns = deleted.left().expect("namespace is returned while terminating");
    assert!(ns.metadata.deletion_timestamp.is_some());
    assert_eq!(ns.status.and_then(|s| s.phase).as_deref(), Some("Terminating"));

    // New content is refused while terminating.
    let st = status_of(cms.create(&PostParams::default(), &obj(json!({"metadata": {"name": "new"}}))).await);
    assert_eq!((st.code, st.reason.as_str()), (403, "Forbidden"));

    // The finalized object stays, marked for deletion; the rest goes.
    let held = eventually(Duration::from_secs(5), || {
        let cms = cms.clone();
        async move {
            let free_gone = cms.get_opt("free").await?.is_none();
            let held = cms.get("held").await?;
            Ok((free_gone && held.metadata.deletion_timestamp.is_some()).then_some(held))
        }
    })
    .await?;
    assert_eq!(held.metadata.finalizers.as_deref(), Some(&["example.com/hold".to_string()][..]));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(nss.get_opt("doomed").await?.is_some(), "namespace waits for the finalizer");

    cms.patch("held", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"finalizers": null}}))).await?;
    eventually(Duration::from_secs(5), || {
        let nss = nss.clone();
        async move { Ok(nss.get_opt("doomed").await?.is_none().then_some(())) }
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn owner_references_are_garbage_collected() -> anyhow::Result<()> {
    let (_c, client) = cluster().await?;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let owner = cms.create(&PostParams::default(), &obj(json!({"metadata": {"name": "owner"}}))).await?;
    let uid = owner.metadata.uid.clone().unwrap_or_default();
    for name in ["dep1", "dep2"] {
        let dep: ConfigMap = obj(json!({"metadata": {"name": name, "ownerReferences": [
            {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid}
        ]}}));
        cms.create(&PostParams::default(), &dep).await?;
    }
    // Orphan: dependents stay, their owner reference is removed.
    let orphan_owner = cms.create(&PostParams::default(), &obj(json!({"metadata": {"name": "owner2"}}))).await?;
    let dep: ConfigMap = obj(json!({"metadata": {"name": "dep3", "ownerReferences": [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner2", "uid": orphan_owner.metadata.uid}
    ]}}));
    cms.create(&PostParams::default(), &dep).await?;

    cms.delete("owner", &DeleteParams::background()).await?;
    cms.delete("owner2", &DeleteParams::orphan()).await?;
    eventually(Duration::from_secs(5), || {
        let cms = cms.clone();
        async move {
            let gone = cms.get_opt("dep1").await?.is_none() && cms.get_opt("dep2").await?.is_none();
            let orphaned = cms.get_opt("dep3").await?.is_some_and(|d| d.metadata.owner_references.is_none());
            let owner2_gone = cms.get_opt("owner2").await?.is_none();
            Ok((gone && orphaned && owner2_gone).then_some(()))
        }
    })
    .await?;

    // Foreground: the owner stays until its dependents are gone.
    let fg = cms.create(&PostParams::default(), &obj(json!({"metadata": {"name": "fg"}}))).await?;
    let dep: ConfigMap = obj(json!({"metadata": {"name": "fgdep", "ownerReferences": [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "fg", "uid": fg.metadata.uid, "blockOwnerDeletion": true}
    ]}}));
    cms.create(&PostParams::default(), &dep).await?;
    let pending = cms.delete("fg", &DeleteParams::foreground()).await?;
    let pending = pending.left().expect("owner kept while dependents exist");
    assert!(pending.metadata.finalizers.unwrap_or_default().contains(&"foregroundDeletion".to_string()));
    eventually(Duration::from_secs(5), || {
        let cms = cms.clone();
        async move { Ok((cms.get_opt("fg").await?.is_none() && cms.get_opt("fgdep").await?.is_none()).then_some(())) }
    })
    .await?;
    Ok(())
}
