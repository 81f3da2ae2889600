//! Block volumes as one sparse image: a 1 GiB sparse file with data at a
//! few offsets round-trips byte for byte, costs one zero blob, and its
//! restored copy stays sparse.

mod common;

use std::fs::{File, OpenOptions};
use std::hash::{DefaultHasher, Hasher};
use std::io::Read;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;

use arca_fs::{BackupOptions, IMAGE_NAME, NoProgress, backup_block, restore_block};
use arca_repo::Snapshot;
use common::*;

const GIB: u64 = 1024 * 1024 * 1024;
const DATA_AT: [u64; 4] = [0, 100 * 1024 * 1024 + 4096, 512 * 1024 * 1024 + 77, GIB - 1024 * 1024];

fn sparse_image(path: &Path) {
    let file = File::create(path).unwrap();
    file.set_len(GIB).unwrap();
    for at in DATA_AT {
        file.write_all_at(&random_bytes(1024 * 1024), at).unwrap();
    }
}

/// Hash of a file's bytes, read in order.
fn hash_file(path: &Path) -> (u64, u64) {
    let mut file = File::open(path).unwrap();
    let (mut hasher, mut len) = (DefaultHasher::new(), 0u64);
    let mut buf = vec![0u8; 4 * 1024 * 1024];
    loop {
        let n = file.read(&mut buf).unwrap();
        if n == 0 {
            return (hasher.finish(), len);
        }
        hasher.write(&buf[..n]);
        len += n as u64;
    }
}

#[test]
fn sparse_image_round_trips_and_stays_sparse() {
    let tmp = tempfile::tempdir().unwrap();
    let image = tmp.path().join("disk.img");
    sparse_image(&image);
    let repo = new_repo(&tmp.path().join("repo"));
    let first = backup_block(&repo, &image, &BackupOptions::default(), &NoProgress).unwrap();
    let s = &first.summary;
    assert_eq!((s.total_bytes, s.files_new), (GIB, 1), "{s:?}");
    // Holes are not read; only the chunks holding data are.
    assert!(s.bytes_read <= 8 * 1024 * 1024, "{s:?}");
    // Four data regions over at most eight chunks, plus one zero chunk.
    assert!(s.blobs_added <= 8 + 1 + 1, "{s:?}");
    assert!(s.bytes_stored < 12 * 1024 * 1024, "{s:?}");
    let snap: Snapshot = repo.load_json("snapshots", &first.snapshot_id).unwrap();
    let tree = repo.load_tree(&snap.tree).unwrap();
    assert_eq!(tree.nodes.len(), 1);
    assert_eq!((tree.nodes[0].name.as_str(), tree.nodes[0].size), (IMAGE_NAME, GIB));

    let restored = tmp.path().join("restored.img");
    let r = restore_block(&repo, &first.snapshot_id, &restored, &NoProgress).unwrap();
    assert_eq!(r.size, GIB);
    assert!(!r.device);
    assert!(r.bytes_written <= 8 * 1024 * 1024, "{r:?}");
    assert_eq!(hash_file(&restored), hash_file(&image));
    let md = std::fs::metadata(&restored).unwrap();
    assert_eq!(md.len(), GIB);
    assert!(md.blocks() * 512 <= 16 * 1024 * 1024, "restored image is not sparse: {} blocks", md.blocks());
}

#[test]
fn rebackup_with_parent_dedups_unchanged_chunks() {
    let tmp = tempfile::tempdir().unwrap();
    let image = tmp.path().join("disk.img");
    let file = File::create(&image).unwrap();
    file.set_len(64 * 1024 * 1024).unwrap();
    file.write_all_at(&random_bytes(8 * 1024 * 1024), 0).unwrap();
    let repo = new_repo(&tmp.path().join("repo"));
    let first = backup_block(&repo, &image, &BackupOptions::default(), &NoProgress).unwrap();
    let opts = BackupOptions { parent: Some(first.snapshot_id), ..Default::default() };
    let same = backup_block(&repo, &image, &opts, &NoProgress).unwrap();
    assert_eq!((same.summary.files_unchanged, same.summary.blobs_added), (1, 0), "{:?}", same.summary);
    assert_eq!(same.summary.bytes_read, 8 * 1024 * 1024, "the device is read whatever the parent");

    OpenOptions::new().write(true).open(&image).unwrap().write_all_at(b"changed", 3 * 1024 * 1024).unwrap();
    let changed = backup_block(&repo, &image, &opts, &NoProgress).unwrap();
    let s = &changed.summary;
    assert_eq!(s.files_changed, 1);
    // The chunk written to, and the tree naming it.
    assert_eq!(s.blobs_added, 2, "only the chunk written to is new: {s:?}");
    assert!(s.bytes_added_raw < 1024 * 1024 + 64 * 1024, "{s:?}");
}

#[test]
fn restoring_a_directory_snapshot_as_a_block_image_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("a"), b"a").unwrap();
    let repo = new_repo(&tmp.path().join("repo"));
    let snap = arca_fs::backup(&repo, &BackupOptions { paths: vec![src], ..Default::default() }, &NoProgress).unwrap();
    let err = restore_block(&repo, &snap.snapshot_id, &tmp.path().join("x.img"), &NoProgress).unwrap_err();
    assert!(err.to_string().contains("not a block volume image"), "{err}");
    let err = backup_block(&repo, tmp.path(), &BackupOptions::default(), &NoProgress).unwrap_err();
    assert!(err.to_string().contains("is a directory"), "{err}");
}
