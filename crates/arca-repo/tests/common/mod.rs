//! Shared fixture of the maintenance tests: a small repository with four
//! snapshots whose files live in known packs, and helpers to damage it.
#![allow(dead_code)] // each test binary uses a different part

use std::collections::BTreeMap;

use arca_repo::pack::pack_path;
use arca_repo::snapshot::KIND_FILES;
use arca_repo::{
    ChunkerParams, Config, Id, InitOptions, KdfParams, Node, NodeKind, Repository, Snapshot, Tree, open_backend,
};
use bytes::Bytes;
use chrono::{DateTime, TimeZone, Utc};

pub const PASSWORD: &[u8] = b"correct horse";

/// Small chunks and packs, so a few hundred KiB make many packs.
pub fn init(url: &str, pack_size: u64) -> Repository {
    let backend = open_backend(url, true).expect("backend");
    let config = Config { pack_size, chunker: ChunkerParams { min: 1024, avg: 4096, max: 16384 }, ..Config::new() };
    Repository::init(backend, PASSWORD, InitOptions { kdf: KdfParams::insecure_fast(), config }).expect("init")
}

/// A fresh handle: nothing cached from the session that wrote.
pub fn reopen(url: &str) -> Repository {
    Repository::open(open_backend(url, false).expect("backend"), PASSWORD).expect("open")
}

/// Deterministic incompressible bytes.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

pub fn time(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, day, 12, 0, 0).unwrap()
}

/// Saves the files' contents (as data blobs) and returns their nodes.
pub fn save_files(repo: &Repository, files: &[(&str, &[u8])]) -> Vec<Node> {
    files
        .iter()
        .map(|(name, data)| {
            let saved = repo.save_stream(*data, name).expect("save_stream");
            Node {
                name: name.to_string(),
                kind: NodeKind::File,
                mode: 0o644,
                size: saved.size,
                content: saved.content,
                ..Node::default()
            }
        })
        .collect()
}

/// Stores a snapshot of `nodes` inside a directory `dir`, so that every
/// snapshot has a root tree and a subtree.
pub fn save_snapshot(repo: &Repository, mut nodes: Vec<Node>, day: u32) -> Id {
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    let sub = repo.save_tree(&Tree { nodes }).expect("subtree");
    let dir = Node { name: "dir".into(), kind: NodeKind::Dir, mode: 0o755, subtree: Some(sub), ..Node::default() };
    let root = repo.save_tree(&Tree { nodes: vec![dir] }).expect("root tree");
    repo.flush().expect("flush");
    let mut snapshot = Snapshot::new(KIND_FILES, vec!["/data".into()], root);
    snapshot.time = time(day);
    repo.save_snapshot(&snapshot).expect("snapshot")
}

/// Every file of a snapshot with its restored bytes.
pub fn restore(repo: &Repository, snapshot: &Id) -> BTreeMap<String, Vec<u8>> {
    repo.load_index().expect("index");
    let s = repo.find_snapshot(&snapshot.to_hex()).expect("find snapshot");
    let mut out = BTreeMap::new();
    let mut stack = vec![(String::new(), s.snapshot.tree)];
    while let Some((prefix, tree)) = stack.pop() {
        for node in repo.load_tree(&tree).expect("tree").nodes {
            let path = format!("{prefix}/{}", node.name);
            if let Some(sub) = node.subtree {
                stack.push((path.clone(), sub));
            }
            if node.kind == NodeKind::File {
                let mut data = Vec::new();
                for blob in &node.content {
                    data.extend(repo.load_blob(blob).expect("blob"));
                }
                out.insert(path, data);
            }
        }
    }
    out
}

/// Four snapshots: s1 {a}, s2 {b}, s3 {a, b}, s4 {c}. Each file's data is
/// flushed on its own, so a data pack holds blobs of one file only.
pub struct Fixture {
    pub url: String,
    pub a: Vec<u8>,
    pub b: Vec<u8>,
    pub c: Vec<u8>,
    pub s: [Id; 4],
    /// A data pack holding only blobs of file a (used by s1 and s3).
    pub pack_of_a: Id,
}

pub fn build(url: &str) -> Fixture {
    let repo = init(url, 16 * 1024);
    let (a, b, c) = (noise(1, 60_000), noise(2, 50_000), noise(3, 40_000));
    let na = save_files(&repo, &[("a", &a)]);
    repo.flush().expect("flush");
    let nb = save_files(&repo, &[("b", &b)]);
    repo.flush().expect("flush");
    let nc = save_files(&repo, &[("c", &c)]);
    let s1 = save_snapshot(&repo, na.clone(), 1);
    let s2 = save_snapshot(&repo, nb.clone(), 2);
    let s3 = save_snapshot(&repo, [na.clone(), nb].concat(), 3);
    let s4 = save_snapshot(&repo, nc, 4);
    let pack_of_a = repo.index().get(&na[0].content[0]).expect("a is indexed").pack;
    Fixture { url: url.to_string(), a, b, c, s: [s1, s2, s3, s4], pack_of_a }
}

impl Fixture {
    pub fn repo(&self) -> Repository {
        reopen(&self.url)
    }

    pub fn expected(&self, snapshot: usize) -> BTreeMap<String, Vec<u8>> {
        let files: Vec<(&str, &Vec<u8>)> = match snapshot {
            0 => vec![("a", &self.a)],
            1 => vec![("b", &self.b)],
            2 => vec![("a", &self.a), ("b", &self.b)],
            _ => vec![("c", &self.c)],
        };
        files.into_iter().map(|(n, d)| (format!("/dir/{n}"), d.clone())).collect()
    }
}

/// Replaces a stored object by a modified copy (objects are write-once, so
/// delete first).
pub fn rewrite(repo: &Repository, path: &str, change: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = repo.backend().get(path).expect("read object").to_vec();
    change(&mut bytes);
    repo.backend().delete(path).expect("delete");
    repo.backend().put(path, Bytes::from(bytes), arca_repo::backend::WriteMode::Create).expect("write");
}

pub fn flip_byte(repo: &Repository, path: &str) {
    rewrite(repo, path, |b| {
        let middle = b.len() / 2;
        b[middle] ^= 0x40;
    });
}

pub fn pack_names(repo: &Repository) -> Vec<String> {
    let mut names: Vec<String> = repo.backend().list("data").expect("list").into_iter().map(|e| e.name).collect();
    names.sort();
    names
}

pub fn stored_bytes(repo: &Repository) -> u64 {
    repo.backend().list("data").expect("list").iter().map(|e| e.size).sum()
}

pub fn pack_object(id: &Id) -> String {
    pack_path(id)
}
pub mod scenarios;
