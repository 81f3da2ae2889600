//! The Schedule controller: creates a `Backup` from the template when a run
//! is due, skips (and reports) runs that would overlap, applies retention
//! by deleting the Backup objects it drops, and keeps the status current.
//! It works through API objects only: the Backup controller does the work.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arca_api::common::{Condition, set_condition};
use arca_api::labels;
use arca_api::schedule::ScheduleStatus;
use arca_api::{Backup, BackupStatus, Schedule};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use kube::api::{DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};

use super::cron::CronSchedule;
use super::due::{self, Decision, SkipReason};
use crate::config::ServerConfig;
use crate::error::{Error, Result};
use crate::retention::{self, Candidate};

/// The longest a schedule waits before it looks at the clock again, so a
/// clock that jumps (a test clock, a corrected system clock) is noticed.
pub const POLL: Duration = Duration::from_secs(2);

struct Ctx {
    client: Client,
    config: ServerConfig,
    recorder: Recorder,
    /// This schedule's Backups, from a watch (no list per reconcile).
    backups: Store<Backup>,
    /// The last due time each schedule (by uid) handled here: the status
    /// this controller reads may lag its own last write.
    handled: Mutex<HashMap<String, DateTime<Utc>>>,
}

/// Run the Schedule controller until the stream of Schedules ends.
pub async fn run(client: Client, config: ServerConfig) -> Result<()> {
    let schedules: Api<Schedule> = Api::all(client.clone());
    let all_backups: Api<Backup> = Api::all(client.clone());
    let by_schedule = watcher::Config::default().labels(labels::SCHEDULE);
    let (reader, writer) = reflector::store();
    let reflect = reflector::reflector(writer, watcher(all_backups.clone(), by_schedule.clone()))
        .default_backoff()
        .applied_objects()
        .for_each(|_| futures::future::ready(()));
    let reporter = Reporter { controller: "arca-server".into(), instance: Some(config.identity.clone()) };
    let ctx = Arc::new(Ctx {
        recorder: Recorder::new(client.clone(), reporter),
        client,
        config,
        backups: reader,
        handled: Mutex::new(HashMap::new()),
    });
    let controller = Controller::new(schedules, watcher::Config::default())
        .watches(all_backups, by_schedule, |b: Backup| owner_of(&b))
        .run(reconcile, error_policy, ctx)
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!("schedule reconcile: {e}");
            }
        });
    tokio::select! {
        _ = reflect => Err(Error::Other("the watch of scheduled Backups ended".into())),
        _ = controller => Ok(()),
    }
}

fn owner_of(b: &Backup) -> Option<ObjectRef<Schedule>> {
    let name = b.labels().get(labels::SCHEDULE)?;
    Some(ObjectRef::new(name).within(&b.namespace()?))
}

fn error_policy(_s: Arc<Schedule>, err: &Error, _ctx: Arc<Ctx>) -> Action {
    tracing::warn!("schedule: {err}");
    Action::requeue(Duration::from_secs(5))
}

/// A Backup's name for a due time: the same for every replica and retry,
/// so a run is created at most once.
pub fn backup_name(schedule: &str, due: DateTime<Utc>) -> String {
    format!("{schedule}-{}", due.format("%Y%m%d%H%M%S"))
}

async fn reconcile(schedule: Arc<Schedule>, ctx: Arc<Ctx>) -> Result<Action> {
    let ns = schedule.namespace().unwrap_or_default();
    let name = schedule.name_any();
    let uid = schedule.uid().unwrap_or_default();
    if schedule.meta().deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let now = ctx.config.clock.now();
    let old = schedule.status.clone().unwrap_or_default();
    let mut status = old.clone();
    status.observed_generation = schedule.metadata.generation;
    let cron = match CronSchedule::parse(&schedule.spec.schedule, schedule.spec.time_zone.as_deref()) {
        Ok(c) => c,
        Err(reason) => {
            status.next_run_time = None;
            set_condition(&mut status.conditions, Condition::new("Ready", false, "InvalidSchedule", reason));
            write_status(&ctx, &schedule, &old, &status).await?;
            return Ok(Action::await_change());
        }
    };
    set_condition(&mut status.conditions, Condition::new("Ready", true, "Scheduled", ""));
    track_pause(&mut status, schedule.spec.paused, now);
    let backups = schedule_backups(&ctx.backups, &ns, &name);
    let running = backups.iter().find(|b| is_running(b)).map(|b| b.name_any());
    let remembered = ctx.handled.lock().ok().and_then(|m| m.get(&uid).copied());
    let last = [status.last_schedule_time, remembered].into_iter().flatten().max();
    let decision = due::decide(&due::Inputs {
        cron: &cron,
        paused: schedule.spec.paused,
        overlap: schedule.spec.overlap_policy,
        missed: schedule.spec.missed_run_policy,
        last_schedule_time: last,
        resumed_at: status.resumed_at,
        created: super::created(schedule.as_ref()).unwrap_or(now),
        now,
        running: running.as_deref(),
    });
    act(&ctx, &schedule, &decision, &mut status).await?;
    if let (Some(due), Ok(mut m)) = (decision.handled(), ctx.handled.lock()) {
        m.insert(uid, due);
    }
    status.next_run_time = decision.next;
    summarise(&backups, &mut status);
    match super::drill::ensure(&ctx.client, &schedule, &backups, &mut status).await {
        Ok(Some(drill)) => {
            publish(&ctx, &schedule, EventType::Normal, "DrillCreated", format!("restore drill {drill} created")).await
        }
        Ok(None) => {}
        Err(e) => tracing::warn!("schedule {ns}/{name}: creating a drill: {e}"),
    }
    apply_retention(&ctx, &schedule, &cron, &backups).await;
    write_status(&ctx, &schedule, &old, &status).await?;
    let wait = decision.next.and_then(|n| (n - now).to_std().ok()).unwrap_or(POLL);
    Ok(Action::requeue(wait.min(POLL)))
}

