//! `Restore`: objects and data of a `Backup` brought back.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{Condition, Issue};

/// The same choices as `arca restore create`.
#[derive(CustomResource, Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "arca.io",
    version = "v1alpha1",
    kind = "Restore",
    namespaced,
    status = "RestoreStatus",
    category = "arca",
    printcolumn = r#"{"name":"Backup","type":"string","jsonPath":".spec.backup"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Restored","type":"integer","jsonPath":".status.progress.restored"}"#,
    printcolumn = r#"{"name":"Failed","type":"integer","jsonPath":".status.progress.failed"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct RestoreSpec {
    /// The `Backup` object (same namespace) to restore.
    pub backup: String,
    /// Namespace globs of the backup to restore (all when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include_namespaces: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_namespaces: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include_resources: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_resources: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// `old: new` namespace renames.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub namespace_mapping: BTreeMap<String, String>,
    /// Cluster-scoped objects: `auto`, `true`, `false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_cluster_resources: Option<String>,
    /// `none` (default: existing objects are left and reported) or `update`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub existing_resource_policy: Option<String>,
    /// Fill live claims only; no object created or changed.
    #[serde(default)]
    pub data_only: bool,
    /// `false` restores no volume data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_volumes: Option<bool>,
    /// Wait for restored workloads to be ready (a duration), else don't.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<String>,
    /// A restore drill: restore into scratch namespaces (`drillPrefix` +
    /// each namespace), compare objects and volumes with the backup, delete
    /// the scratch namespaces, store the result (`status.drill`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub drill: bool,
    /// Scratch namespaces' prefix (default `drill-`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drill_prefix: Option<String>,
}

/// What a drill found (`arca drills` shows the stored report).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DrillStatus {
    /// `Passed` or `Failed`.
    pub result: String,
    /// Backup namespace → scratch namespace.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub namespaces: BTreeMap<String, String>,
    #[serde(default)]
    pub objects_compared: u64,
    #[serde(default)]
    pub objects_equal: u64,
    #[serde(default)]
    pub volumes_checked: u64,
    #[serde(default)]
    pub volumes_passed: u64,
    /// Why it failed (the first few).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cleanup: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum RestorePhase {
    #[default]
    New,
    Queued,
    InProgress,
    Completed,
    PartiallyFailed,
    Failed,
}

impl RestorePhase {
    pub fn is_final(self) -> bool {
        matches!(self, RestorePhase::Completed | RestorePhase::PartiallyFailed | RestorePhase::Failed)
    }
}

impl fmt::Display for RestorePhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestoreStatus {
    #[serde(default)]
    pub phase: RestorePhase,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<RestoreProgress>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<Issue>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Issue>,
    #[serde(default)]
    pub error_count: u32,
    #[serde(default)]
    pub warning_count: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The stored restore report's id in the repository (`arca restore describe`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
    /// A drill's result (`spec.drill`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drill: Option<DrillStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestoreProgress {
    #[serde(default)]
    pub total: u64,
    #[serde(default)]
    pub restored: u64,
    #[serde(default)]
    pub skipped: u64,
    #[serde(default)]
    pub failed: u64,
    /// Volumes filled.
    #[serde(default)]
    pub volumes: u64,
}
