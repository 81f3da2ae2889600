//! `arca repo …` and error handling through the real binary.

mod common;

use common::{Arca, stderr};

#[test]
fn init_info_and_keys() {
    let arca = Arca::new_local();
    let info = arca.json(&["repo", "info"]);
    assert_eq!(info["format_version"], 1);
    assert_eq!(info["keys"], 1);
    assert_eq!(info["snapshots"], 0);

    // Initializing twice is refused.
    let again = arca.run(&["repo", "init"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("already initialized"), "{}", stderr(&again));

    // A second password opens the same repository; removing a key never loses data.
    let added =
        arca.cmd().args(["repo", "key", "add", "-o", "json"]).env("ARCA_NEW_PASSWORD", "second").output().unwrap();
    assert!(added.status.success(), "{}", stderr(&added));
    let list = arca.cmd().args(["repo", "key", "list", "-o", "json"]).env("ARCA_PASSWORD", "second").output().unwrap();
    let keys: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(keys["keys"].as_array().unwrap().len(), 2);

    // Change the first password; the old one stops working, the new one works.
    let passwd = arca.cmd().args(["repo", "key", "passwd"]).env("ARCA_NEW_PASSWORD", "third").output().unwrap();
    assert!(passwd.status.success(), "{}", stderr(&passwd));
    assert_eq!(arca.run(&["snapshots"]).status.code(), Some(12));
    let third = arca.cmd().args(["snapshots"]).env("ARCA_PASSWORD", "third").output().unwrap();
    assert!(third.status.success(), "{}", stderr(&third));

    // Every change is in the key log: init, add, passwd (an add, then the old key's removal).
    let log = arca.cmd().args(["repo", "key", "log", "-o", "json"]).env("ARCA_PASSWORD", "third").output().unwrap();
    let log: serde_json::Value = serde_json::from_slice(&log.stdout).unwrap();
    let actions: Vec<&str> = log.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["added", "added", "added", "removed"], "{log}");
    let events = log.as_array().unwrap();
    assert!(events[0].get("by").is_none(), "the first key came with init");
    assert_eq!(events[3]["key"], events[3]["by"], "passwd removes the key it was opened with");
    assert_eq!(events[1]["by"], events[0]["key"]);
}

#[test]
fn wrong_password_is_one_line_with_its_exit_code() {
    let arca = Arca::new_local();
    let out = arca.cmd().arg("snapshots").env("ARCA_PASSWORD", "nope").output().unwrap();
    assert_eq!(out.status.code(), Some(12));
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("wrong password"), "{err}");
}

#[test]
fn missing_repository_and_bad_urls_are_named() {
    let arca = Arca::new_local();
    let missing = arca.path("nowhere").to_string_lossy().into_owned();
    let out = arca.cmd().args(["snapshots", "--repo", &missing]).output().unwrap();
    assert_eq!(out.status.code(), Some(10));
    assert!(stderr(&out).contains(&missing), "{}", stderr(&out));

    let out = arca.cmd().args(["snapshots", "--repo", "ftp://host/x"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("unknown scheme \"ftp\""), "{}", stderr(&out));

    let out = arca.cmd().arg("snapshots").env_remove("ARCA_REPO").output().unwrap();
    assert!(stderr(&out).contains("--repo"), "{}", stderr(&out));
}

#[test]
fn password_file_and_no_tty() {
    let arca = Arca::new_local();
    let file = arca.path("pw");
    std::fs::write(&file, format!("{}\n", arca.password)).unwrap();
    let out =
        arca.cmd().args(["snapshots", "--password-file"]).arg(&file).env_remove("ARCA_PASSWORD").output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));

    // Without any password source and no terminal, the error says what to do.
    let out = arca.cmd().arg("snapshots").env_remove("ARCA_PASSWORD").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("ARCA_PASSWORD"), "{}", stderr(&out));
}

#[test]
fn s3_repository_init_and_info() {
    let Some(arca) = Arca::new_s3("repo-cli") else { return };
    let info = arca.json(&["repo", "info"]);
    assert_eq!(info["keys"], 1);
    // A bucket that doesn't exist is named as such.
    let out = arca.cmd().args(["snapshots", "--repo", "s3://arca-no-such-bucket/x"]).output().unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("arca-no-such-bucket") || stderr(&out).contains("not"), "{}", stderr(&out));
}

#[test]
fn an_append_only_client_backs_up_but_never_deletes() {
    let arca = Arca::new_local();
    let src = arca.path("src");
    common::write_file(&src.join("a.txt"), b"first");
    let src = src.to_string_lossy().into_owned();
    arca.json(&["fs", "backup", &src]);
    let appended = arca.cmd().args(["--append-only", "fs", "backup", &src, "-o", "json"]).output().unwrap();
    assert!(appended.status.success(), "{}", stderr(&appended));
    for args in [
        &["repo", "forget", "--keep-last", "1"][..],
        &["repo", "prune"][..],
        &["repo", "forget", "--keep-last", "1", "--prune"][..],
    ] {
        let out = arca.cmd().arg("--append-only").args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("append-only"), "{args:?}: {}", stderr(&out));
    }
    let dry = arca.cmd().args(["--append-only", "repo", "prune", "--dry-run"]).output().unwrap();
    assert!(dry.status.success(), "a dry run deletes nothing: {}", stderr(&dry));
    let snapshots = arca.json(&["snapshots"]);
    assert_eq!(snapshots.as_array().map(Vec::len), Some(2), "{snapshots}");

    // Without the mode, forget works and check finds the chain intact.
    arca.json(&["repo", "forget", "--keep-last", "1"]);
    let check = arca.run(&["repo", "check"]);
    assert!(check.status.success(), "{}", stderr(&check));
}

#[test]
fn object_lock_needs_an_s3_bucket_with_object_lock_and_a_real_retention() {
    let arca = Arca::new_local();
    let elsewhere = arca.path("locked").to_string_lossy().into_owned();
    let out = arca
        .cmd()
        .args(["repo", "init", "--repo", &elsewhere, "--object-lock", "compliance", "--retention", "30d"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("Object Lock needs an S3 repository"), "{}", stderr(&out));
    let out = arca
        .cmd()
        .args(["repo", "init", "--repo", &elsewhere, "--object-lock", "compliance", "--retention", "1h"])
        .output()
        .unwrap();
    assert!(stderr(&out).contains("too short"), "{}", stderr(&out));
    let out = arca
        .cmd()
        .args(["repo", "init", "--repo", &elsewhere, "--object-lock", "forever", "--retention", "1d"])
        .output()
        .unwrap();
    assert!(stderr(&out).contains("governance or compliance"), "{}", stderr(&out));
}
