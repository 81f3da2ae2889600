//! Backing up files: the stages, one per file, are
//!
//! - [`walker`]: lists a directory (lstat, excludes);
//! - [`file_saver`]: one file → content ids (reused when unchanged);
//! - [`tree_saver`]: one directory → tree blob, entries in parallel;
//! - [`scanner`]: optional totals for a progress bar;
//! - [`parent`]: the parent snapshot walked alongside.
//!
//! The snapshot's root tree: a single directory path is stored as its
//! contents (restoring puts them straight into the target, and the
//! directory's own metadata is kept in the snapshot's `meta.root`); a single
//! non-directory path, or several paths, become one node per path named by
//! its last component (two paths with the same last component are refused).

mod exclude;
mod file_saver;
mod parent;
mod scanner;
mod summary;
mod tree_saver;
mod walker;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use arca_repo::snapshot::KIND_FILES;
use arca_repo::{Id, Node, NodeKind, Repository, Snapshot, Tree};
use serde::Serialize;

use self::exclude::Excludes;
pub(crate) use self::file_saver::open_source;
use self::parent::ParentTree;
use self::scanner::Scanner;
pub use self::summary::BackupSummary;
use self::summary::Counters;
use self::tree_saver::TreeSaver;
use crate::error::{Error, Result};
use crate::metadata::OwnerNames;
use crate::names;
use crate::progress::Progress;

/// Key of the source directory's own metadata in `Snapshot::meta` (single
/// directory backups), applied to the target by a full restore.
pub const META_ROOT: &str = "root";

/// Stack size of backup worker threads: trees are saved recursively, and
/// deep directory hierarchies must not overflow.
const WORKER_STACK: usize = 16 * 1024 * 1024;

/// What to back up and how.
#[derive(Debug, Clone, Default)]
pub struct BackupOptions {
    /// One or more files or directories. Symlinks given here are followed;
    /// below them, symlinks are stored as links.
    pub paths: Vec<PathBuf>,
    pub tags: Vec<String>,
    /// Snapshot to compare with. `None`: the latest `files` snapshot from
    /// this host over the same paths, if any.
    pub parent: Option<Id>,
    /// Skip the parent search and read every file.
    pub force_full: bool,
    /// Glob patterns: without `/` they match file names anywhere, with `/`
    /// absolute paths. `*` stays within one component, `**` crosses.
    pub excludes: Vec<String>,
    /// Which metadata must match the parent's for a file to count as unchanged.
    pub change_detection: ChangeDetection,
    /// Recorded as the snapshot's `paths` instead of the absolute source
    /// paths (volume snapshots record `NAMESPACE/CLAIM`), and used to find
    /// the parent. `None`: the source paths.
    pub recorded_paths: Option<Vec<String>>,
    /// Extra entries of the snapshot's `meta` (e.g. `volume`, `backup`).
    pub meta: BTreeMap<String, serde_json::Value>,
}

/// Which metadata decides that a file is unchanged since the parent
/// snapshot (and its stored content is reused without reading it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ChangeDetection {
    /// Size, mtime, ctime, inode and device: catches `touch -d` and
    /// metadata-preserving copies. Right for a file system backed up in place.
    #[default]
    Full,
    /// Size, mtime, mode, uid and gid: what survives a volume being cloned
    /// from a snapshot (new inodes and ctimes every time). For volume movers.
    Stable,
}

/// The result of a backup.
#[derive(Debug, Clone, Serialize)]
pub struct BackupResult {
    /// Named `id` so a JSON consumer finds the snapshot id where every Arca
    /// command puts it.
    #[serde(rename = "id")]
    pub snapshot_id: Id,
    pub parent: Option<Id>,
    pub paths: Vec<String>,
    pub summary: BackupSummary,
}

