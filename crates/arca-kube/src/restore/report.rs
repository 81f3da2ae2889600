//! Restore reports: what happened to each object, stored in the repository
//! (a snapshot of kind `kubernetes-restore` whose tree holds `report.json`)
//! so `restore list|describe|logs` work from any machine.

use std::collections::BTreeMap;

use arca_repo::{BlobType, Repository, Snapshot, SnapshotEntry};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::catalog::{self, Catalog, CatalogBuilder};
use crate::error::{Error, Result};
use crate::{KIND_RESTORE, Phase};

pub const REPORT_FILE: &str = "report.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
    Skipped,
    Failed,
}

impl Outcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Updated => "updated",
            Outcome::Unchanged => "unchanged",
            Outcome::Skipped => "skipped",
            Outcome::Failed => "failed",
        }
    }
}

/// What happened to one object (or, in a dry run, what would).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ItemResult {
    pub object: String,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The object was restored at another API version than it was backed
    /// up at: `converted from A to B`, or the custom resource's new version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub converted: Option<String>,
    /// Dry run: the fields the transform changed (JSON pointers; no values).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transform: Vec<String>,
    /// With `--wait`, for kinds whose readiness is known: whether it became ready in time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RestoreReport {
    pub name: String,
    pub backup: String,
    pub backup_snapshot: String,
    pub phase: Phase,
    pub dry_run: bool,
    pub started: DateTime<Utc>,
    pub finished: DateTime<Utc>,
    /// Server the objects went to.
    pub cluster: String,
    pub options: Value,
    pub counts: BTreeMap<String, u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<ItemResult>,
}

impl RestoreReport {
    pub fn failures(&self) -> impl Iterator<Item = &ItemResult> {
        self.items.iter().filter(|i| i.outcome == Outcome::Failed)
    }

    /// Phase from the outcomes: any failure, or an object not ready when
    /// waited for → PartiallyFailed; all failed → Failed.
    pub fn phase_of(items: &[ItemResult]) -> Phase {
        let failed = items.iter().filter(|i| i.outcome == Outcome::Failed).count();
        let attempted = items.iter().filter(|i| i.outcome != Outcome::Skipped).count();
        let not_ready = items.iter().any(|i| i.ready == Some(false));
        match failed {
            0 if not_ready => Phase::PartiallyFailed,
            0 => Phase::Completed,
            f if f == attempted => Phase::Failed,
            _ => Phase::PartiallyFailed,
        }
    }

    pub fn count(items: &[ItemResult]) -> BTreeMap<String, u64> {
        let mut m = BTreeMap::new();
        for i in items {
            *m.entry(i.outcome.as_str().to_string()).or_insert(0) += 1;
        }
        m
    }

    /// The summary (without per-object results) from a stored report's snapshot.
    pub fn from_snapshot(entry: &SnapshotEntry) -> Result<RestoreReport> {
        let map: serde_json::Map<String, Value> = entry.snapshot.meta.clone().into_iter().collect();
        serde_json::from_value(Value::Object(map)).map_err(|e| Error::Catalog {
            what: format!("restore report {}", entry.id.short()),
            message: e.to_string(),
        })
    }
}

/// Stores a report: the full one in the tree, the summary in the snapshot.
/// Takes the report and gives it back, so that its items (there can be
/// many) are never copied.
pub fn save(repo: &Repository, mut report: RestoreReport, log: &str) -> Result<(arca_repo::Id, RestoreReport)> {
    let full = serde_json::to_vec(&report).map_err(|e| Error::Decode { what: "restore report".into(), source: e })?;
    let mut b = CatalogBuilder::new(repo);
    let id = repo.save_blob(BlobType::Data, &full)?;
    b.add(&[REPORT_FILE.to_string()], catalog::file_node("", vec![id], full.len() as u64))?;
    let log_id = repo.save_blob(BlobType::Data, log.as_bytes())?;
    b.add(&[catalog::LOG_FILE.to_string()], catalog::file_node("", vec![log_id], log.len() as u64))?;
    let root = b.save()?;
    repo.flush()?;
    let mut snap = Snapshot::new(KIND_RESTORE, vec![report.name.clone()], root);
    snap.time = report.started;
    let items = std::mem::take(&mut report.items);
    let summary = serde_json::to_value(&report);
    report.items = items;
    if let Value::Object(m) = summary.map_err(|e| Error::Decode { what: "restore report".into(), source: e })? {
        snap.meta = m.into_iter().collect();
    }
    for (k, v) in &report.counts {
        snap.summary.insert(k.clone(), (*v).into());
    }
    Ok((repo.save_snapshot(&snap)?, report))
}

pub fn list(repo: &Repository) -> Result<Vec<SnapshotEntry>> {
    Ok(repo.list_snapshots()?.into_iter().filter(|s| s.snapshot.kind == KIND_RESTORE).collect())
}

pub fn find(repo: &Repository, name: &str) -> Result<SnapshotEntry> {
    list(repo)?
        .into_iter()
        .rev()
        .find(|s| {
            s.snapshot.paths.first().map(String::as_str) == Some(name)
                || (name.len() >= 6 && s.id.to_hex().starts_with(name))
        })
        .ok_or_else(|| Error::RestoreNotFound(name.to_string()))
}

/// The full report (with per-object results) and the log.
pub fn load_full(repo: &Repository, entry: &SnapshotEntry) -> Result<(RestoreReport, String)> {
    let cat = Catalog::open(repo, &entry.snapshot.tree)?;
    let root = repo.load_tree(&entry.snapshot.tree)?;
    let node =
        root.find(REPORT_FILE).ok_or_else(|| Error::Catalog { what: REPORT_FILE.into(), message: "missing".into() })?;
    let bytes = cat.read_bytes(&node.content)?;
    let report = serde_json::from_slice(&bytes)
        .map_err(|e| Error::Catalog { what: REPORT_FILE.into(), message: e.to_string() })?;
    Ok((report, cat.log()?))
}
