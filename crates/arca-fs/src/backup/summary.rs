//! What a backup did: counters the stages bump from many threads, and the
//! serializable summary built from them at the end (shown by the CLI with
//! `-o json` and stored in the snapshot).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use arca_repo::WriteStats;
use serde::{Deserialize, Serialize};

use crate::progress::{Progress, Warnings};

/// Shared by every stage of one backup; warnings also go to the progress
/// receiver so a terminal shows them as they happen.
pub(crate) struct Counters<'a> {
    progress: &'a dyn Progress,
    pub files_new: AtomicU64,
    pub files_changed: AtomicU64,
    pub files_unchanged: AtomicU64,
    pub dirs_new: AtomicU64,
    pub dirs_changed: AtomicU64,
    pub dirs_unchanged: AtomicU64,
    pub other_nodes: AtomicU64,
    pub total_bytes: AtomicU64,
    pub bytes_read: AtomicU64,
    warnings: Warnings,
}

impl<'a> Counters<'a> {
    pub(crate) fn new(progress: &'a dyn Progress) -> Self {
        let zero = || AtomicU64::new(0);
        Counters {
            progress,
            files_new: zero(),
            files_changed: zero(),
            files_unchanged: zero(),
            dirs_new: zero(),
            dirs_changed: zero(),
            dirs_unchanged: zero(),
            other_nodes: zero(),
            total_bytes: zero(),
            bytes_read: zero(),
            warnings: Warnings::default(),
        }
    }

    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    /// Records a skipped or partially saved entry.
    pub(crate) fn warn(&self, path: &Path, message: &str) {
        self.warnings.warn(self.progress, path, message);
    }

    pub(crate) fn summary(&self, stats: WriteStats, duration_secs: f64) -> BackupSummary {
        let get = |c: &AtomicU64| c.load(Relaxed);
        BackupSummary {
            files_new: get(&self.files_new),
            files_changed: get(&self.files_changed),
            files_unchanged: get(&self.files_unchanged),
            dirs_new: get(&self.dirs_new),
            dirs_changed: get(&self.dirs_changed),
            dirs_unchanged: get(&self.dirs_unchanged),
            other_nodes: get(&self.other_nodes),
            total_files: get(&self.files_new) + get(&self.files_changed) + get(&self.files_unchanged),
            total_bytes: get(&self.total_bytes),
            bytes_read: get(&self.bytes_read),
            blobs_added: stats.blobs_added,
            packs_written: stats.packs_written,
            bytes_added_raw: stats.bytes_added_raw,
            bytes_stored: stats.bytes_stored,
            warnings: self.warnings.count(),
            warning_samples: self.warnings.samples(),
            duration_secs,
        }
    }
}

/// Counts and sizes of one backup.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BackupSummary {
    /// Files not in the parent snapshot.
    pub files_new: u64,
    /// Files in the parent whose metadata changed: read and re-chunked.
    pub files_changed: u64,
    /// Files whose size, mtime, ctime, inode and device match the parent:
    /// their content ids were reused without opening them.
    pub files_unchanged: u64,
    pub dirs_new: u64,
    pub dirs_changed: u64,
    pub dirs_unchanged: u64,
    /// Symlinks, fifos, sockets and devices.
    pub other_nodes: u64,
    pub total_files: u64,
    /// Size of every file in the snapshot.
    pub total_bytes: u64,
    /// File content actually read from disk (0 for an unchanged tree).
    pub bytes_read: u64,
    pub blobs_added: u64,
    pub packs_written: u64,
    /// New blob bytes before compression and encryption.
    pub bytes_added_raw: u64,
    /// Pack bytes uploaded.
    pub bytes_stored: u64,
    /// Entries skipped or saved without some metadata.
    pub warnings: u64,
    /// The first warnings, verbatim.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warning_samples: Vec<String>,
    pub duration_secs: f64,
}
