//! Arca's repository engine: deduplicated, compressed, encrypted storage of
//! blobs, trees and snapshots on object stores. Knows nothing of Kubernetes.
//!
//! See `docs/FORMAT.md` for the on-storage format.

pub mod backend;
pub mod cache;
pub mod check;
mod chunker;
pub mod config;
mod crypto;
pub mod error;
pub mod forget;
mod host;
pub mod id;
pub mod index;
pub mod keylog;
pub mod keys;
pub mod lock;
pub mod pack;
pub mod pack_reader;
pub mod prune;
pub mod read_back;
pub mod repair;
mod repository;
pub mod retention;
pub mod snapshot;
pub mod tree;
pub mod wal;
mod writer;

pub use backend::{Backend, open as open_backend, open_with as open_backend_with};
pub use check::{CheckOptions, CheckReport, check};
pub use chunker::{HashedStream, SavedStream, is_zero};
pub use config::{ChunkerParams, Config};
pub use error::{Error, Result};
pub use forget::{ForgetReport, RetentionPolicy, apply_policy, count_rules, forget, forget_snapshots};
pub use id::Id;
pub use keys::KdfParams;
pub use pack::BlobType;
pub use prune::{PruneOptions, PruneReport, prune};
pub use read_back::{ReadBack, read_back};
pub use repair::{RepairIndexReport, RepairSnapshotsReport, repair_index, repair_snapshots};
pub use repository::{IndexFiles, InitOptions, Repository};
pub use retention::{RetentionReport, extend_retention};
pub use snapshot::{Snapshot, SnapshotEntry};
pub use tree::{Node, NodeKind, Tree, Xattr};
pub use wal::{WalChunk, WalEntry, WalName};
pub use writer::WriteStats;
