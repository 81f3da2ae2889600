//! Mirror restores: the target ends up holding exactly the snapshot, types
//! that differ are replaced, extras removed and counted, and a symlink in
//! the target never lets the restore touch anything outside it.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use arca_fs::{BackupOptions, NoProgress, RestoreOptions, RestoreSummary, backup, restore};
use arca_repo::{Id, Repository};
use common::*;

fn source(root: &Path) {
    fs::create_dir_all(root.join("keep/sub")).unwrap();
    fs::write(root.join("keep/a.txt"), b"a from snapshot").unwrap();
    fs::write(root.join("keep/sub/b.txt"), b"b").unwrap();
    fs::write(root.join("was-dir"), b"now a file").unwrap();
    fs::create_dir_all(root.join("was-file")).unwrap();
    fs::write(root.join("was-file/inside"), b"inside").unwrap();
    fs::create_dir_all(root.join("was-link")).unwrap();
    fs::write(root.join("was-link/x"), b"x").unwrap();
}

fn snapshot(tmp: &Path) -> (Repository, Id) {
    let src = tmp.join("src");
    source(&src);
    let repo = new_repo(&tmp.join("repo"));
    let id = backup(&repo, &BackupOptions { paths: vec![src], ..Default::default() }, &NoProgress).unwrap().snapshot_id;
    (repo, id)
}

fn mirror(repo: &Repository, id: &Id, target: &Path, include: &[&str]) -> RestoreSummary {
    let opts = RestoreOptions { include: include.iter().map(|s| s.to_string()).collect(), mirror: true };
    restore(repo, id, target, &opts, &NoProgress).unwrap()
}

fn same_tree(a: &Path, b: &Path) {
    let out = std::process::Command::new("diff").args(["-r", "--no-dereference"]).arg(a).arg(b).output().unwrap();
    assert!(out.status.success(), "trees differ:\n{}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn mirror_replaces_types_and_removes_extras() {
    let tmp = tempfile::tempdir().unwrap();
    let (repo, id) = snapshot(tmp.path());
    let dst = tmp.path().join("dst");
    fs::create_dir_all(dst.join("keep/sub")).unwrap();
    fs::write(dst.join("keep/a.txt"), b"old content, longer than the new one").unwrap();
    fs::write(dst.join("keep/extra.txt"), b"extra").unwrap();
    fs::create_dir_all(dst.join("gone/deep")).unwrap();
    fs::write(dst.join("gone/deep/f"), b"f").unwrap();
    fs::create_dir_all(dst.join("was-dir/child")).unwrap();
    fs::write(dst.join("was-dir/child/g"), b"g").unwrap();
    fs::write(dst.join("was-file"), b"a file where a dir belongs").unwrap();

    let s = mirror(&repo, &id, &dst, &[]);
    // keep/extra.txt, gone, gone/deep, gone/deep/f, was-dir/child, was-dir/child/g.
    assert_eq!(s.removed, 6, "{s:?}");
    same_tree(&tmp.path().join("src"), &dst);

    // Mirroring an identical target removes nothing.
    assert_eq!(mirror(&repo, &id, &dst, &[]).removed, 0);
}

#[test]
fn symlinks_in_the_target_are_never_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let (repo, id) = snapshot(tmp.path());
    let outside = tmp.path().join("outside");
    fs::create_dir_all(&outside).unwrap();
    fs::write(outside.join("precious"), b"must survive").unwrap();
    fs::write(outside.join("a.txt"), b"must not be overwritten").unwrap();
    let dst = tmp.path().join("dst");
    fs::create_dir_all(&dst).unwrap();
    // A link to outside where the snapshot has a directory, one where it has
    // nothing, and a link where it has a file.
    symlink(&outside, dst.join("keep")).unwrap();
    symlink(&outside, dst.join("extra-link")).unwrap();
    symlink(outside.join("precious"), dst.join("was-dir")).unwrap();
    fs::create_dir_all(dst.join("was-link")).unwrap();
    symlink(&outside, dst.join("was-link/escape")).unwrap();

    let s = mirror(&repo, &id, &dst, &[]);
    assert_eq!(s.removed, 2, "extra-link and was-link/escape: {s:?}");
    same_tree(&tmp.path().join("src"), &dst);
    assert_eq!(fs::read(outside.join("precious")).unwrap(), b"must survive");
    assert_eq!(fs::read(outside.join("a.txt")).unwrap(), b"must not be overwritten");
    assert_eq!(fs::read_dir(&outside).unwrap().count(), 2);
}

#[test]
fn with_include_only_the_included_set_is_mirrored() {
    let tmp = tempfile::tempdir().unwrap();
    let (repo, id) = snapshot(tmp.path());
    let dst = tmp.path().join("dst");
    fs::create_dir_all(dst.join("keep/sub")).unwrap();
    fs::write(dst.join("keep/sub/extra"), b"inside the included set").unwrap();
    fs::write(dst.join("keep/outside-extra"), b"outside it").unwrap();
    fs::write(dst.join("top-extra"), b"outside it").unwrap();

    let s = mirror(&repo, &id, &dst, &["keep/sub"]);
    assert_eq!(s.removed, 1, "{s:?}");
    assert!(!dst.join("keep/sub/extra").exists());
    assert!(dst.join("keep/outside-extra").exists() && dst.join("top-extra").exists());
    assert_eq!(fs::read(dst.join("keep/sub/b.txt")).unwrap(), b"b");
    assert!(!dst.join("keep/a.txt").exists());
}

#[test]
fn without_mirror_extras_stay() {
    let tmp = tempfile::tempdir().unwrap();
    let (repo, id) = snapshot(tmp.path());
    let dst = tmp.path().join("dst");
    fs::create_dir_all(&dst).unwrap();
    fs::write(dst.join("extra"), b"stays").unwrap();
    let s = restore(&repo, &id, &dst, &RestoreOptions::default(), &NoProgress).unwrap();
    assert_eq!(s.removed, 0);
    assert!(dst.join("extra").exists());
}

#[test]
fn an_empty_directory_in_the_snapshot_is_emptied() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    fs::create_dir_all(src.join("empty")).unwrap();
    let repo = new_repo(&tmp.path().join("repo"));
    let id = backup(&repo, &BackupOptions { paths: vec![src.clone()], ..Default::default() }, &NoProgress)
        .unwrap()
        .snapshot_id;
    let dst = tmp.path().join("dst");
    fs::create_dir_all(dst.join("empty/sub")).unwrap();
    fs::write(dst.join("empty/sub/f"), b"f").unwrap();
    fs::write(dst.join("empty/g"), b"g").unwrap();
    assert_eq!(mirror(&repo, &id, &dst, &[]).removed, 3);
    same_tree(&src, &dst);
}
