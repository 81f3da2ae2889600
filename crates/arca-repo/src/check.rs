//! `check`: verifies that a repository is complete and intact, and names
//! every damaged or missing object together with the snapshots it affects.
//!
//! The structural check reads the config, key files, index files, snapshots
//! and every tree reachable from a snapshot, and compares pack sizes against
//! the index without downloading packs. With `read_data` every pack is also
//! downloaded, re-hashed, its header compared with the index, and every blob
//! decrypted and verified against its id.
//!
//! A check takes a shared repository lock itself, so it may run alongside
//! backups (whose not-yet-indexed packs then show up as unreferenced, which
//! is informational) but never alongside a prune.

use std::collections::{HashMap, HashSet};

use parking_lot::Mutex;
use rayon::prelude::*;
use serde::Serialize;

use crate::backend::Entry;
use crate::config::Config;
use crate::crypto::SEAL_OVERHEAD;
use crate::error::{Error, Result};
use crate::id::Id;
use crate::index::{Index, IndexFile};
use crate::keys::KeyFile;
use crate::pack::{BlobType, PackedBlob, pack_path};
use crate::repository::Repository;
use crate::snapshot::Snapshot;

/// Packs downloaded and verified at once by `read_data`: bounds memory to a
/// few packs while keeping the network and the CPU busy.
const READ_PARALLELISM: usize = 3;
/// Bytes of one pack header entry: type, length, id.
const HEADER_ENTRY_LEN: u64 = 1 + 4 + 32;
/// Damaged blobs named per pack before the list is cut short.
const NAMED_BLOBS: usize = 5;

/// What `check` verifies beyond the structure.
#[derive(Debug, Clone, Copy, Default)]
pub struct CheckOptions {
    /// Download every pack, verify its hash, header and every blob.
    pub read_data: bool,
}

/// Phases reported to a progress callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckPhase {
    Structure,
    Packs,
    ReadData,
    Snapshots,
    Trees,
}

/// A progress report: `done` of `total` units of `phase` (`total` is 0 when
/// unknown in advance, as for trees).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CheckProgress {
    pub phase: CheckPhase,
    pub done: u64,
    pub total: u64,
}

/// Optional progress callback; called from several threads during `read_data`.
pub type ProgressFn<'a> = &'a (dyn Fn(CheckProgress) + Sync);

/// One damaged, missing or foreign object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckError {
    /// The object as named in storage (`data/ab/<id>`, `index/<id>`,
    /// `snapshots/<id>`) or by kind and id (`tree <id>`, `blob <id>`).
    pub object: String,
    pub problem: String,
    /// Snapshots that reference the object directly or through their trees,
    /// oldest first.
    pub affected_snapshots: Vec<Id>,
}

/// Something worth knowing that is not damage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckInfo {
    pub object: String,
    pub message: String,
}

/// How much was checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CheckCounts {
    pub keys: u64,
    pub index_files: u64,
    pub packs: u64,
    pub blobs: u64,
    pub snapshots: u64,
    pub trees: u64,
    pub packs_read: u64,
    pub bytes_read: u64,
}

/// The result of a check.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    pub read_data: bool,
    pub errors: Vec<CheckError>,
    pub infos: Vec<CheckInfo>,
    pub counts: CheckCounts,
}

impl CheckReport {
    /// True when nothing is damaged, missing or foreign.
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// The error about `object`, if any.
    pub fn error_for(&self, object: &str) -> Option<&CheckError> {
        self.errors.iter().find(|e| e.object == object)
    }
}

/// Checks the repository; takes a shared lock for the duration. Damage is
/// reported in the result; `Err` means the check itself could not run (the
/// storage is unreachable, or the repository is locked exclusively).
pub fn check(repo: &Repository, opts: &CheckOptions, progress: Option<ProgressFn<'_>>) -> Result<CheckReport> {
    let _lock = repo.lock(false, "check")?;
    let mut checker = Checker::new(repo, progress);
    checker.run(opts)?;
    Ok(checker.into_report(opts.read_data))
}

/// Problems found so far, one entry per object; trees refer to them by number.
#[derive(Default)]
struct Problems {
    entries: Vec<(String, Vec<String>)>,
    numbers: HashMap<String, u32>,
}

impl Problems {
    fn add(&mut self, object: String, problem: String) -> u32 {
        let n = self.number(object);
        let problems = &mut self.entries[n as usize].1;
        if !problems.contains(&problem) {
            problems.push(problem);
        }
        n
    }

