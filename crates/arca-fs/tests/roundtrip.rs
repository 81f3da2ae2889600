//! A real tree with every kind of entry backs up and restores byte- and
//! metadata-identical.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;

use arca_fs::{BackupOptions, Error, NoProgress, RestoreOptions, backup, restore};
use common::*;

#[test]
fn full_tree_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, repo_dir, dst) = (tmp.path().join("src"), tmp.path().join("repo"), tmp.path().join("dst"));
    fs::create_dir(&src).unwrap();
    build_fixture(&src);
    let repo = new_repo(&repo_dir);

    let opts = BackupOptions { paths: vec![src.clone()], tags: vec!["test".into()], ..Default::default() };
    let result = backup(&repo, &opts, &NoProgress).unwrap();
    let s = &result.summary;
    assert_eq!(result.parent, None);
    assert_eq!(result.paths, vec![src.canonicalize().unwrap().to_string_lossy().into_owned()]);
    assert_eq!(s.files_unchanged, 0);
    assert!(s.files_new >= 10, "{s:?}");
    assert_eq!(s.warnings, 0, "{:?}", s.warning_samples);
    assert!(s.bytes_read >= SPARSE_LEN, "holes are read as zeros: {s:?}");
    assert!(s.bytes_stored < s.bytes_read / 4, "the sparse file's zeros compress/dedup away: {s:?}");

    let entry = repo.find_snapshot(&result.snapshot_id.to_hex()).unwrap();
    assert_eq!(entry.snapshot.tags, vec!["test".to_string()]);
    assert_eq!(entry.snapshot.summary["bytes_read"], serde_json::json!(s.bytes_read));

    let restored = restore(&repo, &result.snapshot_id, &dst, &RestoreOptions::default(), &NoProgress).unwrap();
    assert_eq!(restored.warnings, 0, "{:?}", restored.warning_samples);
    assert_eq!(restored.hardlinks, 1);
    assert_eq!(restored.symlinks, 2);
    assert_eq!(restored.special, 1);
    assert!(restored.bytes_sparse >= SPARSE_LEN - 1024 * 1024, "{restored:?}");

    assert_same_tree(&src, &dst);

    // Hard links are one inode again.
    let (h1, h2) = (fs::metadata(dst.join("hl1")).unwrap(), fs::metadata(dst.join("a/hl2")).unwrap());
    assert_eq!((h1.ino(), h1.nlink()), (h2.ino(), 2));
    // Holes are holes: far fewer blocks than the length.
    let sparse = fs::metadata(dst.join("sparse.img")).unwrap();
    assert_eq!(sparse.len(), SPARSE_LEN + 4 * 1024 * 1024);
    assert!(sparse.blocks() * 512 < 4 * 1024 * 1024, "restored sparse file uses {} blocks", sparse.blocks());
    if is_root() {
        assert_eq!(fs::metadata(dst.join("owned")).unwrap().uid(), 1234);
    }
}

#[test]
fn several_paths_become_one_node_each() {
    let tmp = tempfile::tempdir().unwrap();
    let (one, two) = (tmp.path().join("one"), tmp.path().join("x/two"));
    fs::create_dir_all(one.join("sub")).unwrap();
    fs::create_dir_all(&two).unwrap();
    fs::write(one.join("sub/f"), b"1").unwrap();
    fs::write(two.join("g"), b"2").unwrap();
    fs::write(tmp.path().join("lone.txt"), b"3").unwrap();
    let repo = new_repo(&tmp.path().join("repo"));
    let paths = vec![two.clone(), one.clone(), tmp.path().join("lone.txt")];
    let result = backup(&repo, &BackupOptions { paths, ..Default::default() }, &NoProgress).unwrap();
    assert_eq!(result.paths.len(), 3);
    assert!(result.paths.windows(2).all(|w| w[0] < w[1]), "paths are sorted");

    let dst = tmp.path().join("dst");
    restore(&repo, &result.snapshot_id, &dst, &RestoreOptions::default(), &NoProgress).unwrap();
    assert_eq!(fs::read(dst.join("one/sub/f")).unwrap(), b"1");
    assert_eq!(fs::read(dst.join("two/g")).unwrap(), b"2");
    assert_eq!(fs::read(dst.join("lone.txt")).unwrap(), b"3");
    assert_same_tree(&one, &dst.join("one"));
}

#[test]
fn same_last_component_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    fs::create_dir_all(tmp.path().join("a/data")).unwrap();
    fs::create_dir_all(tmp.path().join("b/data")).unwrap();
    let repo = new_repo(&tmp.path().join("repo"));
    let paths = vec![tmp.path().join("a/data"), tmp.path().join("b/data")];
    let err = backup(&repo, &BackupOptions { paths, ..Default::default() }, &NoProgress).unwrap_err();
    assert!(matches!(err, Error::NameClash { .. }), "{err}");
    assert!(err.to_string().contains("data"), "{err}");
}

