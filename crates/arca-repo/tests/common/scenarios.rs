//! Test scenarios run against every backend (local directory, S3).

use arca_repo::check::CheckReport;
use arca_repo::{CheckOptions, Id, PruneOptions, RetentionPolicy, check, forget, prune};

use super::*;

pub fn run_check(url: &str, read_data: bool) -> CheckReport {
    check(&reopen(url), &CheckOptions { read_data }, None).expect("check runs")
}

fn assert_only_error(report: &CheckReport, object: &str, problem: &str, affected: &[Id]) {
    assert_eq!(report.errors.len(), 1, "expected one error about {object}: {report:#?}");
    let e = &report.errors[0];
    assert_eq!(e.object, object);
    assert!(e.problem.contains(problem), "problem {:?} should mention {problem:?}", e.problem);
    assert_eq!(e.affected_snapshots, affected);
}

pub fn healthy_repository_passes(url: &str) {
    let f = build(url);
    for read_data in [false, true] {
        let report = run_check(url, read_data);
        assert!(report.is_ok(), "{report:#?}");
        assert!(report.infos.is_empty(), "{report:#?}");
        assert_eq!(report.counts.snapshots, 4);
        assert_eq!(report.counts.keys, 1);
        // Two trees per snapshot (root and dir); s1 and s3 share none.
        assert_eq!(report.counts.trees, 8);
        assert_eq!(report.counts.packs_read > 0, read_data);
    }
    let json = serde_json::to_value(run_check(url, false)).expect("report serializes");
    assert_eq!(json["errors"], serde_json::json!([]));
    for (n, s) in f.s.iter().enumerate() {
        assert_eq!(restore(&f.repo(), s), f.expected(n));
    }
}

pub fn bit_flip_is_found_by_read_data_only(url: &str) {
    let f = build(url);
    let object = pack_object(&f.pack_of_a);
    flip_byte(&f.repo(), &object);
    let plain = run_check(url, false);
    assert!(plain.is_ok(), "a structural check reads no pack data: {plain:#?}");
    assert_eq!(plain.counts.packs_read, 0);
    let full = run_check(url, true);
    assert_only_error(&full, &object, "does not match its name", &[f.s[0], f.s[2]]);
    assert!(full.errors[0].problem.contains("blobs fail verification"), "{full:#?}");
}

pub fn truncated_pack_is_found_without_reading_data(url: &str) {
    let f = build(url);
    let object = pack_object(&f.pack_of_a);
    rewrite(&f.repo(), &object, |b| b.truncate(b.len() - 10));
    let report = run_check(url, false);
    assert_only_error(&report, &object, "truncated", &[f.s[0], f.s[2]]);
}

pub fn deleted_pack_is_missing(url: &str) {
    let f = build(url);
    let object = pack_object(&f.pack_of_a);
    f.repo().backend().delete(&object).expect("delete");
    for read_data in [false, true] {
        let report = run_check(url, read_data);
        assert_only_error(&report, &object, "missing", &[f.s[0], f.s[2]]);
    }
    let err = prune(&f.repo(), &PruneOptions::default()).expect_err("prune refuses");
    assert!(err.to_string().contains(&object), "{err}");
}

