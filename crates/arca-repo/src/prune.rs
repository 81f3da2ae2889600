//! `prune`: removes what no snapshot uses any more.
//!
//! Under an exclusive lock (backups hold shared locks, so no pack that a
//! running backup has uploaded but not yet indexed can be mistaken for
//! garbage), prune loads the index, walks every snapshot's trees to collect
//! the used blob ids (a set of ids; trees are not kept), and sorts packs:
//! fully used packs stay, fully unused ones go, partly used ones are
//! repacked when their unused share exceeds the threshold, and packs that
//! no index lists (leftovers of interrupted backups) go too.
//!
//! Crash safety comes from the order of the steps:
//! 1. write the repacked packs: until step 2 they are unreferenced, which
//!    `check` accepts and the next prune removes;
//! 2. write ONE index file listing every pack that stays (and the new ones)
//!    and superseding every old index file: from this write on, readers
//!    ignore the old files, and every used blob is reachable through it;
//! 3. delete the old index files: all superseded, so deleting any subset of
//!    them changes nothing for readers;
//! 4. delete the unused, repacked and unreferenced packs: none is in a live
//!    index file any more, so a subset left behind is merely unreferenced.
//!
//! A prune killed at any point therefore leaves a repository that `check`
//! passes, and the next prune finishes the job.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use serde::Serialize;

use crate::backend::WriteMode;
use crate::error::{Error, Result};
use crate::id::Id;
use crate::index::{Index, IndexFile, IndexPack};
use crate::pack::{BlobType, PackBuilder, PackedBlob, pack_path};
use crate::repository::Repository;

/// How prune trades space for work.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PruneOptions {
    /// Compute and report, but change nothing.
    pub dry_run: bool,
    /// A partly used pack is repacked when more than this percentage of its
    /// blob bytes is unused; otherwise its unused blobs stay for now.
    pub max_unused_percent: f64,
}

impl Default for PruneOptions {
    fn default() -> Self {
        PruneOptions { dry_run: false, max_unused_percent: 5.0 }
    }
}

/// A number of packs, the blobs in them and their stored bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Amount {
    pub packs: u64,
    pub blobs: u64,
    pub bytes: u64,
}

impl Amount {
    fn add(&mut self, blobs: usize, bytes: u64) {
        self.packs += 1;
        self.blobs += blobs as u64;
        self.bytes += bytes;
    }
}

/// What prune did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PruneReport {
    pub dry_run: bool,
    /// Used blobs found by walking the snapshots.
    pub used_blobs: u64,
    /// Packs left as they are (blobs: all they hold).
    pub kept: Amount,
    /// Partly used packs rewritten (blobs: the used blobs copied).
    pub repacked: Amount,
    /// Indexed packs no snapshot uses (blobs: all they held).
    pub deleted: Amount,
    /// Packs no index lists: leftovers of interrupted backups or prunes.
    pub unreferenced: Amount,
    /// New packs written by repacking (exact only without `dry_run`; a dry
    /// run estimates their bytes as the copied blobs' bytes).
    pub written: Amount,
    pub index_files_removed: u64,
    pub index_files_written: u64,
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub bytes_freed: u64,
}

/// Removes unused data; takes an exclusive lock for the duration.
pub fn prune(repo: &Repository, opts: &PruneOptions) -> Result<PruneReport> {
    if !(0.0..=100.0).contains(&opts.max_unused_percent) {
        return Err(Error::Invalid(format!(
            "max unused share must be a percentage from 0 to 100, got {}",
            opts.max_unused_percent
        )));
    }
    if !opts.dry_run {
        repo.ensure_may_delete("prune")?;
        if let Some(lock) = repo.config().object_lock {
            return Err(Error::Invalid(format!(
                "repository {} is under Object Lock: its objects stay undeletable for {} day(s) after each write \
                 and each `arca repo extend-retention`, and a delete would only hide them; prune does not run on \
                 it yet (`arca repo prune --dry-run` shows what it would free)",
                repo.location(),
                lock.retention_secs / 86_400
            )));
        }
    }
    let _lock = repo.lock(true, "prune")?;
    let plan = Plan::make(repo, opts.max_unused_percent)?;
    let mut report = plan.report(opts.dry_run);
    if opts.dry_run {
        return Ok(report);
    }
    plan.execute(repo, &mut report)?;
    repo.load_index()?;
    Ok(report)
}

