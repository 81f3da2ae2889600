//! Arca's volume data: what protects each claim (a CSI snapshot, a data
//! mover pod streaming the files into the repository, or a file-level read
//! of a running pod's volume on its node), and how data comes back (a claim
//! from a snapshot, a mover pod filling a new or existing claim).
//!
//! Everything that runs in the cluster is a short-lived pod running the
//! `arca` binary (`arca mover backup|restore|verify`, [`mover`]); this crate builds
//! their specs, runs them with bounded concurrency and timeouts ([`run`]),
//! and records each volume's outcome in the backup ([`record`]). A restored
//! claim is checked against its backup by re-hashing it ([`verify`]). Choices
//! that need no cluster (which method a claim gets, policies, placement)
//! are pure functions with unit tests.

pub mod backup;
pub mod drill;
pub mod error;
pub mod freeze;
pub mod group;
pub mod inventory;
pub mod limits;
pub mod method;
pub mod mover;
pub mod policy;
pub mod record;
pub mod restore;
pub mod run;
pub mod snapshot;
pub mod verify;

pub use error::{Error, Result};

/// The namespace Arca's mover pods and their short-lived Secrets run in.
pub const DEFAULT_NAMESPACE: &str = "arca-system";
/// The default mover image: the `arca` binary of this version.
pub const DEFAULT_MOVER_IMAGE: &str = concat!("ghcr.io/arca-backup/arca:", env!("CARGO_PKG_VERSION"));
/// Per-claim or per-pod annotation choosing the method.
pub const METHOD_ANNOTATION: &str = "backup.arca.io/volume-method";
/// Label on every object Arca creates for volume work (pods, Secrets, claims, snapshots).
pub const CREATED_BY_LABEL: &str = "app.kubernetes.io/created-by";
pub const CREATED_BY: &str = "arca";