/// Record when the schedule was paused and when it resumed (the new
/// baseline: nothing missed while paused runs).
fn track_pause(status: &mut ScheduleStatus, paused: bool, now: DateTime<Utc>) {
    match (paused, status.paused_at) {
        (true, None) => status.paused_at = Some(now),
        (false, Some(_)) => {
            status.paused_at = None;
            status.resumed_at = Some(now);
        }
        _ => {}
    }
}

fn schedule_backups(store: &Store<Backup>, ns: &str, name: &str) -> Vec<Arc<Backup>> {
    store
        .state()
        .into_iter()
        .filter(|b| {
            b.namespace().as_deref() == Some(ns) && b.labels().get(labels::SCHEDULE).map(String::as_str) == Some(name)
        })
        .collect()
}

fn phase(b: &Backup) -> arca_api::BackupPhase {
    b.status.as_ref().map(|s| s.phase).unwrap_or_default()
}

/// Not final and not on its way out.
fn is_running(b: &Backup) -> bool {
    b.meta().deletion_timestamp.is_none() && !phase(b).is_final() && phase(b) != arca_api::BackupPhase::Deleting
}

fn started(b: &Backup) -> DateTime<Utc> {
    let status: Option<&BackupStatus> = b.status.as_ref();
    status.and_then(|s| s.start_time).or(super::created(b)).unwrap_or_default()
}

async fn act(ctx: &Ctx, schedule: &Schedule, decision: &Decision, status: &mut ScheduleStatus) -> Result<()> {
    if let Some(due) = decision.run_at {
        let backup = create_backup(ctx, schedule, due).await?;
        status.last_schedule_time = Some(due);
        status.last_backup = Some(backup.clone());
        set_condition(&mut status.conditions, Condition::new("Overlap", false, "NoOverlap", ""));
        let note = format!("created Backup {backup} for the run due {}", due.to_rfc3339());
        let related = backup_ref(schedule, &backup);
        publish_related(ctx, schedule, EventType::Normal, "BackupCreated", note, Some(related)).await;
    }
    if let Some((due, reason)) = &decision.skip {
        status.last_schedule_time = Some(*due);
        let note = match reason {
            SkipReason::Overlap(running) => {
                status.skipped_runs += 1;
                let msg = format!(
                    "the run due {} was skipped: Backup {running} of the previous run is still going \
                     (overlapPolicy Skip)",
                    due.to_rfc3339()
                );
                set_condition(&mut status.conditions, Condition::new("Overlap", true, "RunSkipped", msg.clone()));
                msg
            }
            SkipReason::Missed { missed } => format!(
                "{missed} run(s) missed while the server was away, the latest due {}; not run (missedRunPolicy Skip)",
                due.to_rfc3339()
            ),
        };
        publish(ctx, schedule, EventType::Warning, "RunSkipped", note).await;
    }
    Ok(())
}

/// Create the run's Backup; one that exists already (another replica, a
/// retry) is that run.
async fn create_backup(ctx: &Ctx, schedule: &Schedule, due: DateTime<Utc>) -> Result<String> {
    let ns = schedule.namespace().unwrap_or_default();
    let name = backup_name(&schedule.name_any(), due);
    let mut spec = schedule.spec.template.clone();
    let tag = format!("schedule={}", schedule.name_any());
    if !spec.tags.contains(&tag) {
        spec.tags.push(tag);
    }
    let mut labels = std::collections::BTreeMap::from([(labels::SCHEDULE.to_string(), schedule.name_any())]);
    if let Some(loc) = &spec.location {
        labels.insert(arca_api::labels::LOCATION.to_string(), loc.clone());
    }
    let backup = Backup {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(ns.clone()),
            labels: Some(labels),
            ..Default::default()
        },
        spec,
        status: None,
    };
    let api: Api<Backup> = Api::namespaced(ctx.client.clone(), &ns);
    match api.create(&PostParams::default(), &backup).await {
        Ok(_) => Ok(name),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(name),
        Err(e) => Err(e.into()),
    }
}

