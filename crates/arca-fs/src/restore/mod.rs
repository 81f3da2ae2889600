//! Restoring a snapshot into a directory. The order matters:
//!
//! 1. plan: load the trees, check names, select includes, map hard links
//!    (a whole-snapshot restore does this a directory at a time, [`by_dir`],
//!    so memory does not grow with the number of files);
//! 2. create directories (parents first), replacing any non-directory in
//!    the way, so nothing below is ever written through a symlink;
//! 3. write files in parallel, then create symlinks and special files,
//!    then hard links to the files written;
//! 4. apply metadata to everything but directories, then to directories
//!    deepest first, so writing children does not change a parent's times.
//!
//! A mirror restore first clears the target of what the snapshot does not
//! hold ([`mirror`]).
//!
//! Stages live in [`plan`], [`by_dir`], [`include`], [`mirror`], [`file_writer`] and [`apply`].

mod apply;
mod by_dir;
pub(crate) mod file_writer;
mod include;
mod mirror;
mod plan;
mod summary;

use std::collections::HashMap;
use std::io::ErrorKind;
use std::path::Path;
use std::time::Instant;

use arca_repo::{Id, Node, NodeKind, Repository, Snapshot};
use nix::sys::stat::{Mode, SFlag, mknod};
use parking_lot::Mutex;
use rayon::prelude::*;

use self::apply::Applier;
use self::file_writer::FileWriter;
use self::include::Include;
use self::plan::{Action, Planned};
use self::summary::Counters;
pub use self::summary::RestoreSummary;
use crate::backup::META_ROOT;
use crate::error::{Error, Result};
use crate::names;
use crate::progress::Progress;

/// How to restore.
#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    /// Glob patterns over paths relative to the snapshot root; empty means
    /// everything. See the `include` module for the matching rules.
    pub include: Vec<String>,
    /// Make the target an exact copy of the snapshot: restore into an
    /// existing, non-empty directory, replace entries whose type differs
    /// (a directory by a file and vice versa), and remove every entry the
    /// snapshot does not have (counted in `RestoreSummary::removed`). With
    /// `include`, only entries inside the included set are removed.
    /// Symlinks in the target are never followed, neither while removing nor
    /// while writing. Without it, entries not in the snapshot are left alone.
    pub mirror: bool,
}

/// Restores snapshot `snapshot_id` into `target` (created if missing).
///
/// Takes a shared repository lock and loads the index itself. Existing
/// files in the way are replaced; nothing is written outside `target`.
pub fn restore(
    repo: &Repository,
    snapshot_id: &Id,
    target: &Path,
    opts: &RestoreOptions,
    progress: &dyn Progress,
) -> Result<RestoreSummary> {
    let started = Instant::now();
    let include = Include::new(&opts.include)?;
    let _lock = repo.lock(false, "restore")?;
    repo.load_index()?;
    let snapshot: Snapshot = repo.load_json("snapshots", snapshot_id)?;

    let counters = Counters::new(progress);
    let restorer = Restorer {
        target,
        counters: &counters,
        writer: FileWriter { repo, progress, zeros: Mutex::new(HashMap::new()) },
        applier: Applier::new(&counters),
        progress,
    };
    let run = || {
        if include.is_all() {
            by_dir::restore_all(&restorer, &snapshot, opts.mirror)
        } else {
            restore_selected(&restorer, &snapshot, &include, opts.mirror)
        }
    };
    let target_created = match restore_pool() {
        Some(pool) => pool.install(run)?,
        None => run()?,
    };

    // The source directory's own metadata, when the target is all ours.
    let root = snapshot.meta.get(META_ROOT).filter(|_| (target_created || opts.mirror) && include.is_all());
    if let Some(root) = root {
        match serde_json::from_value::<Node>(root.clone()) {
            Ok(node) => restorer.applier.apply(target, &node)?,
            Err(e) => counters.warn(target, &format!("snapshot's root metadata unreadable: {e}")),
        }
    }
    Ok(counters.summary(started.elapsed().as_secs_f64()))
}

