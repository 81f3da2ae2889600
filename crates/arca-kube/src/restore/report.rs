//! Restore reports: what happened to each object, stored in the repository
//! (a snapshot of kind `kubernetes-restore` whose tree holds `report.json`,
//! the per-object results `items.jsonl` and the `log`) so `restore
//! list|describe|logs` work from any machine. Results are written as they
//! are produced ([`lines`](super::lines)); only counts and the first
//! [`NOTABLE_KEPT`] notable results stay in memory.

use std::collections::BTreeMap;

use arca_repo::{BlobType, Id, Repository, Snapshot, SnapshotEntry};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::catalog::{self, Catalog, CatalogBuilder};
use crate::error::{Error, Result};
use crate::restore::lines::{self, Written};
use crate::{KIND_RESTORE, Phase};

pub const REPORT_FILE: &str = "report.json";
/// Per-object results, one JSON [`ItemResult`] per line (format 2).
pub const ITEMS_FILE: &str = "items.jsonl";
/// Format of stored reports: 2 keeps the results in [`ITEMS_FILE`], 1 (no
/// `format` field) inside `report.json` as `items`.
pub const REPORT_FORMAT: u32 = 2;

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
    /// Warnings beyond the first [`WARNINGS_KEPT`] (all are in the log).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub warnings_omitted: u64,
    /// Per-object results. A restore's own report holds only the notable
    /// ones (failed, skipped, not ready; the first [`NOTABLE_KEPT`]); a
    /// stored report's are read with [`open`]; format-1 reports hold all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<ItemResult>,
    /// Notable results beyond the ones in `items`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub items_omitted: u64,
    /// Stored format ([`REPORT_FORMAT`]); absent in format 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<u32>,
    /// One result per volume whose data the restore put back (or failed
    /// to): `arca-volumes`' `VolumeRestore`, format in `docs/FORMAT.md`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Value>,
    /// One result per restore hook run (`arca-apps`' `HookRecord`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hooks: Vec<Value>,
    /// One result per application dump restored (`arca-apps`' `DumpRestore`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dumps: Vec<Value>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
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

/// How many failed, skipped or not-ready results a report keeps in memory
/// (and in its summary output); all of them are in the stored results.
pub const NOTABLE_KEPT: usize = 1000;
/// How many warnings a report keeps; all of them are in the log.
pub const WARNINGS_KEPT: usize = 1000;

/// The first `cap` values and how many more there were.
#[derive(Debug, Clone)]
pub struct Capped<T> {
    pub kept: Vec<T>,
    pub omitted: u64,
}

impl<T> Default for Capped<T> {
    fn default() -> Self {
        Capped { kept: Vec::new(), omitted: 0 }
    }
}

impl<T> Capped<T> {
    pub fn push(&mut self, value: T, cap: usize) {
        if self.kept.len() < cap {
            self.kept.push(value);
        } else {
            self.omitted += 1;
        }
    }
}

/// Counts of a restore's results as they are produced, and the notable ones
/// (failed, skipped, not ready), capped: memory independent of the object count.
#[derive(Debug, Default)]
pub struct Tally {
    pub counts: BTreeMap<String, u64>,
    pub notable: Capped<ItemResult>,
    failed: u64,
    attempted: u64,
    not_ready: bool,
}

impl Tally {
    pub fn add(&mut self, r: &ItemResult) {
        *self.counts.entry(r.outcome.as_str().to_string()).or_insert(0) += 1;
        self.failed += u64::from(r.outcome == Outcome::Failed);
        self.attempted += u64::from(r.outcome != Outcome::Skipped);
        self.not_ready |= r.ready == Some(false);
        if matches!(r.outcome, Outcome::Failed | Outcome::Skipped) || r.ready == Some(false) {
            self.notable.push(r.clone(), NOTABLE_KEPT);
        }
    }

    /// Volume results: a failed volume fails the restore as a failed object does.
    pub fn add_volumes(&mut self, total: u64, failed: u64) {
        self.attempted += total;
        self.failed += failed;
    }

    /// The same rule as [`RestoreReport::phase_of`], from the counts.
    pub fn phase(&self) -> Phase {
        match self.failed {
            0 if self.not_ready => Phase::PartiallyFailed,
            0 => Phase::Completed,
            f if f == self.attempted => Phase::Failed,
            _ => Phase::PartiallyFailed,
        }
    }
}

/// Where a report's per-object results are, to read them all again.
pub enum ItemLines {
    /// JSON lines in the repository ([`ITEMS_FILE`], format 2).
    Stored { repo: Repository, content: Vec<Id> },
    /// JSON lines in a temporary file (a dry run).
    Spooled(std::fs::File),
    /// Inside `report.json` (format 1, reports written before format 2).
    Inline(Vec<ItemResult>),
}

impl ItemLines {
    fn from_written(repo: &Repository, written: Written) -> ItemLines {
        match written {
            Written::Stored { content, .. } => ItemLines::Stored { repo: repo.clone(), content },
            Written::Spooled(file) => ItemLines::Spooled(file),
            Written::Discarded => ItemLines::Inline(Vec::new()),
        }
    }

