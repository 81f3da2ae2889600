//! Statuses catalog sync writes: a synced `Backup`'s from its stored
//! report, the `SnapshotPresent` condition, a location's own status.

use arca_api::backup::{BackupProgress, VolumeProgress};
use arca_api::common::{Condition, Issue, MAX_ISSUES};
use arca_api::{BackupPhase, BackupStatus};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::read::StoredBackup;

pub const SNAPSHOT_PRESENT: &str = "SnapshotPresent";
pub const AVAILABLE: &str = "Available";

/// The status of a `Backup` made for a snapshot found in the repository.
pub fn synced_backup_status(b: &StoredBackup, location: &str) -> BackupStatus {
    let mut status = BackupStatus {
        snapshot: Some(b.id.clone()),
        conditions: vec![snapshot_condition(true, &b.id, location)],
        ..Default::default()
    };
    match &b.report {
        Ok(r) => {
            status.phase = match r.phase {
                arca_kube::Phase::Completed => BackupPhase::Completed,
                arca_kube::Phase::PartiallyFailed => BackupPhase::PartiallyFailed,
                arca_kube::Phase::Failed => BackupPhase::Failed,
            };
            status.start_time = Some(r.started);
            status.completion_time = Some(r.finished);
            status.progress = Some(BackupProgress {
                objects: r.objects,
                resource_types: r.counts.len() as u64,
                bytes: r.bytes,
                bytes_added: r.stored_bytes,
            });
            status.volumes = arca_volumes::record::from_report(&r.volumes)
                .into_iter()
                .flatten()
                .map(|v| VolumeProgress {
                    claim: v.claim,
                    method: v.method.to_string(),
                    phase: v.state.to_string(),
                    bytes: v.bytes_read,
                    duration_seconds: Some(v.duration_secs),
                    message: v.reason,
                })
                .collect();
            status.errors = r
                .errors
                .iter()
                .take(MAX_ISSUES)
                .map(|e| Issue {
                    reason: "ItemFailed".into(),
                    message: e.reason.clone(),
                    object: Some(e.object.clone()),
                })
                .collect();
            status.warnings = r
                .warnings
                .iter()
                .take(MAX_ISSUES)
                .map(|w| Issue { reason: "Warning".into(), message: w.clone(), object: None })
                .collect();
            status.error_count = count(r.errors.len());
            status.warning_count = count(r.warnings.len());
            status.message = format!("found in the repository of location {location} by catalog sync");
        }
        Err(e) => {
            // Never shown as restorable: a report we cannot read.
            status.phase = BackupPhase::Failed;
            status.start_time = Some(b.time);
            status.error_count = 1;
            status.errors = vec![Issue { reason: "ReportUnreadable".into(), message: e.clone(), object: None }];
            status.message = format!("the stored report of snapshot {} does not parse: {e}", short(&b.id));
        }
    }
    status
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

pub fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// `SnapshotPresent`: whether the Backup's snapshot is in the repository.
pub fn snapshot_condition(present: bool, snapshot: &str, location: &str) -> Condition {
    if present {
        Condition::new(
            SNAPSHOT_PRESENT,
            true,
            "SnapshotFound",
            format!("snapshot {} is in the repository of location {location}", short(snapshot)),
        )
    } else {
        Condition::new(
            SNAPSHOT_PRESENT,
            false,
            "SnapshotMissing",
            format!(
                "snapshot {} is no longer in the repository of location {location} (forgotten or pruned outside \
                 this cluster, or the location points at another repository); this Backup cannot be restored: \
                 check the location's repository, or delete this Backup object",
                short(snapshot)
            ),
        )
    }
}

/// The parts of a location's status a sync owns, as a merge patch body
/// (every field written, so a field that cleared is cleared).
#[derive(Debug, Clone, PartialEq)]
pub struct LocationState {
    pub available: bool,
    pub message: String,
    pub conditions: Vec<Condition>,
    pub backups: Option<u64>,
    pub repository_bytes: Option<u64>,
    pub last_sync_time: Option<DateTime<Utc>>,
    pub observed_generation: Option<i64>,
}

impl LocationState {
    pub fn patch(&self) -> Value {
        json!({
            "status": {
                "phase": if self.available { "Available" } else { "Unavailable" },
                "message": self.message,
                "conditions": self.conditions,
                "backups": self.backups,
                "repositoryBytes": self.repository_bytes,
                "lastSyncTime": self.last_sync_time,
                "observedGeneration": self.observed_generation,
            }
        })
    }

    /// Whether writing this would change the stored status.
    pub fn differs_from(&self, old: Option<&arca_api::BackupLocationStatus>) -> bool {
        let Some(old) = old else { return true };
        let phase = if self.available { "Available" } else { "Unavailable" };
        old.phase.as_deref() != Some(phase)
            || old.message != self.message
            || old.conditions != self.conditions
            || old.backups != self.backups
            || old.repository_bytes != self.repository_bytes
            || old.last_sync_time != self.last_sync_time
            || old.observed_generation != self.observed_generation
    }
}