pub fn forget_and_prune_reclaim_space(url: &str) {
    let f = build(url);
    let repo = f.repo();
    let before = stored_bytes(&repo);
    let policy = RetentionPolicy { keep_last: Some(1), ..Default::default() };
    let dry = forget(&repo, &policy, true).expect("forget --dry-run");
    assert_eq!(dry.kept, vec![f.s[3]]);
    assert_eq!(repo.list_ids("snapshots").expect("list").0.len(), 4, "dry run deletes nothing");
    let forgotten = forget(&repo, &policy, false).expect("forget");
    assert_eq!(forgotten.removed.len(), 3);

    let dry = prune(&repo, &PruneOptions { dry_run: true, ..Default::default() }).expect("prune --dry-run");
    assert_eq!(stored_bytes(&repo), before, "dry run deletes nothing");
    let report = prune(&repo, &PruneOptions::default()).expect("prune");
    assert_eq!(report.bytes_freed, dry.bytes_freed, "dry run predicts the freed bytes");
    assert!(report.deleted.packs > 0, "{report:#?}");
    let after = stored_bytes(&repo);
    assert_eq!(after, report.bytes_after);
    assert!(after < before - 100_000, "files a and b are gone: {before} -> {after}");
    assert_eq!(repo.list_ids("index").expect("list").0.len(), 1, "one index file remains");

    let check = run_check(url, true);
    assert!(check.is_ok() && check.infos.is_empty(), "{check:#?}");
    assert_eq!(restore(&f.repo(), &f.s[3]), f.expected(3));

    let again = prune(&repo, &PruneOptions::default()).expect("second prune");
    assert_eq!((again.deleted.packs, again.repacked.packs, again.bytes_freed), (0, 0, 0), "{again:#?}");
}

/// Each snapshot names the one before it; one removed by Arca (a forget
/// record) is fine, one removed behind Arca's back is reported at its
/// successor.
pub fn removing_a_snapshot_outside_arca_is_reported(url: &str) {
    let f = build(url);
    let repo = f.repo();
    let chain: Vec<(Id, Option<Id>)> =
        repo.list_snapshots().expect("list").iter().map(|s| (s.id, s.snapshot.previous)).collect();
    let want: Vec<(Id, Option<Id>)> =
        vec![(f.s[0], None), (f.s[1], Some(f.s[0])), (f.s[2], Some(f.s[1])), (f.s[3], Some(f.s[2]))];
    assert_eq!(chain, want, "each snapshot names the newest before it");

    arca_repo::forget_snapshots(&repo, &[f.s[1]], false).expect("forget");
    let report = run_check(url, false);
    assert!(report.is_ok(), "a forgotten snapshot is no tampering: {report:#?}");

    repo.backend().delete(&format!("snapshots/{}", f.s[2])).expect("an attacker's delete");
    let report = run_check(url, false);
    assert_only_error(&report, &format!("snapshots/{}", f.s[3]), "no forget record names it", &[]);
    assert!(report.errors[0].problem.contains(&f.s[2].to_hex()), "{report:#?}");
}

/// An append-only client backs up, but neither forgets, prunes, removes a
/// key nor overwrites anything; locks still come and go.
pub fn an_append_only_client_adds_but_never_destroys(url: &str) {
    let f = build(url);
    let backend: std::sync::Arc<dyn arca_repo::Backend> =
        std::sync::Arc::new(arca_repo::backend::AppendOnly(open_backend(url, false).expect("backend")));
    let repo = Repository::open(backend, PASSWORD).expect("open append-only");
    repo.load_index().expect("index");
    let nodes = save_files(&repo, &[("d", &noise(4, 30_000))]);
    let added = save_snapshot(&repo, nodes, 5);

    let refused = |what: &str, e: arca_repo::Error| {
        let text = e.to_string();
        assert!(matches!(e, arca_repo::Error::AppendOnly { .. }), "{what}: {text}");
        assert!(text.contains("append-only"), "{what}: {text}");
    };
    refused("forget", arca_repo::forget_snapshots(&repo, &[f.s[0]], false).expect_err("forget"));
    let policy = RetentionPolicy { keep_last: Some(1), ..Default::default() };
    refused("forget --keep-last", forget(&repo, &policy, false).expect_err("forget policy"));
    refused("prune", prune(&repo, &PruneOptions::default()).expect_err("prune"));
    refused("delete", repo.backend().delete(&pack_object(&f.pack_of_a)).expect_err("delete"));
    let config = repo.backend().get("config").expect("config");
    refused(
        "overwrite",
        repo.backend().put("config", config, arca_repo::backend::WriteMode::Overwrite).expect_err("overwrite"),
    );
    assert!(repo.backend().list("locks").expect("locks").is_empty(), "every lock was released");

    let report = run_check(url, true);
    assert!(report.is_ok(), "{report:#?}");
    assert_eq!(report.counts.snapshots, 5);
    for (n, s) in f.s.iter().enumerate() {
        assert_eq!(restore(&reopen(url), s), f.expected(n));
    }
    assert_eq!(restore(&reopen(url), &added).len(), 1);
}

