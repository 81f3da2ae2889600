//! Tenant self-service end to end: a cluster that enforces RBAC, Arca
//! installed in tenant mode with its own RBAC (the server runs as its
//! ServiceAccount, not as an admin), two teams that each hold `admin` in
//! their namespace only. A team's Backup and Restore objects are performed
//! as its tenant identity: its backup holds only its namespace, its restore
//! of a RoleBinding to `cluster-admin` is refused by the escalation check
//! and reported, and the other team's backups, locations and keys are out
//! of its reach.

mod common;

use std::path::Path;
use std::time::Duration;

use arca_api::common::SecretKeyRef;
use arca_api::{
    AccessMode, Backup, BackupLocation, BackupLocationSpec, BackupPhase, BackupSpec, Restore, RestorePhase, RestoreSpec,
};
use arca_install::{Group, InstallOptions};
use arca_kube::catalog::{All, Catalog};
use arca_repo::{InitOptions, KdfParams, Repository};
use arca_server::ServerConfig;
use arca_testcluster::TestCluster;
use common::until;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::Client;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::{Value, json};

const RBAC: &str = "rbac.authorization.k8s.io";
const NS: &str = "arca-system";

struct Team {
    namespace: &'static str,
    password: &'static str,
    client: Client,
    repo: String,
}

/// A client (and its configuration) that authenticates with `token`.
async fn client_with(
    cluster: &TestCluster,
    dir: &Path,
    who: &str,
    token: &str,
) -> anyhow::Result<(Client, kube::Config)> {
    let path = dir.join(format!("{who}.kubeconfig"));
    cluster.write_kubeconfig(&path, token)?;
    let options = arca_kube::connect::ClusterOptions { kubeconfig: Some(path), context: None };
    let config = arca_kube::connect::client_config(&options).await?;
    Ok((Client::try_from(config.clone())?, config))
}

fn binding(name: &str, role: &str, subject: Value) -> Value {
    json!({
        "apiVersion": format!("{RBAC}/v1"), "kind": "RoleBinding", "metadata": {"name": name},
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": role},
        "subjects": [subject],
    })
}

fn init_repository(dir: &Path, password: &str) -> anyhow::Result<String> {
    let url = dir.display().to_string();
    let backend = arca_repo::open_backend(&url, true)?;
    Repository::init(
        backend,
        password.as_bytes(),
        InitOptions { kdf: KdfParams::insecure_fast(), ..Default::default() },
    )?;
    Ok(url)
}

fn objects_in(url: &str, password: &str, backup: &str) -> anyhow::Result<Vec<String>> {
    let repo = Repository::open(arca_repo::open_backend(url, false)?, password.as_bytes())?;
    repo.load_index()?;
    let entry = arca_kube::backup::find_backup(&repo, backup)?;
    let catalog = Catalog::open(&repo, &entry.snapshot.tree)?;
    Ok(catalog.entries(&All)?.iter().map(|e| e.path.display()).collect())
}

/// The team's namespace with a ConfigMap and a ServiceAccount `app`; the
/// team's user (bound to `admin` there) and its tenant identity; the
/// team's own location with its own repository and password, made by the
/// team's user.
async fn team(
    cluster: &TestCluster,
    admin: &Client,
    dir: &Path,
    namespace: &'static str,
    password: &'static str,
) -> anyhow::Result<Team> {
    common::namespace(admin, namespace).await?;
    cluster.create_objects(arca_install::rbac::tenant_objects(namespace))?;
    let user = format!("{namespace}-user");
    let user_subject = json!({"kind": "User", "apiGroup": RBAC, "name": user});
    let bindings: Api<RoleBinding> = Api::namespaced(admin.clone(), namespace);
    bindings
        .create(&PostParams::default(), &serde_json::from_value(binding("team-admin", "admin", user_subject))?)
        .await?;
    let (client, _) = client_with(cluster, dir, &user, &cluster.add_user(&user, &[])).await?;

    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let cm = json!({"metadata": {"name": "settings"}, "data": {"team": namespace}});
    configmaps.create(&PostParams::default(), &serde_json::from_value(cm)?).await?;
    let accounts: Api<k8s_openapi::api::core::v1::ServiceAccount> = Api::namespaced(client.clone(), namespace);
    accounts.create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": "app"}}))?).await?;

    let repo_dir = dir.join(format!("repo-{namespace}"));
    let repo = init_repository(&repo_dir, password)?;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let secret = json!({"metadata": {"name": "repo-password"}, "stringData": {"password": password}});
    secrets.create(&PostParams::default(), &serde_json::from_value(secret)?).await?;
    let spec = BackupLocationSpec {
        repository: repo.clone(),
        password_secret: SecretKeyRef { name: "repo-password".into(), key: "password".into() },
        default: true,
        access_mode: AccessMode::ReadWrite,
        ..Default::default()
    };
    let mut loc = BackupLocation::new("main", spec);
    loc.metadata.namespace = Some(namespace.into());
    Api::<BackupLocation>::namespaced(client.clone(), namespace).create(&PostParams::default(), &loc).await?;
    Ok(Team { namespace, password, client, repo })
}

