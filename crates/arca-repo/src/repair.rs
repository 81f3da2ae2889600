//! `repair`: bringing a damaged repository back to a state `check` passes.
//!
//! [`repair_index`] rebuilds the index from the packs' sealed headers
//! (every pack lists its own blobs, `docs/FORMAT.md`), after index files
//! were lost or damaged. It reads only the end of each pack. Crash safety
//! comes from the order of the steps:
//! 1. write the new index files; all but the last supersede nothing, so
//!    until the last one lands they merely duplicate entries of the old
//!    files (a blob may be listed more than once);
//! 2. the last new file supersedes every old index file, damaged ones too:
//!    from this write on readers ignore the old files (a damaged file that
//!    is superseded need not be readable);
//! 3. delete the old index files: all superseded, so any subset left
//!    behind changes nothing, and the next repair or prune removes it.
//!
//! Under Object Lock step 3 is skipped (the old files stay, superseded);
//! an append-only client does not repair at all. Packs whose header is
//! unreadable are named, never deleted; what a readable old index file
//! said about them is kept (their blobs may well be intact).
//!
//! [`repair_snapshots`] finds snapshots that cannot be restored (the
//! document does not decrypt, or a tree or blob it references is not in
//! the index or its pack is gone) and, asked to, forgets them through
//! [`Repository::remove_snapshots`], so the forget record keeps the
//! snapshot chain's tamper evidence intact.

use std::collections::{BTreeMap, HashMap, HashSet};

use rayon::prelude::*;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::id::Id;
use crate::index::{Index, IndexFile, IndexPack};
use crate::pack::{BlobType, PackedBlob, pack_path};
use crate::repository::{IndexFiles, Repository};
use crate::snapshot::Snapshot;

/// Pack headers read at once: small ranged reads, bound by latency.
const HEADER_PARALLELISM: usize = 8;
/// Limits of one new index file (as the writer's).
const PACKS_PER_INDEX_FILE: usize = 64;
const BLOBS_PER_INDEX_FILE: usize = 50_000;

/// A damaged object and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Damaged {
    /// As named in storage: `data/ab/<id>`, `index/<id>`.
    pub object: String,
    pub problem: String,
}

/// A pack whose header could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnreadablePack {
    pub pack: String,
    pub problem: String,
    /// Blobs of it that a readable old index file listed, kept in the new
    /// index (0: nothing is known of it; its blobs are not indexed).
    pub blobs_kept: u64,
}

/// What `repair_index` did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RepairIndexReport {
    pub dry_run: bool,
    /// Packs in storage whose header was read.
    pub packs_read: u64,
    /// Blobs in the new index.
    pub blobs_indexed: u64,
    /// Packs named, not deleted.
    pub unreadable_packs: Vec<UnreadablePack>,
    /// Index files that did not decrypt or parse (replaced).
    pub damaged_index_files: Vec<Damaged>,
    /// Packs in storage that no readable index file listed (now indexed).
    pub packs_added: u64,
    /// Packs the old index listed that are not in storage (dropped).
    pub packs_missing: Vec<String>,
    pub index_files_written: u64,
    pub index_files_removed: u64,
    /// Old index files left in place (Object Lock), superseded.
    pub index_files_kept: Vec<String>,
    /// True when the index already matched the packs: nothing was written.
    pub up_to_date: bool,
}

