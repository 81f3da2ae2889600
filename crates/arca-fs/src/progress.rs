//! Progress reporting. The library calls these hooks from many threads; the
//! CLI draws a bar on a TTY and stays quiet otherwise. Every hook has a no-op
//! default so an implementation only overrides what it shows.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use parking_lot::Mutex;

/// Receives progress of a backup or restore.
///
/// "Processed" bytes are the bytes of files handled so far — read and saved,
/// reused unchanged from the parent snapshot, or written on restore — so
/// they add up to the `totals` byte count and give a rate and an ETA.
pub trait Progress: Sync {
    /// Whether the caller wants totals before the work is done. A backup
    /// then runs a metadata-only scan beside the real walk (as restic does)
    /// so a bar can show an ETA; without it nothing extra is read.
    fn wants_totals(&self) -> bool {
        false
    }

    /// Known files and bytes so far; `complete` once the count is final.
    fn totals(&self, _files: u64, _bytes: u64, _complete: bool) {}

    /// `n` more bytes processed.
    fn bytes_processed(&self, _n: u64) {}

    /// A file is finished (`size` bytes).
    fn file_done(&self, _path: &Path, _size: u64) {}

    /// Something was skipped or could not be kept; the run goes on.
    fn warning(&self, _path: &Path, _message: &str) {}
}

/// Reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}

/// Warnings kept verbatim in a summary; the rest are only counted.
const WARNING_SAMPLES: usize = 100;

/// Warnings of a backup or restore, counted from many threads: each is
/// logged, passed to the progress hooks, and the first ones kept as samples.
#[derive(Default)]
pub(crate) struct Warnings {
    count: AtomicU64,
    samples: Mutex<Vec<String>>,
}

impl Warnings {
    pub(crate) fn warn(&self, progress: &dyn Progress, path: &Path, message: &str) {
        tracing::warn!("{}: {message}", path.display());
        progress.warning(path, message);
        self.count.fetch_add(1, Relaxed);
        let mut samples = self.samples.lock();
        if samples.len() < WARNING_SAMPLES {
            samples.push(format!("{}: {message}", path.display()));
        }
    }

    pub(crate) fn count(&self) -> u64 {
        self.count.load(Relaxed)
    }

    pub(crate) fn samples(&self) -> Vec<String> {
        self.samples.lock().clone()
    }
}
