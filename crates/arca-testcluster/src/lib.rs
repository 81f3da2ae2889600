//! An emulation of the Kubernetes API server for tests, reached over real HTTP by a
//! `kube::Client` built from the kubeconfig file it writes, with simulated
//! controllers (namespaces, garbage collection, volume provisioning and
//! binding, snapshots, Jobs, Deployments, ReplicaSets, StatefulSets), a
//! scheduler over one or more nodes, and a simulated kubelet per node that
//! runs pod commands as local processes.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let cluster = arca_testcluster::TestCluster::start().await?;
//! let client = cluster.client().await?;
//! # let _ = client; Ok(()) }
//! ```

mod admission;
mod aggregation;
mod auth;
pub mod backends;
mod cluster;
mod controllers;
mod convert;
pub mod error;
mod exec;
pub mod faults;
pub mod group_snapshot_crds;
mod handlers;
mod http_client;
mod kubeconfig;
mod managed;
mod meta;
mod migration;
mod patch;
pub mod registry;
pub mod release;
mod seed;
pub mod selectors;
mod served;
mod server;
pub mod snapshot_crds;
mod state;
mod store;
mod types;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

pub use backends::{BackendRequest, BackendResponse, Backends};
pub use error::ApiError;
pub use faults::{Fault, FaultRule, Faults, RuleId};
pub use migration::Migration;
pub use release::{KubernetesVersion, UnsupportedVersion};
pub use seed::{
    TEST_GROUP_SNAPSHOT_CLASS, TEST_LOCAL_PROVISIONER, TEST_LOCAL_STORAGE_CLASS, TEST_PROVISIONER, TEST_SNAPSHOT_CLASS,
    TEST_STORAGE_CLASS, TEST_WFFC_STORAGE_CLASS,
};

/// Errors of the library API (not of API requests, which answer `Status` objects).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("kubeconfig: {0}")]
    Kubeconfig(String),
    #[error("client: {0}")]
    Client(String),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Version(#[from] UnsupportedVersion),
}

/// Options for starting a cluster.
#[derive(Debug, Default, Clone)]
pub struct Builder {
    kubeconfig: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    snapshot_crds: bool,
    group_snapshots: Option<String>,
    volume_deletion_delay: Option<std::time::Duration>,
    kubernetes_version: Option<String>,
    container_path: Vec<PathBuf>,
    nodes: Option<usize>,
    unpullable_images: Vec<String>,
    rbac: bool,
}

impl Builder {
    /// Write the kubeconfig to this path (default: `kubeconfig` in the data dir).
    pub fn kubeconfig(mut self, path: impl Into<PathBuf>) -> Self {
        self.kubeconfig = Some(path.into());
        self
    }

    /// Keep volumes, snapshots and pod files here (default: a temporary directory
    /// removed on drop).
    pub fn data_dir(mut self, path: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(path.into());
        self
    }

    /// Install the CSI snapshot CRDs and the test VolumeSnapshotClass at start.
    /// Also serve `groupsnapshot.storage.k8s.io` at `version` (`v1beta1` as
    /// external-snapshotter 8.0–8.2, `v1beta2` as newer ones) with a
    /// VolumeGroupSnapshotClass of the test driver, and run the group
    /// snapshot controller. Needs [`Builder::snapshot_crds`].
    pub fn group_snapshots(mut self, version: &str) -> Self {
        self.group_snapshots = Some(version.to_string());
        self
    }

    pub fn snapshot_crds(mut self, yes: bool) -> Self {
        self.snapshot_crds = yes;
        self
    }

    /// How long after its claim is gone the test provisioner deletes a volume
    /// with reclaim policy `Delete` (default 1 s); until then it is `Released`.
    pub fn volume_deletion_delay(mut self, delay: std::time::Duration) -> Self {
        self.volume_deletion_delay = Some(delay);
        self
    }

    /// Put `dir` first on the `PATH` of every container process (repeatable):
    /// what the containers' images hold, e.g. the directory of a binary a
    /// pod's `command` names.
    pub fn container_path(mut self, dir: impl Into<PathBuf>) -> Self {
        self.container_path.push(dir.into());
        self
    }

    /// Run `n` nodes (default 1): one is `arca-node`, more are `arca-node-1` …
    /// `arca-node-N` in zones `zone-a`, `zone-b`, … alternating; the scheduler
    /// spreads pods over them.
    pub fn nodes(mut self, n: usize) -> Self {
        self.nodes = Some(n.max(1));
        self
    }