/// What prune will do, decided before anything is changed.
#[derive(Default)]
struct Plan {
    old_index_files: Vec<Id>,
    used_blobs: u64,
    /// Every indexed pack with all its blobs, sorted by offset.
    packs: HashMap<Id, Vec<PackedBlob>>,
    /// Stored size of every pack in `data/`.
    stored: HashMap<Id, u64>,
    keep: Vec<Id>,
    /// Packs to rewrite, with the used blobs to copy.
    repack: Vec<(Id, Vec<PackedBlob>)>,
    delete: Vec<Id>,
    unreferenced: Vec<Id>,
}

impl Plan {
    fn make(repo: &Repository, max_unused_percent: f64) -> Result<Plan> {
        // Damaged files a live one supersedes (left by a repair that could
        // not delete them) are old index files like the others.
        let (files, ignored) = repo.load_index_files_and_ignored()?;
        *repo.inner.index.write() = Index::from_files(&files);
        let used = used_blobs(repo)?;
        let mut plan = Plan {
            old_index_files: files.iter().map(|(id, _)| *id).chain(ignored).collect(),
            used_blobs: used.len() as u64,
            packs: live_packs(&files),
            stored: stored_packs(repo)?,
            ..Plan::default()
        };
        drop(files);
        plan.classify(repo, &used, max_unused_percent)?;
        Ok(plan)
    }

    fn classify(&mut self, repo: &Repository, used: &HashSet<Id>, max_unused_percent: f64) -> Result<()> {
        let mut ids: Vec<Id> = self.packs.keys().copied().collect();
        ids.sort();
        let index = repo.index();
        for id in ids {
            let blobs = &self.packs[&id];
            // A used blob stored twice counts as used only where the index
            // resolves it; the other copy is garbage like any unused blob.
            let claimed: Vec<PackedBlob> = blobs
                .iter()
                .filter(|b| used.contains(&b.id))
                .filter(|b| index.get(&b.id).is_some_and(|l| l.pack == id && l.offset == b.offset))
                .copied()
                .collect();
            if !claimed.is_empty() && !self.stored.contains_key(&id) {
                return Err(Error::corrupt(
                    pack_path(&id),
                    "missing, but snapshots use blobs in it; run `arca repo check` (prune changed nothing)",
                ));
            }
            let total: u64 = blobs.iter().map(|b| u64::from(b.length)).sum();
            let used_bytes: u64 = claimed.iter().map(|b| u64::from(b.length)).sum();
            if claimed.is_empty() {
                self.delete.push(id);
            } else if used_bytes == total || unused_percent(total, used_bytes) <= max_unused_percent {
                self.keep.push(id);
            } else {
                self.repack.push((id, claimed));
            }
        }
        drop(index);
        self.unreferenced = self.stored.keys().filter(|id| !self.packs.contains_key(id)).copied().collect();
        self.unreferenced.sort();
        Ok(())
    }

    /// True when the index files must be rewritten: a pack leaves the index,
    /// or there is more than one index file to consolidate.
    fn index_changes(&self) -> bool {
        !self.repack.is_empty() || !self.delete.is_empty() || self.old_index_files.len() > 1
    }

    fn size(&self, id: &Id) -> u64 {
        self.stored.get(id).copied().unwrap_or(0)
    }

    fn report(&self, dry_run: bool) -> PruneReport {
        let mut r = PruneReport { dry_run, used_blobs: self.used_blobs, ..PruneReport::default() };
        for id in &self.keep {
            r.kept.add(self.packs[id].len(), self.size(id));
        }
        for (id, claimed) in &self.repack {
            r.repacked.add(claimed.len(), self.size(id));
            r.written.blobs += claimed.len() as u64;
            r.written.bytes += claimed.iter().map(|b| u64::from(b.length)).sum::<u64>();
        }
        for id in &self.delete {
            r.deleted.add(self.packs[id].len(), self.size(id));
        }
        for id in &self.unreferenced {
            r.unreferenced.add(0, self.size(id));
        }
        if self.index_changes() {
            r.index_files_removed = self.old_index_files.len() as u64;
            r.index_files_written = u64::from(!self.keep.is_empty() || !self.repack.is_empty());
        }
        r.bytes_before = self.stored.values().sum();
        r.bytes_freed = (r.repacked.bytes + r.deleted.bytes + r.unreferenced.bytes).saturating_sub(r.written.bytes);
        r.bytes_after = r.bytes_before.saturating_sub(r.bytes_freed);
        r
    }