/// Rebuilds the index from the packs' headers. Takes an exclusive lock
/// (a shared one for `dry_run`).
pub fn repair_index(repo: &Repository, dry_run: bool) -> Result<RepairIndexReport> {
    if !dry_run {
        repo.ensure_may_delete("rebuild the index of")?;
    }
    let may_delete = repo.config().object_lock.is_none();
    let _lock = repo.lock(!dry_run, "repair index")?;
    let IndexFiles { readable, damaged } = repo.read_index_files()?;
    let stored = stored_packs(repo)?;
    let headers = read_headers(repo, &stored)?;

    let superseded: HashSet<Id> = readable.iter().flat_map(|(_, f)| f.supersedes.iter().copied()).collect();
    let old = live_packs(&readable, &superseded);
    let plan = plan_index(&old, &stored, headers);
    let mut report = RepairIndexReport {
        dry_run,
        packs_read: plan.packs_read,
        blobs_indexed: plan.packs.values().map(|b| b.len() as u64).sum(),
        unreadable_packs: plan.unreadable,
        damaged_index_files: damaged
            .iter()
            .filter(|(id, _)| !superseded.contains(id))
            .map(|(id, e)| Damaged { object: format!("index/{id}"), problem: e.to_string() })
            .collect(),
        packs_added: plan.packs.keys().filter(|id| !old.contains_key(id)).count() as u64,
        packs_missing: plan.missing.iter().map(pack_path).collect(),
        ..RepairIndexReport::default()
    };
    let all_old: Vec<Id> = readable.iter().map(|(id, _)| *id).chain(damaged.iter().map(|(id, _)| *id)).collect();
    report.up_to_date = report.damaged_index_files.is_empty() && plan.packs == old;
    let (write, remove): (Vec<IndexFile>, Vec<Id>) = if report.up_to_date {
        // Only leftovers superseded by a live file (a repair or prune cut short) may go.
        (Vec::new(), all_old.iter().filter(|id| superseded.contains(id)).copied().collect())
    } else {
        (index_files(plan.packs, &all_old), all_old)
    };
    report.index_files_written = write.len() as u64;
    if may_delete {
        report.index_files_removed = remove.len() as u64;
    } else {
        report.index_files_kept = remove.iter().map(|id| format!("index/{id}")).collect();
    }
    if dry_run {
        return Ok(report);
    }
    for file in &write {
        repo.save_json("index", file)?;
    }
    if may_delete {
        for id in &remove {
            repo.delete_file("index", id)?;
        }
    }
    repo.load_index()?;
    Ok(report)
}

/// Every pack in `data/` with its stored size, by id.
fn stored_packs(repo: &Repository) -> Result<BTreeMap<Id, u64>> {
    let mut out = BTreeMap::new();
    for entry in repo.backend().list("data")? {
        match entry.name.rsplit_once('/').map(|(_, name)| name.parse::<Id>()) {
            Some(Ok(id)) if pack_path(&id) == format!("data/{}", entry.name) => {
                out.insert(id, entry.size);
            }
            _ => {
                tracing::warn!("ignoring foreign object data/{} (not a pack); `arca repo check` reports it", entry.name)
            }
        }
    }
    Ok(out)
}

/// Reads every stored pack's header, a few at once. A damaged pack is an
/// `Err` in its slot; the storage failing is an `Err` of the whole call (a
/// pack that could not be read is not known to be damaged, and repairing
/// without it would drop its blobs from the index).
fn read_headers(repo: &Repository, stored: &BTreeMap<Id, u64>) -> Result<Vec<(Id, Result<Vec<PackedBlob>>)>> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(HEADER_PARALLELISM)
        .thread_name(|n| format!("arca-repair-{n}"))
        .build()
        .map_err(|e| Error::Invalid(format!("starting repair threads: {e}")))?;
    let todo: Vec<(&Id, &u64)> = stored.iter().collect();
    let results: Vec<(Id, Result<Vec<PackedBlob>>)> =
        pool.install(|| todo.par_iter().map(|(id, size)| (**id, repo.fetch_pack_header(id, **size))).collect());
    for (id, result) in &results {
        if let Err(e) = result {
            if !matches!(e, Error::Corrupt { .. }) {
                return Err(Error::Backend {
                    path: pack_path(id),
                    detail: format!(
                        "{e}; reading its header failed, so the index was not changed; run the repair again"
                    ),
                });
            }
        }
    }
    Ok(results)
}

/// Packs of the live (not superseded) readable index files, each with its
/// blobs sorted by offset and without duplicates.
fn live_packs(files: &[(Id, IndexFile)], superseded: &HashSet<Id>) -> BTreeMap<Id, Vec<PackedBlob>> {
    let mut out: BTreeMap<Id, Vec<PackedBlob>> = BTreeMap::new();
    for (_, file) in files.iter().filter(|(id, _)| !superseded.contains(id)) {
        for pack in &file.packs {
            out.entry(pack.id).or_default().extend_from_slice(&pack.blobs);
        }
    }
    for blobs in out.values_mut() {
        blobs.sort_by_key(|b| (b.offset, b.id));
        blobs.dedup();
    }
    out
}

