//! Deployments, ReplicaSets and StatefulSets are reconciled: pods follow
//! `spec.replicas` (also through the `scale` subresource) and status follows the pods.

mod common;

use std::time::Duration;

use common::{cluster, eventually, obj};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(20);

async fn pods_with(api: &Api<Pod>, selector: &str, n: usize) -> anyhow::Result<Vec<Pod>> {
    eventually(WAIT, || async move {
        let pods = api.list(&ListParams::default().labels(selector)).await?.items;
        let live: Vec<Pod> = pods.into_iter().filter(|p| p.metadata.deletion_timestamp.is_none()).collect();
        Ok((live.len() == n).then_some(live))
    })
    .await
}

#[tokio::test]
async fn a_deployment_owns_a_replicaset_whose_pods_follow_scaling_and_template_changes() -> anyhow::Result<()> {
    let (_c, client) = cluster().await?;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let d: Deployment = obj(json!({"metadata": {"name": "web"}, "spec": {"replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}));
    deployments.create(&PostParams::default(), &d).await?;
    let running = pods_with(&pods, "app=web", 2).await?;
    let rs_list = sets.list(&ListParams::default()).await?.items;
    assert_eq!(rs_list.len(), 1);
    let rs = &rs_list[0];
    let hash = rs.metadata.labels.as_ref().and_then(|l| l.get("pod-template-hash")).cloned().expect("hash label");
    assert_eq!(rs.metadata.name.as_deref(), Some(format!("web-{hash}").as_str()));
    assert_eq!(rs.metadata.owner_references.as_ref().expect("owner")[0].kind, "Deployment");
    for pod in &running {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let suffix = name.strip_prefix(&format!("web-{hash}-")).expect("pod named after its replicaset");
        assert_eq!(suffix.len(), 5, "{name}");
        assert_eq!(pod.metadata.owner_references.as_ref().expect("owner")[0].kind, "ReplicaSet");
        assert_eq!(pod.metadata.labels.as_ref().and_then(|l| l.get("pod-template-hash")), Some(&hash));
    }
    eventually(WAIT, || async {
        let s = deployments.get("web").await?.status.unwrap_or_default();
        Ok((s.ready_replicas == Some(2) && s.available_replicas == Some(2) && s.updated_replicas == Some(2))
            .then_some(()))
    })
    .await?;

    deployments.patch_scale("web", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 1}}))).await?;
    pods_with(&pods, "app=web", 1).await?;

    let change = json!({"spec": {"template": {"metadata": {"labels": {"app": "web", "v": "2"}}}}});
    deployments.patch("web", &PatchParams::default(), &Patch::Merge(change)).await?;
    let new = pods_with(&pods, "app=web,v=2", 1).await?;
    pods_with(&pods, "app=web,!v", 0).await?;
    let new_hash = new[0].metadata.labels.as_ref().and_then(|l| l.get("pod-template-hash")).cloned();
    assert_ne!(new_hash.as_ref(), Some(&hash));
    let old = sets.get(&format!("web-{hash}")).await?;
    assert_eq!(old.spec.replicas, Some(0));
    eventually(WAIT, || async {
        let d = deployments.get("web").await?;
        let s = d.status.unwrap_or_default();
        Ok((s.observed_generation == d.metadata.generation && s.replicas == Some(1) && s.ready_replicas == Some(1))
            .then_some(()))
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_replicaset_replaces_a_deleted_pod() -> anyhow::Result<()> {
    let (_c, client) = cluster().await?;
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let rs: ReplicaSet = obj(json!({"metadata": {"name": "cache"}, "spec": {"replicas": 2,
        "selector": {"matchLabels": {"app": "cache"}},
        "template": {"metadata": {"labels": {"app": "cache"}}, "spec": {"containers": [{"name": "c", "image": "redis"}]}}}}));
    sets.create(&PostParams::default(), &rs).await?;
    let first = pods_with(&pods, "app=cache", 2).await?;
    let gone = first[0].metadata.name.clone().unwrap_or_default();
    pods.delete(&gone, &DeleteParams::default()).await?;
    let again = pods_with(&pods, "app=cache", 2).await?;
    assert!(again.iter().all(|p| p.metadata.name.as_deref() != Some(gone.as_str())));
    Ok(())
}

#[tokio::test]
async fn a_statefulset_creates_ordered_pods_with_claims_that_outlive_scale_down() -> anyhow::Result<()> {
    let (_c, client) = cluster().await?;
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    let s: StatefulSet = obj(json!({"metadata": {"name": "db"}, "spec": {"replicas": 2, "serviceName": "db",
        "selector": {"matchLabels": {"app": "db"}},
        "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "c", "image": "postgres",
            "volumeMounts": [{"name": "data", "mountPath": "/var/lib/data"}]}]}},
        "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "1Gi"}}}}]}}));
    sets.create(&PostParams::default(), &s).await?;
    let running = pods_with(&pods, "app=db", 2).await?;
    let mut names: Vec<String> = running.iter().filter_map(|p| p.metadata.name.clone()).collect();
    names.sort();
    assert_eq!(names, ["db-0", "db-1"]);
    for i in 0..2 {
        let claim = claims.get(&format!("data-db-{i}")).await?;
        assert_eq!(claim.metadata.labels.as_ref().and_then(|l| l.get("app")).map(String::as_str), Some("db"));
        let pod = pods.get(&format!("db-{i}")).await?;
        let spec = pod.spec.expect("spec");
        assert_eq!(spec.hostname.as_deref(), Some(format!("db-{i}").as_str()));
        let volume = spec.volumes.expect("volumes").into_iter().find(|v| v.name == "data").expect("claim volume");
        assert_eq!(volume.persistent_volume_claim.map(|c| c.claim_name), Some(format!("data-db-{i}")));
    }
    // db-1 was created only after db-0 was ready.
    let created = |i: usize| running.iter().find(|p| p.metadata.name.as_deref() == Some(&format!("db-{i}"))).cloned();
    assert!(
        created(0).and_then(|p| p.metadata.creation_timestamp)
            <= created(1).and_then(|p| p.metadata.creation_timestamp)
    );
    eventually(WAIT, || async {
        let s = sets.get("db").await?.status.unwrap_or_default();
        Ok((s.ready_replicas == Some(2) && s.replicas == 2).then_some(()))
    })
    .await?;

    sets.patch_scale("db", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 1}}))).await?;
    pods_with(&pods, "app=db", 1).await?;
    assert!(pods.get_opt("db-1").await?.is_none_or(|p| p.metadata.deletion_timestamp.is_some()));
    assert!(claims.get_opt("data-db-1").await?.is_some(), "claims are retained on scale-down");
    Ok(())
}

