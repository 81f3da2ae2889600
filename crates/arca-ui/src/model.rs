//! View models: what a page shows, already reduced to names, numbers and
//! messages. Callers fill them from Backup/Restore objects or from a
//! snapshot's report.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

/// How bad an issue is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One failed or warned item of a run, with its reason.
#[derive(Clone, Debug, Serialize)]
pub struct IssueRow {
    pub severity: Severity,
    pub reason: String,
    pub message: String,
    /// The object, volume or hook it concerns, when known.
    pub object: Option<String>,
}

/// One volume of a backup.
#[derive(Clone, Debug, Default, Serialize)]
pub struct VolumeRow {
    /// `namespace/claim`.
    pub claim: String,
    /// `snapshot`, `mover`, `node-agent`, …
    pub method: String,
    pub phase: String,
    pub bytes: u64,
    pub duration_seconds: Option<f64>,
    pub message: String,
}

/// One hook run or database dump of a backup.
#[derive(Clone, Debug, Default, Serialize)]
pub struct StepRow {
    /// `hook` or `dump`.
    pub kind: String,
    pub name: String,
    /// The pod/container or the database it ran against.
    pub target: String,
    pub phase: String,
    pub bytes: Option<u64>,
    pub duration_seconds: Option<f64>,
    pub message: String,
}

/// A backup, as lists and its own page show it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct BackupRow {
    pub namespace: String,
    pub name: String,
    pub location: String,
    /// The Schedule that made it, if any.
    pub schedule: Option<String>,
    pub phase: String,
    /// When the object was made (a run refused at once never starts).
    pub created: Option<DateTime<Utc>>,
    pub started: Option<DateTime<Utc>>,
    pub finished: Option<DateTime<Utc>>,
    /// Namespaces it selects; empty means every namespace.
    pub include_namespaces: Vec<String>,
    pub exclude_namespaces: Vec<String>,
    pub objects: u64,
    pub bytes: u64,
    pub bytes_added: u64,
    /// The location's repository size when it finished, if recorded.
    pub repository_bytes: Option<u64>,
    pub error_count: u32,
    pub warning_count: u32,
    pub snapshot: Option<String>,
    pub volumes: Vec<VolumeRow>,
    pub steps: Vec<StepRow>,
    pub issues: Vec<IssueRow>,
    pub message: String,
}

impl BackupRow {
    /// Whether it holds a snapshot one can restore (some items may have failed).
    pub fn restorable(&self) -> bool {
        matches!(self.phase.as_str(), "Completed" | "PartiallyFailed")
    }

    pub fn failed(&self) -> bool {
        matches!(self.phase.as_str(), "Failed" | "PartiallyFailed")
    }

    pub fn duration(&self) -> Option<Duration> {
        Some(self.finished? - self.started?)
    }

    /// When the run began: its start, or the object's creation.
    pub fn begun(&self) -> Option<DateTime<Utc>> {
        self.started.or(self.created)
    }

    /// Whether this backup selects `namespace`.
    pub fn covers(&self, namespace: &str) -> bool {
        let included =
            self.include_namespaces.is_empty() || self.include_namespaces.iter().any(|n| n == namespace || n == "*");
        included && !self.exclude_namespaces.iter().any(|n| n == namespace)
    }
}

/// The objects of a backup: namespace (empty for cluster-scoped) → type → names.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CatalogView {
    pub groups: Vec<CatalogNamespace>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct CatalogNamespace {
    /// Empty for cluster-scoped objects.
    pub namespace: String,
    pub types: Vec<CatalogType>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct CatalogType {
    /// `resource.group` (`deployments.apps`, `secrets`).
    pub resource: String,
    pub names: Vec<String>,
}

impl CatalogView {
    /// Builds the tree from `(namespace, resource, name)` triples in any order.
    pub fn from_objects(objects: impl IntoIterator<Item = (String, String, String)>) -> CatalogView {
        use std::collections::BTreeMap;
        let mut tree: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
        for (ns, resource, name) in objects {
            tree.entry(ns).or_default().entry(resource).or_default().push(name);
        }
        CatalogView {
            groups: tree
                .into_iter()
                .map(|(namespace, types)| CatalogNamespace {
                    namespace,
                    types: types
                        .into_iter()
                        .map(|(resource, mut names)| {
                            names.sort();
                            CatalogType { resource, names }
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    pub fn object_count(&self) -> usize {
        self.groups.iter().flat_map(|g| &g.types).map(|t| t.names.len()).sum()
    }
}

/// A restore, as lists and its own page show it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RestoreRow {
    pub namespace: String,
    pub name: String,
    pub backup: String,
    pub phase: String,
    pub started: Option<DateTime<Utc>>,
    pub finished: Option<DateTime<Utc>>,
    pub total: u64,
    pub restored: u64,
    pub skipped: u64,
    pub failed: u64,
    pub volumes: u64,
    pub issues: Vec<IssueRow>,
    pub message: String,
}

impl RestoreRow {
    pub fn duration(&self) -> Option<Duration> {
        Some(self.finished? - self.started?)
    }
}

/// One object's outcome in a restore's report.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RestoredItem {
    /// `namespace/resource/name` as the report names it.
    pub object: String,
    /// `created`, `updated`, `skipped`, `failed`, …
    pub outcome: String,
    pub message: String,
}

/// A Schedule and the interval it fires at.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ScheduleRow {
    pub namespace: String,
    pub name: String,
    pub cron: String,
    pub time_zone: Option<String>,
    pub paused: bool,
    /// Time between two runs (from the cron expression).
    pub interval_seconds: Option<i64>,
    pub include_namespaces: Vec<String>,
    pub exclude_namespaces: Vec<String>,
    pub last_run: Option<DateTime<Utc>>,
}

impl ScheduleRow {
    pub fn covers(&self, namespace: &str) -> bool {
        let included =
            self.include_namespaces.is_empty() || self.include_namespaces.iter().any(|n| n == namespace || n == "*");
        included && !self.exclude_namespaces.iter().any(|n| n == namespace)
    }
}

/// A BackupLocation's state.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LocationRow {
    pub namespace: String,
    pub name: String,
    pub url: String,
    pub phase: String,
    pub backups: Option<u64>,
    pub repository_bytes: Option<u64>,
    pub last_sync: Option<DateTime<Utc>>,
    pub message: String,
}

/// A live claim of a namespace (to show which are protected).
#[derive(Clone, Debug, Default, Serialize)]
pub struct ClaimRow {
    pub namespace: String,
    pub name: String,
    pub capacity: String,
}

/// One object whose live state differs from the last backup.
#[derive(Clone, Debug, Default, Serialize)]
pub struct DriftRow {
    /// `namespace/resource/name`.
    pub object: String,
    /// `changed`, `added` (live only) or `removed` (backup only).
    pub change: String,
    /// Changed field paths (never values: a Secret's data would show).
    pub fields: Vec<String>,
}

/// A drift report of one namespace against one backup.
#[derive(Clone, Debug, Default, Serialize)]
pub struct DriftView {
    pub namespace: String,
    pub backup: String,
    pub taken: Option<DateTime<Utc>>,
    pub compared: usize,
    pub rows: Vec<DriftRow>,
    /// Why no comparison was possible, if so.
    pub unavailable: Option<String>,
}
