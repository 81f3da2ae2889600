//! Shared test helpers: a local repository, a source tree with every kind of
//! entry and metadata, and a snapshot of a tree's state for comparison.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use arca_repo::{ChunkerParams, Config, InitOptions, KdfParams, Repository};
use filetime::FileTime;
use rand::RngCore;

/// Size of the hole in the middle of the sparse file.
pub const SPARSE_LEN: u64 = 48 * 1024 * 1024;

pub fn new_repo(dir: &Path) -> Repository {
    new_repo_with(dir, Config::new())
}

/// A repository with small chunks, so deduplication is visible on small files.
pub fn new_small_chunk_repo(dir: &Path) -> Repository {
    let mut config = Config::new();
    config.chunker = ChunkerParams { min: 16 * 1024, avg: 64 * 1024, max: 256 * 1024 };
    new_repo_with(dir, config)
}

fn new_repo_with(dir: &Path, config: Config) -> Repository {
    let backend = arca_repo::open_backend(&format!("file://{}", dir.display()), true).unwrap();
    let opts = InitOptions { kdf: KdfParams::insecure_fast(), config };
    Repository::init(backend, b"test password", opts).unwrap()
}

pub fn random_bytes(len: usize) -> Vec<u8> {
    let mut data = vec![0u8; len];
    rand::rng().fill_bytes(&mut data);
    data
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn write(path: &Path, data: &[u8]) {
    fs::write(path, data).unwrap();
}

fn mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// Whether `dir`'s file system takes user xattrs.
pub fn xattrs_supported(dir: &Path) -> bool {
    let probe = dir.join(".xattr-probe");
    write(&probe, b"");
    let ok = xattr::set(&probe, "user.probe", b"1").is_ok();
    fs::remove_file(&probe).unwrap();
    ok
}

/// Builds the reference tree under `root` (which must exist).
pub fn build_fixture(root: &Path) {
    let d = |p: &str| {
        fs::create_dir_all(root.join(p)).unwrap();
    };
    d("a/b/c");
    d("empty");
    d("sticky");
    write(&root.join("small.txt"), b"hello, arca\nsecond line\n");
    write(&root.join("a/zero-length"), b"");
    write(&root.join("a/b/random.bin"), &random_bytes(3 * 1024 * 1024 + 123));
    write(&root.join("a/b/c/medium.bin"), &random_bytes(200 * 1024));
    write(&root.join("a/b/text.log"), "line of text\n".repeat(20_000).as_bytes());
    symlink("small.txt", root.join("link")).unwrap();
    symlink("does/not/exist", root.join("dangling")).unwrap();
    write(&root.join("hl1"), b"shared by two names");
    fs::hard_link(root.join("hl1"), root.join("a/hl2")).unwrap();

    // A sparse file: data, a large hole, data, and a trailing hole.
    let mut sparse = fs::File::create(root.join("sparse.img")).unwrap();
    sparse.set_len(SPARSE_LEN + 4 * 1024 * 1024).unwrap();
    sparse.write_all(b"head").unwrap();
    sparse.seek(SeekFrom::Start(SPARSE_LEN)).unwrap();
    sparse.write_all(&random_bytes(64 * 1024)).unwrap();
    drop(sparse);

    nix::unistd::mkfifo(&root.join("fifo"), nix::sys::stat::Mode::from_bits_truncate(0o640)).unwrap();
    write(&root.join(OsStr::from_bytes(b"caf\xe9-latin1.txt")), b"not utf-8 name");
    write(&root.join("suid"), b"#!/bin/sh\n");
    mode(&root.join("suid"), 0o4755);
    write(&root.join("secret"), b"private");
    mode(&root.join("secret"), 0o600);
    mode(&root.join("sticky"), 0o1777);
    mode(&root.join("empty"), 0o750);
    if is_root() {
        write(&root.join("owned"), b"someone else's");
        std::os::unix::fs::lchown(root.join("owned"), Some(1234), Some(2345)).unwrap();
    }
    if xattrs_supported(root) {
        xattr::set(root.join("small.txt"), "user.arca.test", b"value \x00\xff binary").unwrap();
        xattr::set(root.join("a"), "user.dir", b"on a dir").unwrap();
    } else {
        eprintln!("skipping xattrs: the temp file system does not support user xattrs");
    }
    set_times(root);
}

/// Gives every entry a distinct mtime with a nanosecond part, directories
/// last (deepest first) since creating entries changes their times.
pub fn set_times(root: &Path) {
    let mut all = Vec::new();
    collect(root, root, &mut all);
    all.sort_by_key(|(rel, _)| std::cmp::Reverse(rel.components().count()));
    for (i, (_, path)) in all.iter().enumerate() {
        let mtime = FileTime::from_unix_time(1_600_000_000 + i as i64 * 1000, 123_456_789 + i as u32);
        let atime = FileTime::from_unix_time(1_650_000_000 + i as i64, 987_654_321);
        filetime::set_symlink_file_times(path, atime, mtime).unwrap();
    }
}

/// Every entry below `dir` and `dir` itself, as (relative, full) paths.
fn collect(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, PathBuf)>) {
    collect_below(root, dir, out);
    out.push((PathBuf::new(), root.to_path_buf()));
}

