//! Repository maintenance: a `BackupLocation` with `spec.maintenance` is
//! pruned on that schedule (never a `ReadOnly` one). Prune holds the
//! repository's exclusive lock; while a backup holds a lock, maintenance
//! waits (bounded) and tries again. Memory stays bounded by `arca_repo`.

use std::time::Duration;

use arca_api::common::{Condition, set_condition};
use arca_api::{AccessMode, BackupLocation};
use chrono::{DateTime, Utc};
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, Client, ResourceExt};

use crate::config::ServerConfig;
use crate::error::{Error, Result};
use crate::schedule::cron::CronSchedule;

/// How often locations are looked at.
const POLL: Duration = Duration::from_secs(2);
/// How long prune waits for other holders of the repository's lock.
const LOCK_WAIT: Duration = Duration::from_secs(600);
const LOCK_RETRY: Duration = Duration::from_secs(5);

/// Prune each location when its maintenance is due, one at a time.
pub async fn run(client: Client, config: ServerConfig) -> Result<()> {
    let api: Api<BackupLocation> = Api::all(client.clone());
    loop {
        match api.list(&ListParams::default()).await {
            Ok(list) => {
                for loc in list.items {
                    let now = config.clock.now();
                    if is_due(&loc, now) {
                        maintain(&client, &loc, now).await;
                    }
                }
            }
            Err(e) => tracing::warn!("maintenance: listing backup locations: {e}"),
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Due when the first maintenance time after the last one (or after the
/// location's creation) has passed. Never for a ReadOnly location.
pub fn is_due(loc: &BackupLocation, now: DateTime<Utc>) -> bool {
    let Some(m) = &loc.spec.maintenance else { return false };
    if loc.spec.access_mode == AccessMode::ReadOnly {
        return false;
    }
    let Ok(cron) = CronSchedule::parse(&m.schedule, m.time_zone.as_deref()) else { return false };
    let last = loc.status.as_ref().and_then(|s| s.last_maintenance_time);
    let baseline = last.or(crate::schedule::created(loc)).unwrap_or(now);
    cron.next_after(baseline).is_some_and(|due| due <= now)
}

async fn maintain(client: &Client, loc: &BackupLocation, now: DateTime<Utc>) {
    let what = format!("backup location {}/{}", loc.namespace().unwrap_or_default(), loc.name_any());
    let outcome = match crate::location::open(client, loc).await {
        Ok(opened) => prune_waiting(opened.repo).await,
        Err(e) => Err(e),
    };
    let condition = match &outcome {
        Ok(report) => Condition::new("Maintained", true, "Pruned", report.clone()),
        Err(e) => Condition::new("Maintained", false, "PruneFailed", e.to_string()),
    };
    match &outcome {
        Ok(r) => tracing::info!("maintenance of {what}: {r}"),
        Err(e) => tracing::warn!("maintenance of {what}: {e}"),
    }
    let mut conditions = loc.status.as_ref().map(|s| s.conditions.clone()).unwrap_or_default();
    set_condition(&mut conditions, condition);
    // The time is recorded also on failure, so a broken repository is tried
    // at its next due time, not in a loop.
    let patch = serde_json::json!({"status": {"lastMaintenanceTime": now, "conditions": conditions}});
    let api: Api<BackupLocation> = Api::namespaced(client.clone(), &loc.namespace().unwrap_or_default());
    if let Err(e) = api.patch_status(&loc.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await {
        tracing::warn!("maintenance of {what}: recording it: {e}");
    }
}

/// Prune (under Object Lock: retention extended instead), retrying while
/// another process holds the repository's lock.
async fn prune_waiting(repo: arca_repo::Repository) -> Result<String> {
    let deadline = tokio::time::Instant::now() + LOCK_WAIT;
    let locked = repo.config().object_lock.is_some();
    loop {
        let r = repo.clone();
        let result = tokio::task::spawn_blocking(move || {
            if locked {
                arca_repo::extend_retention(&r, false)
                    .map(|e| format!("retention of {} object(s) extended to {}", e.objects, e.until.to_rfc3339()))
            } else {
                arca_repo::prune(&r, &arca_repo::PruneOptions::default()).map(|p| summary(&p))
            }
        })
        .await
        .map_err(|e| Error::Other(format!("maintenance: {e}")))?;
        match result {
            Ok(report) => return Ok(report),
            Err(arca_repo::Error::Locked { .. }) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(LOCK_RETRY).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn summary(r: &arca_repo::PruneReport) -> String {
    format!(
        "pruned: {} pack(s) deleted, {} repacked, {} bytes freed ({} → {} bytes)",
        r.deleted.packs, r.repacked.packs, r.bytes_freed, r.bytes_before, r.bytes_after
    )
}
