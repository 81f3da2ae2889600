//! Verifying a restored copy against its snapshot by re-hashing the disk:
//! an exact restore passes (every kind of entry of the reference tree),
//! and each kind of damage — a changed byte, a truncated, deleted, added
//! or re-moded file, a changed symlink, a type change, a broken hard
//! link — is reported with its path. Block images, in a directory and as
//! a device file, are compared in fixed chunks.

mod common;

use std::fs;
use std::os::unix::fs::{FileExt, PermissionsExt, symlink};
use std::path::Path;

use arca_fs::{
    BackupOptions, DirCheck, IMAGE_NAME, NoProgress, RestoreOptions, VerifyOptions, backup, backup_block,
    compare_block, compare_dir, restore, restore_block, verify,
};
use arca_repo::{Id, Repository, Snapshot};
use common::*;

fn back_up(repo: &Repository, dir: &Path) -> Id {
    let opts = BackupOptions { paths: vec![dir.to_path_buf()], force_full: true, ..BackupOptions::default() };
    backup(repo, &opts, &NoProgress).unwrap().snapshot_id
}

fn restored(repo: &Repository, id: &Id, target: &Path) {
    restore(repo, id, target, &RestoreOptions::default(), &NoProgress).unwrap();
}

fn check(repo: &Repository, id: &Id, target: &Path) -> DirCheck {
    verify(repo, id, target, &VerifyOptions::default()).unwrap()
}

/// The one mismatch reported for `path`.
fn what<'a>(c: &'a DirCheck, path: &str) -> &'a str {
    let found: Vec<&str> = c.mismatches.iter().filter(|m| m.path == path).map(|m| m.what.as_str()).collect();
    match found.as_slice() {
        [one] => one,
        _ => panic!("expected one mismatch for {path}, found {found:?} in {:#?}", c.mismatches),
    }
}

