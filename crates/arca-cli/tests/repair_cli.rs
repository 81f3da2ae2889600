//! `arca repo repair index|snapshots` and the `-v` request counts through
//! the real binary.

mod common;

use std::path::Path;

use common::{Arca, stderr, write_file};

fn make_tree(root: &Path, seed: u8) {
    for i in 0..5u8 {
        let data: Vec<u8> = (0..200_000u32).map(|n| (n as u8).wrapping_mul(31).wrapping_add(i ^ seed)).collect();
        write_file(&root.join(format!("bin/f{i}.bin")), &data);
    }
    for i in 0..20 {
        write_file(&root.join(format!("small/s{i}.txt")), format!("small file {i} seed {seed}").as_bytes());
    }
}

fn same_tree(a: &Path, b: &Path) {
    let out = std::process::Command::new("diff").args(["-r", "--no-dereference"]).arg(a).arg(b).output().unwrap();
    assert!(out.status.success(), "trees differ:\n{}", String::from_utf8_lossy(&out.stdout));
}

fn copy_tree(from: &Path, to: &Path) {
    let out = std::process::Command::new("cp").arg("-a").arg(from).arg(to).output().unwrap();
    assert!(out.status.success(), "cp: {}", String::from_utf8_lossy(&out.stderr));
}

/// Every object under a local repository's `dir`.
fn objects(arca: &Arca, dir: &str) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![Path::new(&arca.repo).join(dir)];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() { stack.push(e.path()) } else { out.push(e.path()) }
        }
    }
    out
}

/// The pack holding a snapshot's root tree (read through the library).
fn tree_pack_of(arca: &Arca, snapshot: &str) -> String {
    let backend = arca_repo::open_backend(&arca.repo, false).expect("backend");
    let repo = arca_repo::Repository::open(backend, arca.password.as_bytes()).expect("open");
    repo.load_index().expect("index");
    let tree = repo.find_snapshot(snapshot).expect("snapshot").snapshot.tree;
    let pack = repo.index().get(&tree).expect("tree indexed").pack;
    arca_repo::pack::pack_path(&pack)
}

#[test]
fn repair_index_then_snapshots() {
    let arca = Arca::new_local();
    let src = arca.path("src");
    make_tree(&src, 1);
    let src_s = src.to_string_lossy().into_owned();
    let first = arca.json(&["fs", "backup", &src_s])["id"].as_str().expect("id").to_string();
    copy_tree(&src, &arca.path("src-first"));
    write_file(&src.join("small/s3.txt"), b"changed");
    let second = arca.json(&["fs", "backup", &src_s])["id"].as_str().expect("id").to_string();

    // The index lost: check fails, the repair rebuilds it.
    for f in objects(&arca, "index") {
        std::fs::remove_file(f).unwrap();
    }
    assert_eq!(arca.run(&["repo", "check"]).status.code(), Some(3));
    let dry = arca.ok(&["repo", "repair", "index", "--dry-run"]);
    assert!(dry.contains("dry run, nothing changed") && dry.contains("would write"), "{dry}");
    assert!(objects(&arca, "index").is_empty(), "a dry run writes nothing");
    let report = arca.json(&["repo", "repair", "index"]);
    assert!(report["packs_read"].as_u64().unwrap() >= 2, "{report}");
    assert_eq!(report["packs_added"], report["packs_read"], "{report}");
    assert!(report["blobs_indexed"].as_u64().unwrap() > 25, "{report}");
    assert_eq!(report["index_files_written"], 1, "{report}");
    assert_eq!(report["unreadable_packs"], serde_json::json!([]), "{report}");
    arca.ok(&["repo", "check", "--read-data"]);
    for (id, want) in [(&first, arca.path("src-first")), (&second, src.clone())] {
        let target = arca.path(&format!("restored-{}", &id[..8]));
        arca.ok(&["fs", "restore", id, "--target", &target.to_string_lossy()]);
        same_tree(&want, &target);
    }
    let again = arca.ok(&["repo", "repair", "index"]);
    assert!(again.contains("nothing to write"), "{again}");

    // Healthy: nothing unreadable, exit 0.
    let healthy = arca.ok(&["repo", "repair", "snapshots"]);
    assert!(healthy.contains("2 snapshot(s)") && healthy.contains("0 unreadable"), "{healthy}");

    // The second snapshot's tree pack lost: listed (exit 3), then forgotten.
    let pack = tree_pack_of(&arca, &second);
    std::fs::remove_file(Path::new(&arca.repo).join(&pack)).unwrap();
    let out = arca.run(&["repo", "repair", "snapshots"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&second[..8]) && !text.contains(&first[..8]), "{text}");
    assert!(text.contains(&format!("paths {src_s}")) && text.contains("which is missing"), "{text}");
    assert!(text.contains("nothing changed"), "{text}");
    assert_eq!(arca.json(&["snapshots"]).as_array().unwrap().len(), 2);

    arca.ok(&["repo", "repair", "index"]);
    let forgotten = arca.json(&["repo", "repair", "snapshots", "--forget"]);
    assert_eq!(forgotten["removed"], serde_json::json!([second]), "{forgotten}");
    assert_eq!(forgotten["unreadable"][0]["snapshot"]["paths"], serde_json::json!([src_s]), "{forgotten}");
    let left = arca.json(&["snapshots"]);
    assert_eq!(left.as_array().unwrap().len(), 1);
    assert_eq!(left[0]["id"], first.as_str());
    arca.ok(&["repo", "check", "--read-data"]);
}