    /// Hands every result to `f`, in the order they were produced. Blocking.
    pub fn for_each<F>(&self, mut f: F) -> Result<()>
    where
        F: FnMut(ItemResult) -> Result<()>,
    {
        let parse = |line: &str| -> Result<Option<ItemResult>> {
            if line.is_empty() {
                return Ok(None);
            }
            serde_json::from_str(line)
                .map(Some)
                .map_err(|e| Error::Catalog { what: ITEMS_FILE.into(), message: format!("{e} in line {line:?}") })
        };
        match self {
            ItemLines::Stored { repo, content } => {
                lines::each_stored_line(repo, content, |l| parse(l)?.map_or(Ok(()), &mut f))
            }
            ItemLines::Spooled(file) => lines::each_spooled_line(file, |l| parse(l)?.map_or(Ok(()), &mut f)),
            ItemLines::Inline(items) => items.iter().try_for_each(|i| f(i.clone())),
        }
    }
}

/// A restore's stored lines: its results and its log.
pub struct ReportFiles {
    pub items: Written,
    pub log: Written,
}

/// Stores a report: the summary in `report.json` and the snapshot, the
/// results ([`ITEMS_FILE`]) and the log as already written line files.
pub fn save(
    repo: &Repository,
    mut report: RestoreReport,
    files: ReportFiles,
) -> Result<(Id, RestoreReport, ItemLines)> {
    report.format = Some(REPORT_FORMAT);
    // The stored report has every result in its own file.
    let (notable, omitted) = (std::mem::take(&mut report.items), std::mem::take(&mut report.items_omitted));
    let summary =
        serde_json::to_vec(&report).map_err(|e| Error::Decode { what: "restore report".into(), source: e })?;
    let mut b = CatalogBuilder::new(repo);
    let id = repo.save_blob(BlobType::Data, &summary)?;
    b.add(&[REPORT_FILE.to_string()], catalog::file_node("", vec![id], summary.len() as u64))?;
    for (name, written) in [(ITEMS_FILE, &files.items), (catalog::LOG_FILE, &files.log)] {
        if let Written::Stored { content, size } = written {
            b.add(&[name.to_string()], catalog::file_node("", content.clone(), *size))?;
        }
    }
    let root = b.save()?;
    repo.flush()?;
    let mut snap = Snapshot::new(KIND_RESTORE, vec![report.name.clone()], root);
    snap.time = report.started;
    if let Value::Object(m) =
        serde_json::to_value(&report).map_err(|e| Error::Decode { what: "restore report".into(), source: e })?
    {
        snap.meta = m.into_iter().collect();
    }
    for (k, v) in &report.counts {
        snap.summary.insert(k.clone(), (*v).into());
    }
    let id = repo.save_snapshot(&snap)?;
    (report.items, report.items_omitted) = (notable, omitted);
    Ok((id, report, ItemLines::from_written(repo, files.items)))
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

/// A stored report: its summary (with no results) and where its results
/// and log are; either format.
pub struct StoredReport {
    pub report: RestoreReport,
    pub items: ItemLines,
    log: Vec<Id>,
    repo: Repository,
}

impl StoredReport {
    /// Hands each line of the log to `f`, a blob at a time. Blocking.
    pub fn each_log_line(&self, f: impl FnMut(&str) -> Result<()>) -> Result<()> {
        lines::each_stored_line(&self.repo, &self.log, f)
    }

    /// The whole log.
    pub fn log(&self) -> Result<String> {
        let mut out = String::new();
        self.each_log_line(|l| {
            out.push_str(l);
            out.push('\n');
            Ok(())
        })?;
        Ok(out)
    }
}

/// Opens a stored report without reading its results.
pub fn open(repo: &Repository, entry: &SnapshotEntry) -> Result<StoredReport> {
    let cat = Catalog::open(repo, &entry.snapshot.tree)?;
    let root = repo.load_tree(&entry.snapshot.tree)?;
    let node =
        root.find(REPORT_FILE).ok_or_else(|| Error::Catalog { what: REPORT_FILE.into(), message: "missing".into() })?;
    let bytes = cat.read_bytes(&node.content)?;
    let mut report: RestoreReport = serde_json::from_slice(&bytes)
        .map_err(|e| Error::Catalog { what: REPORT_FILE.into(), message: e.to_string() })?;
    let items = match root.find(ITEMS_FILE) {
        Some(n) => ItemLines::Stored { repo: repo.clone(), content: n.content.clone() },
        None => ItemLines::Inline(std::mem::take(&mut report.items)),
    };
    let log = root.find(catalog::LOG_FILE).map(|n| n.content.clone()).unwrap_or_default();
    Ok(StoredReport { report, items, log, repo: repo.clone() })
}

/// The full report (with every per-object result) and the log, in memory:
/// for small reports and tests; [`open`] streams.
pub fn load_full(repo: &Repository, entry: &SnapshotEntry) -> Result<(RestoreReport, String)> {
    let stored = open(repo, entry)?;
    let mut report = stored.report.clone();
    report.items.clear();
    stored.items.for_each(|i| {
        report.items.push(i);
        Ok(())
    })?;
    Ok((report, stored.log()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn created(object: &str) -> ItemResult {
        ItemResult {
            object: object.into(),
            outcome: Outcome::Created,
            reason: None,
            converted: None,
            transform: Vec::new(),
            ready: None,
        }
    }

    #[test]
    fn a_failed_volume_fails_the_restore_like_a_failed_object() {
        let mut t = Tally::default();
        t.add(&created("persistentvolumeclaim/shop/data"));
        t.add_volumes(1, 0);
        assert_eq!(t.phase(), Phase::Completed);
        t.add_volumes(1, 1);
        assert_eq!(t.phase(), Phase::PartiallyFailed);
        let mut only_volumes = Tally::default();
        only_volumes.add_volumes(2, 2);
        assert_eq!(only_volumes.phase(), Phase::Failed);
        assert!(only_volumes.counts.is_empty(), "volumes are not objects");
    }
}
