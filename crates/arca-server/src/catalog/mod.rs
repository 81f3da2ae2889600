//! Catalog sync: every `BackupLocation`'s repository is read at start and
//! every `spec.syncPeriod` (default 5 minutes). The location's status says
//! whether it opens and what it holds; each backup snapshot without a
//! `Backup` object gets one (a fresh cluster pointed at a repository sees
//! every backup: disaster recovery); objects whose snapshot vanished are
//! marked `SnapshotPresent=False`, never deleted; the metrics are computed
//! from the catalog. An unreachable location only marks its own status.

mod plan;
pub mod read;
mod status;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arca_api::common::set_condition;
use arca_api::{Backup, BackupLocation, BackupSpec, labels};
use futures::StreamExt;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use serde_json::json;

use crate::config::ServerConfig;
use crate::error::{Error, Result};
use crate::metrics::{LocationKey, Metrics};

pub use plan::{object_name, same_snapshot, snapshot_of};
pub use status::{AVAILABLE, SNAPSHOT_PRESENT};

/// `spec.syncPeriod` when absent.
pub const DEFAULT_SYNC_PERIOD: Duration = Duration::from_secs(300);
/// How long one location's sync may take before it counts as unreachable.
pub const SYNC_TIMEOUT: Duration = Duration::from_secs(120);
/// Retry of a sync whose status write failed (API server trouble).
const RETRY_AFTER_ERROR: Duration = Duration::from_secs(15);

struct Ctx {
    client: Client,
    kube_config: Option<kube::Config>,
    config: ServerConfig,
    metrics: Arc<Metrics>,
    /// Per location: the generation and time of its last sync, so that the
    /// watch event of our own status write does not sync it again.
    last: Mutex<HashMap<ObjectRef<BackupLocation>, LastSync>>,
}

/// Runs catalog sync for the locations of every namespace until dropped.
/// `kube_config` builds tenant clients in tenant mode (a location's
/// Secrets and repository are read as its namespace's tenant).
/// A location's generation at its last sync, and when that was.
type LastSync = (Option<i64>, Instant);

pub async fn run(
    client: Client,
    kube_config: Option<kube::Config>,
    config: ServerConfig,
    metrics: Arc<Metrics>,
) -> Result<()> {
    let api: Api<BackupLocation> = Api::all(client.clone());
    let ctx = Arc::new(Ctx { client, kube_config, config, metrics, last: Mutex::new(HashMap::new()) });
    let controller = Controller::new(api, watcher::Config::default());
    let store = controller.store();
    let pruned = {
        let ctx = ctx.clone();
        async move {
            // Locations deleted since: their series go (a deleted object is
            // never reconciled again).
            if store.wait_until_ready().await.is_err() {
                return;
            }
            loop {
                tokio::time::sleep(Duration::from_secs(10)).await;
                let live: Vec<LocationKey> = store
                    .state()
                    .iter()
                    .map(|l| LocationKey { namespace: l.namespace().unwrap_or_default(), name: l.name_any() })
                    .collect();
                ctx.metrics.retain_locations(|k| live.contains(k));
            }
        }
    };
    let controller = controller.run(reconcile, error_policy, ctx).for_each(|result| async move {
        if let Err(e) = result {
            tracing::debug!("catalog sync: {e}");
        }
    });
    tokio::select! {
        _ = controller => Err(Error::Other("catalog sync: the BackupLocation watch ended".into())),
        _ = pruned => Err(Error::Other("catalog sync: the BackupLocation watch ended".into())),
    }
}

/// The sync period of a location (bad values fall back to the default and
/// are reported in its status by [`sync_location`]).
fn sync_period(loc: &BackupLocation) -> std::result::Result<Duration, String> {
    match &loc.spec.sync_period {
        None => Ok(DEFAULT_SYNC_PERIOD),
        Some(text) => arca_volumes::limits::parse_duration(text)
            .map(|d| d.max(Duration::from_secs(1)))
            .map_err(|e| format!("spec.syncPeriod: {e}")),
    }
}