/// The new index, decided from the old one and the headers read.
#[derive(Debug, Default, PartialEq)]
struct IndexPlan {
    packs: BTreeMap<Id, Vec<PackedBlob>>,
    packs_read: u64,
    unreadable: Vec<UnreadablePack>,
    /// Listed by the old index, not in storage.
    missing: Vec<Id>,
}

/// Pure: every stored pack whose header reads is indexed as its header
/// says; an unreadable one keeps what the old index said of it; packs the
/// old index lists but storage lacks are dropped.
fn plan_index(
    old: &BTreeMap<Id, Vec<PackedBlob>>,
    stored: &BTreeMap<Id, u64>,
    headers: Vec<(Id, Result<Vec<PackedBlob>>)>,
) -> IndexPlan {
    let mut plan = IndexPlan::default();
    for (id, header) in headers {
        match header {
            Ok(mut blobs) => {
                plan.packs_read += 1;
                blobs.sort_by_key(|b| (b.offset, b.id));
                plan.packs.insert(id, blobs);
            }
            Err(e) => {
                let kept = old.get(&id).cloned().unwrap_or_default();
                plan.unreadable.push(UnreadablePack {
                    pack: pack_path(&id),
                    problem: e.to_string(),
                    blobs_kept: kept.len() as u64,
                });
                if !kept.is_empty() {
                    plan.packs.insert(id, kept);
                }
            }
        }
    }
    plan.unreadable.sort_by(|a, b| a.pack.cmp(&b.pack));
    plan.missing = old.keys().filter(|id| !stored.contains_key(id)).copied().collect();
    plan
}

/// Pure: the new index as files of bounded size; the last one supersedes
/// every old file. At least one file when there are old files to
/// supersede.
fn index_files(packs: BTreeMap<Id, Vec<PackedBlob>>, old: &[Id]) -> Vec<IndexFile> {
    let mut files = Vec::new();
    let mut current = IndexFile::default();
    let mut blobs = 0;
    for (id, pack_blobs) in packs {
        if !current.packs.is_empty()
            && (current.packs.len() >= PACKS_PER_INDEX_FILE || blobs + pack_blobs.len() > BLOBS_PER_INDEX_FILE)
        {
            files.push(std::mem::take(&mut current));
            blobs = 0;
        }
        blobs += pack_blobs.len();
        current.packs.push(IndexPack { id, blobs: pack_blobs });
    }
    if !current.packs.is_empty() || (!old.is_empty() && files.is_empty()) {
        files.push(current);
    }
    if let Some(last) = files.last_mut() {
        let mut supersedes = old.to_vec();
        supersedes.sort();
        last.supersedes = supersedes;
    }
    files
}

/// A snapshot that cannot be restored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnreadableSnapshot {
    pub id: Id,
    pub problem: String,
    /// What it holds, when its document is readable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<Snapshot>,
}

/// What `repair_snapshots` found and did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RepairSnapshotsReport {
    pub forget: bool,
    pub snapshots_checked: u64,
    pub trees_checked: u64,
    pub unreadable: Vec<UnreadableSnapshot>,
    /// Snapshots forgotten (with `forget`).
    pub removed: Vec<Id>,
}

