//! The server in-process against the test cluster, with real repositories on disk.
#![allow(dead_code)]

use std::future::Future;
use std::time::{Duration, Instant};

use arca_api::common::SecretKeyRef;
use arca_api::{AccessMode, Backup, BackupLocation, BackupLocationSpec, BackupSpec};
use arca_repo::{InitOptions, KdfParams, Repository};
use arca_server::ServerConfig;
use arca_testcluster::TestCluster;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, PostParams};
use serde_json::json;

pub const PASSWORD: &[u8] = b"server test password";

/// A cluster with Arca's CRDs, and a client.
pub async fn cluster() -> anyhow::Result<(TestCluster, Client)> {
    // RUST_LOG=arca_server=debug shows what the controllers did.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let cluster = TestCluster::start().await?;
    let client = cluster.client().await?;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in arca_api::crds() {
        crds.create(&PostParams::default(), &crd).await?;
    }
    // The server's own namespace (its Lease), as `arca install` creates it.
    namespace(&client, "arca-system").await?;
    Ok((cluster, client))
}

/// An initialised repository in `dir`.
pub fn repository(dir: &std::path::Path) -> anyhow::Result<String> {
    let url = dir.display().to_string();
    let backend = arca_repo::open_backend(&url, true)?;
    Repository::init(backend, PASSWORD, InitOptions { kdf: KdfParams::insecure_fast(), ..Default::default() })?;
    Ok(url)
}

pub fn open(url: &str) -> anyhow::Result<Repository> {
    let repo = Repository::open(arca_repo::open_backend(url, false)?, PASSWORD)?;
    repo.load_index()?;
    Ok(repo)
}

/// Names of the backups in the repository.
pub fn backups_in(url: &str) -> anyhow::Result<Vec<String>> {
    let repo = open(url)?;
    Ok(arca_kube::backup::list_backups(&repo)?
        .iter()
        .filter_map(|s| arca_kube::backup::BackupReport::from_snapshot(s).ok())
        .map(|r| r.name)
        .collect())
}

pub async fn namespace(client: &Client, name: &str) -> anyhow::Result<()> {
    let api: Api<Namespace> = Api::all(client.clone());
    api.create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": name}}))?).await?;
    Ok(())
}

/// A namespace with a few ConfigMaps to back up.
pub async fn app(client: &Client, ns: &str, configmaps: usize) -> anyhow::Result<()> {
    namespace(client, ns).await?;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    for i in 0..configmaps {
        let cm = json!({"metadata": {"name": format!("config-{i}")}, "data": {"key": format!("value {i}")}});
        api.create(&PostParams::default(), &serde_json::from_value(cm)?).await?;
    }
    Ok(())
}

/// A location (and its password Secret) in `ns`.
pub async fn location(
    client: &Client,
    ns: &str,
    name: &str,
    url: &str,
    password: &[u8],
    default: bool,
    max_concurrent: Option<u32>,
) -> anyhow::Result<()> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let secret = json!({"metadata": {"name": format!("{name}-password")}, "stringData": {"password": String::from_utf8_lossy(password)}});
    secrets.create(&PostParams::default(), &serde_json::from_value(secret)?).await?;
    let spec = BackupLocationSpec {
        repository: url.to_string(),
        password_secret: SecretKeyRef { name: format!("{name}-password"), key: "password".into() },
        default,
        access_mode: AccessMode::ReadWrite,
        max_concurrent,
        ..Default::default()
    };
    let mut loc = BackupLocation::new(name, spec);
    loc.metadata.namespace = Some(ns.to_string());
    Api::<BackupLocation>::namespaced(client.clone(), ns).create(&PostParams::default(), &loc).await?;
    Ok(())
}

pub async fn backup(client: &Client, ns: &str, name: &str, location: Option<&str>, of: &str) -> anyhow::Result<()> {
    let spec = BackupSpec {
        location: location.map(String::from),
        include_namespaces: vec![of.to_string()],
        volumes: arca_api::backup::VolumeOptions { mode: Some("none".into()), ..Default::default() },
        ..Default::default()
    };
    let mut b = Backup::new(name, spec);
    b.metadata.namespace = Some(ns.to_string());
    Api::<Backup>::namespaced(client.clone(), ns).create(&PostParams::default(), &b).await?;
    Ok(())
}

/// The server, in-process, until the returned sender is dropped or sent.
pub fn server(
    client: &Client,
    identity: &str,
) -> (tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<arca_server::Result<()>>) {
    let mut config = ServerConfig::new("arca-system", identity);
    config.shutdown_grace = Duration::from_secs(5);
    server_with(client, config)
}

pub fn server_with(
    client: &Client,
    config: ServerConfig,
) -> (tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<arca_server::Result<()>>) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let client = client.clone();
    let handle = tokio::spawn(async move {
        arca_server::server::run(client, config, async move {
            let _ = stopped.await;
        })
        .await
    });
    (stop, handle)
}

/// Polls `check` until it gives a value, failing after `within` with `what`.
pub async fn until<T, F, Fut>(within: Duration, what: &str, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check().await? {
            return Ok(v);
        }
        if Instant::now() > deadline {
            anyhow::bail!("timed out after {within:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub async fn get_backup(client: &Client, ns: &str, name: &str) -> anyhow::Result<Option<Backup>> {
    Ok(Api::<Backup>::namespaced(client.clone(), ns).get_opt(name).await?)
}

/// Waits for the backup to reach a final phase.
pub async fn finished(client: &Client, ns: &str, name: &str) -> anyhow::Result<Backup> {
    until(Duration::from_secs(40), &format!("backup {ns}/{name} to finish"), || async {
        Ok(get_backup(client, ns, name).await?.filter(|b| b.status.as_ref().is_some_and(|s| s.phase.is_final())))
    })
    .await
}

/// Reasons of the events about `name` in `ns`.
pub async fn event_reasons(client: &Client, ns: &str, name: &str) -> anyhow::Result<Vec<String>> {
    let api: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), ns);
    Ok(api
        .list(&Default::default())
        .await?
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .filter_map(|e| e.reason)
        .collect())
}