    fn number(&mut self, object: String) -> u32 {
        if let Some(n) = self.numbers.get(&object) {
            return *n;
        }
        let n = self.entries.len() as u32;
        self.numbers.insert(object.clone(), n);
        self.entries.push((object, Vec::new()));
        n
    }
}

/// Objects found by listing the repository, by area.
#[derive(Default)]
struct Listing {
    /// Pack id → stored size.
    packs: HashMap<Id, u64>,
    keys: Vec<Id>,
}

struct Checker<'a> {
    repo: &'a Repository,
    progress: Option<ProgressFn<'a>>,
    problems: Problems,
    infos: Vec<CheckInfo>,
    counts: CheckCounts,
    /// Blobs of every pack a live index file lists, sorted by offset.
    packs: HashMap<Id, Vec<PackedBlob>>,
    /// Problem number of each damaged or missing pack.
    damaged_packs: HashMap<Id, u32>,
    /// True when an index file is unreadable: the index is then incomplete.
    index_damaged: bool,
    /// Problem number → snapshots that reach the object, oldest first.
    affected: HashMap<u32, Vec<Id>>,
}

impl<'a> Checker<'a> {
    fn new(repo: &'a Repository, progress: Option<ProgressFn<'a>>) -> Self {
        Checker {
            repo,
            progress,
            problems: Problems::default(),
            infos: Vec::new(),
            counts: CheckCounts::default(),
            packs: HashMap::new(),
            damaged_packs: HashMap::new(),
            index_damaged: false,
            affected: HashMap::new(),
        }
    }

    fn report(&self, phase: CheckPhase, done: u64, total: u64) {
        if let Some(f) = self.progress {
            f(CheckProgress { phase, done, total });
        }
    }

    fn run(&mut self, opts: &CheckOptions) -> Result<()> {
        self.report(CheckPhase::Structure, 0, 0);
        self.check_config();
        // Snapshots are listed before index files and index files before
        // packs: each is written after what it refers to, so a backup running
        // meanwhile can't make a listed snapshot look incomplete.
        let (snapshot_ids, _) = self.repo.list_ids("snapshots")?;
        let (index_ids, _) = self.repo.list_ids("index")?;
        let listing = self.list_all()?;
        self.check_keys(&listing.keys);
        self.load_index(&index_ids);
        self.check_pack_sizes(&listing.packs);
        if opts.read_data {
            self.read_data(&listing.packs)?;
        }
        let snapshots = self.load_snapshots(&snapshot_ids);
        self.check_chain(&snapshot_ids, &snapshots)?;
        self.check_trees(&snapshots);
        Ok(())
    }

    /// Tamper evidence: a snapshot's `previous` must still exist or have
    /// been removed by Arca (a forget record names it). A snapshot deleted
    /// or replaced behind Arca's back breaks the chain at its successor.
    fn check_chain(&mut self, listed: &[Id], snapshots: &[SnapshotEntryLite]) -> Result<()> {
        let mut forgotten = HashSet::new();
        let (record_ids, _) = self.repo.list_ids(crate::snapshot::FORGOTTEN)?;
        for id in record_ids {
            match self.repo.load_json::<crate::snapshot::ForgetRecord>(crate::snapshot::FORGOTTEN, &id) {
                Ok(record) => forgotten.extend(record.snapshots),
                Err(e) => {
                    self.problems.add(format!("{}/{id}", crate::snapshot::FORGOTTEN), e.to_string());
                }
            }
        }
        let present: HashSet<Id> = listed.iter().copied().collect();
        for s in snapshots {
            let Some(previous) = s.previous else { continue };
            if !present.contains(&previous) && !forgotten.contains(&previous) {
                self.problems.add(
                    format!("snapshots/{}", s.id),
                    format!(
                        "the snapshot before it, {previous}, is gone and no forget record names it: it was removed \
                         or replaced outside Arca; restore it from a copy, and find out who could delete"
                    ),
                );
            }
        }
        Ok(())
    }

    fn check_config(&mut self) {
        let result = self.repo.backend().get("config").map_err(|e| e.to_string()).and_then(|bytes| {
            serde_json::from_slice::<Config>(&bytes).map(|_| ()).map_err(|e| format!("unreadable: {e}"))
        });
        if let Err(problem) = result {
            self.problems.add("config".into(), problem);
        }
    }

