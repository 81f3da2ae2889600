//! Snapshots: small immutable documents naming a root tree and describing
//! what was saved, when, from where.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::id::Id;
use crate::repository::{Repository, warn_foreign};

/// What kind of source a snapshot captured.
pub const KIND_FILES: &str = "files";
pub const KIND_STREAM: &str = "stream";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Snapshot {
    pub time: DateTime<Utc>,
    /// `files`, `stream`, `kubernetes`, …
    pub kind: String,
    pub hostname: String,
    pub username: String,
    /// Source paths (files), or names (streams, backups).
    pub paths: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Id>,
    /// The newest snapshot of the repository when this one was written
    /// (format 1.1, tamper evidence): `check` reports a snapshot whose
    /// `previous` is gone without a forget record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<Id>,
    /// Root tree blob.
    pub tree: Id,
    pub program_version: String,
    /// Counts and sizes of the run that made it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub summary: BTreeMap<String, serde_json::Value>,
    /// Source-specific facts (cluster identity, filters, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub meta: BTreeMap<String, serde_json::Value>,
}

impl Snapshot {
    pub fn new(kind: &str, paths: Vec<String>, tree: Id) -> Self {
        Snapshot {
            time: Utc::now(),
            kind: kind.to_string(),
            hostname: crate::host::hostname(),
            username: crate::host::username(),
            paths,
            tags: Vec::new(),
            parent: None,
            previous: None,
            tree,
            program_version: concat!("arca ", env!("CARGO_PKG_VERSION")).to_string(),
            summary: BTreeMap::new(),
            meta: BTreeMap::new(),
        }
    }
}

/// Where forget records live.
pub const FORGOTTEN: &str = "forgotten";

/// Which snapshots were removed, when, by whom and why (`forgotten/<id>`,
/// format 1.1): written before the snapshots go, never deleted.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ForgetRecord {
    pub time: DateTime<Utc>,
    pub hostname: String,
    /// `forget`, `backup delete`, …
    pub reason: String,
    pub snapshots: Vec<Id>,
}

/// A snapshot together with its id.
#[derive(Debug, Clone, Serialize)]
pub struct SnapshotEntry {
    pub id: Id,
    #[serde(flatten)]
    pub snapshot: Snapshot,
}

impl Repository {
    /// Stores a snapshot, chained to the repository's newest one (unless
    /// `previous` is set). Call `flush` first so everything it names is indexed.
    pub fn save_snapshot(&self, snapshot: &Snapshot) -> Result<Id> {
        if snapshot.previous.is_some() {
            return self.save_json("snapshots", snapshot);
        }
        let mut chained = snapshot.clone();
        chained.previous = self.list_snapshots()?.last().map(|s| s.id);
        self.save_json("snapshots", &chained)
    }

    /// Removes snapshots, leaving a forget record first (`forgotten/<id>`):
    /// `check` tells them from snapshots removed outside Arca.
    pub fn remove_snapshots(&self, ids: &[Id], reason: &str) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let record = ForgetRecord {
            time: Utc::now(),
            hostname: crate::host::hostname(),
            reason: reason.to_string(),
            snapshots: ids.to_vec(),
        };
        self.save_json(FORGOTTEN, &record)?;
        ids.iter().try_for_each(|id| self.delete_file("snapshots", id))
    }

    /// Every forget record.
    pub fn forget_records(&self) -> Result<Vec<(Id, ForgetRecord)>> {
        let (ids, foreign) = self.list_ids(FORGOTTEN)?;
        warn_foreign(FORGOTTEN, &foreign);
        ids.into_iter().map(|id| Ok((id, self.load_json(FORGOTTEN, &id)?))).collect()
    }

    /// Every snapshot, oldest first.
    pub fn list_snapshots(&self) -> Result<Vec<SnapshotEntry>> {
        let (ids, foreign) = self.list_ids("snapshots")?;
        warn_foreign("snapshots", &foreign);
        let mut out = ids
            .into_iter()
            .map(|id| Ok(SnapshotEntry { id, snapshot: self.load_json("snapshots", &id)? }))
            .collect::<Result<Vec<_>>>()?;
        out.sort_by_key(|s| s.snapshot.time);
        Ok(out)
    }

    /// Finds a snapshot by id, unique id prefix, or `latest`.
    pub fn find_snapshot(&self, query: &str) -> Result<SnapshotEntry> {
        let all = self.list_snapshots()?;
        find_in(all, query)
    }
}

/// Picks a snapshot from a list by id, unique prefix or `latest`.
pub fn find_in(all: Vec<SnapshotEntry>, query: &str) -> Result<SnapshotEntry> {
    if query == "latest" {
        return all.into_iter().last().ok_or_else(|| Error::SnapshotNotFound { query: query.into() });
    }
    let mut hits: Vec<SnapshotEntry> = all.into_iter().filter(|s| s.id.to_hex().starts_with(query)).collect();
    match hits.len() {
        0 => Err(Error::SnapshotNotFound { query: query.into() }),
        1 => Ok(hits.remove(0)),
        n => Err(Error::AmbiguousSnapshot { query: query.into(), count: n }),
    }
}
