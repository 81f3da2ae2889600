//! Arca's repository engine: deduplicated, compressed, encrypted storage of
//! blobs, trees and snapshots on object stores. Knows nothing of Kubernetes.
//!
//! See `docs/FORMAT.md` for the on-storage format.

pub mod backend;
mod chunker;
pub mod config;
mod crypto;
pub mod error;
mod host;
pub mod id;
pub mod index;
pub mod keys;
pub mod lock;
pub mod pack;
mod repository;
pub mod snapshot;
pub mod tree;
mod writer;

pub use backend::{Backend, open as open_backend};
pub use chunker::{SavedStream, is_zero};
pub use config::{ChunkerParams, Config};
pub use error::{Error, Result};
pub use id::Id;
pub use keys::KdfParams;
pub use pack::BlobType;
pub use repository::{InitOptions, Repository};
pub use snapshot::{Snapshot, SnapshotEntry};
pub use tree::{Node, NodeKind, Tree, Xattr};
pub use writer::WriteStats;
