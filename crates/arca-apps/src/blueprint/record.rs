//! What a backup keeps per dump stream (`dumps` in its report) and what a
//! restore reports per stream restored (format in `docs/FORMAT.md`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DumpState {
    /// The command exited 0, its stream ended, the snapshot is written.
    Completed,
    /// No restorable snapshot: the reason says why.
    Failed,
}

/// One stream of a bound application's backup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DumpRecord {
    pub blueprint: String,
    /// The bound object, `Kind/NAMESPACE/NAME`.
    pub object: String,
    /// `NAMESPACE/POD` the command ran in.
    pub pod: String,
    pub container: String,
    /// The stream's name in the blueprint (e.g. `db-shop`).
    pub stream: String,
    /// The `forEach` item it was made for (e.g. the database `shop`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    pub state: DumpState,
    /// The dump's `stream` snapshot (hex id); absent unless `Completed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    /// Bytes of the stream.
    pub bytes: u64,
    /// Bytes the repository stored for it (new, compressed chunks).
    pub stored_bytes: u64,
    pub started: DateTime<Utc>,
    pub duration_secs: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RestoreState {
    Restored,
    Failed,
    /// Not run (an earlier stream of the same application failed, the
    /// application never became Ready); the reason says why.
    Skipped,
}

/// One stream restored into an application.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DumpRestore {
    pub blueprint: String,
    /// The object in the backup, `Kind/NAMESPACE/NAME`.
    pub object: String,
    /// `NAMESPACE/POD` it was restored into (empty when none was Ready).
    pub pod: String,
    pub container: String,
    pub stream: String,
    pub snapshot: String,
    pub state: RestoreState,
    pub bytes: u64,
    pub duration_secs: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl DumpRecord {
    /// A backup report's `dumps`, each parsed (or why not).
    pub fn from_report(dumps: &[Value]) -> Vec<Result<DumpRecord, String>> {
        dumps
            .iter()
            .map(|v| serde_json::from_value(v.clone()).map_err(|e| format!("unreadable dump record ({e}): {v}")))
            .collect()
    }
}

pub fn seconds(started: DateTime<Utc>) -> f64 {
    (Utc::now() - started).num_milliseconds().max(0) as f64 / 1000.0
}
