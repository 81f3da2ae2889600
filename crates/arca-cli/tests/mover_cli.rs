//! `arca mover backup|restore|verify` through the real binary, as a mover
//! pod runs it: one JSON result line, stable change detection across `cp -a`
//! copies (what a snapshot clone looks like), identical restores, mirror
//! restores, block images, verifying a restored copy (exit code 3 with the
//! differences when it differs), and clear errors.

mod common;
mod movers;

use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};

use arca_volumes::mover::MoverResult;
use common::{Arca, stderr, write_file};
use movers::*;

#[test]
fn backup_of_a_copy_reads_nothing_and_restore_is_identical() {
    let arca = Arca::new_local();
    let src = arca.path("src");
    volume_tree(&src);
    // The kubelet's pods directory may be reached through a symlink.
    std::os::unix::fs::symlink(&src, arca.path("via-link")).unwrap();
    let first = backup_dir(&arca, &arca.path("via-link"), "shop/data", "nightly-1", &[]);
    assert_eq!(first.mover, "backup");
    assert_eq!(first.snapshot.len(), 64);
    assert_eq!(first.files, 6, "{first:?}");
    assert!(first.bytes_read > 300 * 1024, "{first:?}");
    assert!(first.bytes_added > 0);
    assert_eq!(first.warnings, 0);

    let snaps = arca.json(&["snapshots"]);
    let snap = &snaps.as_array().unwrap()[0];
    assert_eq!(snap["paths"][0], "shop/data");
    assert!(snap["tags"].as_array().unwrap().iter().any(|t| t == "volume"), "{snap}");
    assert_eq!(snap["meta"]["volume"], "shop/data");
    assert_eq!(snap["meta"]["backup"], "nightly-1");

    // A clone of the snapshot: new inodes and ctimes, same mtimes.
    let clone = arca.path("clone");
    let cp = std::process::Command::new("cp").arg("-a").arg(&src).arg(&clone).status().unwrap();
    assert!(cp.success());
    let second = backup_dir(&arca, &clone, "shop/data", "nightly-2", &["--parent", &first.snapshot]);
    assert_eq!(second.bytes_read, 0, "{second:?}");
    assert_eq!(second.files, 6);
    // Only the trees holding the hard-link pair (which keeps its real inode) are new.
    assert!(second.bytes_added < first.bytes_added / 4, "{second:?} vs {first:?}");
    // Without --parent the volume's latest snapshot is the parent.
    let third = backup_dir(&arca, &clone, "shop/data", "nightly-3", &[]);
    assert_eq!(third.bytes_read, 0, "{third:?}");

    let target = arca.path("restored");
    let restored = mover_ok(&arca, &["restore", "--snapshot", &second.snapshot, "--target", &target.to_string_lossy()]);
    assert_eq!(restored.mover, "restore");
    assert_eq!(restored.snapshot, second.snapshot);
    assert_eq!(restored.files, 6);
    assert!(restored.bytes_written > 300 * 1024);
    assert_restored_same(&src, &target);
}

fn assert_restored_same(a: &std::path::Path, b: &std::path::Path) {
    assert_same_tree(a, b);
    let ino = |p: &str| std::fs::metadata(b.join(p)).unwrap().ino();
    assert_eq!(ino("data/db/table.dat"), ino("table-link.dat"), "hard link restored as one inode");
}

#[test]
fn mirror_restore_removes_what_the_snapshot_does_not_hold() {
    let arca = Arca::new_local();
    let src = arca.path("src");
    volume_tree(&src);
    let snap = backup_dir(&arca, &src, "shop/data", "b1", &[]);
    let target = arca.path("claim");
    write_file(&target.join("stale/old.log"), b"old");
    write_file(&target.join("conf/app.conf"), b"port = 1\n");
    write_file(&target.join("extra.txt"), b"extra");
    let t = target.to_string_lossy();

    let plain = mover_ok(&arca, &["restore", "--snapshot", &snap.snapshot, "--target", &t]);
    assert_eq!(plain.removed, 0);
    assert!(target.join("extra.txt").exists(), "without --mirror nothing is removed");

    let mirrored = mover_ok(&arca, &["restore", "--snapshot", &snap.snapshot, "--target", &t, "--mirror"]);
    assert_eq!(mirrored.removed, 3, "stale, stale/old.log, extra.txt: {mirrored:?}");
    assert_restored_same(&src, &target);
}