fn backup_ref(schedule: &Schedule, name: &str) -> k8s_openapi::api::core::v1::ObjectReference {
    k8s_openapi::api::core::v1::ObjectReference {
        api_version: Some(arca_api::API_VERSION.into()),
        kind: Some("Backup".into()),
        name: Some(name.into()),
        namespace: schedule.namespace(),
        ..Default::default()
    }
}

/// lastStatus, lastSuccessfulBackup and lastSuccessTime from the Backups.
fn summarise(backups: &[Arc<Backup>], status: &mut ScheduleStatus) {
    let mut finished: Vec<&Arc<Backup>> = backups.iter().filter(|b| phase(b).is_final()).collect();
    finished.sort_by_key(|b| std::cmp::Reverse(started(b)));
    if let Some(newest) = finished.first() {
        status.last_status = Some(phase(newest).to_string());
    }
    if let Some(good) = finished.iter().find(|b| phase(b).is_successful()) {
        let done = good.status.as_ref().and_then(|s| s.completion_time).unwrap_or_else(|| started(good));
        if status.last_success_time.is_none_or(|t| t <= done) {
            status.last_successful_backup = Some(good.name_any());
            status.last_success_time = Some(done);
        }
    }
}

/// Delete the Backups retention drops (their finalizer forgets the
/// snapshots) and say which and why in an Event.
async fn apply_retention(ctx: &Ctx, schedule: &Schedule, cron: &CronSchedule, backups: &[Arc<Backup>]) {
    if schedule.spec.retention.is_empty() {
        return;
    }
    let candidates: Vec<Candidate> = backups
        .iter()
        .filter(|b| b.meta().deletion_timestamp.is_none())
        .map(|b| Candidate { name: b.name_any(), phase: phase(b), time: started(b) })
        .collect();
    let dropped: Vec<_> =
        retention::apply(&candidates, &schedule.spec.retention, cron.zone()).into_iter().filter(|v| !v.keep).collect();
    if dropped.is_empty() {
        return;
    }
    let api: Api<Backup> = Api::namespaced(ctx.client.clone(), &schedule.namespace().unwrap_or_default());
    for v in &dropped {
        match api.delete(&v.name, &DeleteParams::default()).await {
            Ok(_) => {
                // One Event per Backup (related to it), so each keeps its own note.
                let related = backups.iter().find(|b| b.name_any() == v.name).map(|b| b.object_ref(&()));
                let note = format!("retention deleted Backup {}: {}", v.name, v.reason);
                publish_related(ctx, schedule, EventType::Normal, "RetentionApplied", note, related).await;
            }
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => tracing::warn!("retention: deleting Backup {}: {e}", v.name),
        }
    }
}

async fn publish(ctx: &Ctx, schedule: &Schedule, type_: EventType, reason: &str, note: String) {
    publish_related(ctx, schedule, type_, reason, note, None).await;
}

async fn publish_related(
    ctx: &Ctx,
    schedule: &Schedule,
    type_: EventType,
    reason: &str,
    note: String,
    related: Option<k8s_openapi::api::core::v1::ObjectReference>,
) {
    // Event notes are bounded (1 kB on the API server).
    let note: String = note.chars().take(1000).collect();
    let event = Event { type_, reason: reason.into(), note: Some(note), action: reason.into(), secondary: related };
    if let Err(e) = ctx.recorder.publish(&event, &schedule.object_ref(&())).await {
        tracing::warn!("schedule {}: event {reason}: {e}", schedule.name_any());
    }
}

/// Status keys a merge patch must clear explicitly when they became empty.
const CLEARABLE: [&str; 4] = ["nextRunTime", "pausedAt", "lastStatus", "lastBackup"];

async fn write_status(ctx: &Ctx, schedule: &Schedule, old: &ScheduleStatus, new: &ScheduleStatus) -> Result<()> {
    if old == new {
        return Ok(());
    }
    let mut value = serde_json::to_value(new).map_err(|e| Error::Other(format!("schedule status: {e}")))?;
    if let Some(map) = value.as_object_mut() {
        for key in CLEARABLE {
            map.entry(key).or_insert(serde_json::Value::Null);
        }
    }
    let api: Api<Schedule> = Api::namespaced(ctx.client.clone(), &schedule.namespace().unwrap_or_default());
    let patch = serde_json::json!({ "status": value });
    api.patch_status(&schedule.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
    Ok(())
}
