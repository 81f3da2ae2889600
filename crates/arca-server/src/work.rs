//! What the Backup and Restore controllers do alike to their objects:
//! fail one with a reason, queue one whose location cannot be used, and
//! fail one another replica left `InProgress`.

use std::fmt::Debug;

use arca_api::common::{Condition, Issue, MAX_ISSUES, set_condition};
use arca_api::{Backup, BackupPhase, BackupStatus, Restore, RestorePhase, RestoreStatus};
use chrono::{DateTime, Utc};
use kube::runtime::controller::Action;
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::context::{Context, key, patch_status};
use crate::error::Result;
use crate::executor::{self, REASON_SERVER_STOPPED};

/// The parts of a status that failing and queueing write.
pub struct Parts<'a> {
    pub message: &'a mut String,
    pub errors: &'a mut Vec<Issue>,
    pub error_count: &'a mut u32,
    pub conditions: &'a mut Vec<Condition>,
    pub completion_time: &'a mut Option<DateTime<Utc>>,
}

/// A Backup's or Restore's status.
pub trait WorkStatus: Clone + Default + Serialize + Send + Sync {
    fn parts(&mut self) -> Parts<'_>;
    fn set_failed(&mut self);
    fn set_queued(&mut self);
    fn is_queued(&self) -> bool;
    fn is_in_progress(&self) -> bool;
    fn worker(&self) -> Option<&str>;
}

/// A Backup or a Restore.
pub trait Work: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static {
    type Status: WorkStatus;
    const KIND: &'static str;
    fn work_status(&self) -> Option<&Self::Status>;
}

macro_rules! work {
    ($object:ty, $status:ty, $phase:ident, $kind:literal) => {
        impl WorkStatus for $status {
            fn parts(&mut self) -> Parts<'_> {
                Parts {
                    message: &mut self.message,
                    errors: &mut self.errors,
                    error_count: &mut self.error_count,
                    conditions: &mut self.conditions,
                    completion_time: &mut self.completion_time,
                }
            }
            fn set_failed(&mut self) {
                self.phase = $phase::Failed;
            }
            fn set_queued(&mut self) {
                self.phase = $phase::Queued;
            }
            fn is_queued(&self) -> bool {
                self.phase == $phase::Queued
            }
            fn is_in_progress(&self) -> bool {
                self.phase == $phase::InProgress
            }
            fn worker(&self) -> Option<&str> {
                self.worker.as_deref()
            }
        }

        impl Work for $object {
            type Status = $status;
            const KIND: &'static str = $kind;
            fn work_status(&self) -> Option<&$status> {
                self.status.as_ref()
            }
        }
    };
}

work!(Backup, BackupStatus, BackupPhase, "Backup");
work!(Restore, RestoreStatus, RestorePhase, "Restore");

/// Marks a status `Failed` (final) with `reason`, kept among its errors.
pub fn mark_failed<S: WorkStatus>(s: &mut S, reason: &str, message: &str) {
    s.set_failed();
    let p = s.parts();
    *p.completion_time = Some(Utc::now());
    *p.message = message.to_string();
    p.errors.push(executor::issue(reason, message, None));
    p.errors.truncate(MAX_ISSUES);
    *p.error_count = p.error_count.saturating_add(1);
    set_condition(p.conditions, Condition::new("Ready", false, reason, message));
}

/// Marks the object `Failed` with `reason`, and says so in an Event.
pub async fn fail<K: Work>(api: &Api<K>, obj: &K, ctx: &Context, reason: &str, message: String) -> Result<Action> {
    let mut s = obj.work_status().cloned().unwrap_or_default();
    mark_failed(&mut s, reason, &message);
    patch_status(api, &obj.name_any(), &s).await?;
    ctx.events.warning(obj, reason, message).await;
    Ok(Action::await_change())
}

/// The location cannot be used now: the work waits (`Queued`,
/// `LocationAvailable=False`) and is retried with backoff.
pub async fn queue_unavailable<K: Work>(
    api: &Api<K>,
    obj: &K,
    ctx: &Context,
    reason: &str,
    message: String,
) -> Result<Action> {
    let k = key(K::KIND, &obj.namespace().unwrap_or_default(), &obj.name_any());
    let mut s = obj.work_status().cloned().unwrap_or_default();
    let changed = !s.is_queued() || *s.parts().message != message;
    s.set_queued();
    let p = s.parts();
    *p.message = message.clone();
    set_condition(p.conditions, Condition::new("LocationAvailable", false, reason, message.clone()));
    let delay = ctx.back_off(&k);
    if changed {
        patch_status(api, &obj.name_any(), &s).await?;
        ctx.events.warning(obj, reason, message).await;
    }
    Ok(Action::requeue(delay))
}

/// An `InProgress` object no job of this process runs: the replica working
/// on it stopped. Its partial data never became a snapshot or a report.
pub async fn stale_in_progress<K: Work>(api: &Api<K>, obj: &K, ctx: &Context, k: &str) -> Result<Action> {
    if ctx.is_running(k) {
        return Ok(Action::await_change());
    }
    // The cache may lag behind a job that just finished: read it fresh.
    let Some(fresh) = api.get_opt(&obj.name_any()).await? else { return Ok(Action::await_change()) };
    let in_progress = fresh.work_status().is_some_and(WorkStatus::is_in_progress);
    if !in_progress || ctx.is_running(k) {
        return Ok(Action::await_change());
    }
    let worker = fresh.work_status().and_then(WorkStatus::worker).unwrap_or("unknown").to_string();
    let why = format!("the server replica {worker} working on it stopped; run it again");
    fail(api, &fresh, ctx, REASON_SERVER_STOPPED, why).await
}
