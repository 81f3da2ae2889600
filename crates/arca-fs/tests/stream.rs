//! Stream snapshots round-trip and deduplicate.

mod common;

use arca_fs::{Error, NoProgress, RestoreOptions, backup_stream, restore, restore_stream};
use common::*;

#[test]
fn stream_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = new_repo(&tmp.path().join("repo"));
    let mut data = random_bytes(5 * 1024 * 1024);
    data.extend(std::iter::repeat_n(0u8, 2 * 1024 * 1024));
    data.extend(random_bytes(1234));

    let (id, summary) = backup_stream(&repo, "db-dump", &data[..], &["nightly".into()]).unwrap();
    assert_eq!(summary.size, data.len() as u64);
    let entry = repo.find_snapshot(&id.to_hex()).unwrap();
    assert_eq!(entry.snapshot.kind, "stream");
    assert_eq!(entry.snapshot.paths, vec!["db-dump".to_string()]);
    assert_eq!(entry.snapshot.tags, vec!["nightly".to_string()]);

    let mut out = Vec::new();
    let n = restore_stream(&repo, &id, &mut out).unwrap();
    assert_eq!(n, data.len() as u64);
    assert!(out == data, "restored stream differs");

    // The same stream again stores only its tree (whose node has a new time).
    let (_, again) = backup_stream(&repo, "db-dump", &data[..], &[]).unwrap();
    assert_eq!(again.blobs_added, 1, "{again:?}");
    assert!(again.bytes_added_raw < 4096, "{again:?}");

    // A stream snapshot also restores as a directory with one file.
    let dst = tmp.path().join("dst");
    restore(&repo, &id, &dst, &RestoreOptions::default(), &NoProgress).unwrap();
    assert!(std::fs::read(dst.join("db-dump")).unwrap() == data);
}

#[test]
fn bad_names_and_wrong_kinds_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = new_repo(&tmp.path().join("repo"));
    for bad in ["", "a/b", ".."] {
        assert!(matches!(backup_stream(&repo, bad, &b"x"[..], &[]), Err(Error::Invalid(_))), "{bad:?}");
    }
    let src = tmp.path().join("src");
    std::fs::create_dir(&src).unwrap();
    let files = arca_fs::backup(&repo, &arca_fs::BackupOptions { paths: vec![src], ..Default::default() }, &NoProgress)
        .unwrap();
    let err = restore_stream(&repo, &files.snapshot_id, std::io::sink()).unwrap_err();
    assert!(matches!(err, Error::WrongKind { .. }), "{err}");
}
