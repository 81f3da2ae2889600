//! Partial restores with include globs.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use arca_fs::{BackupOptions, NoProgress, RestoreOptions, backup, restore};
use common::*;

fn listing(root: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = state(root).into_keys().filter(|p| !p.as_os_str().is_empty()).collect();
    out.sort();
    out
}

#[test]
fn include_globs_select_files_and_their_parents() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    fs::create_dir(&src).unwrap();
    build_fixture(&src);
    let repo = new_repo(&tmp.path().join("repo"));
    let snap = backup(&repo, &BackupOptions { paths: vec![src.clone()], ..Default::default() }, &NoProgress)
        .unwrap()
        .snapshot_id;

    let dst = tmp.path().join("one");
    let opts = RestoreOptions { include: vec!["a/b/*.bin".into()], ..Default::default() };
    let sum = restore(&repo, &snap, &dst, &opts, &NoProgress).unwrap();
    assert_eq!(sum.files, 1);
    assert_eq!(listing(&dst), ["a", "a/b", "a/b/random.bin"].map(PathBuf::from));
    assert_eq!(fs::read(dst.join("a/b/random.bin")).unwrap(), fs::read(src.join("a/b/random.bin")).unwrap());
    // Parent directories get their metadata too.
    assert_eq!(state(&dst)[Path::new("a")], state(&src)[Path::new("a")]);

    // A directory brings everything below it.
    let dst = tmp.path().join("two");
    let opts = RestoreOptions { include: vec!["a/b".into(), "**/*.txt".into()], ..Default::default() };
    restore(&repo, &snap, &dst, &opts, &NoProgress).unwrap();
    let got = listing(&dst);
    for want in ["a/b/c/medium.bin", "a/b/text.log", "small.txt", "a/b/random.bin"] {
        assert!(got.contains(&PathBuf::from(want)), "{want} missing from {got:?}");
    }
    assert!(!got.contains(&PathBuf::from("hl1")));
    assert!(!got.contains(&PathBuf::from("a/hl2")));

    // A glob that matches nothing restores nothing and is not an error.
    let dst = tmp.path().join("none");
    let sum = restore(
        &repo,
        &snap,
        &dst,
        &RestoreOptions { include: vec!["nope/*".into()], ..Default::default() },
        &NoProgress,
    )
    .unwrap();
    assert_eq!((sum.files, sum.dirs), (0, 0));

    let bad = RestoreOptions { include: vec!["a[".into()], ..Default::default() };
    let err = restore(&repo, &snap, &tmp.path().join("bad"), &bad, &NoProgress).unwrap_err();
    assert!(err.to_string().contains("a["), "{err}");
}

#[test]
fn a_hard_link_whose_first_name_is_excluded_is_still_restored() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    fs::create_dir(&src).unwrap();
    build_fixture(&src);
    let repo = new_repo(&tmp.path().join("repo"));
    let snap = backup(&repo, &BackupOptions { paths: vec![src.clone()], ..Default::default() }, &NoProgress)
        .unwrap()
        .snapshot_id;
    let dst = tmp.path().join("dst");
    restore(&repo, &snap, &dst, &RestoreOptions { include: vec!["a/hl2".into()], ..Default::default() }, &NoProgress)
        .unwrap();
    assert_eq!(fs::read(dst.join("a/hl2")).unwrap(), b"shared by two names");
}