async fn create_backup(team: &Team, name: &str, spec: BackupSpec) -> anyhow::Result<()> {
    let mut b = Backup::new(name, BackupSpec { volumes: none(), ..spec });
    b.metadata.namespace = Some(team.namespace.into());
    Api::<Backup>::namespaced(team.client.clone(), team.namespace).create(&PostParams::default(), &b).await?;
    Ok(())
}

fn none() -> arca_api::backup::VolumeOptions {
    arca_api::backup::VolumeOptions { mode: Some("none".into()), ..Default::default() }
}

async fn backup_where(team: &Team, name: &str, what: &str, done: fn(&Backup) -> bool) -> anyhow::Result<Backup> {
    let api: Api<Backup> = Api::namespaced(team.client.clone(), team.namespace);
    until(Duration::from_secs(40), &format!("backup {}/{name}: {what}", team.namespace), || async {
        Ok(api.get_opt(name).await?.filter(done))
    })
    .await
}

fn is_final(b: &Backup) -> bool {
    b.status.as_ref().is_some_and(|s| s.phase.is_final())
}

async fn restore(team: &Team, name: &str, spec: RestoreSpec) -> anyhow::Result<Restore> {
    let api: Api<Restore> = Api::namespaced(team.client.clone(), team.namespace);
    let mut r = Restore::new(name, spec);
    r.metadata.namespace = Some(team.namespace.into());
    api.create(&PostParams::default(), &r).await?;
    until(Duration::from_secs(40), &format!("restore {}/{name} to finish", team.namespace), || async {
        Ok(api.get_opt(name).await?.filter(|r| r.status.as_ref().is_some_and(|s| s.phase.is_final())))
    })
    .await
}

