//! Discovery as `kube::discovery` sees it.

mod common;

use common::cluster;
use kube::discovery::{Discovery, Scope, verbs};

#[tokio::test]
async fn discovery_finds_builtin_types() -> anyhow::Result<()> {
    let (_c, client) = cluster().await?;
    let info = client.apiserver_version().await?;
    assert_eq!(info.major, "1");
    assert!(info.git_version.starts_with("v1."));
    let discovery = Discovery::new(client.clone()).run().await?;
    let expect = [
        ("", "v1", "Pod", true),
        ("", "v1", "Namespace", false),
        ("", "v1", "PersistentVolume", false),
        ("", "v1", "ReplicationController", true),
        ("apps", "v1", "StatefulSet", true),
        ("batch", "v1", "CronJob", true),
        ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", false),
        ("storage.k8s.io", "v1", "StorageClass", false),
        ("networking.k8s.io", "v1", "NetworkPolicy", true),
        ("policy", "v1", "PodDisruptionBudget", true),
        ("autoscaling", "v2", "HorizontalPodAutoscaler", true),
        ("coordination.k8s.io", "v1", "Lease", true),
        ("discovery.k8s.io", "v1", "EndpointSlice", true),
        ("events.k8s.io", "v1", "Event", true),
        ("scheduling.k8s.io", "v1", "PriorityClass", false),
        ("admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration", false),
        ("apiextensions.k8s.io", "v1", "CustomResourceDefinition", false),
    ];
    for (group, version, kind, namespaced) in expect {
        let gvk = kube::api::GroupVersionKind::gvk(group, version, kind);
        let (ar, caps) = discovery.resolve_gvk(&gvk).ok_or_else(|| anyhow::anyhow!("{kind} not discovered"))?;
        assert_eq!(caps.scope == Scope::Namespaced, namespaced, "{kind}");
        assert!(caps.supports_operation(verbs::WATCH), "{kind}");
        assert!(!ar.plural.is_empty());
    }
    let pods = kube::discovery::pinned_kind(&client, &kube::api::GroupVersionKind::gvk("", "v1", "Pod")).await?;
    let subs: Vec<String> = pods.1.subresources.iter().map(|(r, _)| r.plural.clone()).collect();
    for s in ["status", "exec", "log"] {
        assert!(subs.iter().any(|x| x == s), "pods/{s} in {subs:?}");
    }
    let deploy =
        kube::discovery::pinned_kind(&client, &kube::api::GroupVersionKind::gvk("apps", "v1", "Deployment")).await?;
    assert!(deploy.1.subresources.iter().any(|(r, _)| r.plural == "scale"));
    Ok(())
}

#[tokio::test]
async fn aggregated_discovery_matches_legacy() -> anyhow::Result<()> {
    let (_c, client) = cluster().await?;
    let legacy = Discovery::new(client.clone()).run().await?;
    let aggregated = Discovery::new(client.clone()).run_aggregated().await?;
    let kinds = |d: &Discovery| -> Vec<String> {
        let mut v: Vec<String> = d
            .groups()
            .flat_map(|g| {
                g.recommended_resources().into_iter().map(|(ar, caps)| {
                    format!("{}/{} {:?} {}", ar.api_version, ar.kind, caps.scope, caps.subresources.len())
                })
            })
            .collect();
        v.sort();
        v
    };
    let (a, b) = (kinds(&legacy), kinds(&aggregated));
    assert!(a.len() > 40, "{a:?}");
    assert_eq!(a, b);
    Ok(())
}