/// Threads a restore reads and writes on, at least this many whatever the
/// cores: most of their time is spent waiting on storage (object storage
/// answers in milliseconds, not microseconds), so this is the bound on
/// reads in flight, and with [`arca_repo::pack_reader::MAX_RANGE`] on the
/// bytes they hold.
const RESTORE_THREADS: usize = 8;

/// A pool of [`RESTORE_THREADS`] (or the cores, if more); `None` (the global
/// pool) when threads cannot be started.
fn restore_pool() -> Option<rayon::ThreadPool> {
    let threads = RESTORE_THREADS.max(rayon::current_num_threads());
    match rayon::ThreadPoolBuilder::new().num_threads(threads).thread_name(|i| format!("arca-restore-{i}")).build() {
        Ok(pool) => Some(pool),
        Err(e) => {
            tracing::debug!("restoring on the shared threads: {e}");
            None
        }
    }
}

/// A partial restore: every tree is loaded and the included entries
/// chosen before anything is written.
fn restore_selected(r: &Restorer<'_>, snapshot: &Snapshot, include: &Include, mirror: bool) -> Result<bool> {
    let entries = include.select(plan::walk(r.writer.repo, &snapshot.tree)?);
    let planned = plan::plan(entries);
    let (files, bytes) =
        planned.iter().filter(|p| p.action == Action::File).fold((0, 0), |(n, b), p| (n + 1, b + p.entry.node.size));
    r.progress.totals(files, bytes, true);
    let target_created = prepare_target(r.target)?;
    if mirror {
        let kinds = mirror::snapshot_kinds(&planned);
        let removed = mirror::Mirror { target: r.target, kinds: &kinds, include }.clear_extras()?;
        Counters::add(&r.counters.removed, removed);
    }
    r.run_entries(&planned)?;
    for p in planned.iter().rev().filter(|p| p.action == Action::Dir) {
        r.applier.apply(&r.target.join(&p.entry.rel), &p.entry.node)?;
    }
    Ok(target_created)
}

/// Creates the target directory if needed; returns whether it was created.
fn prepare_target(target: &Path) -> Result<bool> {
    match std::fs::symlink_metadata(target) {
        Ok(md) if md.is_dir() => Ok(false),
        Ok(_) => Err(Error::io(
            "restore into",
            target,
            std::io::Error::new(ErrorKind::AlreadyExists, "exists and is not a directory"),
        )),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            std::fs::create_dir_all(target).map_err(|e| Error::io("create directory", target, e))?;
            Ok(true)
        }
        Err(e) => Err(Error::io("stat", target, e)),
    }
}

struct Restorer<'a> {
    target: &'a Path,
    counters: &'a Counters<'a>,
    writer: FileWriter<'a>,
    applier: Applier<'a>,
    progress: &'a dyn Progress,
}