/// A volume-like tree: files of many chunks (small chunk repository), a
/// symlink, an empty directory, odd modes, a hard link pair.
fn volume(root: &Path) {
    fs::create_dir_all(root.join("db/empty")).unwrap();
    fs::write(root.join("db/big.bin"), random_bytes(3 * 1024 * 1024 + 17)).unwrap();
    fs::write(root.join("db/mid.bin"), random_bytes(600 * 1024)).unwrap();
    fs::write(root.join("notes.txt"), b"first line\n").unwrap();
    fs::write(root.join("run.sh"), b"#!/bin/sh\n").unwrap();
    fs::set_permissions(root.join("run.sh"), fs::Permissions::from_mode(0o4750)).unwrap();
    fs::set_permissions(root.join("db/empty"), fs::Permissions::from_mode(0o710)).unwrap();
    fs::write(root.join("secret"), b"s").unwrap();
    fs::set_permissions(root.join("secret"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::write(root.join("first"), b"one file, two names").unwrap();
    fs::hard_link(root.join("first"), root.join("db/second")).unwrap();
    symlink("db/big.bin", root.join("current")).unwrap();
    fs::create_dir(root.join("conf")).unwrap();
    fs::write(root.join("conf/app.conf"), b"port = 1\n").unwrap();
}

#[test]
fn an_exact_restore_passes_and_every_kind_of_damage_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = new_small_chunk_repo(&tmp.path().join("repo"));
    let src = tmp.path().join("src");
    volume(&src);
    let id = back_up(&repo, &src);
    let target = tmp.path().join("restored");
    restored(&repo, &id, &target);

    let ok = check(&repo, &id, &target);
    assert!(ok.passed(), "{ok:#?}");
    // Every file but the second name of the hard link is read.
    assert_eq!(ok.files, 7, "{ok:#?}");
    assert_eq!(ok.bytes, 3 * 1024 * 1024 + 17 + 600 * 1024 + 11 + 10 + 1 + 19 + 9, "{ok:#?}");
    assert_eq!(ok.entries_compared, 12, "{ok:#?}");
    // The source itself is what was backed up.
    assert!(check(&repo, &id, &src).passed());
    // A fresh file system's lost+found is not the volume's.
    fs::create_dir(target.join("lost+found")).unwrap();
    fs::write(target.join("lost+found/#123"), b"fsck").unwrap();
    assert!(check(&repo, &id, &target).passed());

    // One byte in the middle of a file of many chunks.
    let big = fs::OpenOptions::new().write(true).open(target.join("db/big.bin")).unwrap();
    big.write_all_at(b"\xff", 2 * 1024 * 1024).unwrap();
    drop(big);
    let c = check(&repo, &id, &target);
    assert!(!c.passed());
    let content = what(&c, "db/big.bin");
    assert!(content.starts_with("content: bytes "), "{content}");
    let (start, end) = byte_range(content);
    assert!(start <= 2 * 1024 * 1024 && 2 * 1024 * 1024 < end, "the range holds the changed byte: {content}");
    assert!(end - start <= 256 * 1024, "one chunk, not the whole file: {content}");

    fs::OpenOptions::new().write(true).open(target.join("db/mid.bin")).unwrap().set_len(1000).unwrap();
    fs::remove_file(target.join("notes.txt")).unwrap();
    fs::write(target.join("conf/stray.conf"), b"not in the backup").unwrap();
    fs::set_permissions(target.join("secret"), fs::Permissions::from_mode(0o644)).unwrap();
    fs::remove_file(target.join("current")).unwrap();
    symlink("db/mid.bin", target.join("current")).unwrap();
    fs::remove_dir(target.join("db/empty")).unwrap();
    fs::write(target.join("db/empty"), b"").unwrap();
    fs::remove_file(target.join("db/second")).unwrap();
    fs::write(target.join("db/second"), b"one file, two names").unwrap();

    let c = check(&repo, &id, &target);
    assert!(!c.passed());
    assert_eq!(what(&c, "db/mid.bin"), "size: the snapshot has 614400 bytes, the disk 1000");
    assert_eq!(what(&c, "notes.txt"), "missing: the snapshot has a file here");
    assert_eq!(what(&c, "conf/stray.conf"), "extra: a file the snapshot does not hold");
    assert_eq!(what(&c, "secret"), "mode: the snapshot has 0600, the disk 0644");
    assert_eq!(what(&c, "current"), r#"symlink target: the snapshot has "db/big.bin", the disk "db/mid.bin""#);
    assert_eq!(what(&c, "db/empty"), "type: the snapshot has a directory, the disk a file");
    assert!(what(&c, "db/second").starts_with("hard link: "), "{c:#?}");
    assert!(what(&c, "db/big.bin").starts_with("content: "));
    assert_eq!((c.missing, c.extra), (1, 1), "{c:#?}");
    assert_eq!(c.mismatches.len(), 8, "{:#?}", c.mismatches);

    // Past the limit, mismatches are counted, not listed.
    let few = verify(&repo, &id, &target, &VerifyOptions { max_mismatches: 2, ..VerifyOptions::default() }).unwrap();
    assert_eq!(few.mismatches.len(), 2);
    assert_eq!(few.mismatches_omitted, 6);
    assert_eq!(few.differences(), 8);

    // compare_dir takes the root tree.
    let snapshot: Snapshot = repo.load_json("snapshots", &id).unwrap();
    let by_tree = compare_dir(&repo, snapshot.tree, &target, &VerifyOptions::default()).unwrap();
    assert_eq!(by_tree.mismatches, c.mismatches);
}

/// `start..end` of a `content: bytes start..end …` mismatch.
fn byte_range(what: &str) -> (u64, u64) {
    let range = what.trim_start_matches("content: bytes ").split(' ').next().unwrap_or_default();
    let (a, b) = range.split_once("..").unwrap_or_else(|| panic!("no byte range in {what}"));
    (a.parse().unwrap(), b.parse().unwrap())
}

#[test]
fn the_reference_tree_passes_after_a_restore() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = new_repo(&tmp.path().join("repo"));
    let src = tmp.path().join("src");
    fs::create_dir(&src).unwrap();
    build_fixture(&src);
    let id = back_up(&repo, &src);
    let target = tmp.path().join("restored");
    restored(&repo, &id, &target);
    let opts = VerifyOptions { owners: is_root(), ..VerifyOptions::default() };
    let c = verify(&repo, &id, &target, &opts).unwrap();
    assert!(c.passed(), "{c:#?}");
    assert!(c.bytes >= SPARSE_LEN, "the sparse file is read whole: {c:#?}");
}

#[test]
fn owners_are_compared_when_asked() {
    if !is_root() {
        eprintln!("skipping: changing a file's owner needs root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = new_repo(&tmp.path().join("repo"));
    let src = tmp.path().join("src");
    volume(&src);
    let id = back_up(&repo, &src);
    std::os::unix::fs::lchown(src.join("notes.txt"), Some(1234), Some(2345)).unwrap();
    assert!(check(&repo, &id, &src).passed(), "owners are not compared by default");
    let c = verify(&repo, &id, &src, &VerifyOptions { owners: true, ..VerifyOptions::default() }).unwrap();
    assert_eq!(what(&c, "notes.txt"), "owner: the snapshot has 0:0, the disk 1234:2345");
}

#[test]
fn block_images_are_compared_in_fixed_chunks() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = new_repo(&tmp.path().join("repo"));
    let image = tmp.path().join("disk.img");
    let file = fs::File::create(&image).unwrap();
    file.set_len(40 * 1024 * 1024 + 5).unwrap();
    file.write_all_at(&random_bytes(3 * 1024 * 1024), 7 * 1024 * 1024 + 3).unwrap();
    drop(file);
    let id = backup_block(&repo, &image, &BackupOptions::default(), &NoProgress).unwrap().snapshot_id;
    let opts = VerifyOptions::default();

    let copy = tmp.path().join("copy.img");
    restore_block(&repo, &id, &copy, &NoProgress).unwrap();
    let ok = compare_block(&repo, &id, &copy, &opts).unwrap();
    assert!(ok.passed(), "{ok:#?}");
    assert_eq!((ok.files, ok.bytes), (1, 40 * 1024 * 1024 + 5));

    // Restored into a directory, the image is a file of it.
    let dir = tmp.path().join("as-dir");
    restored(&repo, &id, &dir);
    assert!(check(&repo, &id, &dir).passed());

    let f = fs::OpenOptions::new().write(true).open(&copy).unwrap();
    f.write_all_at(b"x", 30 * 1024 * 1024 + 1).unwrap();
    drop(f);
    let c = compare_block(&repo, &id, &copy, &opts).unwrap();
    assert_eq!(what(&c, IMAGE_NAME), "content: bytes 31457280..32505856 differ from the snapshot's (chunk 31 of 41)");
    fs::OpenOptions::new().write(true).open(&copy).unwrap().set_len(1024).unwrap();
    let c = compare_block(&repo, &id, &copy, &opts).unwrap();
    assert_eq!(what(&c, IMAGE_NAME), "size: the image is 41943045 bytes, the file holds 1024");
    fs::write(dir.join(IMAGE_NAME), b"short").unwrap();
    assert!(what(&check(&repo, &id, &dir), IMAGE_NAME).starts_with("size: "));

    // A directory is not a device, and a device is not a directory.
    let err = compare_block(&repo, &id, &dir, &opts).unwrap_err().to_string();
    assert!(err.contains("is a directory"), "{err}");
    let err = verify(&repo, &id, &copy, &opts).unwrap_err().to_string();
    assert!(err.contains("is not a directory"), "{err}");
}
