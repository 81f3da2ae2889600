//! Aggregated APIs: `APIService` objects (`apiregistration.k8s.io/v1`), their
//! availability, and requests for a remote APIService's group version either
//! answered 503 (unavailable, as upstream's proxy does) or forwarded to the
//! Service's registered endpoint.

mod proxy;
pub mod status;

use crate::cluster::Cluster;
pub use proxy::{discovery_items, forward};

/// Recomputes the APIServices (local ones for served group versions, the
/// `Available` condition of all); run by the controllers and whenever a
/// test registers or removes an endpoint.
pub fn refresh(cluster: &Cluster) {
    let mut state = cluster.lock();
    status::sync(&mut state, &cluster.endpoints);
}