    /// Lists the whole repository once: sorts known objects by area and
    /// reports every name Arca would not have written.
    fn list_all(&mut self) -> Result<Listing> {
        let mut listing = Listing::default();
        for entry in self.repo.backend().list("")? {
            if let Err(problem) = classify(&entry, &mut listing) {
                self.problems.add(entry.name.clone(), problem.into());
            }
        }
        Ok(listing)
    }

    fn check_keys(&mut self, keys: &[Id]) {
        for id in keys {
            let path = format!("keys/{id}");
            if let Err(problem) = self.check_key(&path, id) {
                self.problems.add(path, problem);
            } else {
                self.counts.keys += 1;
            }
        }
        if keys.is_empty() {
            self.problems.add("keys/".into(), "no key files: the repository cannot be opened".into());
        }
    }

    fn check_key(&self, path: &str, id: &Id) -> std::result::Result<(), String> {
        let bytes = self.repo.backend().get(path).map_err(|e| e.to_string())?;
        if Id::hash_of(&bytes) != *id {
            return Err("content does not match its name".into());
        }
        let file = serde_json::from_slice::<KeyFile>(&bytes).map_err(|e| format!("unreadable: {e}"))?;
        file.params.check_bounds()
    }

    /// Reads every index file, installs the live ones as the repository's
    /// in-memory index and records which blobs each indexed pack holds.
    fn load_index(&mut self, ids: &[Id]) {
        let total = ids.len() as u64;
        let mut files = Vec::with_capacity(ids.len());
        let mut damaged = Vec::new();
        for (n, id) in ids.iter().enumerate() {
            match self.repo.load_json::<IndexFile>("index", id) {
                Ok(file) => files.push((*id, file)),
                Err(e) => damaged.push((*id, e)),
            }
            self.report(CheckPhase::Structure, n as u64 + 1, total);
        }
        self.counts.index_files = files.len() as u64;
        let superseded: HashMap<Id, Id> =
            files.iter().flat_map(|(id, f)| f.supersedes.iter().map(move |old| (*old, *id))).collect();
        for (id, e) in damaged {
            // Readers ignore a superseded file, readable or not.
            if let Some(by) = superseded.get(&id) {
                self.infos.push(CheckInfo {
                    object: format!("index/{id}"),
                    message: format!(
                        "damaged ({e}) but superseded by index/{by}, so ignored (left by a repair that could not \
                         delete it)"
                    ),
                });
                continue;
            }
            self.index_damaged = true;
            self.problems.add(format!("index/{id}"), e.to_string());
        }
        for (id, file) in &files {
            if let Some(by) = superseded.get(id) {
                self.infos.push(CheckInfo {
                    object: format!("index/{id}"),
                    message: format!("superseded by index/{by} (a leftover of an interrupted prune; prune removes it)"),
                });
                continue;
            }
            for pack in &file.packs {
                self.packs.entry(pack.id).or_default().extend_from_slice(&pack.blobs);
            }
        }
        self.check_pack_layouts(&superseded, &files);
        *self.repo.inner.index.write() = Index::from_files(&files);
        let index = self.repo.index();
        self.counts.packs = self.packs.len() as u64;
        self.counts.blobs = index.blob_count() as u64;
    }

    /// Blobs the index lists for a pack must tile it from offset 0: that is
    /// what the writer produces and what the expected pack size relies on.
    fn check_pack_layouts(&mut self, superseded: &HashMap<Id, Id>, files: &[(Id, IndexFile)]) {
        let mut bad = Vec::new();
        for (pack, blobs) in &mut self.packs {
            blobs.sort_by_key(|b| (b.offset, b.id));
            blobs.dedup();
            if !tiles(blobs) {
                bad.push(*pack);
            }
        }
        for pack in bad {
            let file = files
                .iter()
                .find(|(id, f)| !superseded.contains_key(id) && f.packs.iter().any(|p| p.id == pack))
                .map(|(id, _)| format!("index/{id}"))
                .unwrap_or_else(|| "index".into());
            self.problems.add(file, format!("lists overlapping or gapped blobs for pack {}", pack_path(&pack)));
        }
    }

