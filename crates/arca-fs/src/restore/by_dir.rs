//! A whole-snapshot restore, a batch of directories at a time: their trees
//! are loaded, their names checked, their entries restored, and their
//! subdirectories queued by id, so memory holds one batch's entries, the
//! queue of directories, and the first names of hard-link groups, never
//! every file. Directory metadata is applied at the end, deepest first.
//!
//! Names are checked as each directory is reached: the root's before the
//! target is created, a deeper corrupt tree fails the restore partway
//! (what was written stays, and the error names the damaged path).

use std::path::PathBuf;

use arca_repo::{Id, Snapshot};
use rayon::prelude::*;

use super::plan::{self, Action, Entry, Primaries};
use super::summary::Counters;
use super::{Restorer, mirror, prepare_target};
use crate::error::Result;

/// Directories restored together: their trees are loaded in parallel and
/// their files read as one batch, so a tree of many small directories does
/// not wait on storage once per directory; memory holds this many
/// directories' entries.
const DIRS_AT_ONCE: usize = 32;

/// Restores every entry of `snapshot`; returns whether the target was created.
pub(crate) fn restore_all(r: &Restorer<'_>, snapshot: &Snapshot, mirror: bool) -> Result<bool> {
    let repo = r.writer.repo;
    report_totals(r, snapshot);
    let mut first = Some(plan::load_dir(repo, &snapshot.tree, std::path::Path::new(""))?);
    let target_created = prepare_target(r.target)?;
    let mut primaries = Primaries::new();
    let mut queue: Vec<(PathBuf, Id)> = Vec::new();
    let mut dirs: Vec<Entry> = Vec::new();
    loop {
        let level: Vec<(PathBuf, Vec<Entry>)> = match first.take() {
            Some(root) => vec![(PathBuf::new(), root)],
            None if queue.is_empty() => break,
            None => {
                let batch = queue.split_off(queue.len().saturating_sub(DIRS_AT_ONCE));
                batch
                    .into_par_iter()
                    .map(|(rel, id)| plan::load_dir(repo, &id, &rel).map(|entries| (rel, entries)))
                    .collect::<Result<_>>()?
            }
        };
        let mut planned = Vec::new();
        for (rel_dir, entries) in level {
            if mirror {
                let removed = mirror::clear_level(&r.target.join(&rel_dir), &entries)?;
                Counters::add(&r.counters.removed, removed);
            }
            planned.extend(plan::plan_with(entries, &mut primaries));
        }
        // One call for the batch: its small files are read in pack order
        // together, and hard links come after every file they may name.
        r.run_entries(&planned)?;
        for p in planned.into_iter().filter(|p| p.action == Action::Dir) {
            if let Some(id) = p.entry.node.subtree {
                queue.push((p.entry.rel.clone(), id));
            }
            let mut entry = p.entry;
            entry.node.content = Vec::new();
            dirs.push(entry);
        }
    }
    // Preorder reversed: every directory after everything below it.
    for d in dirs.iter().rev() {
        r.applier.apply(&r.target.join(&d.rel), &d.node)?;
    }
    Ok(target_created)
}

/// Totals for a progress bar, from the backup's summary when it has them.
fn report_totals(r: &Restorer<'_>, snapshot: &Snapshot) {
    let get = |k: &str| snapshot.summary.get(k).and_then(serde_json::Value::as_u64);
    if let (Some(files), Some(bytes)) = (get("total_files"), get("total_bytes")) {
        r.progress.totals(files, bytes, true);
    }
}