/// Deletes every index file; returns how many there were.
pub fn delete_index_files(repo: &Repository) -> usize {
    let (ids, _) = repo.list_ids("index").expect("list index");
    for id in &ids {
        repo.delete_file("index", id).expect("delete index file");
    }
    ids.len()
}

fn assert_restores_everything(f: &Fixture) {
    for (n, s) in f.s.iter().enumerate() {
        assert_eq!(restore(&f.repo(), s), f.expected(n), "snapshot {n} restores byte-identical");
    }
}

/// Index files lost: `check` fails, `repair index` rebuilds the index
/// from the packs' headers, and everything reads again.
pub fn lost_index_is_rebuilt(url: &str) {
    let f = build(url);
    let repo = f.repo();
    let packs = pack_names(&repo).len() as u64;
    assert!(delete_index_files(&repo) > 0);
    assert!(!run_check(url, false).is_ok(), "check fails without an index");

    let dry = arca_repo::repair_index(&repo, true).expect("repair index --dry-run");
    assert!(dry.dry_run && dry.index_files_written > 0, "{dry:#?}");
    assert!(repo.list_ids("index").expect("list").0.is_empty(), "a dry run writes nothing");

    let report = arca_repo::repair_index(&repo, false).expect("repair index");
    assert_eq!(report.packs_read, packs, "{report:#?}");
    assert_eq!(report.packs_added, packs);
    assert!(report.unreadable_packs.is_empty() && report.packs_missing.is_empty(), "{report:#?}");
    assert_eq!((report.index_files_written, report.index_files_removed), (1, 0), "{report:#?}");
    assert_eq!(report.blobs_indexed, dry.blobs_indexed, "the dry run predicts the blobs");
    let check = run_check(url, true);
    assert!(check.is_ok() && check.infos.is_empty(), "{check:#?}");
    assert_restores_everything(&f);

    let again = arca_repo::repair_index(&repo, false).expect("second repair");
    assert!(again.up_to_date, "{again:#?}");
    assert_eq!((again.index_files_written, again.index_files_removed), (0, 0));
}

/// A damaged index file: named by `check`, replaced by `repair index`.
pub fn damaged_index_is_replaced(url: &str) {
    let f = build(url);
    let repo = f.repo();
    let (before, _) = repo.list_ids("index").expect("list");
    let victim = format!("index/{}", before[0]);
    flip_byte(&repo, &victim);
    assert!(run_check(url, false).error_for(&victim).is_some(), "check names {victim}");
    assert!(f.repo().load_index().is_err(), "the damaged file stops readers");

    let report = arca_repo::repair_index(&repo, false).expect("repair index");
    let damaged: Vec<&str> = report.damaged_index_files.iter().map(|d| d.object.as_str()).collect();
    assert_eq!(damaged, vec![victim.as_str()], "{report:#?}");
    assert_eq!(report.index_files_removed, before.len() as u64, "{report:#?}");
    assert!(report.unreadable_packs.is_empty(), "{report:#?}");
    let (after, _) = repo.list_ids("index").expect("list");
    assert!(after.iter().all(|id| !before.contains(id)), "the old files are gone");
    let check = run_check(url, true);
    assert!(check.is_ok() && check.infos.is_empty(), "{check:#?}");
    assert_restores_everything(&f);
}

