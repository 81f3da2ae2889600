//! The progress hooks add up: totals match the summary, processed bytes
//! reach the total, every file is reported once.

mod common;

use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use arca_fs::{BackupOptions, Progress, RestoreOptions, backup, restore};
use common::*;
use parking_lot::Mutex;

#[derive(Default)]
struct Recorder {
    totals: Mutex<Option<(u64, u64)>>,
    bytes: AtomicU64,
    files: AtomicU64,
}

impl Progress for Recorder {
    fn wants_totals(&self) -> bool {
        true
    }
    fn totals(&self, files: u64, bytes: u64, complete: bool) {
        if complete {
            *self.totals.lock() = Some((files, bytes));
        }
    }
    fn bytes_processed(&self, n: u64) {
        self.bytes.fetch_add(n, Relaxed);
    }
    fn file_done(&self, _path: &Path, _size: u64) {
        self.files.fetch_add(1, Relaxed);
    }
}

#[test]
fn hooks_add_up_for_backup_and_restore() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    fs::create_dir_all(src.join("d")).unwrap();
    for i in 0..20 {
        fs::write(src.join(format!("d/f{i}")), random_bytes(i * 10_000)).unwrap();
    }
    let repo = new_repo(&tmp.path().join("repo"));
    let opts = BackupOptions { paths: vec![src.clone()], ..Default::default() };
    for round in 0..2 {
        let rec = Recorder::default();
        let s = backup(&repo, &opts, &rec).unwrap().summary;
        assert_eq!(*rec.totals.lock(), Some((20, s.total_bytes)), "round {round}");
        assert_eq!(rec.bytes.load(Relaxed), s.total_bytes, "unchanged files count as processed");
        assert_eq!(rec.files.load(Relaxed), 20);
    }

    let rec = Recorder::default();
    let snap = repo.find_snapshot("latest").unwrap().id;
    let s = restore(&repo, &snap, &tmp.path().join("dst"), &RestoreOptions::default(), &rec).unwrap();
    let total: u64 = (0..20).map(|i| i * 10_000).sum();
    assert_eq!(*rec.totals.lock(), Some((20, total)));
    assert_eq!(rec.bytes.load(Relaxed), total);
    assert_eq!(s.bytes_written, total);
    assert_eq!(rec.files.load(Relaxed), 20);
}