/// Finds snapshots that cannot be restored and, with `forget`, removes
/// them (with a forget record). Reads every snapshot and tree; data blobs
/// are only looked up (that each is indexed and its pack stored), not
/// read: `check --read-data` does that. Refuses to forget while the index
/// is incomplete: the blobs a snapshot seems to miss may be in a pack no
/// index file lists.
pub fn repair_snapshots(repo: &Repository, forget: bool) -> Result<RepairSnapshotsReport> {
    if forget {
        repo.ensure_may_delete("forget snapshots of")?;
    }
    let _lock = repo.lock(forget, "repair snapshots")?;
    // Snapshots are listed before index files, index files before packs:
    // each is written after what it refers to, so a backup running
    // meanwhile can't make a listed snapshot look incomplete.
    let (ids, _) = repo.list_ids("snapshots")?;
    let files = repo.read_index_files()?;
    let superseded: HashSet<Id> = files.readable.iter().flat_map(|(_, f)| f.supersedes.iter().copied()).collect();
    let damaged_index: Vec<String> =
        files.damaged.iter().filter(|(id, _)| !superseded.contains(id)).map(|(id, _)| format!("index/{id}")).collect();
    *repo.inner.index.write() = Index::from_files(&files.readable);
    let stored = stored_packs(repo)?;

    let mut report = RepairSnapshotsReport { forget, ..RepairSnapshotsReport::default() };
    let mut walker = Walker { repo, stored: &stored, memo: HashMap::new() };
    let mut entries = Vec::new();
    for id in ids {
        match repo.load_json::<Snapshot>("snapshots", &id) {
            Ok(snapshot) => entries.push((id, snapshot)),
            Err(e @ (Error::Corrupt { .. } | Error::Json { .. })) => report.unreadable.push(UnreadableSnapshot {
                id,
                problem: format!("snapshot document unreadable: {e}"),
                snapshot: None,
            }),
            Err(e) => return Err(e),
        }
    }
    report.snapshots_checked = (entries.len() + report.unreadable.len()) as u64;
    entries.sort_by_key(|(id, s)| (s.time, *id));
    for (id, snapshot) in entries {
        if let Some(problem) = walker.tree_problem(snapshot.tree)? {
            report.unreadable.push(UnreadableSnapshot { id, problem, snapshot: Some(snapshot) });
        }
    }
    report.trees_checked = walker.memo.len() as u64;
    if !forget || report.unreadable.is_empty() {
        return Ok(report);
    }
    let indexable = unindexed_readable_packs(repo, &stored)?;
    if !damaged_index.is_empty() || !indexable.is_empty() {
        let mut why = Vec::new();
        if !damaged_index.is_empty() {
            why.push(format!("{} index file(s) are damaged ({})", damaged_index.len(), damaged_index.join(", ")));
        }
        if !indexable.is_empty() {
            why.push(format!("{} readable pack(s) are in no index file", indexable.len()));
        }
        return Err(Error::Invalid(format!(
            "not forgetting {} snapshot(s) of {}: {}, so what they seem to miss may still be stored; run `arca repo \
             repair index` first, then `arca repo repair snapshots` again",
            report.unreadable.len(),
            repo.location(),
            why.join(" and ")
        )));
    }
    let ids: Vec<Id> = report.unreadable.iter().map(|u| u.id).collect();
    repo.remove_snapshots(&ids, "repair snapshots")?;
    report.removed = ids;
    Ok(report)
}

/// Stored packs outside the index whose header reads (an index repair
/// would add them).
fn unindexed_readable_packs(repo: &Repository, stored: &BTreeMap<Id, u64>) -> Result<Vec<Id>> {
    let unindexed: BTreeMap<Id, u64> = {
        let index = repo.index();
        stored.iter().filter(|(id, _)| !index.has_pack(id)).map(|(id, size)| (*id, *size)).collect()
    };
    if unindexed.is_empty() {
        return Ok(Vec::new());
    }
    Ok(read_headers(repo, &unindexed)?.into_iter().filter(|(_, h)| h.is_ok()).map(|(id, _)| id).collect())
}

/// Where below a tree a problem is (`dir/file`, empty for the tree itself)
/// and what it is.
type Found = Option<(String, String)>;

/// Walks trees, each distinct tree once, remembering for each the first
/// problem found below it (`None`: everything it reaches is available).
struct Walker<'a> {
    repo: &'a Repository,
    stored: &'a BTreeMap<Id, u64>,
    memo: HashMap<Id, Found>,
}