fn collect_below(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, PathBuf)>) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if fs::symlink_metadata(&p).unwrap().is_dir() {
            collect_below(root, &p, out);
        }
        out.push((p.strip_prefix(root).unwrap().to_path_buf(), p));
    }
}

/// What a comparison looks at for one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: &'static str,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime_ns: i64,
    pub size: u64,
    pub nlink: u64,
    pub content: Option<[u8; 32]>,
    pub link: Option<PathBuf>,
    pub xattrs: BTreeMap<String, Vec<u8>>,
}

/// Every entry under `root` (including `root` itself as ""), by relative path.
pub fn state(root: &Path) -> BTreeMap<PathBuf, Entry> {
    let mut all = Vec::new();
    collect(root, root, &mut all);
    all.into_iter()
        .map(|(rel, path)| {
            let md = fs::symlink_metadata(&path).unwrap();
            let ft = md.file_type();
            use std::os::unix::fs::FileTypeExt;
            let kind = if ft.is_dir() {
                "dir"
            } else if ft.is_symlink() {
                "symlink"
            } else if ft.is_file() {
                "file"
            } else if ft.is_fifo() {
                "fifo"
            } else {
                "other"
            };
            let content = ft.is_file().then(|| *blake3_like(&fs::read(&path).unwrap()));
            let xattrs = xattr::list(&path)
                .map(|names| {
                    names
                        .filter(|n| n.to_string_lossy().starts_with("user."))
                        .map(|n| {
                            let v = xattr::get(&path, &n).unwrap().unwrap_or_default();
                            (n.to_string_lossy().into_owned(), v)
                        })
                        .collect()
                })
                .unwrap_or_default();
            let entry = Entry {
                kind,
                mode: md.mode() & 0o7777,
                uid: md.uid(),
                gid: md.gid(),
                mtime_ns: md.mtime() * 1_000_000_000 + md.mtime_nsec(),
                size: if ft.is_dir() { 0 } else { md.size() },
                nlink: if ft.is_dir() { 0 } else { md.nlink() },
                content,
                link: ft.is_symlink().then(|| fs::read_link(&path).unwrap()),
                xattrs,
            };
            (rel, entry)
        })
        .collect()
}

/// A content fingerprint (SHA-like strength is not needed: equal-length
/// random data differs in its first bytes with overwhelming probability).
fn blake3_like(data: &[u8]) -> Box<[u8; 32]> {
    use std::hash::{Hash, Hasher};
    let mut out = [0u8; 32];
    for (i, part) in out.chunks_mut(8).enumerate() {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (i, data).hash(&mut h);
        part.copy_from_slice(&h.finish().to_le_bytes());
    }
    Box::new(out)
}

/// Asserts two trees are identical in every compared respect, naming the
/// first differing entry.
pub fn assert_same_tree(src: &Path, dst: &Path) {
    let (a, b) = (state(src), state(dst));
    let a_names: Vec<_> = a.keys().collect();
    let b_names: Vec<_> = b.keys().collect();
    assert_eq!(a_names, b_names, "entry lists differ");
    for (rel, ea) in &a {
        assert_eq!(Some(ea), b.get(rel), "entry {rel:?} differs");
    }
}
