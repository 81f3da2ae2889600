//! Progress bars on a terminal (bytes, files, rate, ETA); nothing otherwise.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Draws a byte-based bar for backups and restores.
pub struct Bar {
    bar: Option<ProgressBar>,
    files_done: AtomicU64,
    files_total: AtomicU64,
}

impl Bar {
    pub fn new(enabled: bool, verb: &str) -> Bar {
        let bar = enabled.then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            let template = format!(
                "{verb} [{{elapsed_precise}}] {{wide_bar}} {{bytes}}/{{total_bytes}} {{bytes_per_sec}} ETA {{eta}} {{msg}}"
            );
            if let Ok(style) = ProgressStyle::with_template(&template) {
                bar.set_style(style);
            }
            bar
        });
        Bar { bar, files_done: AtomicU64::new(0), files_total: AtomicU64::new(0) }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    fn update_message(&self) {
        if let Some(bar) = &self.bar {
            let done = self.files_done.load(Ordering::Relaxed);
            let total = self.files_total.load(Ordering::Relaxed);
            bar.set_message(format!("{done}/{total} files"));
        }
    }
}

impl arca_fs::Progress for Bar {
    fn wants_totals(&self) -> bool {
        self.bar.is_some()
    }

    fn totals(&self, files: u64, bytes: u64, _complete: bool) {
        self.files_total.store(files, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.set_length(bytes);
        }
        self.update_message();
    }

    fn bytes_processed(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
    }

    fn file_done(&self, _path: &Path, _size: u64) {
        self.files_done.fetch_add(1, Ordering::Relaxed);
        self.update_message();
    }

    fn warning(&self, path: &Path, message: &str) {
        let line = format!("warning: {}: {message}", path.display());
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }
}
