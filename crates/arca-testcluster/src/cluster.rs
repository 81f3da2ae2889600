//! The shared state of one running cluster.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use crate::auth::Authenticator;
use crate::backends::Endpoints;
use crate::faults::Faults;
use crate::registry::Registry;
use crate::release::KubernetesVersion;
use crate::state::State;

/// Name of the node of a single-node cluster.
pub const NODE_NAME: &str = "arca-node";

/// The names of the simulated nodes: `arca-node` alone, or `arca-node-1` … `arca-node-N`.
pub fn node_names(count: usize) -> Vec<String> {
    match count {
        0 | 1 => vec![NODE_NAME.to_string()],
        n => (1..=n).map(|i| format!("{NODE_NAME}-{i}")).collect(),
    }
}

/// How long after its release the test provisioner deletes a `Delete` volume.
pub const DEFAULT_VOLUME_DELETION_DELAY: Duration = Duration::from_secs(1);

/// Shared by the HTTP server and the controllers.
pub struct Cluster {
    state: Mutex<State>,
    pub faults: Faults,
    /// Service endpoints for the API server's own calls (webhooks, aggregated APIs).
    pub endpoints: Endpoints,
    pub data_dir: PathBuf,
    pub volume_deletion_delay: Duration,
    /// Directories put first on containers' `PATH` (what the "image" holds).
    pub container_path: Vec<PathBuf>,
    /// The Kubernetes release the cluster imitates.
    pub release: KubernetesVersion,
    /// The nodes a kubelet runs on (other Node objects have none).
    pub nodes: Vec<String>,
    /// Image name prefixes no registry has: such containers never start.
    pub unpullable_images: Vec<String>,
    /// Bearer tokens, and whether RBAC is enforced.
    pub auth: Authenticator,
}

impl Cluster {
    pub fn new(data_dir: PathBuf, release: KubernetesVersion) -> Self {
        let state = State { registry: Registry::for_release(release), ..State::default() };
        Cluster {
            state: Mutex::new(state),
            faults: Faults::default(),
            endpoints: Endpoints::default(),
            data_dir,
            volume_deletion_delay: DEFAULT_VOLUME_DELETION_DELAY,
            container_path: Vec::new(),
            release,
            nodes: node_names(1),
            unpullable_images: Vec::new(),
            auth: Authenticator::default(),
        }
    }

    /// Locks the object state. A panic while holding the lock does not poison it
    /// for other requests.
    /// Where the kubelet of `node` keeps its files (`/var/lib/kubelet` on the node).
    pub fn kubelet_dir(&self, node: &str) -> PathBuf {
        self.data_dir.join("nodes").join(node).join("kubelet")
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}
