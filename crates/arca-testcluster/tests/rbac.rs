//! Authentication by bearer token, impersonation, the RBAC authorizer and
//! its escalation check, with upstream's answers, through `kube::Client`s
//! of different users.

mod common;

use std::time::Duration;

use arca_testcluster::TestCluster;
use common::{namespace, obj, status_of};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::authentication::v1::{SelfSubjectReview, TokenRequest};
use k8s_openapi::api::authorization::v1::{SelfSubjectAccessReview, SelfSubjectRulesReview, SubjectAccessReview};
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};
use kube::{Client, Config};
use serde_json::{Value, json};

struct Rbac {
    cluster: TestCluster,
    admin: Client,
    dir: tempfile::TempDir,
}

impl Rbac {
    async fn start() -> anyhow::Result<Rbac> {
        let cluster = TestCluster::builder().rbac(true).start().await?;
        let admin = cluster.client().await?;
        namespace(&admin, "team-a").await?;
        namespace(&admin, "team-b").await?;
        Ok(Rbac { cluster, admin, dir: tempfile::tempdir()? })
    }

    async fn config(&self, token: &str) -> anyhow::Result<Config> {
        let path = self.dir.path().join(format!("kubeconfig-{}", fastrand::u32(..)));
        self.cluster.write_kubeconfig(&path, token)?;
        let kc = kube::config::Kubeconfig::read_from(&path)?;
        Ok(Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default()).await?)
    }

    /// A client of a new user `name`.
    async fn user(&self, name: &str) -> anyhow::Result<Client> {
        let token = self.cluster.add_user(name, &[]);
        Ok(Client::try_from(self.config(&token).await?)?)
    }

    async fn create<K>(&self, api: Api<K>, body: Value) -> anyhow::Result<K>
    where
        K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
    {
        Ok(api.create(&PostParams::default(), &obj(body)).await?)
    }

    /// A Role in `ns` with `rules`, bound to user `user`.
    async fn grant(&self, ns: &str, name: &str, user: &str, rules: Value) -> anyhow::Result<()> {
        self.create(
            Api::<Role>::namespaced(self.admin.clone(), ns),
            json!({"metadata": {"name": name}, "rules": rules}),
        )
        .await?;
        let binding = json!({
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": user}],
        });
        self.create(Api::<RoleBinding>::namespaced(self.admin.clone(), ns), binding).await?;
        Ok(())
    }

    /// A ClusterRole with `rules`, bound cluster-wide to user `user`.
    async fn grant_cluster(&self, name: &str, user: &str, rules: Value) -> anyhow::Result<()> {
        self.create(Api::<ClusterRole>::all(self.admin.clone()), json!({"metadata": {"name": name}, "rules": rules}))
            .await?;
        let binding = json!({
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": user}],
        });
        self.create(Api::<ClusterRoleBinding>::all(self.admin.clone()), binding).await?;
        Ok(())
    }
}

fn binding(name: &str, kind: &str, role: &str, subject: Value) -> Value {
    json!({
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
        "subjects": [subject],
    })
}

fn user_subject(name: &str) -> Value {
    json!({"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": name})
}

async fn whoami(client: &Client) -> kube::Result<(String, Vec<String>)> {
    let me = Api::<SelfSubjectReview>::all(client.clone()).create(&PostParams::default(), &obj(json!({}))).await?;
    let info = me.status.and_then(|s| s.user_info).unwrap_or_default();
    Ok((info.username.unwrap_or_default(), info.groups.unwrap_or_default()))
}

/// The status code of a raw GET (`0` on success).
async fn get_code(client: &Client, path: &str) -> anyhow::Result<(u16, String)> {
    let req = http::Request::get(path).body(Vec::new())?;
    match client.request_text(req).await {
        Ok(_) => Ok((0, String::new())),
        Err(kube::Error::Api(s)) => Ok((s.code, s.message)),
        Err(e) => Err(e.into()),
    }
}

