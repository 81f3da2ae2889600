//! The shared state of one running cluster.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use crate::backends::Endpoints;
use crate::faults::Faults;
use crate::registry::Registry;
use crate::release::KubernetesVersion;
use crate::state::State;

/// Name of the single simulated node.
pub const NODE_NAME: &str = "arca-node";

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
        }
    }

    /// Locks the object state. A panic while holding the lock does not poison it
    /// for other requests.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}