    /// Images whose name starts with `prefix` cannot be pulled (repeatable):
    /// their containers wait in `ErrImagePull`, then `ImagePullBackOff`.
    pub fn unpullable_image(mut self, prefix: impl Into<String>) -> Self {
        self.unpullable_images.push(prefix.into());
        self
    }

    /// Enforce RBAC (default off: every authenticated request is allowed, as
    /// with `--authorization-mode=AlwaysAllow`). Authentication and
    /// impersonation work either way; the default kubeconfig's user is in
    /// `system:masters`.
    pub fn rbac(mut self, yes: bool) -> Self {
        self.rbac = yes;
        self
    }

    /// Imitate this Kubernetes release (default 1.33): `/version`, the served
    /// group versions and preferred versions, and the objects created at start.
    /// `"1.25"`, `"1.29"` or `"1.33"`; another answers
    /// [`Error::Version`] from [`Builder::start`].
    pub fn kubernetes_version(mut self, version: impl Into<String>) -> Self {
        self.kubernetes_version = Some(version.into());
        self
    }

    /// Starts the cluster on a random free port of 127.0.0.1.
    pub async fn start(self) -> Result<TestCluster, Error> {
        install_crypto_provider();
        let release = match &self.kubernetes_version {
            Some(v) => v.parse::<KubernetesVersion>()?,
            None => KubernetesVersion::default(),
        };
        let temp = match &self.data_dir {
            Some(_) => None,
            None => Some(tempfile::Builder::new().prefix("arca-testcluster-").tempdir()?),
        };
        let data_dir = match (&self.data_dir, &temp) {
            (Some(d), _) => d.clone(),
            (None, Some(t)) => t.path().to_path_buf(),
            (None, None) => std::env::temp_dir(),
        };
        std::fs::create_dir_all(&data_dir)?;
        let data_dir = data_dir.canonicalize()?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let port = listener.local_addr()?.port();
        let mut cluster = cluster::Cluster::new(data_dir.clone(), release);
        cluster.volume_deletion_delay = self.volume_deletion_delay.unwrap_or(cluster.volume_deletion_delay);
        cluster.container_path = self.container_path.clone();
        cluster.nodes = cluster::node_names(self.nodes.unwrap_or(1));
        cluster.unpullable_images = self.unpullable_images.clone();
        cluster.auth.rbac = self.rbac;
        for node in &cluster.nodes {
            std::fs::create_dir_all(cluster.kubelet_dir(node).join("pods"))?;
        }
        let cluster = Arc::new(cluster);
        seed::defaults(&cluster)?;
        if self.snapshot_crds {
            seed::snapshot_support(&cluster)?;
        }
        if let Some(version) = &self.group_snapshots {
            seed::group_snapshot_support(&cluster, version)?;
        }
        aggregation::refresh(&cluster);
        let url = format!("http://127.0.0.1:{port}");
        let kubeconfig_path = self.kubeconfig.clone().unwrap_or_else(|| data_dir.join("kubeconfig"));
        kubeconfig::write(&kubeconfig_path, &url, &cluster.auth.admin_token)?;
        let server = server::spawn(listener, cluster.clone());
        let controllers = controllers::spawn(cluster.clone())?;
        Ok(TestCluster { cluster, url, kubeconfig_path, server, controllers: Some(controllers), _temp: temp })
    }
}

/// A running test cluster; shuts down (server, controllers, pod processes, data
/// directory) on drop.
pub struct TestCluster {
    cluster: Arc<cluster::Cluster>,
    url: String,
    kubeconfig_path: PathBuf,
    server: tokio::task::JoinHandle<()>,
    controllers: Option<controllers::Handle>,
    _temp: Option<tempfile::TempDir>,
}

