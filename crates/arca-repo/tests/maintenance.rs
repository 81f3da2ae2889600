//! check, forget and prune against a local-directory repository.

mod common;

use arca_repo::{CheckOptions, Error, Id, PruneOptions, check, forget_snapshots, prune};
use common::scenarios::{self, run_check};
use common::*;

fn local() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = dir.path().join("repo").to_string_lossy().into_owned();
    (dir, url)
}

#[test]
fn healthy_repository_passes() {
    let (_dir, url) = local();
    scenarios::healthy_repository_passes(&url);
}

#[test]
fn bit_flip_is_found_by_read_data_only() {
    let (_dir, url) = local();
    scenarios::bit_flip_is_found_by_read_data_only(&url);
}

#[test]
fn truncated_pack_is_found_without_reading_data() {
    let (_dir, url) = local();
    scenarios::truncated_pack_is_found_without_reading_data(&url);
}

#[test]
fn deleted_pack_is_missing() {
    let (_dir, url) = local();
    scenarios::deleted_pack_is_missing(&url);
}

#[test]
fn removing_a_snapshot_outside_arca_is_reported() {
    let (_dir, url) = local();
    scenarios::removing_a_snapshot_outside_arca_is_reported(&url);
}

#[test]
fn an_append_only_client_adds_but_never_destroys() {
    let (_dir, url) = local();
    scenarios::an_append_only_client_adds_but_never_destroys(&url);
}

#[test]
fn forget_and_prune_reclaim_space() {
    let (_dir, url) = local();
    scenarios::forget_and_prune_reclaim_space(&url);
}

#[test]
fn corrupt_index_file_is_named_and_blocks_prune() {
    let (_dir, url) = local();
    let f = build(&url);
    let repo = f.repo();
    let (index_files, _) = repo.list_ids("index").expect("list");
    let victim = format!("index/{}", index_files[0]);
    flip_byte(&repo, &victim);
    let report = run_check(&url, false);
    let error = report.error_for(&victim).unwrap_or_else(|| panic!("{victim} not named: {report:#?}"));
    assert!(error.problem.contains("does not match its name"), "{error:?}");
    // Its packs are now outside any readable index: that must not read as
    // "safe to prune".
    assert!(report.infos.iter().all(|i| i.message.contains("do not prune")), "{report:#?}");
    let before = pack_names(&repo);
    assert!(prune(&repo, &PruneOptions::default()).is_err(), "prune must refuse with a damaged index");
    assert_eq!(pack_names(&repo), before);
}

#[test]
fn foreign_files_are_named() {
    let (_dir, url) = local();
    build(&url);
    let repo = reopen(&url);
    let put = |path: &str| {
        repo.backend().put(path, bytes::Bytes::from_static(b"hi"), arca_repo::backend::WriteMode::Create).expect("put")
    };
    put("snapshots/README");
    put("notes.txt");
    put("data/zz/junk");
    let report = run_check(&url, false);
    let mut objects: Vec<&str> = report.errors.iter().map(|e| e.object.as_str()).collect();
    objects.sort();
    assert_eq!(objects, ["data/zz/junk", "notes.txt", "snapshots/README"], "{report:#?}");
    assert!(report.errors.iter().all(|e| e.problem.contains("foreign")));
    // Listing snapshots still works; prune leaves foreign objects alone.
    assert_eq!(repo.list_snapshots().expect("list").len(), 4);
    prune(&repo, &PruneOptions::default()).expect("prune");
    assert!(repo.backend().size("data/zz/junk").expect("size").is_some());
}

#[test]
fn unreferenced_pack_is_information_and_prune_removes_it() {
    let (_dir, url) = local();
    build(&url);
    // A backup killed after its packs were uploaded but before its index
    // file was written: flush, then delete the index files it wrote.
    let repo = reopen(&url);
    let (old_index, _) = repo.list_ids("index").expect("list");
    let packs_before = pack_names(&repo);
    save_files(&repo, &[("d", &noise(9, 50_000))]);
    repo.flush().expect("flush");
    for id in repo.list_ids("index").expect("list").0.into_iter().filter(|id| !old_index.contains(id)) {
        repo.delete_file("index", &id).expect("delete index");
    }
    let leftovers = pack_names(&repo).len() - packs_before.len();
    assert!(leftovers > 1);

    let report = run_check(&url, true);
    assert!(report.is_ok(), "{report:#?}");
    assert_eq!(report.infos.len(), leftovers, "{report:#?}");
    assert!(report.infos.iter().all(|i| i.message.contains("unreferenced") && i.message.contains("prune removes it")));

    let pruned = prune(&reopen(&url), &PruneOptions::default()).expect("prune");
    assert_eq!(pruned.unreferenced.packs, leftovers as u64);
    assert_eq!(pack_names(&repo), packs_before);
    let report = run_check(&url, true);
    assert!(report.is_ok() && report.infos.is_empty(), "{report:#?}");
}

