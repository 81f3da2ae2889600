//! Mirror restores: before the snapshot is written, everything in the
//! target that the snapshot does not have is removed, and directories where
//! the snapshot has a non-directory are cleared, so the target ends up
//! holding exactly the snapshot. The walk never follows a symlink: a link
//! is an entry like any other, removed or replaced itself, so a link
//! pointing outside cannot make the restore touch anything outside.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use arca_repo::NodeKind;

use super::include::Include;
use super::plan::{Entry, Planned};
use crate::error::{Error, Result};

/// The snapshot's entries by relative path: whether each is a directory.
pub(crate) fn snapshot_kinds(planned: &[Planned]) -> HashMap<PathBuf, bool> {
    planned.iter().map(|p| (p.entry.rel.clone(), p.entry.node.kind == NodeKind::Dir)).collect()
}

pub(crate) struct Mirror<'a> {
    pub target: &'a Path,
    pub kinds: &'a HashMap<PathBuf, bool>,
    pub include: &'a Include,
}

impl Mirror<'_> {
    /// Clears the target of what the snapshot does not hold (within the
    /// included set). Returns the number of entries removed.
    pub(crate) fn clear_extras(&self) -> Result<u64> {
        self.clear_dir(Path::new(""))
    }

    fn clear_dir(&self, rel_dir: &Path) -> Result<u64> {
        let dir = self.target.join(rel_dir);
        let mut removed = 0;
        for entry in std::fs::read_dir(&dir).map_err(|e| Error::io("list directory", &dir, e))? {
            let entry = entry.map_err(|e| Error::io("list directory", &dir, e))?;
            let rel = rel_dir.join(entry.file_name());
            let path = entry.path();
            // DirEntry::file_type does not follow symlinks.
            let is_dir = entry.file_type().map_err(|e| Error::io("stat", &path, e))?.is_dir();
            match self.kinds.get(&rel) {
                Some(true) if is_dir => removed += self.clear_dir(&rel)?,
                // A directory where the snapshot has a file: its contents
                // go (counted), the name is taken over by the restore.
                Some(false) if is_dir => removed += remove_tree(&path)? - 1,
                Some(_) => {}
                None if self.include.covers(&rel) => removed += remove_entry(&path, is_dir)?,
                // Outside the included set, only what lies below may be mirrored.
                None if is_dir => removed += self.clear_dir(&rel)?,
                None => {}
            }
        }
        Ok(removed)
    }
}

/// Clears one directory `dir` of the target whose snapshot entries are
/// `entries` (a whole-snapshot mirror visits every directory this way).
/// Returns the number of entries removed.
pub(crate) fn clear_level(dir: &Path, entries: &[Entry]) -> Result<u64> {
    let kinds: HashMap<&OsStr, bool> =
        entries.iter().filter_map(|e| e.rel.file_name().map(|n| (n, e.node.kind == NodeKind::Dir))).collect();
    let mut removed = 0;
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io("list directory", dir, e))? {
        let entry = entry.map_err(|e| Error::io("list directory", dir, e))?;
        let path = entry.path();
        let is_dir = entry.file_type().map_err(|e| Error::io("stat", &path, e))?.is_dir();
        match kinds.get(entry.file_name().as_os_str()) {
            Some(false) if is_dir => removed += remove_tree(&path)? - 1,
            Some(_) => {}
            None => removed += remove_entry(&path, is_dir)?,
        }
    }
    Ok(removed)
}

fn remove_entry(path: &Path, is_dir: bool) -> Result<u64> {
    if is_dir {
        return remove_tree(path);
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(1),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(0),
        Err(e) => Err(Error::io("remove", path, e)),
    }
}

/// Removes a directory and everything below it without following
/// symlinks; returns how many entries were removed, itself included.
pub(crate) fn remove_tree(dir: &Path) -> Result<u64> {
    let mut removed = 0;
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io("list directory", dir, e))? {
        let entry = entry.map_err(|e| Error::io("list directory", dir, e))?;
        let path = entry.path();
        let is_dir = entry.file_type().map_err(|e| Error::io("stat", &path, e))?.is_dir();
        removed += remove_entry(&path, is_dir)?;
    }
    std::fs::remove_dir(dir).map_err(|e| Error::io("remove directory", dir, e))?;
    Ok(removed + 1)
}