/// Picks the TLS crypto provider for this process. Arca's workspace links
/// two (object_store brings aws-lc-rs, kube ring) and rustls refuses to
/// guess, so call this before building a `kube::Client` yourself;
/// [`TestCluster::start`] does.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl TestCluster {
    /// Starts a cluster with default options.
    pub async fn start() -> anyhow::Result<TestCluster> {
        Ok(Builder::default().start().await?)
    }

    pub fn builder() -> Builder {
        Builder::default()
    }

    /// The Kubernetes release the cluster imitates.
    pub fn kubernetes_version(&self) -> KubernetesVersion {
        self.cluster.release
    }

    /// Every served `group/version` (`v1` for the core group), CRDs included.
    pub fn served_group_versions(&self) -> Vec<String> {
        let groups = self.cluster.lock().registry.groups();
        groups.iter().flat_map(|(g, versions)| versions.iter().map(|v| registry::api_version(g, v))).collect()
    }

    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig_path
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// A new bearer token for user `name` in `groups` (`system:authenticated`
    /// is added).
    pub fn add_user(&self, name: &str, groups: &[&str]) -> String {
        let mut user = auth::UserInfo::new(name, groups);
        if !user.groups.iter().any(|g| g == auth::AUTHENTICATED) {
            user.groups.push(auth::AUTHENTICATED.to_string());
        }
        self.cluster.auth.issue(user)
    }

    /// A token for service account `name` of `namespace`, as a TokenRequest
    /// would return; the service account must exist.
    pub fn service_account_token(&self, namespace: &str, name: &str) -> anyhow::Result<String> {
        Ok(auth::tokens::issue(&self.cluster, namespace, name)?)
    }

    /// The token of the default kubeconfig (user `arca-test-admin`, in `system:masters`).
    pub fn admin_token(&self) -> String {
        self.cluster.auth.admin_token.clone()
    }

    /// Writes a kubeconfig for this server that authenticates with `token`.
    pub fn write_kubeconfig(&self, path: impl AsRef<Path>, token: &str) -> anyhow::Result<()> {
        Ok(kubeconfig::write(path.as_ref(), &self.url, token)?)
    }

    /// A client built from the kubeconfig file, as for a real cluster.
    pub async fn client(&self) -> anyhow::Result<kube::Client> {
        Ok(kubeconfig::client(&self.kubeconfig_path).await?)
    }

    /// Which Services have a ready endpoint, for admission webhooks and
    /// aggregated APIServices (the cluster has no service network).
    pub fn backends(&self) -> Backends<'_> {
        Backends { cluster: &self.cluster }
    }

    pub fn faults(&self) -> &Faults {
        &self.cluster.faults
    }

    /// The names of the nodes that run pods.
    pub fn nodes(&self) -> Vec<String> {
        self.cluster.nodes.clone()
    }

    /// Where the kubelet of `node` keeps its files: what a `hostPath` under
    /// `/var/lib/kubelet` of a pod on that node resolves to.
    pub fn kubelet_dir(&self, node: &str) -> PathBuf {
        self.cluster.kubelet_dir(node)
    }

    /// Where volume, snapshot and pod directories live.
    pub fn data_dir(&self) -> &Path {
        &self.cluster.data_dir
    }

    /// Installs the CSI snapshot CRDs (snapshot.storage.k8s.io/v1) and the test
    /// VolumeSnapshotClass, if not installed yet.
    pub fn install_snapshot_crds(&self) -> anyhow::Result<()> {
        Ok(seed::snapshot_support(&self.cluster)?)
    }

    /// Compacts the event history as etcd does: watches from an older
    /// resourceVersion and older continue tokens then answer `410 Gone`.
    pub fn compact(&self) {
        self.cluster.lock().store.compact();
    }

    /// Creates objects straight in storage with the API server's defaulting
    /// and validation (as a POST would, without HTTP), in the given order; a
    /// CRD serves its resources from the next object on. For large fixtures.
    pub fn create_objects(&self, objects: impl IntoIterator<Item = Value>) -> anyhow::Result<usize> {
        let opts = state::WriteOpts::manager("arca-testcluster");
        let mut created = 0;
        for obj in objects {
            let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or_default().to_string();
            let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default().to_string();
            let (group, version) = registry::split_api_version(&api_version);
            let mut state = self.cluster.lock();
            let rt = state
                .registry
                .find_kind(group, &kind)
                .and_then(|t| state.resource(group, version, &t.plural))
                .ok_or_else(|| anyhow::anyhow!("no resource serves {kind} in {api_version}"))?;
            let ns = meta::namespace(&obj).to_string();
            let name = meta::name(&obj).to_string();
            state
                .create(&rt, &ns, obj, &opts)
                .map_err(|e| anyhow::anyhow!("creating {kind} {ns}/{name}: {}", e.message))?;
            created += 1;
        }
        Ok(created)
    }

    /// Reads an object directly from storage (served at its preferred version).
    pub fn object(&self, group: &str, plural: &str, namespace: &str, name: &str) -> Option<Value> {
        let state = self.cluster.lock();
        let rt = state.resource_any(group, plural)?;
        state.get(&rt, namespace, name).ok()
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        self.server.abort();
        if let Some(c) = self.controllers.take() {
            c.stop();
        }
    }
}
