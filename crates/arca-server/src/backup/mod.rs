//! The `Backup` controller (all namespaces): New → Queued / InProgress →
//! Completed, PartiallyFailed or Failed; deleting a `Backup` forgets its
//! snapshot (finalizer `arca.io/snapshot`) unless the location is read-only
//! or the data is locked.

mod delete;
mod job;

use std::sync::Arc;
use std::time::Duration;

use arca_api::common::{Condition, set_condition};
use arca_api::labels::BACKUP_FINALIZER;
use arca_api::{AccessMode, Backup, BackupLocation, BackupPhase};
use futures::StreamExt;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};

use crate::context::{Context, key, patch_status};
use crate::error::Error;
use crate::executor::{self, REASON_INVALID, REASON_TENANT_SCOPE};
use crate::work;

pub const KIND: &str = "Backup";

/// Why a reconcile did not finish; each decides when to look again.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("{0}")]
    Server(#[from] Error),
    #[error("{0}")]
    Kube(#[from] kube::Error),
    /// Deletion refused (read-only location, locked data): the object
    /// keeps its finalizer and says why.
    #[error("deletion refused: {0}")]
    Refused(String),
    /// A running backup is being stopped before its object goes.
    #[error("waiting for the running backup to stop")]
    Stopping,
}

/// Runs the controller until dropped.
pub async fn run(ctx: Arc<Context>) {
    let api: Api<Backup> = Api::all(ctx.client.clone());
    Controller::new(api, watcher::Config::default())
        .run(reconcile, error_policy, ctx)
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::debug!("backup reconcile: {e}");
            }
        })
        .await;
}

fn error_policy(obj: Arc<Backup>, err: &ReconcileError, ctx: Arc<Context>) -> Action {
    match err {
        ReconcileError::Refused(_) => Action::requeue(Duration::from_secs(300)),
        ReconcileError::Stopping => Action::requeue(Duration::from_secs(1)),
        _ => {
            let k = key(KIND, &obj.namespace().unwrap_or_default(), &obj.name_any());
            tracing::warn!("backup {}/{}: {err}", obj.namespace().unwrap_or_default(), obj.name_any());
            Action::requeue(ctx.back_off(&k))
        }
    }
}

async fn reconcile(obj: Arc<Backup>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let ns = obj.namespace().unwrap_or_default();
    let api: Api<Backup> = Api::namespaced(ctx.client.clone(), &ns);
    finalizer(&api, BACKUP_FINALIZER, obj, move |event| async move {
        match event {
            Finalizer::Apply(b) => apply(b, ctx).await,
            Finalizer::Cleanup(b) => delete::cleanup(b, ctx).await,
        }
    })
    .await
    .map_err(|e| match e {
        kube::runtime::finalizer::Error::ApplyFailed(e) | kube::runtime::finalizer::Error::CleanupFailed(e) => e,
        other => ReconcileError::Server(Error::Other(other.to_string())),
    })
}

