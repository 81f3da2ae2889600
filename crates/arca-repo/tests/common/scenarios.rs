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