async fn reconcile(loc: Arc<BackupLocation>, ctx: Arc<Ctx>) -> Result<Action> {
    let period = sync_period(&loc).unwrap_or(DEFAULT_SYNC_PERIOD);
    let key = ObjectRef::from_obj(&*loc);
    let generation = loc.metadata.generation;
    let recent = ctx.last.lock().unwrap_or_else(|e| e.into_inner()).get(&key).copied();
    if let Some((g, at)) = recent {
        let elapsed = at.elapsed();
        if g == generation && elapsed < period {
            return Ok(Action::requeue(period - elapsed));
        }
    }
    sync_location(&ctx, &loc).await?;
    ctx.last.lock().unwrap_or_else(|e| e.into_inner()).insert(key, (generation, Instant::now()));
    Ok(Action::requeue(period))
}

fn error_policy(loc: Arc<BackupLocation>, error: &Error, _ctx: Arc<Ctx>) -> Action {
    tracing::warn!("catalog sync of location {}/{}: {error}", loc.namespace().unwrap_or_default(), loc.name_any());
    Action::requeue(RETRY_AFTER_ERROR)
}

/// One sync of one location: open, read, write Backups, status, metrics.
/// `Err` only when the API server refused a write (retried soon).
async fn sync_location(ctx: &Ctx, loc: &BackupLocation) -> Result<()> {
    let ns = loc.namespace().unwrap_or_default();
    let name = loc.name_any();
    let outcome = tokio::time::timeout(SYNC_TIMEOUT, read_location(ctx, loc)).await.unwrap_or_else(|_| {
        Err(Error::Location {
            namespace: ns.clone(),
            name: name.clone(),
            reason: format!(
                "reading its repository took longer than {}s; check that it is reachable",
                SYNC_TIMEOUT.as_secs()
            ),
        })
    });
    let (objects, catalog) = match outcome {
        Ok(found) => found,
        Err(e) => {
            ctx.metrics.mark_unavailable(&ns, &name);
            write_location_status(ctx, loc, Err(e.to_string())).await?;
            return Ok(());
        }
    };
    let now = chrono::Utc::now();
    let plan = plan::plan(loc, &objects, &catalog.backups);
    let backups: Api<Backup> = Api::namespaced(ctx.client.clone(), &ns);
    let mut problems = Vec::new();
    for (object, index) in &plan.create {
        if let Err(e) = create_synced(&backups, loc, object, &catalog.backups[*index]).await {
            problems.push(format!("creating Backup {object}: {e}"));
        }
    }
    for (object, present) in &plan.presence {
        let Some(b) = objects.iter().find(|b| b.name_any() == *object) else { continue };
        if let Err(e) = write_presence(&backups, b, *present, &name).await {
            problems.push(format!("marking Backup {object}: {e}"));
        }
    }
    ctx.metrics.update_location(&ns, &name, read::stats(&catalog, now));
    let summary = Ok(Synced { backups: catalog.backups.len() as u64, bytes: catalog.repository_bytes, now, problems });
    write_location_status(ctx, loc, summary).await
}

/// The location's Backup objects (read first, so a Backup that records its
/// snapshot while we list the repository is never taken for missing) and
/// its repository catalog.
async fn read_location(ctx: &Ctx, loc: &BackupLocation) -> Result<(Vec<Backup>, read::RepoCatalog)> {
    let ns = loc.namespace().unwrap_or_default();
    if let Err(reason) = sync_period(loc) {
        return Err(Error::Location { namespace: ns, name: loc.name_any(), reason });
    }
    let objects = Api::<Backup>::namespaced(ctx.client.clone(), &ns).list(&ListParams::default()).await?.items;
    let client = if ctx.config.tenant_mode {
        let base = ctx.kube_config.as_ref().ok_or_else(|| {
            Error::Other("tenant mode needs the server's client configuration to impersonate tenants".into())
        })?;
        crate::tenant::client_for(base, &ns, true)?
    } else {
        ctx.client.clone()
    };
    let opened = crate::location::open(&client, loc).await?;
    let repo = opened.repo.clone();
    let catalog = tokio::task::spawn_blocking(move || read::read(&repo))
        .await
        .map_err(|e| Error::Other(format!("reading the catalog of {}: {e}", opened.url)))?
        .map_err(|e| Error::Location { namespace: ns, name: loc.name_any(), reason: e.to_string() })?;
    Ok((objects, catalog))
}