#[tokio::test]
async fn bad_tokens_are_unauthorized_and_no_token_is_anonymous() -> anyhow::Result<()> {
    let rbac = Rbac::start().await?;
    let bad = Client::try_from(rbac.config("not-a-token").await?)?;
    let err = status_of(Api::<Pod>::namespaced(bad, "team-a").list(&ListParams::default()).await);
    assert_eq!((err.code, err.reason.as_str(), err.message.as_str()), (401, "Unauthorized", "Unauthorized"));

    let anonymous = Client::try_from(Config::new(rbac.cluster.url().parse()?))?;
    assert_eq!(get_code(&anonymous, "/version").await?.0, 0, "system:public-info-viewer");
    let err = status_of(Api::<Pod>::namespaced(anonymous, "default").list(&ListParams::default()).await);
    assert_eq!(err.code, 403);
    assert_eq!(
        err.message,
        r#"pods is forbidden: User "system:anonymous" cannot list resource "pods" in API group "" in the namespace "default""#
    );
    Ok(())
}

#[tokio::test]
async fn role_rules_match_verbs_resources_subresources_and_names() -> anyhow::Result<()> {
    let rbac = Rbac::start().await?;
    let secrets: Api<Secret> = Api::namespaced(rbac.admin.clone(), "team-a");
    for name in ["shown", "hidden"] {
        rbac.create(secrets.clone(), json!({"metadata": {"name": name}, "stringData": {"k": "v"}})).await?;
    }
    rbac.grant(
        "team-a",
        "reader",
        "alice",
        json!([
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
            {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]},
            {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["shown"], "verbs": ["get"]},
            {"apiGroups": ["apps"], "resources": ["*/scale"], "verbs": ["get"]},
        ]),
    )
    .await?;
    let alice = rbac.user("alice").await?;
    Api::<Pod>::namespaced(alice.clone(), "team-a").list(&ListParams::default()).await?;
    let err = status_of(Api::<Pod>::namespaced(alice.clone(), "team-b").list(&ListParams::default()).await);
    assert_eq!((err.code, err.reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        err.message,
        r#"pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "team-b""#
    );
    let pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x"}]}});
    let err =
        status_of(Api::<Pod>::namespaced(alice.clone(), "team-a").create(&PostParams::default(), &obj(pod)).await);
    assert_eq!(err.code, 403, "{}", err.message);

    let alice_secrets: Api<Secret> = Api::namespaced(alice.clone(), "team-a");
    alice_secrets.get("shown").await?;
    let err = status_of(alice_secrets.get("hidden").await);
    assert_eq!(
        err.message,
        r#"secrets "hidden" is forbidden: User "alice" cannot get resource "secrets" in API group "" in the namespace "team-a""#
    );
    assert_eq!(status_of(alice_secrets.list(&ListParams::default()).await).code, 403);

    // Authorized requests for missing objects answer 404, refused ones 403.
    let (code, _) = get_code(&alice, "/apis/apps/v1/namespaces/team-a/deployments/d/scale").await?;
    assert_eq!(code, 404, "*/scale allows the scale subresource");
    let (code, message) = get_code(&alice, "/apis/apps/v1/namespaces/team-a/deployments/d").await?;
    assert_eq!(code, 403, "{message}");
    let exec =
        http::Request::post("/api/v1/namespaces/team-a/pods/missing/exec?command=true&stdout=true").body(Vec::new())?;
    let err = status_of(alice.request_text(exec).await);
    assert_eq!(err.code, 404, "pods/exec allows exec: {}", err.message);
    Ok(())
}