impl Restorer<'_> {
    /// Restores `planned` (directories created, not yet given their
    /// metadata: their contents may still change them).
    fn run_entries(&self, planned: &[Planned]) -> Result<()> {
        let path = |p: &Planned| self.target.join(&p.entry.rel);
        for p in planned.iter().filter(|p| p.action == Action::Dir) {
            ensure_dir(&path(p))?;
            Counters::add(&self.counters.dirs, 1);
        }
        // Files of one blob (most files are small): read in pack order, so
        // neighbouring blobs come in one request; the rest file by file.
        let (whole, chunked): (Vec<&Planned>, Vec<&Planned>) =
            planned.iter().filter(|p| p.action == Action::File).partition(|p| p.entry.node.content.len() == 1);
        let mut by_blob: HashMap<Id, Vec<&Planned>> = HashMap::new();
        for p in whole {
            by_blob.entry(p.entry.node.content[0]).or_default().push(p);
        }
        let ids: Vec<Id> = by_blob.keys().copied().collect();
        self.writer.repo.for_each_blob_in_pack_order(&ids, |id, data| {
            by_blob.get(id).into_iter().flatten().try_for_each(|p| self.write_whole(&path(p), &p.entry.node, &data))
        })?;
        chunked.par_iter().try_for_each(|p| self.write_file(&path(p), &p.entry.node))?;
        let mut created = vec![true; planned.len()];
        for (i, p) in planned.iter().enumerate() {
            match &p.action {
                Action::Symlink => self.symlink(&path(p), &p.entry.node)?,
                Action::Special => created[i] = self.special(&path(p), &p.entry.node)?,
                _ => {}
            }
        }
        for p in planned {
            if let Action::HardLink(first) = &p.action {
                let to = path(p);
                remove_existing(&to)?;
                std::fs::hard_link(self.target.join(first), &to).map_err(|e| Error::io("hard link", &to, e))?;
                Counters::add(&self.counters.hardlinks, 1);
            }
        }
        // Hard links share the inode (and so the metadata) of their first name.
        planned
            .par_iter()
            .zip(created)
            .filter(|(p, made)| *made && matches!(p.action, Action::File | Action::Symlink | Action::Special))
            .try_for_each(|(p, _)| self.applier.apply(&path(p), &p.entry.node))
    }

    fn write_file(&self, path: &Path, node: &Node) -> Result<()> {
        remove_existing(path)?;
        let written = self.writer.write(path, node)?;
        self.file_written(path, node, written);
        Ok(())
    }

    fn write_whole(&self, path: &Path, node: &Node, data: &[u8]) -> Result<()> {
        remove_existing(path)?;
        let written = self.writer.write_whole(path, node, data)?;
        self.file_written(path, node, written);
        Ok(())
    }

    fn file_written(&self, path: &Path, node: &Node, written: file_writer::Written) {
        Counters::add(&self.counters.files, 1);
        Counters::add(&self.counters.bytes_written, written.data);
        Counters::add(&self.counters.bytes_sparse, written.holes);
        self.progress.file_done(path, node.size);
    }

    fn symlink(&self, path: &Path, node: &Node) -> Result<()> {
        let target = names::link_target(node, path)?;
        remove_existing(path)?;
        std::os::unix::fs::symlink(&target, path).map_err(|e| Error::io("create symlink", path, e))?;
        Counters::add(&self.counters.symlinks, 1);
        Ok(())
    }

    /// Creates a fifo, socket or device node. Returns false when it was
    /// skipped (devices need root).
    fn special(&self, path: &Path, node: &Node) -> Result<bool> {
        let kind = match node.kind {
            NodeKind::Fifo => SFlag::S_IFIFO,
            NodeKind::Socket => SFlag::S_IFSOCK,
            NodeKind::Chardev => SFlag::S_IFCHR,
            _ => SFlag::S_IFBLK,
        };
        let device = kind == SFlag::S_IFCHR || kind == SFlag::S_IFBLK;
        if device && !self.applier.is_root {
            Counters::add(&self.counters.skipped, 1);
            self.counters.warn(path, "device node not restored: creating devices needs root");
            return Ok(false);
        }
        remove_existing(path)?;
        mknod(path, kind, Mode::from_bits_truncate(0o600), node.rdev as nix::libc::dev_t)
            .map_err(|e| Error::io("create special file", path, e.into()))?;
        Counters::add(&self.counters.special, 1);
        Ok(true)
    }
}

/// Makes `path` a directory, replacing a non-directory in the way.
fn ensure_dir(path: &Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(md) if md.is_dir() => return Ok(()),
        Ok(_) => remove_existing(path)?,
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("stat", path, e)),
    }
    std::fs::create_dir(path).map_err(|e| Error::io("create directory", path, e))
}

/// Removes a file, symlink or special file at `path` so a fresh one can be
/// created: writing into an existing file could change another hard link of
/// it, or follow a symlink. A directory in the way is an error.
fn remove_existing(path: &Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(md) if md.is_dir() => {
            Err(Error::io("replace", path, std::io::Error::new(ErrorKind::AlreadyExists, "a directory is in the way")))
        }
        Ok(_) => std::fs::remove_file(path).map_err(|e| Error::io("remove", path, e)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("stat", path, e)),
    }
}