    /// Compares every indexed pack's stored size with the size its index
    /// entries imply; reports packs that are missing or not indexed.
    fn check_pack_sizes(&mut self, stored: &HashMap<Id, u64>) {
        self.report(CheckPhase::Packs, 0, self.packs.len() as u64);
        let mut packs: Vec<(Id, u64)> = self.packs.iter().map(|(id, blobs)| (*id, expected_pack_size(blobs))).collect();
        packs.sort();
        for (id, expected) in packs {
            match stored.get(&id) {
                None => self.damaged_pack(id, "missing: listed in the index but not in storage".into()),
                Some(&size) if size != expected => self.damaged_pack(
                    id,
                    format!("size is {size} bytes but the index implies {expected} (truncated or damaged)"),
                ),
                Some(_) => {}
            }
        }
        let mut unreferenced: Vec<&Id> = stored.keys().filter(|id| !self.packs.contains_key(id)).collect();
        unreferenced.sort();
        let message = if self.index_damaged {
            "not in any readable index file; an index file is damaged, so do not prune before repairing the index"
        } else {
            "unreferenced (a leftover of an interrupted backup; prune removes it)"
        };
        for id in unreferenced {
            self.infos.push(CheckInfo { object: pack_path(id), message: message.into() });
        }
    }

    fn damaged_pack(&mut self, id: Id, problem: String) {
        let n = self.problems.add(pack_path(&id), problem);
        self.damaged_packs.insert(id, n);
    }

    /// Downloads and verifies every indexed pack that exists, a few at once.
    fn read_data(&mut self, stored: &HashMap<Id, u64>) -> Result<()> {
        let mut todo: Vec<(&Id, &Vec<PackedBlob>)> =
            self.packs.iter().filter(|(id, _)| stored.contains_key(id)).collect();
        todo.sort_by_key(|(id, _)| **id);
        let total = todo.len() as u64;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(READ_PARALLELISM)
            .thread_name(|n| format!("arca-check-{n}"))
            .build()
            .map_err(|e| Error::Invalid(format!("starting check threads: {e}")))?;
        let done = Mutex::new((0u64, 0u64));
        let results: Vec<(Id, Vec<String>)> = pool.install(|| {
            todo.par_iter()
                .map(|(id, blobs)| {
                    let (size, problems) = verify_pack(self.repo, id, blobs);
                    let packs = {
                        let mut d = done.lock();
                        d.0 += 1;
                        d.1 += size;
                        d.0
                    };
                    self.report(CheckPhase::ReadData, packs, total);
                    (**id, problems)
                })
                .collect()
        });
        let (packs_read, bytes_read) = done.into_inner();
        self.counts.packs_read = packs_read;
        self.counts.bytes_read = bytes_read;
        for (id, problems) in results {
            for problem in problems {
                self.damaged_pack(id, problem);
            }
        }
        Ok(())
    }

    fn load_snapshots(&mut self, ids: &[Id]) -> Vec<SnapshotEntryLite> {
        let total = ids.len() as u64;
        let mut out = Vec::with_capacity(ids.len());
        for (n, id) in ids.iter().enumerate() {
            match self.repo.load_json::<Snapshot>("snapshots", id) {
                Ok(s) => out.push(SnapshotEntryLite { id: *id, time: s.time, tree: s.tree, previous: s.previous }),
                Err(e) => {
                    self.problems.add(format!("snapshots/{id}"), e.to_string());
                }
            }
            self.report(CheckPhase::Snapshots, n as u64 + 1, total);
        }
        out.sort_by_key(|s| (s.time, s.id));
        self.counts.snapshots = out.len() as u64;
        out
    }

    /// Walks every snapshot's trees, each distinct tree once, and records for
    /// each tree the problems reachable from it, so that every problem can be
    /// attributed to the snapshots that reach it.
    fn check_trees(&mut self, snapshots: &[SnapshotEntryLite]) {
        let mut memo: HashMap<Id, Box<[u32]>> = HashMap::new();
        let mut affected: HashMap<u32, Vec<Id>> = HashMap::new();
        for snapshot in snapshots {
            self.walk(snapshot.tree, &mut memo);
            for n in memo.get(&snapshot.tree).map(|p| p.as_ref()).unwrap_or_default() {
                affected.entry(*n).or_default().push(snapshot.id);
            }
        }
        self.counts.trees = memo.len() as u64;
        self.affected = affected;
    }