async fn apply(obj: Arc<Backup>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let (ns, name) = (obj.namespace().unwrap_or_default(), obj.name_any());
    let k = key(KIND, &ns, &name);
    let api: Api<Backup> = Api::namespaced(ctx.client.clone(), &ns);
    let status = obj.status.clone().unwrap_or_default();
    // Catalog sync's objects stand for snapshots already written.
    if obj.spec.snapshot.is_some() || status.phase.is_final() || status.phase == BackupPhase::Deleting {
        return Ok(Action::await_change());
    }
    if status.phase == BackupPhase::InProgress {
        return Ok(work::stale_in_progress(&api, &*obj, &ctx, &k).await?);
    }
    if ctx.stopping() {
        return Ok(Action::requeue(Duration::from_secs(5)));
    }
    if let Some(wait) = ctx.backing_off(&k) {
        return Ok(Action::requeue(wait));
    }
    let mut spec = obj.spec.clone();
    if ctx.config.tenant_mode {
        match executor::tenant_scope(&ns, &spec.include_namespaces, spec.include_cluster_resources.as_ref()) {
            Ok((namespaces, cluster)) => {
                spec.include_namespaces = namespaces;
                spec.include_cluster_resources = Some(cluster);
            }
            Err(why) => return work::fail(&api, &*obj, &ctx, REASON_TENANT_SCOPE, why).await.map_err(Into::into),
        }
    }
    let client = ctx.client_for(&ns)?;
    let location = match resolve_location(&client, &ns, spec.location.as_deref()).await {
        Ok(l) => l,
        Err(why) => {
            return work::queue_unavailable(&api, &*obj, &ctx, "LocationNotFound", why).await.map_err(Into::into);
        }
    };
    if location.spec.access_mode == AccessMode::ReadOnly {
        let why = format!(
            "backup location {ns}/{} is ReadOnly (for restores only): name a ReadWrite location in spec.location",
            location.name_any()
        );
        return work::fail(&api, &*obj, &ctx, "LocationReadOnly", why).await.map_err(Into::into);
    }
    let opened = match crate::location::open(&client, &location).await {
        Ok(o) => o,
        Err(e) => {
            let why = format!("{e}; the backup waits and retries (check the location's Secrets and repository)");
            return work::queue_unavailable(&api, &*obj, &ctx, "LocationUnavailable", why).await.map_err(Into::into);
        }
    };
    let library = match crate::blueprints::library(&client, &ctx.config.namespace, &ns).await {
        Ok(l) => l,
        Err(Error::Kube(e)) => return Err(e.into()),
        Err(e) => {
            return work::fail(&api, &*obj, &ctx, REASON_INVALID, format!("backup {ns}/{name}: {e}"))
                .await
                .map_err(Into::into);
        }
    };
    let (opts, hooks) = match executor::backup::options(&name, &spec, &opened, &ctx.config, library) {
        Ok(o) => o,
        Err(why) => {
            return work::fail(&api, &*obj, &ctx, REASON_INVALID, format!("backup {ns}/{name}: {why}"))
                .await
                .map_err(Into::into);
        }
    };
    let limit = location.spec.max_concurrent.unwrap_or(ctx.config.max_concurrent_per_location);
    let location_key = format!("{ns}/{}", location.name_any());
    let Some(slot) = ctx.slots.try_take(&location_key, limit) else {
        let message = format!("waiting for one of the {limit} slot(s) of backup location {location_key}");
        if status.phase != BackupPhase::Queued || status.message != message {
            let mut s = status.clone();
            s.phase = BackupPhase::Queued;
            s.message = message.clone();
            set_condition(&mut s.conditions, Condition::new("LocationAvailable", true, "Available", ""));
            patch_status(&api, &name, &s).await?;
            ctx.events.normal(&*obj, "Queued", message).await;
        }
        return Ok(Action::requeue(Duration::from_secs(2)));
    };
    ctx.clear_backoff(&k);
    job::start(ctx.clone(), obj.clone(), client, opened, opts, hooks, slot, location.name_any()).await?;
    Ok(Action::await_change())
}

/// The named location, or the namespace's default.
pub async fn resolve_location(client: &Client, ns: &str, named: Option<&str>) -> Result<BackupLocation, String> {
    let api: Api<BackupLocation> = Api::namespaced(client.clone(), ns);
    if let Some(name) = named {
        return match api.get_opt(name).await {
            Ok(Some(l)) => Ok(l),
            Ok(None) => Err(format!(
                "backup location {ns}/{name} not found: create it (`arca location create {name} -n {ns}`) \
                 or name another in spec.location"
            )),
            Err(e) => Err(format!("reading backup location {ns}/{name}: {e}")),
        };
    }
    let all = api.list(&Default::default()).await.map_err(|e| format!("listing backup locations in {ns}: {e}"))?;
    all.items.into_iter().find(|l| l.spec.default).ok_or_else(|| {
        format!(
            "no backup location in namespace {ns} is the default and spec.location names none: \
             create one with `arca location create NAME -n {ns} --default` or set spec.location"
        )
    })
}