#[tokio::test]
async fn cluster_bindings_grant_everywhere_and_non_resource_urls() -> anyhow::Result<()> {
    let rbac = Rbac::start().await?;
    let bob = rbac.user("bob").await?;
    let (code, message) = get_code(&bob, "/metrics").await?;
    assert_eq!((code, message.as_str()), (403, r#"forbidden: User "bob" cannot get path "/metrics""#));
    assert_eq!(get_code(&bob, "/apis").await?.0, 0, "system:discovery");
    let err = status_of(Api::<ConfigMap>::all(bob.clone()).list(&ListParams::default()).await);
    assert_eq!(
        err.message,
        r#"configmaps is forbidden: User "bob" cannot list resource "configmaps" in API group "" at the cluster scope"#
    );
    rbac.grant_cluster(
        "bob-reads",
        "bob",
        json!([
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]},
            {"nonResourceURLs": ["/metrics"], "verbs": ["get"]},
        ]),
    )
    .await?;
    Api::<ConfigMap>::all(bob.clone()).list(&ListParams::default()).await?;
    Api::<ConfigMap>::namespaced(bob.clone(), "team-b").list(&ListParams::default()).await?;
    assert_ne!(get_code(&bob, "/metrics").await?.0, 403);
    Ok(())
}

#[tokio::test]
async fn watches_need_the_watch_verb_and_cluster_wide_rights_for_all_namespaces() -> anyhow::Result<()> {
    let rbac = Rbac::start().await?;
    rbac.grant(
        "team-a",
        "watcher",
        "carol",
        json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["watch"]}]),
    )
    .await?;
    let carol = rbac.user("carol").await?;
    let all = Api::<ConfigMap>::all(carol.clone()).watch(&WatchParams::default(), "0").await;
    let err = status_of(all.map(|_| ()));
    assert_eq!(
        err.message,
        r#"configmaps is forbidden: User "carol" cannot watch resource "configmaps" in API group "" at the cluster scope"#
    );
    let mine: Api<ConfigMap> = Api::namespaced(carol, "team-a");
    let mut events = mine.watch(&WatchParams::default().timeout(10), "0").await?.boxed();
    rbac.create(Api::<ConfigMap>::namespaced(rbac.admin.clone(), "team-a"), json!({"metadata": {"name": "seen"}}))
        .await?;
    // From resourceVersion 0 the namespace's existing config maps come first.
    loop {
        match tokio::time::timeout(Duration::from_secs(10), events.try_next()).await?? {
            Some(WatchEvent::Added(cm)) if cm.metadata.name.as_deref() == Some("seen") => return Ok(()),
            Some(WatchEvent::Added(_)) => continue,
            other => anyhow::bail!("expected the added config map, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn aggregated_cluster_roles_collect_labelled_roles() -> anyhow::Result<()> {
    let rbac = Rbac::start().await?;
    let bindings: Api<RoleBinding> = Api::namespaced(rbac.admin.clone(), "team-a");
    rbac.create(bindings, binding("dave-view", "ClusterRole", "view", user_subject("dave"))).await?;
    let dave = rbac.user("dave").await?;
    Api::<Pod>::namespaced(dave.clone(), "team-a").list(&ListParams::default()).await?;
    let (code, _) = get_code(&dave, "/apis/coordination.k8s.io/v1/namespaces/team-a/leases").await?;
    assert_eq!(code, 403, "view does not read leases");
    let extra = json!({
        "metadata": {"name": "lease-reader", "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
        "rules": [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["list"]}],
    });
    rbac.create(Api::<ClusterRole>::all(rbac.admin.clone()), extra).await?;
    assert_eq!(get_code(&dave, "/apis/coordination.k8s.io/v1/namespaces/team-a/leases").await?.0, 0);
    Ok(())
}

#[tokio::test]
async fn service_account_tokens_authenticate_as_the_account() -> anyhow::Result<()> {
    let rbac = Rbac::start().await?;
    let accounts: Api<ServiceAccount> = Api::namespaced(rbac.admin.clone(), "team-a");
    rbac.create(accounts.clone(), json!({"metadata": {"name": "robot"}})).await?;
    let request: TokenRequest = obj(json!({"spec": {"audiences": ["arca"]}}));
    let answered = accounts.create_token_request("robot", &PostParams::default(), &request).await?;
    let token = answered.status.and_then(|s| s.token).unwrap_or_default();
    let robot = Client::try_from(rbac.config(&token).await?)?;
    let (name, groups) = whoami(&robot).await?;
    assert_eq!(name, "system:serviceaccount:team-a:robot");
    assert_eq!(groups, ["system:serviceaccounts", "system:serviceaccounts:team-a", "system:authenticated"]);
    let missing = accounts.create_token_request("nobody", &PostParams::default(), &request).await;
    assert_eq!(status_of(missing).code, 404);

    // A RoleBinding's ServiceAccount subject without a namespace means the binding's.
    let subject = json!({"kind": "ServiceAccount", "name": "robot"});
    rbac.create(
        Api::<RoleBinding>::namespaced(rbac.admin.clone(), "team-a"),
        binding("robot", "ClusterRole", "view", subject),
    )
    .await?;
    let in_process = Client::try_from(rbac.config(&rbac.cluster.service_account_token("team-a", "robot")?).await?)?;
    Api::<Pod>::namespaced(in_process.clone(), "team-a").list(&ListParams::default()).await?;
    let err = status_of(Api::<Pod>::namespaced(in_process, "team-b").list(&ListParams::default()).await);
    assert_eq!(
        err.message,
        r#"pods is forbidden: User "system:serviceaccount:team-a:robot" cannot list resource "pods" in API group "" in the namespace "team-b""#
    );
    Ok(())
}

#[tokio::test]
async fn impersonation_needs_the_impersonate_verb() -> anyhow::Result<()> {
    let rbac = Rbac::start().await?;
    let token = rbac.cluster.add_user("erin", &[]);
    let mut as_frank = rbac.config(&token).await?;
    as_frank.auth_info.impersonate = Some("frank".into());
    let err = status_of(whoami(&Client::try_from(as_frank.clone())?).await);
    assert_eq!(
        err.message,
        r#"users "frank" is forbidden: User "erin" cannot impersonate resource "users" in API group "" at the cluster scope"#
    );
    rbac.grant_cluster(
        "erin-impersonates",
        "erin",
        json!([{"apiGroups": [""], "resources": ["users"], "resourceNames": ["frank"], "verbs": ["impersonate"]}]),
    )
    .await?;
    let (name, groups) = whoami(&Client::try_from(as_frank.clone())?).await?;
    assert_eq!((name.as_str(), groups), ("frank", vec!["system:authenticated".to_string()]));
    let mut as_grace = as_frank.clone();
    as_grace.auth_info.impersonate = Some("grace".into());
    assert!(whoami(&Client::try_from(as_grace)?).await.is_err(), "resourceNames limit whom erin may be");
    let mut with_group = as_frank;
    with_group.auth_info.impersonate_groups = Some(vec!["auditors".into()]);
    assert!(whoami(&Client::try_from(with_group)?).await.is_err(), "groups need their own permission");

    // The admin acts as a namespace's service account: its groups, its rights only.
    let mut config = rbac.config(&rbac.cluster.admin_token()).await?;
    config.auth_info.impersonate = Some("system:serviceaccount:team-a:robot".into());
    let robot = Client::try_from(config)?;
    let (name, groups) = whoami(&robot).await?;
    assert_eq!(name, "system:serviceaccount:team-a:robot");
    assert_eq!(groups, ["system:serviceaccounts", "system:serviceaccounts:team-a", "system:authenticated"]);
    let err = status_of(Api::<Pod>::namespaced(robot, "team-a").list(&ListParams::default()).await);
    assert_eq!(err.code, 403, "{}", err.message);
    Ok(())
}

#[tokio::test]
async fn escalation_is_refused_unless_bind_or_escalate_is_held() -> anyhow::Result<()> {
    let rbac = Rbac::start().await?;
    let bindings: Api<RoleBinding> = Api::namespaced(rbac.admin.clone(), "team-a");
    rbac.create(bindings, binding("tenant-admin", "ClusterRole", "admin", user_subject("tenant"))).await?;
    let tenant = rbac.user("tenant").await?;
    let tenant_bindings: Api<RoleBinding> = Api::namespaced(tenant.clone(), "team-a");
    rbac.create(tenant_bindings.clone(), binding("helper-edit", "ClusterRole", "edit", user_subject("helper"))).await?;

    let to_cluster_admin = binding("helper-root", "ClusterRole", "cluster-admin", user_subject("helper"));
    let err = status_of(tenant_bindings.create(&PostParams::default(), &obj(to_cluster_admin.clone())).await);
    assert_eq!((err.code, err.reason.as_str()), (403, "Forbidden"));
    assert!(
        err.message.starts_with(
            r#"rolebindings.rbac.authorization.k8s.io "helper-root" is forbidden: user "tenant" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:"#
        ),
        "{}",
        err.message
    );
    assert!(err.message.contains(r#"{APIGroups:["*"], Resources:["*"], Verbs:["*"]}"#), "{}", err.message);

    let tenant_roles: Api<Role> = Api::namespaced(tenant.clone(), "team-a");
    let wide = json!({"metadata": {"name": "wide"}, "rules": [{"apiGroups": ["*"], "resources": ["nodes"], "verbs": ["get"]}]});
    let err = status_of(tenant_roles.create(&PostParams::default(), &obj(wide.clone())).await);
    assert!(err.message.contains(r#"{APIGroups:["*"], Resources:["nodes"], Verbs:["get"]}"#), "{}", err.message);

    rbac.grant_cluster(
        "tenant-binds-root",
        "tenant",
        json!([
            {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "resourceNames": ["cluster-admin"], "verbs": ["bind"]},
            {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "verbs": ["escalate"]},
        ]),
    )
    .await?;
    rbac.create(tenant_bindings, to_cluster_admin).await?;
    rbac.create(tenant_roles, wide).await?;
    Ok(())
}

#[tokio::test]
async fn access_reviews_ask_the_authorizer() -> anyhow::Result<()> {
    let rbac = Rbac::start().await?;
    rbac.grant("team-a", "reader", "alice", json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]))
        .await?;
    let alice = rbac.user("alice").await?;
    let ask = |ns: &str| {
        obj::<SelfSubjectAccessReview>(
            json!({"spec": {"resourceAttributes": {"namespace": ns, "verb": "list", "resource": "pods"}}}),
        )
    };
    let mine = Api::<SelfSubjectAccessReview>::all(alice.clone());
    let allowed = |r: SelfSubjectAccessReview| r.status.is_some_and(|s| s.allowed);
    assert!(allowed(mine.create(&PostParams::default(), &ask("team-a")).await?));
    assert!(!allowed(mine.create(&PostParams::default(), &ask("team-b")).await?));

    let about_alice = obj::<SubjectAccessReview>(json!({"spec": {
        "user": "alice", "groups": ["system:authenticated"],
        "resourceAttributes": {"namespace": "team-a", "verb": "list", "resource": "pods"},
    }}));
    let status = Api::<SubjectAccessReview>::all(rbac.admin.clone())
        .create(&PostParams::default(), &about_alice)
        .await?
        .status
        .unwrap_or_default();
    assert!(status.allowed);
    assert_eq!(
        status.reason.as_deref(),
        Some(r#"RBAC: allowed by RoleBinding "reader/team-a" of Role "reader" to User "alice""#)
    );
    let err =
        status_of(Api::<SubjectAccessReview>::all(alice.clone()).create(&PostParams::default(), &about_alice).await);
    assert_eq!(err.code, 403, "alice may not ask about others");

    let rules = obj::<SelfSubjectRulesReview>(json!({"spec": {"namespace": "team-a"}}));
    let answer = Api::<SelfSubjectRulesReview>::all(alice).create(&PostParams::default(), &rules).await?;
    let resource_rules = answer.status.map(|s| s.resource_rules).unwrap_or_default();
    assert!(
        resource_rules.iter().any(|r| r.resources.as_deref() == Some(&["pods".to_string()][..]) && r.verbs == ["list"]),
        "{resource_rules:?}"
    );
    Ok(())
}
