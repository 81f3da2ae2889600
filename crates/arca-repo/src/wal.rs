//! The WAL area: named, write-once entries `wal/<cluster>/<file>` for files a
//! database archives continuously (PostgreSQL's WAL segments, timeline
//! history and backup history files).
//!
//! A file's bytes are data blobs like any other (chunked, deduplicated,
//! compressed, encrypted, in packs); the entry names them. Entries are not
//! snapshots: a segment every few seconds would make every snapshot listing
//! slower, and a fetch by name would have to read them all. An entry is one
//! object found by its name, and each chunk carries the pack and offset it
//! was written to, so a fetch reads no index file; only when prune has moved
//! a blob does the reader fall back to the index.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::backend::WriteMode;
use crate::crypto::{envelope, unenvelope};
use crate::error::{Error, Result};
use crate::id::Id;
use crate::pack::{BlobType, pack_path};
use crate::repository::Repository;

/// One archived file: what it holds and where its chunks are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WalEntry {
    /// The file name (`000000010000000000000003`, `00000002.history`, …).
    pub name: String,
    pub size: u64,
    /// Keyed content id of the whole file, to tell an identical re-push
    /// from a different file under the same name.
    pub content_id: Id,
    pub chunks: Vec<WalChunk>,
    pub time: DateTime<Utc>,
    pub hostname: String,
}

/// A data blob of an entry and where it was stored (a hint: prune may move it).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WalChunk {
    pub id: Id,
    pub pack: Id,
    pub offset: u32,
    pub length: u32,
}

/// An entry's name in a listing, without reading it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct WalName {
    pub cluster: String,
    pub name: String,
    /// Stored (sealed) size of the entry object, not of the file.
    pub stored_size: u64,
}

/// Whether a name is usable as one path component of the WAL area.
pub fn valid_wal_component(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name != "."
        && name != ".."
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn entry_path(cluster: &str, name: &str) -> Result<String> {
    for part in [cluster, name] {
        if !valid_wal_component(part) {
            return Err(Error::Invalid(format!(
                "WAL area name {part:?} must be 1 to 128 characters of letters, digits, `.`, `_` and `-`"
            )));
        }
    }
    Ok(format!("wal/{cluster}/{name}"))
}

impl Repository {
    /// Stores `data` as blobs (flushed: packs and their index file written)
    /// and returns the entry describing it; the entry itself is not written.
    pub fn save_wal_data(&self, name: &str, data: &[u8]) -> Result<WalEntry> {
        let saved = self.save_stream(data, &format!("WAL file {name}"))?;
        self.flush()?;
        let index = self.index();
        let chunks = saved
            .content
            .iter()
            .map(|id| {
                let loc = index.get(id).ok_or_else(|| Error::BlobMissing { id: id.to_hex() })?;
                Ok(WalChunk { id: *id, pack: loc.pack, offset: loc.offset, length: loc.length })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(WalEntry {
            name: name.to_string(),
            size: saved.size,
            content_id: self.blob_id(data),
            chunks,
            time: Utc::now(),
            hostname: crate::host::hostname(),
        })
    }

    /// Writes an entry, create-only. `Ok(false)` when one with that name
    /// exists already (compare it with [`Repository::wal_entry`]).
    pub fn put_wal_entry(&self, cluster: &str, entry: &WalEntry) -> Result<bool> {
        let path = entry_path(cluster, &entry.name)?;
        let json = serde_json::to_vec(entry).map_err(|e| Error::Json { what: path.clone(), source: e })?;
        let sealed = self.seal(&envelope(&json, 1), path.as_bytes());
        match self.backend().put(&path, Bytes::from(sealed), WriteMode::Create) {
            Ok(()) => Ok(true),
            Err(Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The entry of `name`, or `None` when the archive does not have it.
    pub fn wal_entry(&self, cluster: &str, name: &str) -> Result<Option<WalEntry>> {
        let path = entry_path(cluster, name)?;
        let bytes = match self.backend().get(&path) {
            Ok(b) => b,
            Err(Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        // The name is the associated data: an entry moved to another name
        // does not open.
        let plain = unenvelope(self.open_sealed(&bytes, path.as_bytes(), &path)?, &path)?;
        let entry: WalEntry =
            serde_json::from_slice(&plain).map_err(|e| Error::Json { what: path.clone(), source: e })?;
        if entry.name != name {
            return Err(Error::corrupt(&path, format!("names file {:?}", entry.name)));
        }
        Ok(Some(entry))
    }

    /// Every entry name in the WAL area (one listing, no reads), sorted.
    pub fn list_wal(&self) -> Result<Vec<WalName>> {
        let mut out = Vec::new();
        for e in self.backend().list("wal")? {
            match e.name.split_once('/') {
                Some((cluster, name)) if valid_wal_component(cluster) && valid_wal_component(name) => {
                    out.push(WalName { cluster: cluster.to_string(), name: name.to_string(), stored_size: e.size });
                }
                _ => tracing::warn!("ignoring foreign object wal/{} (not written by Arca)", e.name),
            }
        }
        out.sort();
        Ok(out)
    }

    /// Removes an entry (its blobs go at the next prune).
    pub fn delete_wal_entry(&self, cluster: &str, name: &str) -> Result<()> {
        self.backend().delete(&entry_path(cluster, name)?)
    }

    /// Reads one chunk: from where it was written, else through the index
    /// (loaded on first need) when prune has moved it since.
    pub fn read_wal_chunk(&self, chunk: &WalChunk) -> Result<Vec<u8>> {
        let path = pack_path(&chunk.pack);
        let range = u64::from(chunk.offset)..u64::from(chunk.offset) + u64::from(chunk.length);
        match self.backend().get_range(&path, range) {
            Ok(sealed) => {
                if let Ok(data) = self.decode_blob(&chunk.id, BlobType::Data, &sealed, &path) {
                    return Ok(data);
                }
            }
            Err(Error::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        if !self.is_indexed(&chunk.id) {
            self.load_index()?;
        }
        self.load_blob(&chunk.id)
    }

    /// Data blobs every WAL entry uses (for prune).
    pub fn wal_blobs(&self) -> Result<Vec<Id>> {
        let mut out = Vec::new();
        for n in self.list_wal()? {
            if let Some(entry) = self.wal_entry(&n.cluster, &n.name)? {
                out.extend(entry.chunks.iter().map(|c| c.id));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_are_plain_names() {
        assert!(valid_wal_component("000000010000000000000003"));
        assert!(valid_wal_component("00000001000000000000000A.00000028.backup"));
        assert!(valid_wal_component("7312345678901234567"));
        for bad in ["", ".", "..", "a/b", "a b", "ü"] {
            assert!(!valid_wal_component(bad), "{bad:?}");
        }
        assert!(entry_path("c", "../x").is_err());
    }
}
