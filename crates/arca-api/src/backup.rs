//! `Backup`: one backup of cluster objects and their data into a location.

use std::fmt;

use chrono::{DateTime, Utc};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{Condition, Issue};

/// What to back up and how: the same choices as `arca backup create`.
/// A `Backup` made by catalog sync carries `snapshot` and no selection.
#[derive(CustomResource, Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "arca.io",
    version = "v1alpha1",
    kind = "Backup",
    namespaced,
    status = "BackupStatus",
    category = "arca",
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Objects","type":"integer","jsonPath":".status.progress.objects"}"#,
    printcolumn = r#"{"name":"Errors","type":"integer","jsonPath":".status.errorCount"}"#,
    printcolumn = r#"{"name":"Location","type":"string","jsonPath":".spec.location"}"#,
    printcolumn = r#"{"name":"Started","type":"date","jsonPath":".status.startTime"}"#,
    printcolumn = r#"{"name":"Snapshot","type":"string","jsonPath":".status.snapshot","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct BackupSpec {
    /// The `BackupLocation` (same namespace); the namespace's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Namespace globs (all when empty). In tenant mode only the Backup's own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include_namespaces: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_namespaces: Vec<String>,
    /// Resource globs (`deployments`, `*.apps`, `widgets.example.com`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include_resources: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_resources: Vec<String>,
    /// Label selector (`app=shop,tier!=cache`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// More selectors, OR-ed with `selector`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub or_selectors: Vec<String>,
    /// Cluster-scoped objects: `auto` (those the selection needs), `true`, `false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_cluster_resources: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "VolumeOptions::is_default")]
    pub volumes: VolumeOptions,
    #[serde(default, skip_serializing_if = "HookOptions::is_default")]
    pub hooks: HookOptions,
    #[serde(default, skip_serializing_if = "DumpOptions::is_default")]
    pub dumps: DumpOptions,
    /// Set by catalog sync: the repository snapshot this object stands for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
}

/// Volume data (`arca backup create --volumes …`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VolumeOptions {
    /// `auto` (default), `snapshot`, `move`, `fs`, `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Per-volume deadline (a duration, default as the CLI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// The mover image (default: the server's own image).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mover_image: Option<String>,
}

impl VolumeOptions {
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// Hooks (`--consistency`, `--freeze-timeout`); hooks come from pod annotations.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HookOptions {
    /// `false` runs no backup hooks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// `pod` (default) or `group`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freeze_timeout: Option<String>,
}

impl HookOptions {
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// Blueprint dumps (`--blueprints`, `--dump-timeout`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DumpOptions {
    /// `false` takes no dumps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

impl DumpOptions {
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// Where a backup is in its life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum BackupPhase {
    #[default]
    New,
    /// Waiting for a slot of its location, or for the location to be reachable.
    Queued,
    InProgress,
    Completed,
    PartiallyFailed,
    Failed,
    /// Its snapshot is being forgotten (the object has a deletion timestamp).
    Deleting,
}

impl BackupPhase {
    /// Done: no more work will happen to it.
    pub fn is_final(self) -> bool {
        matches!(self, BackupPhase::Completed | BackupPhase::PartiallyFailed | BackupPhase::Failed)
    }

    /// Holds a restorable snapshot.
    pub fn is_successful(self) -> bool {
        matches!(self, BackupPhase::Completed)
    }
}

impl fmt::Display for BackupPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupStatus {
    #[serde(default)]
    pub phase: BackupPhase,
    /// The repository snapshot (hex id) once written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<BackupProgress>,
    /// Bytes of pack files in the location's repository when the backup
    /// finished (its size over time; pruning shows as a drop). Absent on
    /// Backups from before it was recorded, from catalog sync, and when the
    /// repository could not be listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository_bytes: Option<u64>,
    /// Per volume: claim, method, phase, bytes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<VolumeProgress>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<Issue>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Issue>,
    /// All errors, also those beyond the kept list.
    #[serde(default)]
    pub error_count: u32,
    #[serde(default)]
    pub warning_count: u32,
    /// `Ready`, `LocationAvailable`, `SnapshotPresent`, `Deletable`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The server replica working on it (a new leader fails what the old left).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupProgress {
    /// Objects captured.
    #[serde(default)]
    pub objects: u64,
    /// Resource types listed.
    #[serde(default)]
    pub resource_types: u64,
    /// Bytes of volume and dump data read.
    #[serde(default)]
    pub bytes: u64,
    /// Bytes added to the repository (after dedup and compression).
    #[serde(default)]
    pub bytes_added: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VolumeProgress {
    /// `namespace/claim`.
    pub claim: String,
    /// `snapshot`, `move`, `fs`, `none`.
    #[serde(default)]
    pub method: String,
    /// The volume's own phase (`Completed`, `Failed`, …).
    #[serde(default)]
    pub phase: String,
    #[serde(default)]
    pub bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<f64>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}