impl Walker<'_> {
    /// Why a blob can't be read, judging by the index and the pack listing.
    fn blob_problem(&self, id: &Id, kind: BlobType) -> Option<String> {
        let what = match kind {
            BlobType::Tree => "tree",
            BlobType::Data => "data blob",
        };
        let Some(location) = self.repo.index().get(id) else {
            return Some(format!("{what} {} is not in the index", id.short()));
        };
        if !self.stored.contains_key(&location.pack) {
            return Some(format!("{what} {} is in pack {}, which is missing", id.short(), pack_path(&location.pack)));
        }
        if location.kind != kind {
            return Some(format!("{what} {} is indexed as another type", id.short()));
        }
        None
    }

    /// The first problem reachable from `root`, as `/path: problem`.
    /// Post-order without recursion (directory depth is unbounded).
    fn tree_problem(&mut self, root: Id) -> Result<Option<String>> {
        enum Step {
            Enter(Id),
            Exit(Id, Vec<(String, Id)>, Found),
        }
        let mut open = HashSet::new();
        let mut stack = vec![Step::Enter(root)];
        while let Some(step) = stack.pop() {
            match step {
                Step::Enter(tree) => {
                    // Open already: a cycle, impossible with content ids.
                    if self.memo.contains_key(&tree) || !open.insert(tree) {
                        continue;
                    }
                    let (own, subtrees) = self.check_tree(&tree)?;
                    let pending: Vec<Id> =
                        subtrees.iter().map(|(_, id)| *id).filter(|s| !self.memo.contains_key(s)).collect();
                    stack.push(Step::Exit(tree, subtrees, own));
                    stack.extend(pending.into_iter().map(Step::Enter));
                }
                Step::Exit(tree, subtrees, own) => {
                    let found = own.or_else(|| {
                        subtrees.iter().find_map(|(name, id)| {
                            let (path, problem) = self.memo.get(id).cloned().flatten()?;
                            Some((join(name, &path), problem))
                        })
                    });
                    open.remove(&tree);
                    self.memo.insert(tree, found);
                }
            }
        }
        Ok(self.memo.get(&root).cloned().flatten().map(|(path, problem)| format!("/{path}: {problem}")))
    }

    /// This tree's own problem and its subtrees (by name).
    fn check_tree(&self, id: &Id) -> Result<(Found, Vec<(String, Id)>)> {
        if let Some(problem) = self.blob_problem(id, BlobType::Tree) {
            return Ok((Some((String::new(), problem)), Vec::new()));
        }
        let tree = match self.repo.load_tree(id) {
            Ok(tree) => tree,
            Err(e @ (Error::Corrupt { .. } | Error::Json { .. } | Error::NotFound { .. })) => {
                return Ok((Some((String::new(), format!("tree {} unreadable: {e}", id.short()))), Vec::new()));
            }
            Err(e) => return Err(e),
        };
        let mut own = None;
        let mut subtrees = Vec::new();
        for node in &tree.nodes {
            if own.is_none() {
                own = node
                    .content
                    .iter()
                    .find_map(|b| self.blob_problem(b, BlobType::Data))
                    .map(|p| (node.name.clone(), p));
            }
            if let Some(sub) = node.subtree {
                subtrees.push((node.name.clone(), sub));
            }
        }
        Ok((own, subtrees))
    }
}

fn join(name: &str, below: &str) -> String {
    if below.is_empty() { name.to_string() } else { format!("{name}/{below}") }
}