#[test]
fn an_unreadable_pack_makes_repair_index_exit_3_and_stays() {
    let arca = Arca::new_local();
    let src = arca.path("src");
    make_tree(&src, 2);
    arca.ok(&["fs", "backup", &src.to_string_lossy()]);
    let pack = objects(&arca, "data").into_iter().next().expect("a pack");
    let mut bytes = std::fs::read(&pack).unwrap();
    let at = bytes.len() - 10;
    bytes[at] ^= 1;
    std::fs::write(&pack, bytes).unwrap();
    let out = arca.run(&["repo", "repair", "index"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let name = pack.file_name().unwrap().to_string_lossy().into_owned();
    assert!(text.contains(&name) && text.contains("kept, not deleted"), "{text}");
    assert!(pack.exists());
}

/// `-v` prints one `requests:` line on stderr, the JSON of a backup has a
/// `requests` object; the counts are plausible. On a remote repository the
/// metadata cache keeps re-backups and listings to a handful of requests.
fn request_counts(arca: &Arca, remote: bool) {
    let src = arca.path("src");
    make_tree(&src, 3);
    let src_s = src.to_string_lossy().into_owned();

    let run = |args: &[&str]| {
        let out = arca.run(args);
        assert!(out.status.success(), "arca {args:?}: {}", stderr(&out));
        let err = stderr(&out);
        let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("requests: ")).collect();
        (String::from_utf8_lossy(&out.stdout).into_owned(), lines.iter().map(|l| parse(l)).collect::<Vec<_>>())
    };
    let (json, lines) = run(&["fs", "backup", &src_s, "-v", "-o", "json"]);
    assert_eq!(lines.len(), 1, "one requests line");
    let first_line = lines[0];
    let first: serde_json::Value = serde_json::from_str(&json).expect("one JSON document");
    let first_put = first["requests"]["put"].as_u64().expect("requests.put");
    assert!(first_put >= 4, "packs, index, snapshot, lock: {first}");
    assert!(first_line.put >= first_put && first_line.get >= first["requests"]["get"].as_u64().unwrap());

    let (json, lines) = run(&["fs", "backup", &src_s, "-v", "-o", "json"]);
    let second: serde_json::Value = serde_json::from_str(&json).unwrap();
    let second_line = lines[0];
    assert!(second_line.put < first_line.put, "an unchanged re-backup writes less: {first_line:?} vs {second_line:?}");
    assert_eq!(second["summary"]["bytes_read"], 0);

    let (_, lines) = run(&["snapshots", "-v"]);
    let snapshots = lines[0];
    assert!(snapshots.list >= 1 && snapshots.put == 0 && snapshots.delete == 0, "{snapshots:?}");

    let (_, quiet) = run(&["snapshots"]);
    assert!(quiet.is_empty(), "no requests line without -v");

    if remote {
        // The metadata cache, warm from the backups' own writes: the
        // re-backup read the config and a lock, not the index, the parent
        // snapshot or its trees; a listing reads the config and lists.
        assert!(second_line.get <= 3, "unchanged re-backup with a warm cache: {second_line:?}");
        assert!(snapshots.get <= 1 && snapshots.list <= 2, "snapshots with a warm cache: {snapshots:?}");
        let (_, lines) = run(&["snapshots", "-v", "--no-cache"]);
        assert!(lines[0].get >= snapshots.get + 2, "--no-cache reads both snapshots again: {:?}", lines[0]);
        // A cold cache: everything is read once more, and then kept.
        std::fs::remove_dir_all(arca.path("cache")).expect("the test's cache exists");
        let (_, cold) = run(&["fs", "backup", &src_s, "-v"]);
        let (_, warm) = run(&["fs", "backup", &src_s, "-v"]);
        assert!(cold[0].get > warm[0].get && warm[0].get <= 3, "cold {:?}, warm {:?}", cold[0], warm[0]);
        eprintln!("cold cache re-backup {:?}, warm {:?}", cold[0], warm[0]);
    }
    eprintln!(
        "measured on {}: first backup {first_line:?}; unchanged re-backup {second_line:?}; snapshots {snapshots:?}",
        arca.repo
    );
}

#[derive(Debug, Clone, Copy)]
struct Line {
    get: u64,
    put: u64,
    list: u64,
    delete: u64,
}

fn parse(line: &str) -> Line {
    let count = |kind: &str| -> u64 {
        line.trim_start_matches("requests: ")
            .split(", ")
            .find_map(|part| part.strip_suffix(&format!(" {kind}")).and_then(|n| n.parse().ok()))
            .unwrap_or_else(|| panic!("no {kind} count in {line:?}"))
    };
    Line { get: count("GET"), put: count("PUT"), list: count("LIST"), delete: count("DELETE") }
}

#[test]
fn verbose_prints_request_counts() {
    request_counts(&Arca::new_local(), false);
}

#[test]
fn verbose_prints_request_counts_on_s3() {
    if let Some(arca) = Arca::new_s3("requests") {
        request_counts(&arca, true);
    }
}
