//! A schedule's restore drills (`spec.drill`): after every `every`-th
//! Completed backup, a drill `Restore` named `<backup>-drill`; the Restore
//! controller runs it, and its result lands in that Restore's status, the
//! repository and the `arca_drill_last_passed` metric.

use std::sync::Arc;

use arca_api::restore::RestoreSpec;
use arca_api::schedule::{ScheduleDrill, ScheduleStatus};
use arca_api::{Backup, BackupPhase, Restore, Schedule, labels};
use chrono::{DateTime, Utc};
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client, ResourceExt};

use crate::error::Result;

/// The backup to drill now, if any: the newest Completed one, once `every`
/// Completed backups came after the last one drilled (or none was).
pub fn due<'a>(
    policy: &ScheduleDrill,
    completed_oldest_first: &[(&'a str, DateTime<Utc>)],
    last_drilled: Option<&str>,
) -> Option<&'a str> {
    let (newest, _) = completed_oldest_first.last()?;
    if last_drilled == Some(*newest) {
        return None;
    }
    let every = policy.every.unwrap_or(1).max(1) as usize;
    let since = match last_drilled.and_then(|l| completed_oldest_first.iter().position(|(n, _)| *n == l)) {
        Some(i) => completed_oldest_first.len() - 1 - i,
        // Never drilled, or that backup is gone: drill the newest now.
        None => every,
    };
    (since >= every).then_some(*newest)
}

/// Starts the drill due for `schedule`, if one is; records it in `status`.
pub async fn ensure(
    client: &Client,
    schedule: &Schedule,
    backups: &[Arc<Backup>],
    status: &mut ScheduleStatus,
) -> Result<Option<String>> {
    let Some(policy) = &schedule.spec.drill else { return Ok(None) };
    let mut completed: Vec<(&str, DateTime<Utc>)> = backups
        .iter()
        .filter(|b| b.status.as_ref().is_some_and(|s| s.phase == BackupPhase::Completed))
        .filter_map(|b| Some((b.metadata.name.as_deref()?, b.status.as_ref()?.completion_time?)))
        .collect();
    completed.sort_by_key(|(_, t)| *t);
    let Some(backup) = due(policy, &completed, status.last_drilled_backup.as_deref()) else { return Ok(None) };
    let ns = schedule.namespace().unwrap_or_default();
    let name = format!("{backup}-drill");
    let restore = Restore {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(ns.clone()),
            labels: Some([(labels::SCHEDULE.to_string(), schedule.name_any())].into()),
            ..Default::default()
        },
        spec: RestoreSpec {
            backup: backup.to_string(),
            drill: true,
            drill_prefix: policy.prefix.clone(),
            wait: policy.wait.clone(),
            ..Default::default()
        },
        status: None,
    };
    let api: Api<Restore> = Api::namespaced(client.clone(), &ns);
    match api.create(&PostParams::default(), &restore).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => return Err(e.into()),
    }
    status.last_drilled_backup = Some(backup.to_string());
    Ok(Some(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(h: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_800_000_000 + h * 3600, 0).unwrap_or_default()
    }

    #[test]
    fn every_nth_completed_backup_is_drilled() {
        let every2 = ScheduleDrill { every: Some(2), ..Default::default() };
        let all = [("b1", t(1)), ("b2", t(2)), ("b3", t(3))];
        assert_eq!(due(&every2, &all[..1], None), Some("b1"), "the first one when none was drilled");
        assert_eq!(due(&every2, &all[..1], Some("b1")), None);
        assert_eq!(due(&every2, &all[..2], Some("b1")), None, "one since: not yet");
        assert_eq!(due(&every2, &all, Some("b1")), Some("b3"), "two since");
        assert_eq!(due(&every2, &all, Some("gone")), Some("b3"), "the last drilled one was deleted");
        let each = ScheduleDrill::default();
        assert_eq!(due(&each, &all[..2], Some("b1")), Some("b2"));
        assert_eq!(due(&each, &[], None), None);
    }
}