async fn create_synced(api: &Api<Backup>, loc: &BackupLocation, name: &str, stored: &read::StoredBackup) -> Result<()> {
    let location = loc.name_any();
    // The selection it was made with, so views know what it covers.
    let filters = stored.report.as_ref().map(|r| r.filters.clone()).unwrap_or_default();
    let mut backup = Backup::new(
        name,
        BackupSpec {
            location: Some(location.clone()),
            snapshot: Some(stored.id.clone()),
            tags: stored.tags.clone(),
            include_namespaces: filters.include_namespaces,
            exclude_namespaces: filters.exclude_namespaces,
            ..Default::default()
        },
    );
    backup.labels_mut().insert(labels::SYNCED.into(), "true".into());
    backup.labels_mut().insert(labels::LOCATION.into(), location.clone());
    match api.create(&PostParams::default(), &backup).await {
        Ok(_) => {}
        // Made meanwhile (another replica, or a retry): the next sync matches it.
        Err(kube::Error::Api(s)) if s.code == 409 => return Ok(()),
        Err(e) => return Err(e.into()),
    }
    let status = status::synced_backup_status(stored, &location);
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(json!({ "status": status }))).await?;
    tracing::info!("catalog sync: Backup {name} for snapshot {} of location {location}", status::short(&stored.id));
    Ok(())
}

async fn write_presence(api: &Api<Backup>, b: &Backup, present: bool, location: &str) -> Result<()> {
    let id = snapshot_of(b).unwrap_or_default();
    let mut conditions = b.status.as_ref().map(|s| s.conditions.clone()).unwrap_or_default();
    set_condition(&mut conditions, status::snapshot_condition(present, id, location));
    // The resourceVersion makes a concurrent status write win; the next sync retries.
    let patch = json!({
        "metadata": { "resourceVersion": b.resource_version() },
        "status": { "conditions": conditions },
    });
    api.patch_status(&b.name_any(), &PatchParams::default(), &Patch::Merge(patch)).await?;
    Ok(())
}

struct Synced {
    backups: u64,
    bytes: u64,
    now: chrono::DateTime<chrono::Utc>,
    /// Writes that failed (named in the status message).
    problems: Vec<String>,
}

async fn write_location_status(
    ctx: &Ctx,
    loc: &BackupLocation,
    outcome: std::result::Result<Synced, String>,
) -> Result<()> {
    let old = loc.status.as_ref();
    let mut conditions = old.map(|s| s.conditions.clone()).unwrap_or_default();
    let state = match outcome {
        Ok(s) => {
            let message = if s.problems.is_empty() { String::new() } else { s.problems.join("; ") };
            let text = format!("repository {} opened; {} backup(s)", loc.spec.repository, s.backups);
            set_condition(&mut conditions, arca_api::Condition::new(AVAILABLE, true, "RepositoryOpened", text));
            status::LocationState {
                available: true,
                message,
                conditions,
                backups: Some(s.backups),
                repository_bytes: Some(s.bytes),
                last_sync_time: Some(s.now),
                observed_generation: loc.metadata.generation,
            }
        }
        Err(reason) => {
            set_condition(
                &mut conditions,
                arca_api::Condition::new(AVAILABLE, false, "RepositoryUnavailable", reason.clone()),
            );
            status::LocationState {
                available: false,
                message: reason,
                conditions,
                // The last known numbers stay until the next good sync.
                backups: old.and_then(|s| s.backups),
                repository_bytes: old.and_then(|s| s.repository_bytes),
                last_sync_time: old.and_then(|s| s.last_sync_time),
                observed_generation: loc.metadata.generation,
            }
        }
    };
    if !state.differs_from(old) {
        return Ok(());
    }
    let api: Api<BackupLocation> = Api::namespaced(ctx.client.clone(), &loc.namespace().unwrap_or_default());
    api.patch_status(&loc.name_any(), &PatchParams::default(), &Patch::Merge(state.patch())).await?;
    Ok(())
}