#[test]
fn block_volume_round_trip() {
    let arca = Arca::new_local();
    let image = arca.path("disk.img");
    let file = File::create(&image).unwrap();
    file.set_len(256 * 1024 * 1024).unwrap();
    for (i, at) in [0u64, 77 * 1024 * 1024 + 5, 255 * 1024 * 1024].into_iter().enumerate() {
        file.write_all_at(&pseudo_random(512 * 1024, i as u64 + 1), at).unwrap();
    }
    let image_s = image.to_string_lossy();
    let (out, result) = mover(&arca, &["backup", "--block", &image_s, "--volume", "shop/raw", "--backup", "b1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let result = result.expect("result line");
    assert_eq!(result.files, 1);
    assert!(result.bytes_read <= 4 * 1024 * 1024, "holes are not read: {result:?}");

    let restored = arca.path("restored.img");
    let r = mover_ok(&arca, &["restore", "--snapshot", &result.snapshot, "--block", &restored.to_string_lossy()]);
    assert_eq!(r.files, 1);
    assert_eq!(std::fs::read(&restored).unwrap(), std::fs::read(&image).unwrap());
    assert!(std::fs::metadata(&restored).unwrap().blocks() * 512 < 16 * 1024 * 1024, "restored image stays sparse");

    // A block snapshot restored with --target lands as volume.img.
    let dir = arca.path("as-dir");
    mover_ok(&arca, &["restore", "--snapshot", &result.snapshot, "--target", &dir.to_string_lossy()]);
    assert_eq!(std::fs::metadata(dir.join("volume.img")).unwrap().len(), 256 * 1024 * 1024);
}

#[test]
fn errors_are_clear_and_fail() {
    let arca = Arca::new_local();
    let missing = arca.path("no-such-dir");
    let (out, result) =
        mover(&arca, &["backup", "--source", &missing.to_string_lossy(), "--volume", "a/b", "--backup", "b"]);
    assert!(!out.status.success());
    assert!(result.is_none());
    assert!(stderr(&out).contains("no-such-dir"), "{}", stderr(&out));

    let src = arca.path("src");
    volume_tree(&src);
    let s = src.to_string_lossy();
    let (out, _) = mover(&arca, &["backup", "--source", &s, "--volume", "no-namespace", "--backup", "b"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("NAMESPACE/CLAIM"), "{}", stderr(&out));

    let (out, _) = mover(&arca, &["backup", "--source", &s, "--block", &s, "--volume", "a/b", "--backup", "b"]);
    assert!(!out.status.success(), "--source and --block together are refused");

    let (out, _) = mover(&arca, &["backup", "--block", &s, "--volume", "a/b", "--backup", "b"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("is a directory"), "{}", stderr(&out));

    let (out, _) = mover(&arca, &["restore", "--snapshot", "ffffffff", "--target", "/nonexistent-arca-target"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("ffffffff"), "{}", stderr(&out));

    // A directory snapshot is not a block image.
    let snap = backup_dir(&arca, &src, "a/b", "b", &[]);
    let (out, _) =
        mover(&arca, &["restore", "--snapshot", &snap.snapshot, "--block", &arca.path("x.img").to_string_lossy()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("not a block volume image"), "{}", stderr(&out));

    // An unreadable repository.
    let out = arca
        .cmd()
        .args(["-o", "json", "mover", "backup", "--source", &s, "--volume", "a/b", "--backup", "b"])
        .env("ARCA_REPO", arca.path("not-a-repo"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(10), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
}

#[test]
fn unreadable_files_make_a_partial_result() {
    let arca = Arca::new_local();
    let src = arca.path("src");
    volume_tree(&src);
    write_file(&src.join("locked"), b"locked");
    use std::os::unix::fs::PermissionsExt;
    let s = src.to_string_lossy().into_owned();
    let args = ["-o", "json", "mover", "backup", "--source", &s, "--volume", "a/b", "--backup", "b"];
    let out = if is_root() {
        // Root reads every file: run the mover as an unprivileged user instead.
        let chmod = std::process::Command::new("chmod").arg("-R").arg("a+rwX").arg(arca.dir.path()).status().unwrap();
        assert!(chmod.success());
        std::fs::set_permissions(src.join("locked"), std::fs::Permissions::from_mode(0o000)).unwrap();
        let mut cmd = arca.cmd();
        let program = cmd.get_program().to_os_string();
        let mut unprivileged = std::process::Command::new("setpriv");
        unprivileged.args(["--reuid=65534", "--regid=65534", "--clear-groups"]).arg(program).args(args);
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => unprivileged.env(k, v),
                None => unprivileged.env_remove(k),
            };
        }
        cmd = unprivileged;
        cmd.output().unwrap()
    } else {
        std::fs::set_permissions(src.join("locked"), std::fs::Permissions::from_mode(0o000)).unwrap();
        arca.cmd().args(args).output().unwrap()
    };
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let result =
        arca_volumes::mover::parse_result(&stdout).expect("the result line is printed even when files were skipped");
    assert_eq!(result.warnings, 1, "{result:?}");
    assert!(stderr(&out).contains("locked"), "{}", stderr(&out));
}

/// `mover verify` with its exit code and result (the JSON is printed whatever the outcome).
fn verify(arca: &Arca, args: &[&str]) -> (Option<i32>, MoverResult) {
    let mut all = vec!["verify"];
    all.extend(args);
    let (out, result) = mover(arca, &all);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "stdout must be exactly the result line:\n{stdout}\n{}", stderr(&out));
    (out.status.code(), result.unwrap_or_else(|| panic!("no result line in {stdout}")))
}

/// `path: what` of every listed difference.
fn differences(r: &MoverResult) -> Vec<String> {
    r.check.as_ref().map(|c| c.mismatches.iter().map(ToString::to_string).collect()).unwrap_or_default()
}

#[test]
fn verify_passes_on_a_restored_copy_and_names_what_differs_with_exit_code_3() {
    let arca = Arca::new_local();
    let src = arca.path("src");
    volume_tree(&src);
    let snap = backup_dir(&arca, &src, "shop/data", "b1", &[]);
    let target = arca.path("claim");
    let t = target.to_string_lossy().into_owned();
    mover_ok(&arca, &["restore", "--snapshot", &snap.snapshot, "--target", &t]);

    let (code, ok) = verify(&arca, &["--snapshot", &snap.snapshot[..12], "--target", &t]);
    assert_eq!(code, Some(0), "{ok:?}");
    assert_eq!(ok.mover, "verify");
    assert_eq!(ok.snapshot, snap.snapshot);
    let check = ok.check.as_ref().expect("a verify result carries its check");
    assert!(check.passed(), "{check:?}");
    // Six files, the hard link read once.
    assert_eq!((ok.files, check.files), (5, 5), "{ok:?}");
    assert!(ok.bytes_read > 300 * 1024, "{ok:?}");

    let log = std::fs::OpenOptions::new().write(true).open(target.join("data/db/log.txt")).unwrap();
    log.write_all_at(b"!", 1234).unwrap();
    drop(log);
    std::fs::remove_file(target.join("conf/app.conf")).unwrap();
    write_file(&target.join("new.txt"), b"not in the snapshot");
    let (code, bad) = verify(&arca, &["--snapshot", &snap.snapshot, "--target", &t]);
    assert_eq!(code, Some(3), "a check that finds differences partly failed: {bad:?}");
    let found = differences(&bad);
    assert_eq!(found.len(), 3, "{found:#?}");
    assert!(found.iter().any(|d| d.starts_with("data/db/log.txt: content: bytes 0..")), "{found:#?}");
    assert!(found.contains(&"conf/app.conf: missing: the snapshot has a file here".to_string()), "{found:#?}");
    assert!(found.contains(&"new.txt: extra: a file the snapshot does not hold".to_string()), "{found:#?}");
    let check = bad.check.as_ref().unwrap();
    assert_eq!((check.missing, check.extra), (1, 1));

    // For people: the differences, one a line.
    let out = arca.run(&["mover", "verify", "--snapshot", &snap.snapshot, "--target", &t]);
    assert_eq!(out.status.code(), Some(3));
    let human = String::from_utf8_lossy(&out.stdout);
    assert!(human.contains("3 difference(s) (1 missing, 1 extra)"), "{human}");
    assert!(human.contains("\n  new.txt: extra"), "{human}");

    // A wrong snapshot or target is an error, not a difference.
    let (out, result) = mover(&arca, &["verify", "--snapshot", "ffffffff", "--target", &t]);
    assert_eq!(out.status.code(), Some(1));
    assert!(result.is_none());
    assert!(stderr(&out).contains("ffffffff"), "{}", stderr(&out));
    let missing = arca.path("nowhere").to_string_lossy().into_owned();
    let (out, _) = mover(&arca, &["verify", "--snapshot", &snap.snapshot, "--target", &missing]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("nowhere"), "{}", stderr(&out));
    let (out, _) = mover(&arca, &["verify", "--snapshot", &snap.snapshot]);
    assert!(!out.status.success(), "--target or --block is needed");
}

#[test]
fn verify_compares_a_block_image_in_fixed_chunks() {
    let arca = Arca::new_local();
    let image = arca.path("disk.img");
    let file = File::create(&image).unwrap();
    file.set_len(64 * 1024 * 1024).unwrap();
    file.write_all_at(&pseudo_random(2 * 1024 * 1024, 3), 5 * 1024 * 1024).unwrap();
    drop(file);
    let image_s = image.to_string_lossy().into_owned();
    let snap = mover_ok(&arca, &["backup", "--block", &image_s, "--volume", "shop/raw", "--backup", "b1"]);
    let copy = arca.path("copy.img");
    let copy_s = copy.to_string_lossy().into_owned();
    mover_ok(&arca, &["restore", "--snapshot", &snap.snapshot, "--block", &copy_s]);
    let (code, ok) = verify(&arca, &["--snapshot", &snap.snapshot, "--block", &copy_s]);
    assert_eq!(code, Some(0), "{ok:?}");
    assert_eq!(ok.check.as_ref().map(|c| c.bytes), Some(64 * 1024 * 1024));

    File::options().write(true).open(&copy).unwrap().write_all_at(b"?", 40 * 1024 * 1024).unwrap();
    let (code, bad) = verify(&arca, &["--snapshot", &snap.snapshot, "--block", &copy_s]);
    assert_eq!(code, Some(3));
    assert_eq!(
        differences(&bad),
        ["volume.img: content: bytes 41943040..42991616 differ from the snapshot's (chunk 41 of 64)"]
    );
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}
