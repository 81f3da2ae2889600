//! What the catalog sync and metrics tests share: a source cluster with
//! backups in a repository on disk, a target cluster with Arca's CRDs and
//! `BackupLocation`s, and catalog sync running against it.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arca_api::common::SecretKeyRef;
use arca_api::{AccessMode, BackupLocation, BackupLocationSpec};
use arca_kube::api::Kube;
use arca_kube::backup::{self, BackupOptions, BackupReport};
use arca_kube::filter::FilterSpec;
use arca_repo::{InitOptions, KdfParams, Repository};
use arca_server::ServerConfig;
use arca_server::metrics::Metrics;
use arca_testcluster::TestCluster;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, PostParams};
use serde_json::json;

pub const PASSWORD: &str = "correct horse battery";

pub fn new_repo(dir: &Path) -> anyhow::Result<Repository> {
    let backend = arca_repo::open_backend(&dir.display().to_string(), true)?;
    let repo = Repository::init(
        backend,
        PASSWORD.as_bytes(),
        InitOptions { kdf: KdfParams::insecure_fast(), ..Default::default() },
    )?;
    repo.load_index()?;
    Ok(repo)
}

pub async fn kube_of(cluster: &TestCluster) -> anyhow::Result<Kube> {
    Ok(Kube::new(cluster.client().await?, 8))
}

pub async fn create(kube: &Kube, collection: &str, body: serde_json::Value) -> anyhow::Result<()> {
    kube.create(collection, &body, "fixture").await?;
    Ok(())
}

pub async fn namespace(kube: &Kube, name: &str) -> anyhow::Result<()> {
    create(kube, "/api/v1/namespaces", json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}))
        .await
}

/// A namespace with a few ConfigMaps, to back up.
pub async fn app(kube: &Kube, ns: &str, configmaps: usize) -> anyhow::Result<()> {
    namespace(kube, ns).await?;
    for i in 0..configmaps {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("cm-{i}"), "namespace": ns}, "data": {"i": i.to_string()}});
        create(kube, &format!("/api/v1/namespaces/{ns}/configmaps"), cm).await?;
    }
    Ok(())
}

/// A backup of namespace `ns` by the library, as `arca backup create` makes it.
pub async fn backup(
    kube: &Kube,
    cluster: &TestCluster,
    repo: &Repository,
    name: &str,
    ns: &str,
    tags: &[&str],
) -> anyhow::Result<(BackupReport, arca_repo::Id)> {
    let mut opts = BackupOptions::new(name);
    opts.filter = FilterSpec { include_namespaces: vec![ns.into()], ..Default::default() };
    opts.tags = tags.iter().map(|t| t.to_string()).collect();
    Ok(backup::run(kube, &cluster.url(), repo, &opts, &backup::Quiet).await?)
}

/// Installs Arca's CRDs and waits until their resources are served.
pub async fn install_crds(cluster: &TestCluster) -> anyhow::Result<()> {
    let client = cluster.client().await?;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in arca_api::crds() {
        crds.create(&PostParams::default(), &crd).await?;
    }
    let locations: Api<BackupLocation> = Api::all(client);
    wait_until("the BackupLocation resource is served", Duration::from_secs(10), || async {
        Ok(locations.list(&Default::default()).await.is_ok())
    })
    .await
}

/// A Secret holding a repository password under key `password`.
pub async fn password_secret(kube: &Kube, ns: &str, name: &str, password: &str) -> anyhow::Result<()> {
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns},
        "stringData": {"password": password}});
    create(kube, &format!("/api/v1/namespaces/{ns}/secrets"), secret).await
}

pub async fn location(
    cluster: &TestCluster,
    ns: &str,
    name: &str,
    repo_dir: &Path,
    secret: &str,
    access: AccessMode,
) -> anyhow::Result<()> {
    let api: Api<BackupLocation> = Api::namespaced(cluster.client().await?, ns);
    let spec = BackupLocationSpec {
        repository: repo_dir.display().to_string(),
        password_secret: SecretKeyRef { name: secret.into(), key: "password".into() },
        access_mode: access,
        sync_period: Some("1s".into()),
        ..Default::default()
    };
    api.create(&PostParams::default(), &BackupLocation::new(name, spec)).await?;
    Ok(())
}

/// Catalog sync against `cluster`, as the server runs it; stops on drop.
pub struct Sync(tokio::task::JoinHandle<()>);

impl Drop for Sync {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub async fn start_sync(cluster: &TestCluster, metrics: Arc<Metrics>) -> anyhow::Result<Sync> {
    // RUST_LOG=arca_server=debug shows what catalog sync did.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let client = cluster.client().await?;
    let kubeconfig = kube::config::Kubeconfig::read_from(cluster.kubeconfig_path())?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?;
    let server = ServerConfig::new("arca-system", "catalog-test");
    let task = tokio::spawn(async move {
        if let Err(e) = arca_server::catalog::run(client, Some(config), server, metrics).await {
            eprintln!("catalog sync ended: {e}");
        }
    });
    Ok(Sync(task))
}

/// Polls `check` every 100 ms until it holds; fails naming `what` after `timeout`.
pub async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut check: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await? {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!("timed out after {timeout:?} waiting until {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
