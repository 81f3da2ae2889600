//! `BackupLocation`: a repository Arca backs up into and restores from.

use chrono::{DateTime, Utc};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{Condition, SecretKeyRef};

/// A repository (URL, password, object-store credentials) in the
/// namespace of the `Backup`s and `Restore`s that use it. In tenant mode a
/// tenant's locations live in its own namespace: one tenant cannot name
/// another's.
#[derive(CustomResource, Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "arca.io",
    version = "v1alpha1",
    kind = "BackupLocation",
    namespaced,
    status = "BackupLocationStatus",
    shortname = "bl",
    category = "arca",
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Access","type":"string","jsonPath":".spec.accessMode"}"#,
    printcolumn = r#"{"name":"Default","type":"boolean","jsonPath":".spec.default"}"#,
    printcolumn = r#"{"name":"Backups","type":"integer","jsonPath":".status.backups"}"#,
    printcolumn = r#"{"name":"Repository","type":"string","jsonPath":".spec.repository","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct BackupLocationSpec {
    /// Repository URL: `s3://bucket/prefix`, `gs://…`, `az://…`, `file:///path`.
    pub repository: String,
    /// The repository password (the key that opens its master key).
    pub password_secret: SecretKeyRef,
    /// A Secret whose keys are object-store settings passed to the backend
    /// and to mover pods as environment (`AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_ENDPOINT_URL`, `AWS_REGION`,
    /// `GOOGLE_SERVICE_ACCOUNT_KEY`, `AZURE_STORAGE_ACCOUNT_KEY`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret: Option<String>,
    /// The location `Backup`s of this namespace use when they name none.
    #[serde(default)]
    pub default: bool,
    /// `ReadOnly` for disaster recovery: backups are listed and restored,
    /// never written or deleted.
    #[serde(default)]
    pub access_mode: AccessMode,
    /// How often the repository's catalog is read into `Backup` objects
    /// (a duration: `30s`, `5m`; default `5m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_period: Option<String>,
    /// Backups and restores run at once against this location (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent: Option<u32>,
    /// Repository maintenance (prune) on its own schedule; none when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance: Option<Maintenance>,
}

/// Whether Arca may write to a location.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum AccessMode {
    #[default]
    ReadWrite,
    ReadOnly,
}

/// When to prune the repository.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Maintenance {
    /// Cron expression (5 fields), e.g. `0 3 * * 0`.
    pub schedule: String,
    /// IANA time zone of `schedule` (default `UTC`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupLocationStatus {
    /// `Available` or `Unavailable`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Conditions: `Available` (the repository opens), `Synced`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Backups in the repository at the last sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backups: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_maintenance_time: Option<DateTime<Utc>>,
    /// Bytes of pack files in the repository at the last sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}
