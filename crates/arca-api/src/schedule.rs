//! `Schedule`: backups on a cron schedule with GFS retention.

use chrono::{DateTime, Utc};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::backup::BackupSpec;
use crate::common::Condition;

#[derive(CustomResource, Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "arca.io",
    version = "v1alpha1",
    kind = "Schedule",
    namespaced,
    status = "ScheduleStatus",
    category = "arca",
    printcolumn = r#"{"name":"Schedule","type":"string","jsonPath":".spec.schedule"}"#,
    printcolumn = r#"{"name":"TimeZone","type":"string","jsonPath":".spec.timeZone"}"#,
    printcolumn = r#"{"name":"Paused","type":"boolean","jsonPath":".spec.paused"}"#,
    printcolumn = r#"{"name":"LastSuccess","type":"date","jsonPath":".status.lastSuccessTime"}"#,
    printcolumn = r#"{"name":"Next","type":"date","jsonPath":".status.nextRunTime"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleSpec {
    /// Cron expression, 5 fields (`0 2 * * *`) or a macro (`@daily`).
    pub schedule: String,
    /// IANA time zone the expression is read in (default `UTC`); the tz
    /// database is compiled into Arca.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// No runs while paused; unpausing never starts one by itself.
    #[serde(default)]
    pub paused: bool,
    /// The `Backup` each run creates (name: `<schedule>-<yyyymmddhhmmss>`).
    pub template: BackupSpec,
    #[serde(default, skip_serializing_if = "Retention::is_empty")]
    pub retention: Retention,
    /// `Skip` (default: a run due while the previous is going is skipped
    /// and reported) or `Allow`.
    #[serde(default)]
    pub overlap_policy: OverlapPolicy,
    /// After downtime: `RunOnce` (default: one run however many were
    /// missed) or `Skip` (wait for the next due time).
    #[serde(default)]
    pub missed_run_policy: MissedRunPolicy,
    /// Restore drills of this schedule's backups: a drill `Restore`
    /// (`<backup>-drill`) after every `every`-th Completed backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drill: Option<ScheduleDrill>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleDrill {
    /// Drill every N-th Completed backup (default 1: each one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<u32>,
    /// Scratch namespaces' prefix (default `drill-`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// How long the drill waits for restored workloads (default 5m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<String>,
}

/// GFS retention, applied after each run to the schedule's backups.
/// The newest successful backup is never deleted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Retention {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_last: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_hourly: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_daily: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_weekly: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_monthly: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_yearly: Option<u32>,
}

impl Retention {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum OverlapPolicy {
    #[default]
    Skip,
    Allow,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum MissedRunPolicy {
    #[default]
    RunOnce,
    Skip,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleStatus {
    /// The due time of the last run started (or skipped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_schedule_time: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_run_time: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_backup: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_backup: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success_time: Option<DateTime<Utc>>,
    /// Phase of the newest finished run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status: Option<String>,
    /// When the server saw the schedule paused (cleared when it resumes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_at: Option<DateTime<Utc>>,
    /// When the schedule was last unpaused: due times before it are never
    /// run, so unpausing starts nothing by itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumed_at: Option<DateTime<Utc>>,
    /// The newest backup a drill was started for (`spec.drill`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_drilled_backup: Option<String>,
    /// Runs skipped because the previous was still going (lifetime count).
    #[serde(default)]
    pub skipped_runs: u64,
    /// Conditions: `Ready`, `Overlap` (the last due run was skipped, why).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}