/// Backs up `opts.paths` into a new `files` snapshot.
///
/// Takes a shared repository lock and loads the index itself (after the
/// lock, so a concurrent prune cannot remove what the index promises).
pub fn backup(repo: &Repository, opts: &BackupOptions, progress: &dyn Progress) -> Result<BackupResult> {
    let started = Instant::now();
    if opts.paths.is_empty() {
        return Err(Error::Invalid("nothing to back up: give at least one path".into()));
    }
    let sources = absolute_sources(&opts.paths)?;
    let paths: Vec<String> = match &opts.recorded_paths {
        Some(recorded) => recorded.clone(),
        None => sources.iter().map(|p| p.to_string_lossy().into_owned()).collect(),
    };
    let excludes = Excludes::new(&opts.excludes)?;

    let _lock = repo.lock(false, "backup")?;
    // The index and the parent snapshot are independent reads: on object
    // storage each is a round trip, so they overlap.
    let (indexed, parent_id) = std::thread::scope(|s| {
        let index = s.spawn(|| repo.load_index());
        let parent = match (opts.parent, opts.force_full) {
            (Some(id), _) => Ok(Some(id)),
            (None, true) => Ok(None),
            (None, false) => parent::find_latest(repo, &paths),
        };
        let indexed =
            index.join().unwrap_or_else(|_| Err(arca_repo::Error::Invalid("loading the index panicked".into())));
        (indexed, parent)
    });
    indexed?;
    let parent_id = parent_id?;

    let counters = Counters::new(progress);
    let owners = OwnerNames::default();
    let saver = TreeSaver {
        repo,
        excludes: &excludes,
        owners: &owners,
        counters: &counters,
        progress,
        change_detection: opts.change_detection,
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .stack_size(WORKER_STACK)
        .thread_name(|i| format!("arca-backup-{i}"))
        .build()
        .map_err(|e| Error::Invalid(format!("cannot start backup threads: {e}")))?;
    let stop = AtomicBool::new(false);
    let (tree, root) = std::thread::scope(|scope| {
        if progress.wants_totals() {
            let scanner = Scanner { excludes: &excludes, progress, stop: &stop };
            let sources = &sources;
            scope.spawn(move || scanner.run(sources));
        }
        let saved = pool.install(|| save_root(repo, &saver, &sources, parent_id, &counters));
        stop.store(true, Ordering::Relaxed);
        saved
    })?;

    let stats = repo.flush()?;
    let summary = counters.summary(stats, started.elapsed().as_secs_f64());
    let mut snapshot = Snapshot::new(KIND_FILES, paths.clone(), tree);
    snapshot.tags = opts.tags.clone();
    snapshot.parent = parent_id;
    snapshot.summary = to_map(&summary);
    snapshot.meta.extend(opts.meta.clone());
    if let Some(root) = root {
        snapshot.meta.insert(META_ROOT.into(), to_value(&root));
    }
    let snapshot_id = repo.save_snapshot(&snapshot)?;
    Ok(BackupResult { snapshot_id, parent: parent_id, paths, summary })
}

/// Absolute, symlink-free source paths, sorted and without duplicates so the
/// same set of paths always finds the same parent.
fn absolute_sources(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = paths
        .iter()
        .map(|p| std::fs::canonicalize(p).map_err(|e| Error::io("back up", p, e)))
        .collect::<Result<Vec<_>>>()?;
    out.sort();
    out.dedup();
    Ok(out)
}

/// Saves the root tree (see the module doc for its shape). Returns the tree
/// id and, for a single directory, that directory's own node.
fn save_root(
    repo: &Repository,
    saver: &TreeSaver<'_>,
    sources: &[PathBuf],
    parent_id: Option<Id>,
    counters: &Counters<'_>,
) -> Result<(Id, Option<Node>)> {
    let parent_root = match parent_id {
        Some(id) => {
            let snap: Snapshot = repo.load_json("snapshots", &id)?;
            ParentTree::load(repo, &snap.tree, Path::new("/"), counters)
        }
        None => None,
    };
    if let [dir] = sources {
        let md = std::fs::metadata(dir).map_err(|e| Error::io("stat", dir, e))?;
        if md.is_dir() {
            let tree = saver.save_dir(dir, parent_root.as_ref())?;
            let name = dir.file_name().unwrap_or(dir.as_os_str());
            let mut root = crate::metadata::node_from(name, NodeKind::Dir, &md, saver.owners);
            root.subtree = Some(tree);
            if let Ok((attrs, _)) = crate::xattrs::read(dir) {
                root.xattrs = attrs;
            }
            return Ok((tree, Some(root)));
        }
    }
    let mut nodes = Vec::with_capacity(sources.len());
    let mut seen: BTreeMap<std::ffi::OsString, &PathBuf> = BTreeMap::new();
    for src in sources {
        let name = src
            .file_name()
            .ok_or_else(|| Error::Invalid(format!("cannot back up {} together with other paths", src.display())))?;
        if let Some(first) = seen.insert(name.to_os_string(), src) {
            return Err(Error::NameClash {
                first: first.clone(),
                second: src.clone(),
                name: name.to_string_lossy().into_owned(),
            });
        }
        let md = std::fs::metadata(src).map_err(|e| Error::io("stat", src, e))?;
        let parent = parent_root.as_ref().and_then(|p| p.get(name));
        nodes.push(saver.save_entry(src, name, &md, parent)?);
    }
    names::sort_nodes(&mut nodes);
    Ok((repo.save_tree(&Tree { nodes })?, None))
}

fn to_value<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

/// A summary as the snapshot's free-form summary map.
pub(crate) fn to_map<T: Serialize>(value: &T) -> BTreeMap<String, serde_json::Value> {
    match to_value(value) {
        serde_json::Value::Object(map) => map.into_iter().collect(),
        _ => BTreeMap::new(),
    }
}