    /// Carries out the plan in the crash-safe order described at the top.
    fn execute(&self, repo: &Repository, report: &mut PruneReport) -> Result<()> {
        let written = self.write_repacked(repo)?;
        report.written = Amount::default();
        for pack in &written {
            let bytes = crate::check::expected_pack_size(&pack.blobs);
            report.written.add(pack.blobs.len(), bytes);
        }
        report.bytes_freed = (report.repacked.bytes + report.deleted.bytes + report.unreferenced.bytes)
            .saturating_sub(report.written.bytes);
        report.bytes_after = report.bytes_before.saturating_sub(report.bytes_freed);
        if self.index_changes() {
            self.write_index(repo, written)?;
            self.delete_old_index_files(repo)?;
        }
        self.delete_packs(repo)
    }

    /// Step 1: copies the used blobs of partly used packs into new packs.
    fn write_repacked(&self, repo: &Repository) -> Result<Vec<IndexPack>> {
        let mut repacker = Repacker::new(repo);
        for (id, claimed) in &self.repack {
            let path = pack_path(id);
            let bytes = repo.backend().get(&path)?;
            for blob in claimed {
                let sealed = sealed_slice(&bytes, blob, &path)?;
                // Verify before copying: prune must never spread damage.
                repo.decode_blob(&blob.id, blob.kind, sealed, &path)?;
                repacker.add(blob, sealed)?;
            }
        }
        repacker.finish()
    }

    /// Step 2: one index file for everything that stays, superseding all.
    fn write_index(&self, repo: &Repository, written: Vec<IndexPack>) -> Result<()> {
        let mut packs: Vec<IndexPack> =
            self.keep.iter().map(|id| IndexPack { id: *id, blobs: self.packs[id].clone() }).collect();
        packs.extend(written);
        if packs.is_empty() {
            // Nothing stays: deleting the old index files suffices.
            return Ok(());
        }
        let file = IndexFile { supersedes: self.old_index_files.clone(), packs };
        repo.save_json("index", &file).map(|_| ())
    }

    /// Step 3.
    fn delete_old_index_files(&self, repo: &Repository) -> Result<()> {
        self.old_index_files.iter().try_for_each(|id| repo.delete_file("index", id))
    }

    /// Step 4.
    fn delete_packs(&self, repo: &Repository) -> Result<()> {
        let repacked = self.repack.iter().map(|(id, _)| id);
        for id in self.delete.iter().chain(repacked).chain(&self.unreferenced) {
            repo.backend().delete(&pack_path(id))?;
        }
        Ok(())
    }
}

fn unused_percent(total: u64, used: u64) -> f64 {
    if total == 0 { 0.0 } else { (total - used) as f64 * 100.0 / total as f64 }
}

/// Every blob id reachable from a snapshot (trees included). Fails when a
/// tree can't be read or a referenced blob is not indexed: the set would be
/// incomplete, and pruning on it could delete data that is still used.
fn used_blobs(repo: &Repository) -> Result<HashSet<Id>> {
    let mut used = HashSet::new();
    for snapshot in repo.list_snapshots()? {
        let mut stack = vec![snapshot.snapshot.tree];
        while let Some(tree_id) = stack.pop() {
            if !used.insert(tree_id) {
                continue;
            }
            require_indexed(repo, &tree_id)?;
            let tree = repo.load_tree(&tree_id)?;
            for node in tree.nodes {
                for blob in node.content {
                    require_indexed(repo, &blob)?;
                    used.insert(blob);
                }
                stack.extend(node.subtree);
            }
        }
    }
    // Archived WAL files are roots too: their entries name data blobs.
    for blob in repo.wal_blobs()? {
        require_indexed(repo, &blob)?;
        used.insert(blob);
    }
    Ok(used)
}