/// A pack whose header is damaged is named and kept, never deleted; with
/// an intact index its entries stay, with a lost one its blobs are missing.
pub fn corrupt_pack_is_named_not_deleted(url: &str) {
    let f = build(url);
    let repo = f.repo();
    let object = pack_object(&f.pack_of_a);
    // Damage the sealed header (just before its 4-byte length).
    rewrite(&repo, &object, |b| {
        let at = b.len() - 10;
        b[at] ^= 0x01;
    });
    let report = arca_repo::repair_index(&repo, false).expect("repair with the index intact");
    assert_eq!(report.unreadable_packs.len(), 1, "{report:#?}");
    assert_eq!(report.unreadable_packs[0].pack, object);
    assert!(report.unreadable_packs[0].problem.contains("authentication failed"), "{report:#?}");
    assert!(report.unreadable_packs[0].blobs_kept > 0, "what the index knew of it stays: {report:#?}");
    assert!(pack_names(&repo).iter().any(|n| object.ends_with(n.as_str())), "the pack is kept");
    // Its blobs are intact: the snapshots still restore.
    assert_restores_everything(&f);

    delete_index_files(&repo);
    let report = arca_repo::repair_index(&repo, false).expect("repair with the index lost");
    assert_eq!(report.unreadable_packs.len(), 1, "{report:#?}");
    assert_eq!((report.unreadable_packs[0].pack.as_str(), report.unreadable_packs[0].blobs_kept), (object.as_str(), 0));
    assert!(pack_names(&repo).iter().any(|n| object.ends_with(n.as_str())), "the pack is kept");
    let check = run_check(url, false);
    assert!(check.errors.iter().all(|e| e.affected_snapshots == [f.s[0], f.s[2]]), "{check:#?}");
    assert!(!check.is_ok());
    let found = arca_repo::repair_snapshots(&repo, false).expect("repair snapshots");
    let ids: Vec<Id> = found.unreadable.iter().map(|u| u.id).collect();
    assert_eq!(ids, vec![f.s[0], f.s[2]], "{found:#?}");
}

/// The tree pack of the newest snapshot lost: `repair snapshots` lists
/// exactly that snapshot, before and after the index is repaired;
/// `--forget` removes it and `check` passes.
pub fn snapshot_with_a_lost_tree_pack_is_forgotten(url: &str) {
    let f = build(url);
    let repo = f.repo();
    repo.load_index().expect("index");
    let victim = f.s[3];
    let tree = repo.find_snapshot(&victim.to_hex()).expect("snapshot").snapshot.tree;
    let pack = repo.index().get(&tree).expect("root tree indexed").pack;
    repo.backend().delete(&pack_object(&pack)).expect("delete the tree pack");

    let only_victim = |r: &arca_repo::RepairSnapshotsReport| {
        let ids: Vec<Id> = r.unreadable.iter().map(|u| u.id).collect();
        assert_eq!(ids, vec![victim], "{r:#?}");
        let held = r.unreadable[0].snapshot.as_ref().expect("the document is readable");
        assert_eq!(held.paths, vec!["/data".to_string()]);
        assert!(r.unreadable[0].problem.starts_with("/: tree "), "{r:#?}");
    };
    let found = arca_repo::repair_snapshots(&repo, false).expect("repair snapshots");
    only_victim(&found);
    assert!(found.unreadable[0].problem.contains("which is missing"), "{found:#?}");
    assert!(found.removed.is_empty());
    assert_eq!(repo.list_ids("snapshots").expect("list").0.len(), 4, "nothing removed without --forget");

    let repaired = arca_repo::repair_index(&repo, false).expect("repair index");
    assert_eq!(repaired.packs_missing, vec![pack_object(&pack)], "{repaired:#?}");
    let found = arca_repo::repair_snapshots(&repo, false).expect("repair snapshots");
    only_victim(&found);
    assert!(found.unreadable[0].problem.contains("not in the index"), "{found:#?}");

    let forgotten = arca_repo::repair_snapshots(&repo, true).expect("repair snapshots --forget");
    assert_eq!(forgotten.removed, vec![victim]);
    let records = repo.forget_records().expect("forget records");
    assert!(records.iter().any(|(_, r)| r.snapshots == [victim] && r.reason == "repair snapshots"));
    let check = run_check(url, true);
    assert!(check.is_ok(), "{check:#?}");
    for (n, s) in f.s[..3].iter().enumerate() {
        assert_eq!(restore(&f.repo(), s), f.expected(n));
    }
    let again = arca_repo::repair_snapshots(&repo, false).expect("again");
    assert!(again.unreadable.is_empty(), "{again:#?}");
}
