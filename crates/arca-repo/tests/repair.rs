//! `repair index` and `repair snapshots` against a local-directory repository.

mod common;

use std::sync::Arc;

use arca_repo::{Error, repair_index, repair_snapshots};
use bytes::Bytes;
use common::scenarios::{self, delete_index_files, run_check};
use common::*;

fn local() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = dir.path().join("repo").to_string_lossy().into_owned();
    (dir, url)
}

#[test]
fn lost_index_is_rebuilt() {
    let (_dir, url) = local();
    scenarios::lost_index_is_rebuilt(&url);
}

#[test]
fn damaged_index_is_replaced() {
    let (_dir, url) = local();
    scenarios::damaged_index_is_replaced(&url);
}

#[test]
fn corrupt_pack_is_named_not_deleted() {
    let (_dir, url) = local();
    scenarios::corrupt_pack_is_named_not_deleted(&url);
}

#[test]
fn snapshot_with_a_lost_tree_pack_is_forgotten() {
    let (_dir, url) = local();
    scenarios::snapshot_with_a_lost_tree_pack_is_forgotten(&url);
}

#[test]
fn an_undecryptable_snapshot_is_listed_and_forgotten() {
    let (_dir, url) = local();
    let f = build(&url);
    let repo = f.repo();
    flip_byte(&repo, &format!("snapshots/{}", f.s[1]));
    let found = repair_snapshots(&repo, false).expect("repair snapshots");
    assert_eq!(found.unreadable.len(), 1, "{found:#?}");
    assert_eq!(found.unreadable[0].id, f.s[1]);
    assert!(found.unreadable[0].snapshot.is_none());
    assert!(found.unreadable[0].problem.contains("snapshot document unreadable"), "{found:#?}");
    let done = repair_snapshots(&repo, true).expect("--forget");
    assert_eq!(done.removed, vec![f.s[1]]);
    let check = run_check(&url, false);
    assert!(check.is_ok(), "the forget record explains the gap in the chain: {check:#?}");
}

#[test]
fn forgetting_waits_for_an_index_repair() {
    let (_dir, url) = local();
    let f = build(&url);
    let repo = f.repo();
    delete_index_files(&repo);
    let found = repair_snapshots(&repo, false).expect("listing works");
    assert_eq!(found.unreadable.len(), 4, "every snapshot looks broken without an index");
    let err = repair_snapshots(&repo, true).expect_err("must not forget on an incomplete index");
    assert!(err.to_string().contains("repair index"), "{err}");
    assert_eq!(repo.list_ids("snapshots").expect("list").0.len(), 4, "nothing forgotten");
    repair_index(&repo, false).expect("repair index");
    assert!(repair_snapshots(&repo, true).expect("now").removed.is_empty());
}

#[test]
fn an_append_only_client_does_not_repair_the_index() {
    let (_dir, url) = local();
    build(&url);
    let backend: Arc<dyn arca_repo::Backend> =
        Arc::new(arca_repo::backend::AppendOnly(arca_repo::open_backend(&url, false).expect("backend")));
    let repo = arca_repo::Repository::open(backend, PASSWORD).expect("open");
    let err = repair_index(&repo, false).expect_err("refused");
    assert!(matches!(err, Error::AppendOnly { .. }), "{err}");
    assert!(repair_index(&repo, true).expect("a dry run is fine").up_to_date);
    let err = repair_snapshots(&repo, true).expect_err("forget refused");
    assert!(matches!(err, Error::AppendOnly { .. }), "{err}");
}

/// Under Object Lock (the config asks for it) nothing is deleted: the new
/// index supersedes the old files, which stay, the damaged one too, and
/// readers and `check` accept that.
#[test]
fn under_object_lock_the_old_index_files_stay_superseded() {
    let (_dir, url) = local();
    let f = build(&url);
    let repo = f.repo();
    // A local directory has no Object Lock; the config saying so is enough here.
    let mut config: serde_json::Value = serde_json::from_slice(&repo.backend().get("config").unwrap()).unwrap();
    config["object_lock"] = serde_json::json!({"mode": "governance", "retention_secs": 86400});
    repo.backend().delete("config").unwrap();
    repo.backend()
        .put("config", Bytes::from(serde_json::to_vec(&config).unwrap()), arca_repo::backend::WriteMode::Create)
        .unwrap();
    let (before, _) = repo.list_ids("index").expect("list");
    flip_byte(&repo, &format!("index/{}", before[0]));

    let repo = f.repo();
    assert!(repo.config().object_lock.is_some());
    let report = repair_index(&repo, false).expect("repair index");
    assert_eq!(report.index_files_removed, 0, "{report:#?}");
    assert_eq!(report.index_files_kept.len(), before.len(), "{report:#?}");
    let (after, _) = repo.list_ids("index").expect("list");
    assert!(before.iter().all(|id| after.contains(id)), "nothing deleted");
    f.repo().load_index().expect("readers skip the superseded damaged file");
    let check = run_check(&url, true);
    assert!(check.is_ok(), "{check:#?}");
    assert!(
        check.infos.iter().any(|i| i.message.contains("damaged") && i.message.contains("superseded")),
        "{check:#?}"
    );
    for (n, s) in f.s.iter().enumerate() {
        assert_eq!(restore(&f.repo(), s), f.expected(n));
    }
    assert!(repair_index(&repo, false).expect("again").up_to_date, "a second run adds nothing");
}

/// A repair (or prune) cut short after its superseding index file: the
/// next repair finds the index up to date and removes the leftovers.
#[test]
fn a_repair_cut_short_is_finished_by_the_next() {
    let (_dir, url) = local();
    let f = build(&url);
    let repo = f.repo();
    let files = repo.load_index_files().expect("index files");
    let old: Vec<arca_repo::Id> = files.iter().map(|(id, _)| *id).collect();
    let packs = files.into_iter().flat_map(|(_, f)| f.packs).collect();
    let new = repo
        .save_json("index", &arca_repo::index::IndexFile { supersedes: old.clone(), packs })
        .expect("the superseding file");
    let report = repair_index(&repo, false).expect("repair");
    assert!(report.up_to_date, "{report:#?}");
    assert_eq!((report.index_files_written, report.index_files_removed), (0, old.len() as u64));
    assert_eq!(repo.list_ids("index").expect("list").0, vec![new]);
    assert!(run_check(&url, true).is_ok());
}
