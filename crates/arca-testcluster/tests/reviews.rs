//! Create-only types (reviews, bindings), the read-only componentstatuses,
//! and CertificateSigningRequest approval.

mod common;

use common::{cluster, obj, status_of};
use k8s_openapi::api::authentication::v1::{SelfSubjectReview, TokenReview};
use k8s_openapi::api::authorization::v1::{
    LocalSubjectAccessReview, SelfSubjectAccessReview, SelfSubjectRulesReview, SubjectAccessReview,
};
use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use k8s_openapi::api::core::v1::{Binding, ComponentStatus, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

#[tokio::test]
async fn access_reviews_are_allowed_and_never_stored() -> anyhow::Result<()> {
    let (c, client) = cluster().await?;
    let pp = PostParams::default();
    let sars: Api<SubjectAccessReview> = Api::all(client.clone());
    let sar: SubjectAccessReview = obj(json!({
        "spec": {"user": "alice", "resourceAttributes": {"verb": "list", "resource": "secrets", "namespace": "default"}},
    }));
    let answer = sars.create(&pp, &sar).await?;
    let status = answer.status.ok_or_else(|| anyhow::anyhow!("no status"))?;
    assert!(status.allowed);
    assert_eq!(answer.spec.user.as_deref(), Some("alice"));
    // Neither listed nor stored, as upstream.
    assert_eq!(status_of(sars.list(&ListParams::default()).await).code, 405);
    assert!(c.object("authorization.k8s.io", "subjectaccessreviews", "", "").is_none());

    let no_subject: SubjectAccessReview = obj(json!({"spec": {"resourceAttributes": {"verb": "get"}}}));
    assert_eq!(status_of(sars.create(&pp, &no_subject).await).code, 422);

    let ssars: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let ssar: SelfSubjectAccessReview =
        obj(json!({"spec": {"nonResourceAttributes": {"verb": "get", "path": "/healthz"}}}));
    assert!(ssars.create(&pp, &ssar).await?.status.is_some_and(|s| s.allowed));
    let both: SelfSubjectAccessReview = obj(json!({"spec": {
        "nonResourceAttributes": {"verb": "get", "path": "/x"}, "resourceAttributes": {"verb": "get"}}}));
    assert_eq!(status_of(ssars.create(&pp, &both).await).code, 422);

    let local: Api<LocalSubjectAccessReview> = Api::namespaced(client.clone(), "default");
    let lsar = |ns: &str| -> LocalSubjectAccessReview {
        obj(
            json!({"metadata": {"namespace": "default"}, "spec": {"user": "bob", "resourceAttributes": {"namespace": ns, "verb": "get", "resource": "pods"}}}),
        )
    };
    let ok = local.create(&pp, &lsar("default")).await?;
    assert!(ok.status.is_some_and(|s| s.allowed));
    assert_eq!(status_of(local.create(&pp, &lsar("other")).await).code, 400);

    let rules: Api<SelfSubjectRulesReview> = Api::all(client);
    let ssrr: SelfSubjectRulesReview = obj(json!({"spec": {"namespace": "default"}}));
    let status = rules.create(&pp, &ssrr).await?.status.ok_or_else(|| anyhow::anyhow!("no status"))?;
    assert_eq!(status.resource_rules.first().map(|r| r.verbs.clone()), Some(vec!["*".to_string()]));
    assert!(!status.incomplete);
    Ok(())
}

#[tokio::test]
async fn token_and_self_subject_reviews_name_the_test_user() -> anyhow::Result<()> {
    let (c, client) = cluster().await?;
    let pp = PostParams::default();
    let tokens: Api<TokenReview> = Api::all(client.clone());
    let unknown: TokenReview = obj(json!({"spec": {"token": "abc"}}));
    let status = tokens.create(&pp, &unknown).await?.status.ok_or_else(|| anyhow::anyhow!("no status"))?;
    assert_eq!(status.authenticated, Some(false));
    let review: TokenReview = obj(json!({"spec": {"token": c.admin_token(), "audiences": ["arca"]}}));
    let status = tokens.create(&pp, &review).await?.status.ok_or_else(|| anyhow::anyhow!("no status"))?;
    assert_eq!(status.authenticated, Some(true));
    assert_eq!(status.audiences, Some(vec!["arca".to_string()]));
    let groups = status.user.and_then(|u| u.groups).unwrap_or_default();
    assert!(groups.contains(&"system:authenticated".to_string()), "{groups:?}");
    let empty: TokenReview = obj(json!({"spec": {"token": ""}}));
    assert_eq!(status_of(tokens.create(&pp, &empty).await).code, 400);

    let whoami: Api<SelfSubjectReview> = Api::all(client);
    let me = whoami.create(&pp, &obj(json!({}))).await?;
    let user = me.status.and_then(|s| s.user_info).and_then(|u| u.username);
    assert_eq!(user.as_deref(), Some("arca-test-admin"));
    Ok(())
}

#[tokio::test]
async fn bindings_assign_unbound_pods_only() -> anyhow::Result<()> {
    let (_c, client) = cluster().await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(
        &PostParams::default(),
        &obj(json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x"}]}})),
    )
    .await?;
    let bound = pods.get("p").await?.spec.and_then(|s| s.node_name);
    let bindings: Api<Binding> = Api::namespaced(client.clone(), "default");
    let binding = |pod: &str| -> Binding {
        obj(json!({"metadata": {"name": pod}, "target": {"kind": "Node", "name": "arca-node"}}))
    };
    let answer = bindings.create(&PostParams::default(), &binding("p")).await;
    match bound {
        // The simulated scheduler places pods at once: binding again conflicts.
        Some(_) => assert_eq!(status_of(answer).code, 409),
        None => assert_eq!(pods.get("p").await?.spec.and_then(|s| s.node_name).as_deref(), Some("arca-node")),
    }
    assert_eq!(status_of(bindings.create(&PostParams::default(), &binding("missing")).await).code, 404);
    assert_eq!(status_of(bindings.list(&ListParams::default()).await).code, 405);
    Ok(())
}

#[tokio::test]
async fn componentstatuses_are_a_read_only_healthy_list() -> anyhow::Result<()> {
    let (_c, client) = cluster().await?;
    let cs: Api<ComponentStatus> = Api::all(client);
    let list = cs.list(&ListParams::default()).await?;
    let names: Vec<String> = list.items.iter().filter_map(|c| c.metadata.name.clone()).collect();
    assert_eq!(names, ["controller-manager", "scheduler", "etcd-0"]);
    for c in &list.items {
        let healthy = c.conditions.as_ref().and_then(|cs| cs.first()).map(|c| (c.type_.clone(), c.status.clone()));
        assert_eq!(healthy, Some(("Healthy".to_string(), "True".to_string())));
    }
    assert!(cs.get("etcd-0").await.is_ok());
    assert_eq!(status_of(cs.get("nope").await).code, 404);
    let created = cs.create(&PostParams::default(), &obj(json!({"metadata": {"name": "x"}}))).await;
    assert_eq!(status_of(created).code, 405);
    Ok(())
}

#[tokio::test]
async fn certificate_signing_requests_are_approved_through_the_subresource() -> anyhow::Result<()> {
    let (_c, client) = cluster().await?;
    let csrs: Api<CertificateSigningRequest> = Api::all(client);
    let csr: CertificateSigningRequest = obj(json!({
        "metadata": {"name": "node-csr"},
        "spec": {"request": "LS0tLS1CRUdJTg==", "signerName": "kubernetes.io/kube-apiserver-client", "usages": ["client auth"]},
    }));
    let created = csrs.create(&PostParams::default(), &csr).await?;
    assert_eq!(created.spec.username.as_deref(), Some("arca-test-admin"));
    let missing: CertificateSigningRequest =
        obj(json!({"metadata": {"name": "bad"}, "spec": {"request": "", "signerName": ""}}));
    assert_eq!(status_of(csrs.create(&PostParams::default(), &missing).await).code, 422);

    let approval =
        json!({"status": {"conditions": [{"type": "Approved", "status": "True", "reason": "Test", "message": "ok"}]}});
    csrs.patch_approval("node-csr", &PatchParams::default(), &Patch::Merge(&approval)).await?;
    let approved = csrs.get("node-csr").await?;
    let conditions = approved.status.and_then(|s| s.conditions).unwrap_or_default();
    assert_eq!(conditions.first().map(|c| c.type_.as_str()), Some("Approved"));
    // The main resource ignores status, as for any type with a status subresource.
    let mut spoof = csrs.get("node-csr").await?;
    spoof.status = None;
    let replaced = csrs.replace("node-csr", &PostParams::default(), &spoof).await?;
    assert!(replaced.status.is_some_and(|s| s.conditions.is_some_and(|c| !c.is_empty())));
    Ok(())
}
