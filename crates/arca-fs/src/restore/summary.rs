//! What a restore did, counted from many threads and summarised at the end.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde::{Deserialize, Serialize};

use crate::progress::{Progress, Warnings};

pub(crate) struct Counters<'a> {
    progress: &'a dyn Progress,
    pub files: AtomicU64,
    pub dirs: AtomicU64,
    pub symlinks: AtomicU64,
    pub hardlinks: AtomicU64,
    pub special: AtomicU64,
    pub bytes_written: AtomicU64,
    pub bytes_sparse: AtomicU64,
    pub skipped: AtomicU64,
    pub ownership_skipped: AtomicU64,
    pub removed: AtomicU64,
    warnings: Warnings,
}

impl<'a> Counters<'a> {
    pub(crate) fn new(progress: &'a dyn Progress) -> Self {
        let zero = || AtomicU64::new(0);
        Counters {
            progress,
            files: zero(),
            dirs: zero(),
            symlinks: zero(),
            hardlinks: zero(),
            special: zero(),
            bytes_written: zero(),
            bytes_sparse: zero(),
            skipped: zero(),
            ownership_skipped: zero(),
            removed: zero(),
            warnings: Warnings::default(),
        }
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    pub(crate) fn warn(&self, path: &Path, message: &str) {
        self.warnings.warn(self.progress, path, message);
    }

    pub(crate) fn summary(&self, duration_secs: f64) -> RestoreSummary {
        let get = |c: &AtomicU64| c.load(Relaxed);
        RestoreSummary {
            files: get(&self.files),
            dirs: get(&self.dirs),
            symlinks: get(&self.symlinks),
            hardlinks: get(&self.hardlinks),
            special: get(&self.special),
            bytes_written: get(&self.bytes_written),
            bytes_sparse: get(&self.bytes_sparse),
            skipped: get(&self.skipped),
            ownership_skipped: get(&self.ownership_skipped),
            removed: get(&self.removed),
            warnings: self.warnings.count(),
            warning_samples: self.warnings.samples(),
            duration_secs,
        }
    }
}

/// Counts and sizes of one restore.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RestoreSummary {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    /// Names restored as hard links to a file restored under another name.
    pub hardlinks: u64,
    /// Fifos, sockets and devices.
    pub special: u64,
    /// Content bytes written.
    pub bytes_written: u64,
    /// Bytes left as holes (all-zero chunks not written).
    pub bytes_sparse: u64,
    /// Entries not restored (device nodes when not running as root).
    pub skipped: u64,
    /// Entries whose owner could not be set (not running as root).
    pub ownership_skipped: u64,
    /// Entries a mirror restore removed from the target (not in the snapshot).
    #[serde(default)]
    pub removed: u64,
    pub warnings: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warning_samples: Vec<String>,
    pub duration_secs: f64,
}