fn require_indexed(repo: &Repository, id: &Id) -> Result<()> {
    if repo.index().contains(id) { Ok(()) } else { Err(Error::BlobMissing { id: id.to_hex() }) }
}

/// Packs of the live (not superseded) index files with all their blobs.
fn live_packs(files: &[(Id, IndexFile)]) -> HashMap<Id, Vec<PackedBlob>> {
    let superseded: HashSet<Id> = files.iter().flat_map(|(_, f)| f.supersedes.iter().copied()).collect();
    let mut packs: HashMap<Id, Vec<PackedBlob>> = HashMap::new();
    for (_, file) in files.iter().filter(|(id, _)| !superseded.contains(id)) {
        for pack in &file.packs {
            packs.entry(pack.id).or_default().extend_from_slice(&pack.blobs);
        }
    }
    for blobs in packs.values_mut() {
        blobs.sort_by_key(|b| (b.offset, b.id));
        blobs.dedup();
    }
    packs
}

/// Every pack in storage with its size. Names that are not packs are left
/// alone (`check` reports them).
fn stored_packs(repo: &Repository) -> Result<HashMap<Id, u64>> {
    let mut out = HashMap::new();
    for entry in repo.backend().list("data")? {
        if let Some((dir, name)) = entry.name.split_once('/') {
            if let Ok(id) = name.parse::<Id>() {
                if name.starts_with(dir) && dir.len() == 2 {
                    out.insert(id, entry.size);
                }
            }
        }
    }
    Ok(out)
}

fn sealed_slice<'b>(pack: &'b [u8], blob: &PackedBlob, path: &str) -> Result<&'b [u8]> {
    let start = blob.offset as usize;
    start
        .checked_add(blob.length as usize)
        .and_then(|end| pack.get(start..end))
        .ok_or_else(|| Error::corrupt(path, format!("blob {} lies beyond the end of the pack", blob.id.short())))
}

/// Writes already sealed blobs into new packs, one open pack per blob type,
/// without re-encrypting them (their sealing binds type and id, not place).
struct Repacker<'a> {
    repo: &'a Repository,
    builders: [PackBuilder; 2],
    written: Vec<IndexPack>,
}

impl<'a> Repacker<'a> {
    fn new(repo: &'a Repository) -> Self {
        Repacker { repo, builders: [PackBuilder::default(), PackBuilder::default()], written: Vec::new() }
    }

    fn add(&mut self, blob: &PackedBlob, sealed: &[u8]) -> Result<()> {
        let slot = kind_slot(blob.kind);
        self.builders[slot].add(blob.id, blob.kind, sealed);
        if self.builders[slot].len() as u64 >= self.repo.config().pack_size {
            let full = std::mem::take(&mut self.builders[slot]);
            self.upload(full)?;
        }
        Ok(())
    }

    fn upload(&mut self, builder: PackBuilder) -> Result<()> {
        let (bytes, blobs) = builder.finish(&self.repo.inner.cipher);
        let id = Id::hash_of(&bytes);
        match self.repo.backend().put(&pack_path(&id), Bytes::from(bytes), WriteMode::Create) {
            Ok(()) | Err(Error::AlreadyExists { .. }) => {}
            Err(e) => return Err(e),
        }
        self.written.push(IndexPack { id, blobs });
        Ok(())
    }

    fn finish(mut self) -> Result<Vec<IndexPack>> {
        for slot in 0..self.builders.len() {
            let builder = std::mem::take(&mut self.builders[slot]);
            if !builder.is_empty() {
                self.upload(builder)?;
            }
        }
        Ok(self.written)
    }
}