    /// Post-order walk without recursion (directory depth is unbounded).
    fn walk(&mut self, root: Id, memo: &mut HashMap<Id, Box<[u32]>>) {
        enum Step {
            Enter(Id),
            Exit(Id, Vec<Id>, Vec<u32>),
        }
        let mut open = HashSet::new();
        let mut stack = vec![Step::Enter(root)];
        while let Some(step) = stack.pop() {
            match step {
                Step::Enter(tree) => {
                    // A tree already open would be a cycle: impossible with
                    // content-addressed ids unless hashes collide.
                    if memo.contains_key(&tree) || !open.insert(tree) {
                        continue;
                    }
                    let (own, subtrees) = self.check_tree(&tree);
                    let pending: Vec<Id> = subtrees.iter().filter(|s| !memo.contains_key(s)).copied().collect();
                    stack.push(Step::Exit(tree, subtrees, own));
                    stack.extend(pending.into_iter().map(Step::Enter));
                    if memo.len() % 1024 == 0 {
                        self.report(CheckPhase::Trees, memo.len() as u64, 0);
                    }
                }
                Step::Exit(tree, subtrees, mut problems) => {
                    for s in &subtrees {
                        problems.extend_from_slice(memo.get(s).map(|p| p.as_ref()).unwrap_or_default());
                    }
                    problems.sort_unstable();
                    problems.dedup();
                    open.remove(&tree);
                    memo.insert(tree, problems.into_boxed_slice());
                }
            }
        }
    }

    /// Loads one tree and checks what it references; returns the problems
    /// found at this level and its subtrees.
    fn check_tree(&mut self, id: &Id) -> (Vec<u32>, Vec<Id>) {
        let mut own = Vec::new();
        if !self.check_ref(id, BlobType::Tree, &mut own) {
            return (own, Vec::new());
        }
        let tree = match self.repo.load_tree(id) {
            Ok(tree) => tree,
            Err(e) => {
                own.push(self.problems.add(format!("tree {id}"), e.to_string()));
                return (own, Vec::new());
            }
        };
        let mut subtrees = Vec::new();
        for node in &tree.nodes {
            for blob in &node.content {
                self.check_ref(blob, BlobType::Data, &mut own);
            }
            if let Some(sub) = node.subtree {
                subtrees.push(sub);
            }
        }
        (own, subtrees)
    }

    /// Checks that a referenced blob is indexed with the right type and not
    /// in a damaged pack; false when it is not indexed at all.
    fn check_ref(&mut self, id: &Id, kind: BlobType, own: &mut Vec<u32>) -> bool {
        let location = self.repo.index().get(id);
        let Some(location) = location else {
            own.push(self.problems.add(format!("blob {id}"), format!("{} blob is not in the index", kind_name(kind))));
            return false;
        };
        if location.kind != kind {
            let problem = format!("referenced as {} but indexed as {}", kind_name(kind), kind_name(location.kind));
            own.push(self.problems.add(format!("blob {id}"), problem));
        }
        if let Some(n) = self.damaged_packs.get(&location.pack) {
            own.push(*n);
        }
        true
    }

    fn into_report(self, read_data: bool) -> CheckReport {
        let Checker { problems, infos, counts, mut affected, .. } = self;
        let errors = problems
            .entries
            .into_iter()
            .enumerate()
            .map(|(n, (object, problems))| CheckError {
                object,
                problem: problems.join("; "),
                affected_snapshots: affected.remove(&(n as u32)).unwrap_or_default(),
            })
            .collect();
        CheckReport { read_data, errors, infos, counts }
    }
}

/// What the tree walk needs of a snapshot.
struct SnapshotEntryLite {
    id: Id,
    time: chrono::DateTime<chrono::Utc>,
    tree: Id,
    previous: Option<Id>,
}

fn kind_name(kind: BlobType) -> &'static str {
    match kind {
        BlobType::Data => "data",
        BlobType::Tree => "tree",
    }
}

/// Sorts a listed object into its area, or says why Arca did not write it.
fn classify(entry: &Entry, listing: &mut Listing) -> std::result::Result<(), &'static str> {
    const FOREIGN: &str = "foreign object: not written by Arca (unexpected name); move it out of the repository";
    let parts: Vec<&str> = entry.name.split('/').collect();
    match parts.as_slice() {
        ["config"] => Ok(()),
        ["keys", name] => {
            listing.keys.push(name.parse().map_err(|_| FOREIGN)?);
            Ok(())
        }
        ["index" | "snapshots" | "locks" | "forgotten" | "keylog", name] => {
            name.parse::<Id>().map(|_| ()).map_err(|_| FOREIGN)
        }
        ["wal", cluster, name] if crate::wal::valid_wal_component(cluster) && crate::wal::valid_wal_component(name) => {
            Ok(())
        }
        ["data", dir, name] => {
            let id: Id = name.parse().map_err(|_| FOREIGN)?;
            if !name.starts_with(dir) || dir.len() != 2 {
                return Err(FOREIGN);
            }
            listing.packs.insert(id, entry.size);
            Ok(())
        }
        _ => Err(FOREIGN),
    }
}

