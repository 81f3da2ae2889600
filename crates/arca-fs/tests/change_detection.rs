//! Change detection against a parent: `Stable` keeps a `cp -a` copy (new
//! inodes and ctimes, same mtimes) unchanged; `Full` reads it all again.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use arca_fs::{BackupOptions, ChangeDetection, NoProgress, backup};
use common::*;

fn tree(root: &Path) {
    fs::create_dir_all(root.join("d/e")).unwrap();
    fs::write(root.join("d/big.bin"), random_bytes(1024 * 1024)).unwrap();
    fs::write(root.join("d/e/small.txt"), b"small").unwrap();
    fs::write(root.join("top.bin"), random_bytes(100 * 1024)).unwrap();
}

fn copy_preserving(from: &Path, to: &Path) {
    let status = Command::new("cp").arg("-a").arg(from).arg(to).status().unwrap();
    assert!(status.success());
}

fn backup_copy_against(rule: ChangeDetection) -> arca_fs::BackupSummary {
    let tmp = tempfile::tempdir().unwrap();
    let (src, copy) = (tmp.path().join("src"), tmp.path().join("copy"));
    tree(&src);
    let repo = new_repo(&tmp.path().join("repo"));
    let first = backup(
        &repo,
        &BackupOptions { paths: vec![src.clone()], change_detection: rule, ..Default::default() },
        &NoProgress,
    )
    .unwrap();
    copy_preserving(&src, &copy);
    let opts = BackupOptions {
        paths: vec![copy],
        parent: Some(first.snapshot_id),
        change_detection: rule,
        ..Default::default()
    };
    let second = backup(&repo, &opts, &NoProgress).unwrap();
    assert_eq!(second.parent, Some(first.snapshot_id));
    second.summary
}

#[test]
fn stable_rule_keeps_a_preserving_copy_unchanged() {
    let s = backup_copy_against(ChangeDetection::Stable);
    assert_eq!(s.bytes_read, 0, "{s:?}");
    assert_eq!((s.files_unchanged, s.files_changed, s.files_new), (3, 0, 0), "{s:?}");
    // The copy's trees are the original's: nothing new to store.
    assert_eq!((s.dirs_unchanged, s.blobs_added), (2, 0), "{s:?}");
}

#[test]
fn full_rule_rereads_a_preserving_copy() {
    let s = backup_copy_against(ChangeDetection::Full);
    assert_eq!(s.bytes_read, 1024 * 1024 + 5 + 100 * 1024, "{s:?}");
    assert_eq!((s.files_unchanged, s.files_changed), (0, 3), "{s:?}");
}

#[test]
fn stable_rule_sees_mode_and_owner_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    tree(&src);
    let repo = new_repo(&tmp.path().join("repo"));
    let opts =
        BackupOptions { paths: vec![src.clone()], change_detection: ChangeDetection::Stable, ..Default::default() };
    backup(&repo, &opts, &NoProgress).unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(src.join("top.bin"), fs::Permissions::from_mode(0o600)).unwrap();
    let s = backup(&repo, &opts, &NoProgress).unwrap().summary;
    assert_eq!((s.files_unchanged, s.files_changed), (2, 1), "{s:?}");
    assert_eq!(s.bytes_read, 100 * 1024);
}