fn forbidden<T: std::fmt::Debug>(result: kube::Result<T>) -> bool {
    matches!(result, Err(kube::Error::Api(ref s)) if s.code == 403)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_back_up_and_restore_only_their_namespace_through_the_server() -> anyhow::Result<()> {
    let cluster = TestCluster::builder().rbac(true).start().await?;
    let admin = cluster.client().await?;
    let dir = tempfile::tempdir()?;

    // Arca installed in tenant mode: CRDs and its RBAC (no workloads: the
    // server runs in this process, as the installed ServiceAccount).
    let opts = InstallOptions { tenant_mode: true, namespace: NS.into(), ..Default::default() };
    let install = arca_install::grouped(&opts)
        .into_iter()
        .filter(|m| matches!(m.group, Group::Namespace | Group::Crds | Group::Rbac));
    cluster.create_objects(install.map(|m| m.object))?;
    let token = cluster.service_account_token(NS, arca_install::SERVER_NAME)?;
    let (server_client, server_config) = client_with(&cluster, dir.path(), "server", &token).await?;
    let mut config = ServerConfig::new(NS, "tenant-server");
    config.tenant_mode = true;
    config.kube_config = Some(server_config);
    config.shutdown_grace = Duration::from_secs(5);
    let (_stop, _server) = common::server_with(&server_client, config);

    let a = team(&cluster, &admin, dir.path(), "team-a", "team a's own password").await?;
    let b = team(&cluster, &admin, dir.path(), "team-b", "team b's own password").await?;
    // The cluster admin gave team-a's `app` more than the team holds.
    let app = json!({"kind": "ServiceAccount", "name": "app", "namespace": "team-a"});
    let bindings: Api<RoleBinding> = Api::namespaced(admin.clone(), "team-a");
    bindings.create(&PostParams::default(), &serde_json::from_value(binding("app-edit", "edit", app.clone()))?).await?;
    bindings
        .create(&PostParams::default(), &serde_json::from_value(binding("app-root", "cluster-admin", app))?)
        .await?;

    // Each team backs up: the backup holds only its namespace.
    create_backup(&a, "a-1", BackupSpec::default()).await?;
    create_backup(&b, "b-1", BackupSpec::default()).await?;
    for (team, name) in [(&a, "a-1"), (&b, "b-1")] {
        let done = backup_where(team, name, "final", is_final).await?;
        let status = done.status.clone().unwrap_or_default();
        assert_eq!(status.phase, BackupPhase::Completed, "{status:?}");
        let (url, password, name) = (team.repo.clone(), team.password, name.to_string());
        let objects = tokio::task::spawn_blocking(move || objects_in(&url, password, &name)).await??;
        let own = format!("namespaces/{}/", team.namespace);
        let outside: Vec<&String> = objects.iter().filter(|p| !p.starts_with(&own)).collect();
        assert!(outside.is_empty(), "{}'s backup holds objects outside its namespace: {outside:?}", team.namespace);
        assert!(objects.iter().any(|p| p.ends_with("configmaps/settings.json")), "{objects:?}");
    }
    let a_objects = {
        let (url, password) = (a.repo.clone(), a.password);
        tokio::task::spawn_blocking(move || objects_in(&url, password, "a-1")).await??
    };
    assert!(a_objects.iter().any(|p| p.ends_with("rolebindings/app-root.json")), "{a_objects:?}");
    // Each repository holds only its team's backups.
    let listed = |url: &str, password: &str| -> anyhow::Result<Vec<String>> {
        let repo = Repository::open(arca_repo::open_backend(url, false)?, password.as_bytes())?;
        Ok(arca_kube::backup::list_backups(&repo)?
            .iter()
            .filter_map(|s| arca_kube::backup::BackupReport::from_snapshot(s).ok())
            .map(|r| r.name)
            .collect())
    };
    assert_eq!(listed(&a.repo, a.password)?, vec!["a-1"]);
    assert_eq!(listed(&b.repo, b.password)?, vec!["b-1"]);

    // A backup of the other team's namespace is refused before it starts.
    create_backup(&a, "a-wide", BackupSpec { include_namespaces: vec!["team-b".into()], ..Default::default() }).await?;
    let wide = backup_where(&a, "a-wide", "final", is_final).await?.status.unwrap_or_default();
    assert_eq!(wide.phase, BackupPhase::Failed);
    assert!(wide.errors.iter().any(|e| e.reason == "TenantScope"), "{wide:?}");

    // The other team's objects, location and keys are out of reach.
    let b_backups: Api<Backup> = Api::namespaced(a.client.clone(), "team-b");
    assert!(forbidden(b_backups.list(&Default::default()).await), "team-a lists team-b's Backups");
    assert!(forbidden(b_backups.get("b-1").await), "team-a reads team-b's Backup");
    let b_secrets: Api<Secret> = Api::namespaced(a.client.clone(), "team-b");
    assert!(forbidden(b_secrets.get("repo-password").await), "team-a reads team-b's password");
    let b_restores: Api<Restore> = Api::namespaced(a.client.clone(), "team-b");
    let mut sneaky = Restore::new("sneaky", RestoreSpec { backup: "b-1".into(), ..Default::default() });
    sneaky.metadata.namespace = Some("team-b".into());
    assert!(forbidden(b_restores.create(&PostParams::default(), &sneaky).await), "team-a restores in team-b");
    // Naming the other team's backup from its own namespace finds nothing.
    let stolen = restore(&a, "steal", RestoreSpec { backup: "b-1".into(), ..Default::default() }).await?;
    let st = stolen.status.unwrap_or_default();
    assert_eq!(st.phase, RestorePhase::Failed, "{st:?}");
    assert!(st.message.contains("team-a/b-1"), "{}", st.message);

    // A disaster in team-a: its ConfigMap and RoleBindings are gone.
    let a_configmaps: Api<ConfigMap> = Api::namespaced(a.client.clone(), "team-a");
    a_configmaps.delete("settings", &DeleteParams::default()).await?;
    for name in ["app-edit", "app-root"] {
        bindings.delete(name, &DeleteParams::default()).await?;
    }
    // Restoring into the other team's namespace is refused before it starts.
    let mapping = [("team-a".to_string(), "team-b".to_string())].into();
    let mapped =
        restore(&a, "a-into-b", RestoreSpec { backup: "a-1".into(), namespace_mapping: mapping, ..Default::default() })
            .await?;
    let st = mapped.status.unwrap_or_default();
    assert_eq!(st.phase, RestorePhase::Failed, "{st:?}");
    assert!(
        Api::<ConfigMap>::namespaced(admin.clone(), "team-b")
            .get_opt("settings")
            .await?
            .is_some_and(|c| { c.data.unwrap_or_default().get("team").map(String::as_str) == Some("team-b") })
    );

    // The team restores its own backup: everything a namespace admin may
    // create comes back; the RoleBinding to cluster-admin is refused by the
    // API server's escalation check, and the restore says so.
    let done = restore(&a, "a-back", RestoreSpec { backup: "a-1".into(), ..Default::default() }).await?;
    let st = done.status.unwrap_or_default();
    assert_eq!(st.phase, RestorePhase::PartiallyFailed, "{st:?}");
    assert_eq!(st.progress.as_ref().map(|p| p.failed), Some(1), "{st:?}");
    let refused = st.errors.iter().find(|e| e.object.as_deref().is_some_and(|o| o.contains("app-root")));
    let refused = refused.unwrap_or_else(|| panic!("the refused RoleBinding is reported: {:?}", st.errors));
    assert!(refused.message.contains("forbidden") || refused.message.contains("escalat"), "{refused:?}");
    assert!(a_configmaps.get_opt("settings").await?.is_some(), "the ConfigMap is back");
    assert!(bindings.get_opt("app-edit").await?.is_some(), "the RoleBinding to edit is back");
    assert!(bindings.get_opt("app-root").await?.is_none(), "the RoleBinding to cluster-admin stays refused");
    Ok(())
}