/// True when the blobs (sorted by offset) follow each other from offset 0.
fn tiles(blobs: &[PackedBlob]) -> bool {
    let mut end = 0u64;
    for b in blobs {
        if u64::from(b.offset) != end {
            return false;
        }
        end += u64::from(b.length);
    }
    true
}

/// The size of a pack holding exactly `blobs`: the blobs, the sealed header
/// (one entry per blob plus the sealing overhead) and its 4-byte length.
pub fn expected_pack_size(blobs: &[PackedBlob]) -> u64 {
    let body: u64 = blobs.iter().map(|b| u64::from(b.length)).sum();
    body + HEADER_ENTRY_LEN * blobs.len() as u64 + SEAL_OVERHEAD as u64 + 4
}

/// Downloads one pack and verifies it against the index; returns its size
/// and the problems found. Holds one pack in memory.
fn verify_pack(repo: &Repository, id: &Id, expected: &[PackedBlob]) -> (u64, Vec<String>) {
    let path = pack_path(id);
    let bytes = match repo.backend().get(&path) {
        Ok(b) => b,
        Err(e) => return (0, vec![format!("cannot be read: {e}")]),
    };
    let mut problems = Vec::new();
    if Id::hash_of(&bytes) != *id {
        problems.push("content does not match its name (bytes were changed)".to_string());
    }
    match repo.read_pack_header(id, &bytes) {
        Ok(header) if header.as_slice() == expected => {}
        Ok(_) => problems.push("pack header disagrees with the index".into()),
        Err(e) => problems.push(format!("header unreadable: {e}")),
    }
    let damaged: Vec<String> =
        expected.iter().filter(|b| !blob_ok(repo, b, &bytes, &path)).map(|b| b.id.short()).collect();
    if !damaged.is_empty() {
        let mut named = damaged.iter().take(NAMED_BLOBS).cloned().collect::<Vec<_>>().join(", ");
        if damaged.len() > NAMED_BLOBS {
            named.push_str(", …");
        }
        problems.push(format!("{} of {} blobs fail verification ({named})", damaged.len(), expected.len()));
    }
    (bytes.len() as u64, problems)
}

fn blob_ok(repo: &Repository, blob: &PackedBlob, pack: &[u8], path: &str) -> bool {
    let start = blob.offset as usize;
    let Some(sealed) = start.checked_add(blob.length as usize).and_then(|end| pack.get(start..end)) else {
        return false;
    };
    repo.decode_blob(&blob.id, blob.kind, sealed, path).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str) -> Entry {
        Entry { name: name.into(), size: 7 }
    }

    #[test]
    fn classifies_names() {
        let id = Id::random();
        let hex = id.to_hex();
        let mut l = Listing::default();
        assert!(classify(&entry("config"), &mut l).is_ok());
        assert!(classify(&entry(&format!("keys/{hex}")), &mut l).is_ok());
        assert!(classify(&entry(&format!("snapshots/{hex}")), &mut l).is_ok());
        assert!(classify(&entry(&format!("data/{}/{hex}", &hex[..2])), &mut l).is_ok());
        assert_eq!(l.packs.get(&id), Some(&7));
        assert_eq!(l.keys, vec![id]);
        assert!(classify(&entry(&format!("data/zz/{hex}")), &mut l).is_err());
        assert!(classify(&entry(&format!("data/{hex}")), &mut l).is_err());
        assert!(classify(&entry("snapshots/README"), &mut l).is_err());
        assert!(classify(&entry("stuff/x"), &mut l).is_err());
        assert!(classify(&entry(&format!("index/{hex}/x")), &mut l).is_err());
    }

    #[test]
    fn expected_size_matches_a_real_pack() {
        let key = crate::crypto::MasterKey::random();
        let cipher = key.cipher();
        let mut b = crate::pack::PackBuilder::default();
        b.add(Id::random(), BlobType::Data, &[1; 100]);
        b.add(Id::random(), BlobType::Data, &[2; 33]);
        let (bytes, blobs) = b.finish(&cipher);
        assert_eq!(expected_pack_size(&blobs), bytes.len() as u64);
        assert!(tiles(&blobs));
        assert!(!tiles(&blobs[1..]));
    }
}
