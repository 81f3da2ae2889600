//! Reading a backup's objects for a restore a bounded batch at a time: the
//! entries of one directory after another, each batch read in storage
//! order (neighbouring objects in one ranged read, packs in parallel) and
//! handed over parsed, sorted by path. Memory holds a batch, never the backup.

use std::sync::Mutex;

use arca_repo::Id;
use serde_json::Value;

use crate::catalog::{Catalog, CatalogEntry, ObjectDir};
use crate::error::Result;

/// Objects per batch, and stored bytes per batch (whichever comes first).
pub const BATCH_OBJECTS: usize = 512;
pub const BATCH_BYTES: u64 = 4 * 1024 * 1024;

/// A batch of parsed objects, sorted by path.
pub type Batch = Vec<(CatalogEntry, Value)>;

/// The entries of `dirs`, one directory listing at a time.
pub fn dir_entries<'a>(
    catalog: &'a Catalog,
    dirs: &'a [(ObjectDir, Id)],
) -> impl Iterator<Item = Result<CatalogEntry>> + 'a {
    dirs.iter().flat_map(move |(dir, tree)| -> Box<dyn Iterator<Item = Result<CatalogEntry>>> {
        match catalog.dir_entries(dir, tree) {
            Ok(entries) => Box::new(entries.into_iter().map(Ok)),
            Err(e) => Box::new(std::iter::once(Err(e))),
        }
    })
}

/// Reads `entries` in batches and hands each to `batch`. Blocking.
pub fn read_batches<I, F>(catalog: &Catalog, entries: I, mut batch: F) -> Result<()>
where
    I: IntoIterator<Item = Result<CatalogEntry>>,
    F: FnMut(Batch) -> Result<()>,
{
    let mut pending: Vec<CatalogEntry> = Vec::new();
    let mut bytes = 0u64;
    for entry in entries {
        let entry = entry?;
        bytes += entry.size;
        pending.push(entry);
        if pending.len() >= BATCH_OBJECTS || bytes >= BATCH_BYTES {
            batch(load(catalog, &std::mem::take(&mut pending))?)?;
            bytes = 0;
        }
    }
    if !pending.is_empty() {
        batch(load(catalog, &pending)?)?;
    }
    Ok(())
}

fn load(catalog: &Catalog, entries: &[CatalogEntry]) -> Result<Batch> {
    let out = Mutex::new(Vec::with_capacity(entries.len()));
    catalog.load_each(entries, |e, obj| {
        out.lock().unwrap_or_else(|p| p.into_inner()).push((e.clone(), obj));
        Ok(())
    })?;
    let mut out = out.into_inner().unwrap_or_else(|p| p.into_inner());
    out.sort_by(|a, b| a.0.path.cmp(&b.0.path));
    Ok(out)
}