#[tokio::test]
async fn settled_workloads_and_unschedulable_pods_write_nothing_more() -> anyhow::Result<()> {
    let (_c, client) = cluster().await?;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let template = json!({"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}});
    let d: Deployment = obj(
        json!({"metadata": {"name": "a"}, "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "a"}}, "template": template}}),
    );
    deployments.create(&PostParams::default(), &d).await?;
    let template = json!({"metadata": {"labels": {"app": "s"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}});
    let s: StatefulSet = obj(
        json!({"metadata": {"name": "s"}, "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "s"}}, "template": template}}),
    );
    sets.create(&PostParams::default(), &s).await?;
    let picky: Pod = obj(
        json!({"metadata": {"name": "picky"}, "spec": {"nodeSelector": {"disk": "ssd"}, "containers": [{"name": "c", "image": "x"}]}}),
    );
    pods.create(&PostParams::default(), &picky).await?;
    eventually(WAIT, || async {
        let d = deployments.get("a").await?.status.unwrap_or_default();
        let s = sets.get("s").await?.status.unwrap_or_default();
        Ok((d.ready_replicas == Some(2) && s.ready_replicas == Some(2)).then_some(()))
    })
    .await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let version = |list: kube::core::ObjectList<Pod>| list.metadata.resource_version.unwrap_or_default();
    let before = version(pods.list(&ListParams::default()).await?);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = version(pods.list(&ListParams::default()).await?);
    assert_eq!(before, after, "controllers kept writing while nothing changed");
    Ok(())
}