fn kind_slot(kind: BlobType) -> usize {
    usize::from(kind.code())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{CheckOptions, check};
    use crate::snapshot::{KIND_FILES, Snapshot};
    use crate::tree::{Node, Tree};
    use crate::{Config, InitOptions, KdfParams};

    const PASSWORD: &[u8] = b"pw";

    fn open(url: &str) -> Repository {
        Repository::open(crate::backend::open(url, false).unwrap(), PASSWORD).unwrap()
    }

    /// Two snapshots whose data share one pack; the first is forgotten, so
    /// a prune must repack that pack and drop a tree pack's unused part.
    fn forgotten_half(url: &str) -> (Id, Vec<u8>) {
        let config = Config { pack_size: 1 << 20, ..Config::new() };
        let backend = crate::backend::open(url, true).unwrap();
        let repo =
            Repository::init(backend, PASSWORD, InitOptions { kdf: KdfParams::insecure_fast(), config }).unwrap();
        let data: Vec<Vec<u8>> =
            (0..2u8).map(|n| (0..50_000u32).map(|i| (i * 7 + u32::from(n)) as u8).collect()).collect();
        let trees: Vec<Id> = data
            .iter()
            .map(|d| {
                let blob = repo.save_blob(BlobType::Data, d).unwrap();
                let node = Node { name: "f".into(), content: vec![blob], ..Node::default() };
                repo.save_tree(&Tree { nodes: vec![node] }).unwrap()
            })
            .collect();
        repo.flush().unwrap();
        let snapshots: Vec<Id> = trees
            .iter()
            .map(|tree| repo.save_snapshot(&Snapshot::new(KIND_FILES, vec!["/x".into()], *tree)).unwrap())
            .collect();
        repo.remove_snapshots(&snapshots[..1], "test").unwrap();
        (snapshots[1], data[1].clone())
    }

    fn restore_single(repo: &Repository, snapshot: &Id) -> Vec<u8> {
        repo.load_index().unwrap();
        let s: Snapshot = repo.load_json("snapshots", snapshot).unwrap();
        let tree = repo.load_tree(&s.tree).unwrap();
        repo.load_blob(&tree.nodes[0].content[0]).unwrap()
    }

    /// Runs the first `steps` steps of a prune, as if it were killed then.
    fn interrupted_prune(repo: &Repository, steps: usize) {
        let plan = Plan::make(repo, 5.0).unwrap();
        assert_eq!(plan.repack.len(), 2, "the shared data pack and tree pack are repacked");
        let written = plan.write_repacked(repo).unwrap();
        if steps >= 2 {
            plan.write_index(repo, written).unwrap();
        }
        if steps >= 3 {
            // Killed half way through deleting the old index files.
            repo.delete_file("index", &plan.old_index_files[0]).unwrap();
        }
    }

    #[test]
    fn a_prune_killed_at_any_step_leaves_a_valid_repository() {
        for steps in 1..=3 {
            let dir = tempfile::tempdir().unwrap();
            let url = dir.path().to_string_lossy().into_owned();
            let (kept, data) = forgotten_half(&url);
            interrupted_prune(&open(&url), steps);

            let repo = open(&url);
            let report = check(&repo, &CheckOptions { read_data: true }, None).unwrap();
            assert!(report.is_ok(), "after step {steps}: {report:#?}");
            assert!(!report.infos.is_empty(), "leftovers are reported: {report:#?}");
            assert_eq!(restore_single(&repo, &kept), data);

            let finished = prune(&repo, &PruneOptions::default()).unwrap();
            assert!(finished.unreferenced.packs > 0 || finished.repacked.packs > 0, "{finished:#?}");
            let report = check(&repo, &CheckOptions { read_data: true }, None).unwrap();
            assert!(report.is_ok() && report.infos.is_empty(), "after finishing step {steps}: {report:#?}");
            assert_eq!(restore_single(&open(&url), &kept), data);
        }
    }

    #[test]
    fn rejects_a_threshold_outside_0_to_100() {
        let dir = tempfile::tempdir().unwrap();
        let url = dir.path().to_string_lossy().into_owned();
        forgotten_half(&url);
        let opts = PruneOptions { max_unused_percent: 120.0, ..Default::default() };
        assert!(matches!(prune(&open(&url), &opts), Err(Error::Invalid(_))));
    }

    #[test]
    fn unused_share() {
        assert_eq!(unused_percent(0, 0), 0.0);
        assert_eq!(unused_percent(200, 150), 25.0);
    }
}
