//! The totals scanner: a metadata-only walk beside the real backup that
//! counts files and bytes so a progress bar can show an ETA. It runs only
//! when the progress receiver asks for totals, and stops early when the
//! backup ends first.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use super::exclude::Excludes;
use crate::progress::Progress;

/// Report totals every this many files.
const REPORT_EVERY: u64 = 1000;

pub(crate) struct Scanner<'a> {
    pub excludes: &'a Excludes,
    pub progress: &'a dyn Progress,
    pub stop: &'a AtomicBool,
}

impl Scanner<'_> {
    /// Counts every file below `roots`; errors are ignored (the real walk
    /// reports them).
    pub(crate) fn run(&self, roots: &[PathBuf]) {
        let (mut files, mut bytes) = (0u64, 0u64);
        let mut stack: Vec<PathBuf> = Vec::new();
        for root in roots {
            match std::fs::metadata(root) {
                Ok(md) if md.is_dir() => stack.push(root.clone()),
                Ok(md) => {
                    files += 1;
                    bytes += md.len();
                }
                Err(_) => {}
            }
        }
        while let Some(dir) = stack.pop() {
            if self.stop.load(Ordering::Relaxed) {
                return;
            }
            self.scan_dir(&dir, &mut stack, &mut files, &mut bytes);
        }
        self.progress.totals(files, bytes, true);
    }

    fn scan_dir(&self, dir: &Path, stack: &mut Vec<PathBuf>, files: &mut u64, bytes: &mut u64) {
        let Ok(reader) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in reader.flatten() {
            let path = entry.path();
            if self.excludes.is_excluded(&path, &entry.file_name()) {
                continue;
            }
            let Ok(ft) = entry.file_type() else { continue };
            if ft.is_dir() {
                stack.push(path);
            } else if ft.is_file() {
                *files += 1;
                *bytes += entry.metadata().map(|m| m.len()).unwrap_or(0);
                if *files % REPORT_EVERY == 0 {
                    self.progress.totals(*files, *bytes, false);
                }
            }
        }
    }
}