#[test]
fn excludes_leave_out_matching_entries() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    fs::create_dir_all(src.join("cache/deep")).unwrap();
    fs::create_dir_all(src.join("keep")).unwrap();
    fs::write(src.join("keep/a.txt"), b"a").unwrap();
    fs::write(src.join("keep/b.tmp"), b"b").unwrap();
    fs::write(src.join("cache/deep/c"), b"c").unwrap();
    let repo = new_repo(&tmp.path().join("repo"));
    let opts = BackupOptions {
        paths: vec![src.clone()],
        excludes: vec!["*.tmp".into(), format!("{}/cache", src.canonicalize().unwrap().display())],
        ..Default::default()
    };
    let result = backup(&repo, &opts, &NoProgress).unwrap();
    let dst = tmp.path().join("dst");
    restore(&repo, &result.snapshot_id, &dst, &RestoreOptions::default(), &NoProgress).unwrap();
    assert!(dst.join("keep/a.txt").exists());
    assert!(!dst.join("keep/b.tmp").exists());
    assert!(!dst.join("cache").exists());
}

#[test]
fn unreadable_files_are_skipped_with_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("ok"), b"fine").unwrap();
    // A directory without read permission cannot be listed, except by root.
    if is_root() {
        eprintln!("skipping: root reads everything");
        return;
    }
    let locked = src.join("locked");
    fs::create_dir(&locked).unwrap();
    fs::write(locked.join("x"), b"x").unwrap();
    std::fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    let repo = new_repo(&tmp.path().join("repo"));
    let result = backup(&repo, &BackupOptions { paths: vec![src.clone()], ..Default::default() }, &NoProgress);
    std::fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let result = result.unwrap();
    assert_eq!(result.summary.warnings, 1, "{:?}", result.summary.warning_samples);
}

/// Many small files, some with the same content (one blob for several
/// files), some all zeros, restored in pack order: every file whole.
#[test]
fn small_files_sharing_blobs_restore_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, repo_dir, dst) = (tmp.path().join("src"), tmp.path().join("repo"), tmp.path().join("dst"));
    fs::create_dir_all(src.join("d")).unwrap();
    for i in 0..300u32 {
        let content: Vec<u8> = match i % 3 {
            0 => format!("shared content {}", i % 5).into_bytes(),
            1 => vec![0u8; 8192 + i as usize],
            _ => (0..(i * 37)).map(|b| (b % 251) as u8).collect(),
        };
        fs::write(src.join("d").join(format!("f{i:03}")), content).unwrap();
    }
    let repo = new_repo(&repo_dir);
    let result = backup(&repo, &BackupOptions { paths: vec![src.clone()], ..Default::default() }, &NoProgress).unwrap();
    let restored = restore(&repo, &result.snapshot_id, &dst, &RestoreOptions::default(), &NoProgress).unwrap();
    assert_eq!(restored.files, 300);
    assert_same_tree(&src, &dst);
}

/// A pack damaged after the backup: the restore stops with an error naming
/// the pack (small files are read pack by pack, several blobs per read).
#[test]
fn a_damaged_pack_is_named_on_restore() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, repo_dir, dst) = (tmp.path().join("src"), tmp.path().join("repo"), tmp.path().join("dst"));
    fs::create_dir_all(&src).unwrap();
    // Incompressible contents: the data pack is by far the largest file.
    let mut x = 0x9e37_79b9_u32;
    for i in 0..20u32 {
        let content: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        fs::write(src.join(format!("f{i}")), content).unwrap();
    }
    let repo = new_repo(&repo_dir);
    let result = backup(&repo, &BackupOptions { paths: vec![src.clone()], ..Default::default() }, &NoProgress).unwrap();
    let mut packs: Vec<std::path::PathBuf> = walk_files(&repo_dir.join("data"));
    packs.sort_by_key(|p| std::cmp::Reverse(fs::metadata(p).map(|m| m.len()).unwrap_or(0)));
    let pack = packs.first().expect("a pack").clone();
    let mut bytes = fs::read(&pack).unwrap();
    bytes[40] ^= 0xff;
    fs::write(&pack, bytes).unwrap();
    let err = restore(&repo, &result.snapshot_id, &dst, &RestoreOptions::default(), &NoProgress).unwrap_err();
    let name = pack.file_name().unwrap().to_string_lossy().into_owned();
    assert!(err.to_string().contains(&name), "{err}");
    assert!(dst.exists(), "the trees were read: the damage was met among the files' blobs");
}

fn walk_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() { out.extend(walk_files(&p)) } else { out.push(p) }
    }
    out
}
