//! One backup running in this process: status `InProgress` with this
//! replica as worker, progress written every few seconds, the result into
//! status and an Event. Stopped on request (deletion, shutdown): the work
//! is dropped before its snapshot is written and frozen pods are thawed.

use std::sync::Arc;
use std::time::Duration;

use arca_api::common::{Condition, set_condition};
use arca_api::{Backup, BackupPhase, BackupStatus};
use arca_apps::hooks::backup::{BackupHooks, ThawBy};
use arca_kube::backup::BackupOptions;
use kube::{Api, Client, ResourceExt};
use tokio::sync::watch;

use super::{KIND, ReconcileError};
use crate::context::{Context, Running, key, patch_status};
use crate::executor::progress::{Counter, Counting};
use crate::executor::{self, REASON_FAILED, REASON_SERVER_STOPPED};
use crate::location::OpenedLocation;
use crate::slots::Slot;
use crate::work::mark_failed;

/// How often `status.progress` is written while a backup runs.
const PROGRESS_EVERY: Duration = Duration::from_secs(3);

#[allow(clippy::too_many_arguments)]
pub(super) async fn start(
    ctx: Arc<Context>,
    obj: Arc<Backup>,
    client: Client,
    location: OpenedLocation,
    opts: BackupOptions,
    hooks: Option<BackupHooks>,
    slot: Slot,
    location_name: String,
) -> Result<(), ReconcileError> {
    let (ns, name) = (obj.namespace().unwrap_or_default(), obj.name_any());
    let k = key(KIND, &ns, &name);
    let api: Api<Backup> = Api::namespaced(ctx.client.clone(), &ns);
    let (cancel, cancelled) = watch::channel(false);
    // Registered before the status says InProgress: a reconcile seeing
    // InProgress without a job here takes it for a stopped replica's.
    ctx.register(k.clone(), Running { kind: KIND, namespace: ns.clone(), name: name.clone(), cancel });
    let mut status = obj.status.clone().unwrap_or_default();
    status.phase = BackupPhase::InProgress;
    status.worker = Some(ctx.config.identity.clone());
    status.start_time = Some(chrono::Utc::now());
    status.message = format!("backing up into location {location_name}");
    status.observed_generation = obj.metadata.generation;
    set_condition(&mut status.conditions, Condition::new("LocationAvailable", true, "Available", ""));
    if let Err(e) = patch_status(&api, &name, &status).await {
        ctx.finished(&k);
        return Err(e.into());
    }
    // Restores find the location through this label even if the default changes later.
    let labels = serde_json::json!({ "metadata": { "labels": { arca_api::labels::LOCATION: location_name } } });
    if let Err(e) = api.patch(&name, &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&labels)).await {
        tracing::warn!("labelling backup {ns}/{name}: {e}");
    }
    ctx.events
        .normal(&*obj, "Started", format!("backup started by {} into location {location_name}", ctx.config.identity))
        .await;
    let job = Job { ctx: ctx.clone(), api, obj, status, key: k };
    crate::context::spawn_job(format!("backup {ns}/{name}"), move || async move {
        let _slot = slot;
        job.run(client, location, opts, hooks, cancelled).await;
    });
    Ok(())
}

/// The repository's size now, or `None` (logged) if it can't be listed:
/// the backup is done either way.
async fn size_of(location: &OpenedLocation) -> Option<u64> {
    let repo = location.repo.clone();
    let listed = tokio::task::spawn_blocking(move || crate::location::repository_bytes(&repo)).await;
    match listed.map_err(|e| e.to_string()).and_then(|r| r.map_err(|e| e.to_string())) {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            tracing::warn!("listing the packs of location {}/{}: {e}", location.namespace, location.name);
            None
        }
    }
}

struct Job {
    ctx: Arc<Context>,
    api: Api<Backup>,
    obj: Arc<Backup>,
    status: BackupStatus,
    key: String,
}

impl Job {
    async fn run(
        self,
        client: Client,
        location: OpenedLocation,
        opts: BackupOptions,
        hooks: Option<BackupHooks>,
        mut cancelled: watch::Receiver<bool>,
    ) {
        let kube = arca_kube::api::Kube::new(client, 16);
        let counter = Arc::new(Counter::default());
        let progress = Counting(counter.clone());
        let work = arca_kube::backup::run(&kube, &self.ctx.server, &location.repo, &opts, &progress);
        let ticker = self.progress_ticker(counter);
        let outcome = tokio::select! {
            r = work => Some(r),
            _ = cancelled.wait_for(|c| *c) => None,
            _ = ticker => None,
        };
        let mut status = self.status.clone();
        match outcome {
            Some(Ok((report, id))) => {
                status = executor::backup::status_of(&report, &id.to_hex(), status);
                status.repository_bytes = size_of(&location).await;
                let ok = status.phase == BackupPhase::Completed;
                let reason = status.phase.to_string();
                set_condition(&mut status.conditions, Condition::new("Ready", ok, &reason, status.message.clone()));
                let note = format!("backup {}: {} ({})", self.obj.name_any(), status.phase, status.message);
                self.write(&status).await;
                if ok {
                    self.ctx.events.normal(&*self.obj, "Completed", note).await;
                } else {
                    self.ctx.events.warning(&*self.obj, &reason, note).await;
                }
            }
            Some(Err(e)) => {
                let why = format!("backup {}: {e}", self.obj.name_any());
                mark_failed(&mut status, REASON_FAILED, &why);
                self.write(&status).await;
                self.ctx.events.warning(&*self.obj, "Failed", why).await;
            }
            None => {
                // Dropped before its snapshot was written; pods frozen for it are thawed.
                if let Some(h) = &hooks {
                    h.thaw_all(ThawBy::Interrupt).await;
                }
                let why =
                    format!("the server replica {} working on it stopped; run it again", self.ctx.config.identity);
                mark_failed(&mut status, REASON_SERVER_STOPPED, &why);
                self.write(&status).await;
                self.ctx.events.warning(&*self.obj, REASON_SERVER_STOPPED, why).await;
            }
        }
        self.ctx.finished(&self.key);
    }

    /// Writes the progress now and then; never resolves.
    async fn progress_ticker(&self, counter: Arc<Counter>) {
        let mut last = None;
        loop {
            tokio::time::sleep(PROGRESS_EVERY).await;
            let now = counter.snapshot();
            if last.as_ref() == Some(&now) {
                continue;
            }
            let patch = serde_json::json!({ "status": { "progress": now } });
            let pp = kube::api::PatchParams::default();
            if let Err(e) = self.api.patch_status(&self.obj.name_any(), &pp, &kube::api::Patch::Merge(&patch)).await {
                tracing::debug!("progress of backup {}: {e}", self.obj.name_any());
            }
            last = Some(now);
        }
    }

    /// The final status; retried a few times, since a lost write would
    /// leave the backup InProgress until a restart fails it.
    async fn write(&self, status: &BackupStatus) {
        for attempt in 0..5u32 {
            match patch_status(&self.api, &self.obj.name_any(), status).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!("writing the status of backup {}: {e}", self.obj.name_any());
                    tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt + 1))).await;
                }
            }
        }
    }
}
