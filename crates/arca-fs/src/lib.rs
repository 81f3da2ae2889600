//! Arca's file data mover: backs up directory trees and byte streams into an
//! Arca repository and restores them, keeping every piece of metadata a Unix
//! file system has (modes, owners, times, symlinks, hard links, holes,
//! special files, extended attributes, names that are not UTF-8).
//!
//! The library does the work; the CLI parses arguments, calls [`backup`],
//! [`restore`], [`backup_stream`], [`restore_stream`] or [`verify`] (a
//! restored copy against its snapshot, re-hashed from disk), and renders the
//! returned summaries and the [`Progress`] callbacks. Each call takes the
//! repository's shared lock and loads its index itself.

mod backup;
mod block;
mod error;
mod metadata;
mod names;
mod progress;
mod restore;
mod stream;
mod verify;
mod xattrs;

pub use backup::{BackupOptions, BackupResult, BackupSummary, ChangeDetection, META_ROOT, backup};
pub use block::{
    BLOCK_CHUNK, BlockRestoreSummary, IMAGE_NAME, META_BLOCK, backup_block, is_block_snapshot, restore_block,
};
pub use error::{Error, Result};
pub use progress::{NoProgress, Progress};
pub use restore::{RestoreOptions, RestoreSummary, restore};
pub use stream::{StreamSummary, backup_stream, restore_stream, stream_node};
pub use verify::{DirCheck, Mismatch, VerifyOptions, compare_block, compare_dir, verify};
