//! Re-backups against a parent: unchanged files are not read, changed ones
//! are re-chunked and only their new chunks stored.

mod common;

use std::fs;
use std::io::{Seek, SeekFrom, Write};

use arca_fs::{BackupOptions, NoProgress, RestoreOptions, backup, restore};
use arca_repo::Snapshot;
use common::*;

#[test]
fn unchanged_tree_reads_nothing_and_changed_files_are_deduplicated() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    fs::create_dir_all(src.join("d/e")).unwrap();
    let big = random_bytes(4 * 1024 * 1024);
    fs::write(src.join("d/big.bin"), &big).unwrap();
    fs::write(src.join("d/e/small.txt"), b"small").unwrap();
    fs::write(src.join("other.bin"), random_bytes(300 * 1024)).unwrap();
    let repo = new_small_chunk_repo(&tmp.path().join("repo"));
    let opts = BackupOptions { paths: vec![src.clone()], ..Default::default() };

    let first = backup(&repo, &opts, &NoProgress).unwrap();
    assert_eq!(first.summary.files_new, 3);
    assert_eq!(first.summary.bytes_read, 4 * 1024 * 1024 + 5 + 300 * 1024);

    // Unchanged: the parent is found automatically and no content is read.
    let second = backup(&repo, &opts, &NoProgress).unwrap();
    let s = &second.summary;
    assert_eq!(second.parent, Some(first.snapshot_id));
    assert_eq!(s.bytes_read, 0, "{s:?}");
    assert_eq!((s.files_unchanged, s.files_new, s.files_changed), (3, 0, 0));
    assert_eq!((s.dirs_unchanged, s.dirs_new, s.dirs_changed), (2, 0, 0));
    assert_eq!(s.total_bytes, first.summary.total_bytes);
    assert_eq!(s.blobs_added, 0, "an unchanged tree stores nothing new: {s:?}");
    let tree = |id| repo.load_json::<Snapshot>("snapshots", id).unwrap().tree;
    assert_eq!(tree(&first.snapshot_id), tree(&second.snapshot_id));

    // Change 100 bytes in the middle of the big file: only it is read, and
    // only the chunks around the change are new.
    let mut f = fs::OpenOptions::new().write(true).open(src.join("d/big.bin")).unwrap();
    f.seek(SeekFrom::Start(2 * 1024 * 1024)).unwrap();
    f.write_all(&[0xAB; 100]).unwrap();
    drop(f);
    let third = backup(&repo, &opts, &NoProgress).unwrap();
    let s = &third.summary;
    assert_eq!(third.parent, Some(second.snapshot_id));
    assert_eq!(s.bytes_read, 4 * 1024 * 1024, "only the changed file is read: {s:?}");
    assert_eq!((s.files_changed, s.files_unchanged, s.files_new), (1, 2, 0));
    assert_eq!((s.dirs_changed, s.dirs_unchanged), (1, 1));
    assert!(s.bytes_added_raw < 700 * 1024, "dedup keeps most chunks: {s:?}");
    assert!(s.bytes_stored < 800 * 1024, "{s:?}");

    // An explicit full backup ignores the parent and reads everything again
    // but stores almost nothing.
    let full = backup(&repo, &BackupOptions { force_full: true, ..opts.clone() }, &NoProgress).unwrap();
    assert_eq!(full.parent, None);
    assert_eq!(full.summary.files_new, 3);
    assert_eq!(full.summary.blobs_added, 0, "{:?}", full.summary);

    let dst = tmp.path().join("dst");
    restore(&repo, &third.snapshot_id, &dst, &RestoreOptions::default(), &NoProgress).unwrap();
    assert_same_tree(&src, &dst);
}

#[test]
fn a_touched_file_is_read_again() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("a"), b"same content").unwrap();
    fs::write(src.join("b"), b"other").unwrap();
    let repo = new_repo(&tmp.path().join("repo"));
    let opts = BackupOptions { paths: vec![src.clone()], ..Default::default() };
    backup(&repo, &opts, &NoProgress).unwrap();
    // Same size and content, new mtime (and ctime): it must be read.
    let t = filetime::FileTime::from_unix_time(1_000_000_000, 5);
    filetime::set_file_mtime(src.join("a"), t).unwrap();
    let again = backup(&repo, &opts, &NoProgress).unwrap();
    assert_eq!(again.summary.bytes_read, 12);
    assert_eq!((again.summary.files_changed, again.summary.files_unchanged), (1, 1));
    assert_eq!(again.summary.blobs_added, 1, "only the new tree: {:?}", again.summary);
}
