//! View models of `arca-ui` from Arca's custom resources.

use arca_api::{Backup, BackupLocation, Issue, Restore, Schedule, labels};
use arca_ui::model::{BackupRow, IssueRow, LocationRow, RestoreRow, ScheduleRow, Severity, VolumeRow};
use chrono::{DateTime, Utc};
use kube::ResourceExt;

use crate::schedule::cron::CronSchedule;

fn issues(errors: &[Issue], warnings: &[Issue]) -> Vec<IssueRow> {
    let row = |severity, i: &Issue| IssueRow {
        severity,
        reason: i.reason.clone(),
        message: i.message.clone(),
        object: i.object.clone(),
    };
    errors.iter().map(|i| row(Severity::Error, i)).chain(warnings.iter().map(|i| row(Severity::Warning, i))).collect()
}

pub fn backup_row(b: &Backup) -> BackupRow {
    let status = b.status.clone().unwrap_or_default();
    let progress = status.progress.clone().unwrap_or_default();
    BackupRow {
        namespace: b.namespace().unwrap_or_default(),
        name: b.name_any(),
        location: b
            .labels()
            .get(labels::LOCATION)
            .cloned()
            .or_else(|| b.spec.location.clone())
            .unwrap_or_else(|| "(default)".into()),
        schedule: b.labels().get(labels::SCHEDULE).cloned(),
        phase: status.phase.to_string(),
        created: crate::schedule::created(b),
        started: status.start_time,
        finished: status.completion_time,
        include_namespaces: b.spec.include_namespaces.clone(),
        exclude_namespaces: b.spec.exclude_namespaces.clone(),
        objects: progress.objects,
        bytes: progress.bytes,
        bytes_added: progress.bytes_added,
        repository_bytes: status.repository_bytes,
        error_count: status.error_count.max(status.errors.len() as u32),
        warning_count: status.warning_count.max(status.warnings.len() as u32),
        snapshot: status.snapshot.clone(),
        volumes: status
            .volumes
            .iter()
            .map(|v| VolumeRow {
                claim: v.claim.clone(),
                method: v.method.clone(),
                phase: v.phase.clone(),
                bytes: v.bytes,
                duration_seconds: v.duration_seconds,
                message: v.message.clone(),
            })
            .collect(),
        steps: Vec::new(),
        issues: issues(&status.errors, &status.warnings),
        message: status.message.clone(),
    }
}

pub fn restore_row(r: &Restore) -> RestoreRow {
    let status = r.status.clone().unwrap_or_default();
    let progress = status.progress.clone().unwrap_or_default();
    RestoreRow {
        namespace: r.namespace().unwrap_or_default(),
        name: r.name_any(),
        backup: r.spec.backup.clone(),
        phase: status.phase.to_string(),
        started: status.start_time,
        finished: status.completion_time,
        total: progress.total,
        restored: progress.restored,
        skipped: progress.skipped,
        failed: progress.failed,
        volumes: progress.volumes,
        issues: issues(&status.errors, &status.warnings),
        message: status.message.clone(),
    }
}

/// The time between two runs: the gap between the next two fire times
/// after `now` (a cron with uneven gaps shows its next one).
fn interval_of(s: &Schedule, now: DateTime<Utc>) -> Option<i64> {
    let cron = CronSchedule::parse(&s.spec.schedule, s.spec.time_zone.as_deref()).ok()?;
    let first = cron.next_after(now)?;
    let second = cron.next_after(first)?;
    Some((second - first).num_seconds())
}

pub fn schedule_row(s: &Schedule, now: DateTime<Utc>) -> ScheduleRow {
    ScheduleRow {
        namespace: s.namespace().unwrap_or_default(),
        name: s.name_any(),
        cron: s.spec.schedule.clone(),
        time_zone: s.spec.time_zone.clone(),
        paused: s.spec.paused,
        interval_seconds: interval_of(s, now),
        include_namespaces: s.spec.template.include_namespaces.clone(),
        exclude_namespaces: s.spec.template.exclude_namespaces.clone(),
        last_run: s.status.as_ref().and_then(|st| st.last_schedule_time),
    }
}

/// A repository URL without its query: options there may carry
/// credentials (`?secret_access_key=`), which pages never show.
pub fn shown_url(url: &str) -> String {
    match url.split_once('?') {
        Some((base, _)) => format!("{base}?…"),
        None => url.to_string(),
    }
}

pub fn location_row(l: &BackupLocation) -> LocationRow {
    let status = l.status.clone().unwrap_or_default();
    LocationRow {
        namespace: l.namespace().unwrap_or_default(),
        name: l.name_any(),
        url: shown_url(&l.spec.repository),
        phase: status.phase.unwrap_or_else(|| "Unknown".into()),
        backups: status.backups,
        repository_bytes: status.repository_bytes,
        last_sync: status.last_sync_time,
        message: status.message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_query() {
        assert_eq!(shown_url("s3://b/p?secret_access_key=abc"), "s3://b/p?…");
        assert_eq!(shown_url("/srv/repo"), "/srv/repo");
    }

    #[test]
    fn a_daily_schedule_has_a_day_between_runs() {
        let s: Schedule = serde_json::from_value(serde_json::json!({
            "apiVersion": "arca.io/v1alpha1", "kind": "Schedule",
            "metadata": {"name": "nightly", "namespace": "arca-system"},
            "spec": {"schedule": "0 2 * * *", "timeZone": "Europe/Berlin", "template": {"includeNamespaces": ["shop"]}}
        }))
        .unwrap();
        let now = DateTime::parse_from_rfc3339("2026-06-01T00:00:00Z").unwrap().with_timezone(&Utc);
        let row = schedule_row(&s, now);
        assert_eq!(row.interval_seconds, Some(86_400));
        assert!(row.covers("shop"));
        assert!(!row.covers("blog"));
    }
}
