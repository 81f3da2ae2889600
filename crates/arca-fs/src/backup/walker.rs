//! Lists one directory: each entry's name, path and `lstat` metadata, minus
//! excluded ones. Entries that vanish or cannot be stat'ed between listing
//! and stat are warned about and left out; the backup goes on.

use std::ffi::OsString;
use std::fs::Metadata;
use std::path::{Path, PathBuf};

use super::exclude::Excludes;
use super::summary::Counters;
use crate::error::{Error, Result};

pub(crate) struct DirEntry {
    pub name: OsString,
    pub path: PathBuf,
    pub md: Metadata,
}

/// The entries of `dir`, in no particular order (the tree saver sorts).
pub(crate) fn list(dir: &Path, excludes: &Excludes, counters: &Counters<'_>) -> Result<Vec<DirEntry>> {
    let reader = std::fs::read_dir(dir).map_err(|e| Error::io("list directory", dir, e))?;
    let mut out = Vec::new();
    for entry in reader {
        let entry = entry.map_err(|e| Error::io("list directory", dir, e))?;
        let name = entry.file_name();
        let path = entry.path();
        if excludes.is_excluded(&path, &name) {
            continue;
        }
        match std::fs::symlink_metadata(&path) {
            Ok(md) => out.push(DirEntry { name, path, md }),
            Err(e) => counters.warn(&path, &format!("skipped: cannot stat: {e}")),
        }
    }
    Ok(out)
}
