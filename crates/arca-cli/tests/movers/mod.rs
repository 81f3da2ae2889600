//! Helpers for tests of volume data: run `arca mover …` as a mover pod
//! would, build trees with every kind of metadata, and compare trees
//! entry by entry (content, mode, mtime, symlinks, hard links).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Output;

use arca_volumes::mover::{MoverResult, parse_result};

use crate::common::{Arca, write_file};

pub mod local_phase;

/// Runs `arca -o json mover ARGS`; returns the process output and the
/// result line, if it printed one.
pub fn mover(arca: &Arca, args: &[&str]) -> (Output, Option<MoverResult>) {
    let mut all = vec!["-o", "json", "mover"];
    all.extend(args);
    let out = arca.run(&all);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let result = parse_result(&stdout);
    (out, result)
}

/// Like [`mover`], but the run must succeed and print exactly one line.
pub fn mover_ok(arca: &Arca, args: &[&str]) -> MoverResult {
    let (out, result) = mover(arca, args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "arca mover {args:?} failed: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.lines().count(), 1, "stdout must be exactly the result line:\n{stdout}");
    result.unwrap_or_else(|| panic!("no result line in {stdout}"))
}

/// `arca mover backup --source DIR --volume VOLUME --backup BACKUP [EXTRA…]`.
pub fn backup_dir(arca: &Arca, dir: &Path, volume: &str, backup: &str, extra: &[&str]) -> MoverResult {
    let dir = dir.to_string_lossy();
    let mut args = vec!["backup", "--source", &dir, "--volume", volume, "--backup", backup];
    args.extend(extra);
    mover_ok(arca, &args)
}

/// A volume's worth of files: nested dirs, modes, old mtimes, a symlink, a
/// dangling symlink, a hard-link pair, an empty file and an empty dir.
pub fn volume_tree(root: &Path) {
    write_file(&root.join("data/db/table.dat"), &pseudo_random(300 * 1024, 7));
    write_file(&root.join("data/db/log.txt"), "entry\n".repeat(5000).as_bytes());
    write_file(&root.join("conf/app.conf"), b"port = 8080\n");
    write_file(&root.join("conf/secret.key"), b"not really secret");
    write_file(&root.join("empty-file"), b"");
    std::fs::create_dir_all(root.join("empty-dir")).unwrap();
    std::fs::set_permissions(root.join("conf/secret.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::set_permissions(root.join("conf"), std::fs::Permissions::from_mode(0o750)).unwrap();
    symlink("../conf/app.conf", root.join("data/app.conf")).unwrap();
    symlink("nowhere", root.join("dangling")).unwrap();
    std::fs::hard_link(root.join("data/db/table.dat"), root.join("table-link.dat")).unwrap();
    let old = filetime::FileTime::from_unix_time(1_600_000_000, 123_456_789);
    filetime::set_file_mtime(root.join("conf/app.conf"), old).unwrap();
    filetime::set_symlink_file_times(root.join("dangling"), old, old).unwrap();
}

/// Deterministic bytes that do not compress or deduplicate.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len.div_ceil(8))
        .flat_map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()
        })
        .take(len)
        .collect()
}

/// Everything a restore must keep of an entry, by path below the root.
#[derive(Debug, PartialEq)]
pub struct EntryState {
    pub kind: &'static str,
    pub mode: u32,
    /// Directories' mtimes change as their contents are written; compared for the rest.
    pub mtime: Option<(i64, i64)>,
    pub content: Option<Vec<u8>>,
    pub link: Option<PathBuf>,
    /// Index of the first path sharing this entry's inode (hard links).
    pub same_inode_as: Option<String>,
}

pub fn tree_state(root: &Path) -> BTreeMap<String, EntryState> {
    let mut out = BTreeMap::new();
    let mut inodes: BTreeMap<u64, String> = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        entries.sort();
        for path in entries {
            let md = std::fs::symlink_metadata(&path).unwrap();
            let rel = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let ft = md.file_type();
            let kind = if ft.is_dir() {
                stack.push(path.clone());
                "dir"
            } else if ft.is_symlink() {
                "symlink"
            } else {
                "file"
            };
            let same_inode_as = (kind == "file" && md.nlink() > 1)
                .then(|| inodes.entry(md.ino()).or_insert_with(|| rel.clone()).clone());
            let state = EntryState {
                kind,
                mode: if kind == "symlink" { 0 } else { md.mode() & 0o7777 },
                mtime: (kind != "dir").then(|| (md.mtime(), md.mtime_nsec())),
                content: (kind == "file").then(|| std::fs::read(&path).unwrap()),
                link: (kind == "symlink").then(|| std::fs::read_link(&path).unwrap()),
                same_inode_as,
            };
            out.insert(rel, state);
        }
    }
    out
}

/// Asserts two trees hold the same entries with the same metadata.
pub fn assert_same_tree(expected: &Path, actual: &Path) {
    let (a, b) = (tree_state(expected), tree_state(actual));
    let names = |m: &BTreeMap<String, EntryState>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&a), names(&b), "different entries in {} and {}", expected.display(), actual.display());
    for (rel, state) in &a {
        assert_eq!(Some(state), b.get(rel), "{rel} differs");
    }
}