/// One line for people: when, what, from where (the snapshot's own words).
pub fn describe(snapshot: &Snapshot) -> String {
    let mut out = format!(
        "{} {} from {}",
        snapshot.time.format("%Y-%m-%d %H:%M:%S"),
        snapshot.kind,
        if snapshot.hostname.is_empty() { "?" } else { &snapshot.hostname }
    );
    if !snapshot.paths.is_empty() {
        out.push_str(&format!(", paths {}", snapshot.paths.join(" ")));
    }
    if let Some(backup) = snapshot.meta.get("backup").and_then(|v| v.as_str()) {
        out.push_str(&format!(", backup {backup}"));
    }
    if !snapshot.tags.is_empty() {
        out.push_str(&format!(", tags {}", snapshot.tags.join(",")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blobs(n: usize) -> Vec<PackedBlob> {
        (0..n)
            .map(|i| PackedBlob { id: Id::random(), kind: BlobType::Data, offset: i as u32 * 10, length: 10 })
            .collect()
    }

    #[test]
    fn plan_indexes_headers_keeps_what_is_known_of_unreadable_packs_and_drops_missing_ones() {
        let (read, unreadable_known, unreadable_unknown, missing) =
            (Id::random(), Id::random(), Id::random(), Id::random());
        let old: BTreeMap<Id, Vec<PackedBlob>> =
            [(unreadable_known, blobs(2)), (missing, blobs(1)), (read, blobs(1))].into_iter().collect();
        let stored: BTreeMap<Id, u64> =
            [(read, 1), (unreadable_known, 1), (unreadable_unknown, 1)].into_iter().collect();
        let header = blobs(3);
        let damaged = || Err(Error::corrupt("pack", "authentication failed"));
        let plan = plan_index(
            &old,
            &stored,
            vec![(read, Ok(header.clone())), (unreadable_known, damaged()), (unreadable_unknown, damaged())],
        );
        assert_eq!(plan.packs_read, 1);
        assert_eq!(plan.packs.get(&read), Some(&header), "the header wins over the old index");
        assert_eq!(plan.packs.get(&unreadable_known), old.get(&unreadable_known));
        assert!(!plan.packs.contains_key(&unreadable_unknown));
        assert_eq!(plan.missing, vec![missing]);
        let kept: Vec<(String, u64)> = plan.unreadable.iter().map(|u| (u.pack.clone(), u.blobs_kept)).collect();
        let mut want = vec![(pack_path(&unreadable_known), 2), (pack_path(&unreadable_unknown), 0)];
        want.sort();
        assert_eq!(kept, want);
    }

    #[test]
    fn only_the_last_new_file_supersedes_the_old_ones() {
        let packs: BTreeMap<Id, Vec<PackedBlob>> =
            (0..PACKS_PER_INDEX_FILE * 2 + 1).map(|_| (Id::random(), blobs(1))).collect();
        let old = vec![Id::random(), Id::random()];
        let files = index_files(packs, &old);
        assert_eq!(files.len(), 3);
        assert!(files[..2].iter().all(|f| f.supersedes.is_empty() && f.packs.len() == PACKS_PER_INDEX_FILE));
        let mut want = old.clone();
        want.sort();
        assert_eq!(files[2].supersedes, want);
        assert_eq!(files[2].packs.len(), 1);
    }

    #[test]
    fn index_files_are_cut_by_blob_count_too() {
        let packs: BTreeMap<Id, Vec<PackedBlob>> =
            (0..3).map(|_| (Id::random(), blobs(BLOBS_PER_INDEX_FILE / 2))).collect();
        let files = index_files(packs, &[]);
        assert_eq!(files.iter().map(|f| f.packs.len()).collect::<Vec<_>>(), vec![2, 1]);
        assert!(files.iter().all(|f| f.supersedes.is_empty()), "nothing to supersede");
    }

    #[test]
    fn an_empty_index_still_supersedes_the_old_files() {
        let old = vec![Id::random()];
        let files = index_files(BTreeMap::new(), &old);
        assert_eq!(files.len(), 1);
        assert!(files[0].packs.is_empty());
        assert_eq!(files[0].supersedes, old);
        assert!(index_files(BTreeMap::new(), &[]).is_empty());
    }

    #[test]
    fn describes_what_a_snapshot_held() {
        let mut s = Snapshot::new("files", vec!["/data".into(), "/etc".into()], Id::random());
        s.hostname = "web-1".into();
        s.tags = vec!["daily".into(), "prod".into()];
        s.time = chrono::DateTime::parse_from_rfc3339("2025-03-04T05:06:07Z").unwrap().into();
        assert_eq!(describe(&s), "2025-03-04 05:06:07 files from web-1, paths /data /etc, tags daily,prod");
        s.meta.insert("backup".into(), serde_json::json!("nightly"));
        s.tags.clear();
        assert!(describe(&s).ends_with("paths /data /etc, backup nightly"), "{}", describe(&s));
        assert_eq!(join("dir", ""), "dir");
        assert_eq!(join("dir", "a/b"), "dir/a/b");
    }

    #[test]
    fn live_packs_ignore_superseded_files_and_duplicates() {
        let (p, q) = (Id::random(), Id::random());
        let b = blobs(2);
        let old_id = Id::random();
        let files = vec![
            (old_id, IndexFile { supersedes: vec![], packs: vec![IndexPack { id: q, blobs: blobs(1) }] }),
            (Id::random(), IndexFile { supersedes: vec![old_id], packs: vec![IndexPack { id: p, blobs: b.clone() }] }),
            (Id::random(), IndexFile { supersedes: vec![], packs: vec![IndexPack { id: p, blobs: b.clone() }] }),
        ];
        let superseded: HashSet<Id> = [old_id].into_iter().collect();
        let live = live_packs(&files, &superseded);
        assert_eq!(live.len(), 1);
        assert_eq!(live[&p], b);
    }
}
