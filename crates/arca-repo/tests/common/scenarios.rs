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
