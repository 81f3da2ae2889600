//! Objects the API server itself creates at start: bootstrap RBAC, the
//! `kubernetes` Service's endpoints, the extension API server ConfigMap.

mod common;

use common::cluster;
use k8s_openapi::api::core::v1::{ConfigMap, Endpoints};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::api::{Api, ListParams};

const BOOTSTRAP: &str = "kubernetes.io/bootstrapping=rbac-defaults";

#[tokio::test]
async fn bootstrap_cluster_roles_and_bindings_are_labelled() -> anyhow::Result<()> {
    let (_c, client) = cluster().await?;
    let roles: Api<ClusterRole> = Api::all(client.clone());
    let labelled = roles.list(&ListParams::default().labels(BOOTSTRAP)).await?;
    let names: Vec<String> = labelled.items.iter().filter_map(|r| r.metadata.name.clone()).collect();
    assert!(names.len() >= 12, "{names:?}");
    for name in ["cluster-admin", "admin", "edit", "view", "system:discovery", "system:basic-user", "system:node"] {
        assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
    }
    let admin = roles.get("cluster-admin").await?;
    let rules = admin.rules.unwrap_or_default();
    assert!(rules.iter().any(|r| r.verbs == ["*"] && r.resources.as_deref() == Some(&["*".to_string()][..])));
    assert!(rules.iter().any(|r| r.non_resource_urls.as_deref() == Some(&["*".to_string()][..])));
    let annotations = roles.get("view").await?.metadata.annotations.unwrap_or_default();
    assert_eq!(annotations.get("rbac.authorization.kubernetes.io/autoupdate").map(String::as_str), Some("true"));

    // Aggregated roles carry their selector and the rules of the roles it selects.
    let edit = roles.get("edit").await?;
    let selector = edit.aggregation_rule.and_then(|a| a.cluster_role_selectors).unwrap_or_default();
    let labels = selector.first().and_then(|s| s.match_labels.clone()).unwrap_or_default();
    assert_eq!(labels.get("rbac.authorization.k8s.io/aggregate-to-edit").map(String::as_str), Some("true"));
    let edit_rules = edit.rules.unwrap_or_default();
    assert!(edit_rules.iter().any(|r| r.resources.as_ref().is_some_and(|res| res.contains(&"pods/exec".to_string()))));
    assert!(edit_rules.iter().any(|r| r.verbs.contains(&"watch".to_string())), "edit includes view's rules");

    let bindings: Api<ClusterRoleBinding> = Api::all(client.clone());
    let crb = bindings.get("cluster-admin").await?;
    assert_eq!(crb.role_ref.name, "cluster-admin");
    let subjects = crb.subjects.unwrap_or_default();
    assert_eq!(subjects.first().map(|s| (s.kind.as_str(), s.name.as_str())), Some(("Group", "system:masters")));
    assert_eq!(subjects.first().and_then(|s| s.api_group.as_deref()), Some("rbac.authorization.k8s.io"));
    assert!(bindings.list(&ListParams::default().labels(BOOTSTRAP)).await?.items.len() >= 10);
    Ok(())
}

#[tokio::test]
async fn kube_system_roles_and_control_plane_objects_exist() -> anyhow::Result<()> {
    let (_c, client) = cluster().await?;
    let roles: Api<Role> = Api::namespaced(client.clone(), "kube-system");
    let reader = roles.get("extension-apiserver-authentication-reader").await?;
    let labels = reader.metadata.labels.unwrap_or_default();
    assert_eq!(labels.get("kubernetes.io/bootstrapping").map(String::as_str), Some("rbac-defaults"));
    let bindings: Api<RoleBinding> = Api::namespaced(client.clone(), "kube-system");
    let b = bindings.get("system::extension-apiserver-authentication-reader").await?;
    assert_eq!((b.role_ref.kind.as_str(), b.role_ref.name.as_str()), ("Role", "extension-apiserver-authentication-reader"));
    let public: Api<Role> = Api::namespaced(client.clone(), "kube-public");
    public.get("system:controller:bootstrap-signer").await?;

    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "kube-system");
    let auth = cms.get("extension-apiserver-authentication").await?;
    let data = auth.data.unwrap_or_default();
    assert!(data.get("client-ca-file").is_some_and(|ca| ca.contains("BEGIN CERTIFICATE")));
    assert_eq!(data.get("requestheader-username-headers").map(String::as_str), Some("[\"X-Remote-User\"]"));

    let endpoints: Api<Endpoints> = Api::namespaced(client.clone(), "default");
    let ep = endpoints.get("kubernetes").await?;
    let subset = ep.subsets.unwrap_or_default().into_iter().next().ok_or_else(|| anyhow::anyhow!("no subset"))?;
    assert_eq!(subset.ports.unwrap_or_default().first().map(|p| p.port), Some(6443));
    let slices: Api<EndpointSlice> = Api::namespaced(client, "default");
    let slice = slices.list(&ListParams::default().labels("kubernetes.io/service-name=kubernetes")).await?;
    assert_eq!(slice.items.len(), 1);
    assert_eq!(slice.items[0].address_type, "IPv4");
    Ok(())
}
