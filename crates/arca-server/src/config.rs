//! How one `arca server` process runs.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;

#[derive(Clone)]
pub struct ServerConfig {
    /// The namespace the server runs in: its Lease, its Events' source.
    pub namespace: String,
    /// This replica's name in the Lease and in `status.worker` (the pod
    /// name in the cluster; host and pid on a workstation).
    pub identity: String,
    /// Where `/metrics`, `/healthz` and `/readyz` are served; none when absent.
    pub metrics_address: Option<SocketAddr>,
    /// Backups and restores of a namespace run as that namespace's tenant
    /// identity (impersonated), so Kubernetes RBAC bounds them.
    pub tenant_mode: bool,
    /// The image of mover pods (the server's own image).
    pub mover_image: String,
    /// The namespace mover pods and staged snapshots live in.
    pub mover_namespace: String,
    /// Default bound of backups and restores running at once per location.
    pub max_concurrent_per_location: u32,
    /// Leader election on a coordination.k8s.io Lease.
    pub lease_name: String,
    pub lease_duration: Duration,
    pub lease_renew_every: Duration,
    /// Schedules read this clock.
    pub clock: Arc<dyn Clock>,
    /// On shutdown, how long running backups and restores may take to
    /// finish before they are stopped and marked `Failed` (`ServerStopped`).
    pub shutdown_grace: Duration,
    /// The configuration the server's client was built from: tenant mode
    /// derives each namespace's impersonating client from it.
    pub kube_config: Option<kube::Config>,
    /// How the dashboard at `/ui/` admits requests (off by default here;
    /// `arca server` turns it on: open on loopback, tokens elsewhere).
    pub ui_auth: crate::ui::access::UiAuth,
}

impl ServerConfig {
    pub fn new(namespace: &str, identity: &str) -> Self {
        ServerConfig {
            namespace: namespace.to_string(),
            identity: identity.to_string(),
            metrics_address: None,
            tenant_mode: false,
            mover_image: arca_volumes::DEFAULT_MOVER_IMAGE.to_string(),
            mover_namespace: namespace.to_string(),
            max_concurrent_per_location: 2,
            lease_name: "arca-server".to_string(),
            lease_duration: Duration::from_secs(15),
            lease_renew_every: Duration::from_secs(5),
            clock: crate::clock::system(),
            shutdown_grace: Duration::from_secs(60),
            kube_config: None,
            ui_auth: crate::ui::access::UiAuth::Off,
        }
    }
}
