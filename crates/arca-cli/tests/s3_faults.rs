//! The S3 gateway killed (SIGKILL) and started again 4 s later in the
//! middle of a backup and of a restore, through the real binary against the
//! real S3-compatible server: both wait for it (the storage client retries
//! for up to about a minute) and complete; the restored files are identical
//! and `repo check --read-data` passes after each. Its own test binary:
//! nothing else uses S3 meanwhile.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Arca, stderr};

/// How long the gateway stays down: longer than one request, shorter than
/// the storage client's retry budget.
const DOWN: Duration = Duration::from_secs(4);

fn gateway(what: &str) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/s3-server.sh");
    let out = Command::new("bash").arg(script).arg(what).output().expect("run s3-server.sh");
    assert!(out.status.success(), "s3-server.sh {what}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Random-looking files, `count` of `size` bytes each.
fn files(dir: &Path, count: usize, size: usize) {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for i in 0..count {
        let data: Vec<u8> = (0..size)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        common::write_file(&dir.join(format!("f{i:03}")), &data);
    }
}

/// Runs `cmd` with the gateway killed once it has run `after`, and started
/// again `DOWN` later; returns how the command ended.
fn with_outage(mut cmd: Command, after: Duration) -> std::process::Output {
    let child: Child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn arca");
    let started = Instant::now();
    std::thread::sleep(after);
    gateway("gateway-kill");
    std::thread::sleep(DOWN);
    gateway("gateway-start");
    let out = child.wait_with_output().expect("wait arca");
    eprintln!("outage test: command ended after {:?} with {:?}", started.elapsed(), out.status.code());
    out
}

fn check_read_data(arca: &Arca) {
    let out = arca.run(&["repo", "check", "--read-data"]);
    assert!(out.status.success(), "check after the outage: {}", stderr(&out));
}

fn same_tree(a: &Path, b: &Path) {
    let mut names: Vec<_> = std::fs::read_dir(a).expect("read").map(|e| e.expect("entry").file_name()).collect();
    names.sort();
    assert!(!names.is_empty());
    for name in names {
        let (x, y) = (std::fs::read(a.join(&name)).expect("read"), std::fs::read(b.join(&name)).expect("restored"));
        assert!(x == y, "{name:?} differs after the restore");
    }
}

#[test]
fn a_gateway_killed_during_backup_and_restore_loses_nothing() {
    let Some(arca) = Arca::new_s3("gateway-outage") else { return };
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/s3-server.sh");
    let local = Command::new("bash").arg(script).arg("status").output().is_ok_and(|o| o.status.success());
    if !local {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true but the S3 server is not the local one");
        eprintln!("skipping: the S3 server is not scripts/s3-server.sh's (its gateway can't be killed here)");
        return;
    }
    let src = arca.path("src");
    files(&src, 48, 1 << 20);
    let src_s = src.to_string_lossy().into_owned();

    // Backup: the gateway goes away after a moment.
    let mut backup = arca.cmd();
    backup.args(["fs", "backup", &src_s, "-o", "json"]);
    let out = with_outage(backup, Duration::from_millis(700));
    // An outage shorter than the storage client's retries is ridden out.
    assert!(out.status.success(), "the backup waits for the gateway: {}", stderr(&out));
    let snapshots = arca.json(&["snapshots"]);
    assert_eq!(snapshots.as_array().map(Vec::len), Some(1), "one snapshot: {snapshots}");
    check_read_data(&arca);

    // Restore: the gateway goes away again.
    let target = arca.path("restored");
    let target_s = target.to_string_lossy().into_owned();
    let mut restore = arca.cmd();
    restore.args(["fs", "restore", "latest", "--target", &target_s]);
    let out = with_outage(restore, Duration::from_millis(500));
    assert!(out.status.success(), "the restore waits for the gateway: {}", stderr(&out));
    same_tree(&src, &target);
    check_read_data(&arca);
}
