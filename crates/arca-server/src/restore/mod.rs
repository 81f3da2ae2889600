//! The `Restore` controller (all namespaces): resolves `spec.backup` (a
//! `Backup` of the same namespace → its location and snapshot), restores,
//! and writes the counts, errors and report name into status.

mod job;

use std::sync::Arc;
use std::time::Duration;

use arca_api::{Backup, BackupPhase, Restore, RestorePhase};
use futures::StreamExt;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Api, ResourceExt};

use crate::backup::resolve_location;
use crate::context::{Context, key, patch_status};
use crate::error::Error;
use crate::executor::{self, REASON_INVALID, REASON_TENANT_SCOPE};
use crate::work;

pub const KIND: &str = "Restore";

/// Runs the controller until dropped.
pub async fn run(ctx: Arc<Context>) {
    let api: Api<Restore> = Api::all(ctx.client.clone());
    Controller::new(api, watcher::Config::default())
        .run(reconcile, error_policy, ctx)
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::debug!("restore reconcile: {e}");
            }
        })
        .await;
}

fn error_policy(obj: Arc<Restore>, err: &Error, ctx: Arc<Context>) -> Action {
    tracing::warn!("restore {}/{}: {err}", obj.namespace().unwrap_or_default(), obj.name_any());
    Action::requeue(ctx.back_off(&key(KIND, &obj.namespace().unwrap_or_default(), &obj.name_any())))
}

async fn reconcile(obj: Arc<Restore>, ctx: Arc<Context>) -> Result<Action, Error> {
    let (ns, name) = (obj.namespace().unwrap_or_default(), obj.name_any());
    let k = key(KIND, &ns, &name);
    let api: Api<Restore> = Api::namespaced(ctx.client.clone(), &ns);
    let status = obj.status.clone().unwrap_or_default();
    if status.phase.is_final() || obj.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    if status.phase == RestorePhase::InProgress {
        return work::stale_in_progress(&api, &*obj, &ctx, &k).await;
    }
    if ctx.stopping() {
        return Ok(Action::requeue(Duration::from_secs(5)));
    }
    if let Some(wait) = ctx.backing_off(&k) {
        return Ok(Action::requeue(wait));
    }
    let mut spec = obj.spec.clone();
    if ctx.config.tenant_mode && spec.drill {
        let why = format!(
            "in tenant mode a restore in namespace {ns} restores only into it; a drill makes scratch namespaces"
        );
        return work::fail(&api, &*obj, &ctx, REASON_TENANT_SCOPE, why).await;
    }
    if ctx.config.tenant_mode {
        let scoped = executor::tenant_scope(&ns, &spec.include_namespaces, spec.include_cluster_resources.as_ref())
            .and_then(|scope| match spec.namespace_mapping.values().find(|to| to.as_str() != ns) {
                Some(to) => Err(format!(
                    "in tenant mode a restore in namespace {ns} restores only into it; namespaceMapping names {to:?}"
                )),
                None => Ok(scope),
            });
        match scoped {
            Ok((namespaces, cluster)) => {
                spec.include_namespaces = namespaces;
                spec.include_cluster_resources = Some(cluster);
            }
            Err(why) => return work::fail(&api, &*obj, &ctx, REASON_TENANT_SCOPE, why).await,
        }
    }
    let client = ctx.client_for(&ns)?;
    let backups: Api<Backup> = Api::namespaced(client.clone(), &ns);
    let backup = match backups.get_opt(&spec.backup).await? {
        Some(b) => b,
        None => {
            let why = format!("backup {ns}/{} not found: spec.backup names a Backup of this namespace", spec.backup);
            return work::fail(&api, &*obj, &ctx, "BackupNotFound", why).await;
        }
    };
    let backup_status = backup.status.clone().unwrap_or_default();
    let snapshot = backup_status.snapshot.clone().or_else(|| backup.spec.snapshot.clone());
    let restorable = backup.spec.snapshot.is_some()
        || matches!(backup_status.phase, BackupPhase::Completed | BackupPhase::PartiallyFailed);
    let Some(snapshot) = snapshot.filter(|_| restorable) else {
        let why = format!(
            "backup {ns}/{} is {} and holds no restorable snapshot: restore a Completed backup",
            spec.backup, backup_status.phase
        );
        return work::fail(&api, &*obj, &ctx, "BackupNotRestorable", why).await;
    };
    let named = backup.labels().get(arca_api::labels::LOCATION).cloned().or_else(|| backup.spec.location.clone());
    let location = match resolve_location(&client, &ns, named.as_deref()).await {
        Ok(l) => l,
        Err(why) => return work::queue_unavailable(&api, &*obj, &ctx, "LocationNotFound", why).await,
    };
    let opened = match crate::location::open(&client, &location).await {
        Ok(o) => o,
        Err(e) => {
            let why = format!("{e}; the restore waits and retries (check the location's Secrets and repository)");
            return work::queue_unavailable(&api, &*obj, &ctx, "LocationUnavailable", why).await;
        }
    };
    let repo = opened.repo.clone();
    let id = snapshot.clone();
    let entry = match tokio::task::spawn_blocking(move || repo.find_snapshot(&id)).await {
        Ok(Ok(e)) => e,
        Ok(Err(e)) => {
            let why = format!("snapshot {snapshot} of backup {ns}/{}: {e}", spec.backup);
            return work::fail(&api, &*obj, &ctx, "SnapshotNotFound", why).await;
        }
        Err(e) => return Err(Error::Other(format!("looking up snapshot {snapshot}: {e}"))),
    };
    let library = match crate::blueprints::library(&client, &ctx.config.namespace, &ns).await {
        Ok(l) => l,
        Err(Error::Kube(e)) => return Err(e.into()),
        Err(e) => return work::fail(&api, &*obj, &ctx, REASON_INVALID, format!("restore {ns}/{name}: {e}")).await,
    };
    let opts = executor::restore::options(&name, &spec, &entry, &opened, &ctx.config, library).and_then(|o| {
        if spec.drill {
            executor::restore::drill_options(o, &spec, &entry, &opened, &ctx.config).map(job::Work::Drill)
        } else {
            Ok(job::Work::Restore(o))
        }
    });
    let opts = match opts {
        Ok(o) => o,
        Err(why) => return work::fail(&api, &*obj, &ctx, REASON_INVALID, format!("restore {ns}/{name}: {why}")).await,
    };
    let limit = location.spec.max_concurrent.unwrap_or(ctx.config.max_concurrent_per_location);
    let location_key = format!("{ns}/{}", location.name_any());
    let Some(slot) = ctx.slots.try_take(&location_key, limit) else {
        let message = format!("waiting for one of the {limit} slot(s) of backup location {location_key}");
        if status.phase != RestorePhase::Queued || status.message != message {
            let mut s = status.clone();
            s.phase = RestorePhase::Queued;
            s.message = message;
            patch_status(&api, &name, &s).await?;
        }
        return Ok(Action::requeue(Duration::from_secs(2)));
    };
    ctx.clear_backoff(&k);
    job::start(ctx.clone(), obj.clone(), client, opened, opts, slot).await?;
    Ok(Action::await_change())
}