#[test]
fn partly_used_pack_is_repacked() {
    let (_dir, url) = local();
    // Big packs: files a and b share one data pack.
    let repo = init(&url, 4 << 20);
    let (a, b) = (noise(1, 60_000), noise(2, 60_000));
    let nodes = save_files(&repo, &[("a", &a), ("b", &b)]);
    let s1 = save_snapshot(&repo, vec![nodes[0].clone()], 1);
    let s2 = save_snapshot(&repo, vec![nodes[1].clone()], 2);
    let shared = repo.index().get(&nodes[0].content[0]).expect("indexed").pack;
    assert_eq!(repo.index().get(&nodes[1].content[0]).expect("indexed").pack, shared);

    forget_snapshots(&repo, &[s1], false).expect("forget");
    let report = prune(&repo, &PruneOptions::default()).expect("prune");
    assert!(report.repacked.packs >= 1, "{report:#?}");
    assert!(report.written.packs >= 1, "{report:#?}");
    assert!(repo.backend().size(&pack_object(&shared)).expect("size").is_none(), "old pack is gone");
    assert!(report.bytes_freed > 50_000, "{report:#?}");

    let check = run_check(&url, true);
    assert!(check.is_ok() && check.infos.is_empty(), "{check:#?}");
    let restored = restore(&reopen(&url), &s2);
    assert_eq!(restored.get("/dir/b"), Some(&b));

    // A high threshold keeps partly used packs as they are.
    let repo = reopen(&url);
    let nodes = save_files(&repo, &[("c", &noise(3, 60_000)), ("d", &noise(4, 60_000))]);
    let s3 = save_snapshot(&repo, vec![nodes[0].clone()], 3);
    let _ = s3;
    let lazy = prune(&repo, &PruneOptions { max_unused_percent: 60.0, ..Default::default() }).expect("prune");
    assert_eq!(lazy.repacked.packs, 0, "{lazy:#?}");
    assert!(run_check(&url, false).is_ok());
}

#[test]
fn check_waits_for_no_one_but_refuses_an_exclusive_lock() {
    let (_dir, url) = local();
    build(&url);
    let repo = reopen(&url);
    let lock = repo.lock(true, "test").expect("lock");
    let err = check(&repo, &CheckOptions::default(), None).expect_err("locked");
    assert!(matches!(err, Error::Locked { .. }), "{err}");
    assert!(matches!(prune(&repo, &PruneOptions::default()), Err(Error::Locked { .. })));
    drop(lock);
    let shared = repo.lock(false, "backup").expect("shared lock");
    assert!(check(&repo, &CheckOptions::default(), None).expect("check").is_ok());
    drop(shared);
}

#[test]
fn progress_is_reported() {
    let (_dir, url) = local();
    build(&url);
    let seen = std::sync::Mutex::new(Vec::new());
    let progress = |p: arca_repo::check::CheckProgress| seen.lock().expect("lock").push(p.phase);
    check(&reopen(&url), &CheckOptions { read_data: true }, Some(&progress)).expect("check");
    let seen = seen.into_inner().expect("lock");
    assert!(seen.contains(&arca_repo::check::CheckPhase::ReadData));
    assert!(seen.contains(&arca_repo::check::CheckPhase::Snapshots));
}

#[test]
fn forget_snapshots_rejects_unknown_ids() {
    let (_dir, url) = local();
    let f = build(&url);
    let err = forget_snapshots(&f.repo(), &[f.s[0], Id::random()], false).expect_err("unknown id");
    assert!(matches!(err, Error::SnapshotNotFound { .. }));
    assert_eq!(f.repo().list_ids("snapshots").expect("list").0.len(), 4, "nothing deleted");
}

#[test]
fn a_planted_key_file_neither_locks_out_nor_stalls_an_opening() {
    let (_dir, url) = local();
    let f = common::build(&url);
    // Someone with storage access adds a key file asking for 4 TiB of memory.
    let repo = f.repo();
    let (_, mut planted) = repo.list_keys().expect("keys").remove(0);
    planted.params = arca_repo::KdfParams { memory_kib: u32::MAX, iterations: u32::MAX, parallelism: 1 };
    let bytes = serde_json::to_vec(&planted).expect("json");
    let id = Id::hash_of(&bytes);
    repo.backend()
        .put(&format!("keys/{id}"), bytes.into(), arca_repo::backend::WriteMode::Create)
        .expect("plant the key file");
    let started = std::time::Instant::now();
    let reopened = reopen(&url);
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "opening took {:?}", started.elapsed());
    assert_eq!(restore(&reopened, &f.s[0]), f.expected(0));
    let report = run_check(&url, false);
    let e = report.error_for(&format!("keys/{id}")).expect("check names the planted key file");
    assert!(e.problem.contains("out of bounds"), "{e:?}");
}
