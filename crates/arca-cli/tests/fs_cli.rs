//! Files and streams through the real binary: round trip, incremental,
//! JSON output, streams, and backups killed at random moments.

mod common;

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use common::{Arca, stderr, write_file};

/// A small tree: random binaries, text, many small files, a symlink.
fn make_tree(root: &std::path::Path, seed: u64) {
    let mut state = seed;
    let mut next = move || {
        // xorshift: deterministic pseudo-random bytes without a dependency.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for i in 0..4 {
        let data: Vec<u8> = (0..(3 << 20) / 8).flat_map(|_| next().to_le_bytes()).collect();
        write_file(&root.join(format!("bin/blob{i}.bin")), &data);
    }
    let text: String = (0..20_000).map(|i| format!("line {i} of a very compressible log file\n")).collect();
    write_file(&root.join("logs/app.log"), text.as_bytes());
    for i in 0..300 {
        write_file(&root.join(format!("small/d{}/f{i}.txt", i % 10)), format!("small file {i} {}", next()).as_bytes());
    }
    std::fs::create_dir_all(root.join("empty")).unwrap();
    std::os::unix::fs::symlink("logs/app.log", root.join("link")).unwrap();
}

fn same_tree(a: &std::path::Path, b: &std::path::Path) {
    let out = std::process::Command::new("diff").args(["-r", "--no-dereference"]).arg(a).arg(b).output().unwrap();
    assert!(out.status.success(), "trees differ:\n{}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn backup_restore_incremental_round_trip() {
    let arca = Arca::new_local();
    let src = arca.path("src");
    make_tree(&src, 1);
    let src_s = src.to_string_lossy().into_owned();

    let first = arca.json(&["fs", "backup", &src_s, "--tag", "one"]);
    let id = first["id"].as_str().expect("snapshot id in JSON").to_string();
    assert_eq!(id.len(), 64);
    assert!(first["summary"]["bytes_read"].as_u64().unwrap() > 12 << 20);

    // Unchanged: no file content is read, nearly nothing is added.
    let second = arca.json(&["fs", "backup", &src_s]);
    assert_eq!(second["summary"]["bytes_read"], 0, "{second}");
    assert_eq!(second["parent"].as_str(), Some(id.as_str()));

    // One file changed: only it is read.
    write_file(&src.join("logs/app.log"), b"rewritten\n");
    let third = arca.json(&["fs", "backup", &src_s]);
    assert_eq!(third["summary"]["bytes_read"], 10, "{third}");

    let target = arca.path("restore");
    arca.ok(&["fs", "restore", "latest", "--target", &target.to_string_lossy()]);
    same_tree(&src, &target);

    let snaps = arca.json(&["snapshots"]);
    assert_eq!(snaps.as_array().unwrap().len(), 3);
}

#[test]
fn stream_round_trip_and_dedup() {
    let arca = Arca::new_local();
    let data: Vec<u8> = (0..6_000_000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    for round in 0..2 {
        let mut child = arca
            .cmd()
            .args(["stream", "backup", "--name", "pg-dump", "-o", "json"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&data).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["size"], data.len());
        if round == 1 {
            assert!(v["bytes_added_raw"].as_u64().unwrap() < 4096, "second identical stream adds ~nothing: {v}");
        }
    }
    let out = arca.run(&["stream", "restore", "latest"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout == data, "restored stream differs");
}

#[test]
fn killed_backups_leave_a_valid_repository() {
    let arca = Arca::new_local();
    let src = arca.path("src");
    make_tree(&src, 7);
    let src_s = src.to_string_lossy().into_owned();
    let mut seed = 0x9e3779b97f4a7c15u64;
    for round in 0..10 {
        // Change part of the data each round so every run has work to do.
        write_file(&src.join(format!("bin/round{round}.bin")), &vec![round as u8 + 1; 2 << 20]);
        let mut child =
            arca.cmd().args(["fs", "backup", &src_s]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        std::thread::sleep(Duration::from_millis(50 + (seed >> 33) % 1500));
        let _ = child.kill();
        let _ = child.wait();
        let check = arca.run(&["repo", "check"]);
        assert!(
            check.status.success(),
            "check after kill #{round} failed: {}\n{}",
            stderr(&check),
            String::from_utf8_lossy(&check.stdout)
        );
    }
    arca.ok(&["fs", "backup", &src_s]);
    let target = arca.path("restore");
    arca.ok(&["fs", "restore", "latest", "--target", &target.to_string_lossy()]);
    same_tree(&src, &target);
    arca.ok(&["repo", "prune"]);
    arca.ok(&["repo", "check", "--read-data"]);
}

#[test]
fn s3_backup_and_restore() {
    let Some(arca) = Arca::new_s3("fs-cli") else { return };
    let src = arca.path("src");
    make_tree(&src, 3);
    let src_s = src.to_string_lossy().into_owned();
    arca.ok(&["fs", "backup", &src_s]);
    let second = arca.json(&["fs", "backup", &src_s]);
    assert_eq!(second["summary"]["bytes_read"], 0);
    let target = arca.path("restore");
    arca.ok(&["fs", "restore", "latest", "--target", &target.to_string_lossy()]);
    same_tree(&src, &target);
    arca.ok(&["repo", "check", "--read-data"]);
}

#[test]
fn two_concurrent_backups_both_succeed() {
    let arca = Arca::new_local();
    let (a, b) = (arca.path("a"), arca.path("b"));
    make_tree(&a, 11);
    make_tree(&b, 12);
    let spawn = |p: &std::path::Path| {
        arca.cmd()
            .args(["fs", "backup", "-o", "json"])
            .arg(p)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (first, second) = (spawn(&a), spawn(&b));
    for child in [first, second] {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "concurrent backup failed: {}", stderr(&out));
    }
    assert_eq!(arca.json(&["snapshots"]).as_array().unwrap().len(), 2);
    arca.ok(&["repo", "check", "--read-data"]);
    // Both backups' locks are gone: an exclusive prune can run.
    arca.ok(&["repo", "prune"]);
}
