//! Deleting a `Backup`: its snapshot is forgotten in the repository (phase
//! `Deleting` meanwhile), then the finalizer goes. A read-only location or
//! locked data refuses: the object stays, `Deletable=False` says why.

use std::sync::Arc;

use arca_api::common::{Condition, set_condition};
use arca_api::{AccessMode, Backup, BackupPhase};
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};

use super::{KIND, ReconcileError, resolve_location};
use crate::context::{Context, key, patch_status};
use crate::error::Error;

/// What to do by hand when a deletion is refused.
const BY_HAND: &str = "to drop only the object and keep the snapshot, remove the finalizer arca.io/snapshot \
     (kubectl patch backup NAME --type=merge -p '{\"metadata\":{\"finalizers\":null}}')";

pub(super) async fn cleanup(obj: Arc<Backup>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let (ns, name) = (obj.namespace().unwrap_or_default(), obj.name_any());
    if ctx.cancel(&key(KIND, &ns, &name)) {
        return Err(ReconcileError::Stopping);
    }
    let status = obj.status.clone().unwrap_or_default();
    let Some(snapshot) = status.snapshot.clone().or_else(|| obj.spec.snapshot.clone()) else {
        return Ok(Action::await_change());
    };
    let api: Api<Backup> = Api::namespaced(ctx.client.clone(), &ns);
    let client = ctx.client_for(&ns)?;
    let location = match resolve_location(&client, &ns, obj.spec.location.as_deref()).await {
        Ok(l) => l,
        Err(why) => return refuse(&api, &obj, &ctx, "LocationNotFound", format!("{why}; {BY_HAND}")).await,
    };
    if location.spec.access_mode == AccessMode::ReadOnly {
        let why = format!(
            "backup location {ns}/{} is ReadOnly: its snapshot {} is not deleted; {BY_HAND}",
            location.name_any(),
            short(&snapshot)
        );
        return refuse(&api, &obj, &ctx, "LocationReadOnly", why).await;
    }
    if status.phase != BackupPhase::Deleting {
        let mut s = status.clone();
        s.phase = BackupPhase::Deleting;
        s.message = format!("forgetting snapshot {}", short(&snapshot));
        patch_status(&api, &name, &s).await?;
    }
    let opened = crate::location::open(&client, &location).await?;
    let repo = opened.repo.clone();
    let id = snapshot.clone();
    let forgotten = tokio::task::spawn_blocking(move || forget(&repo, &id))
        .await
        .map_err(|e| Error::Other(format!("forgetting snapshot {}: {e}", short(&snapshot))))?;
    match forgotten {
        Ok(()) => {
            ctx.events.normal(&*obj, "Deleted", format!("snapshot {} forgotten", short(&snapshot))).await;
            Ok(Action::await_change())
        }
        Err(e) if is_data_locked(&e) => {
            let why = format!("snapshot {} is locked in the repository ({e}); {BY_HAND}", short(&snapshot));
            refuse(&api, &obj, &ctx, "DataLocked", why).await
        }
        Err(e) => Err(Error::Repo(e).into()),
    }
}

/// Forgets the snapshot (its data goes at the next prune); gone already is fine.
fn forget(repo: &arca_repo::Repository, snapshot: &str) -> arca_repo::Result<()> {
    let entry = match repo.find_snapshot(snapshot) {
        Ok(e) => e,
        Err(arca_repo::Error::SnapshotNotFound { .. }) => return Ok(()),
        Err(e) => return Err(e),
    };
    let _lock = repo.lock(false, "backup delete")?;
    repo.remove_snapshots(&[entry.id], "Backup object deleted")
}

/// A refusal of the storage to delete (object lock, retention): the data
/// must stay, so the object does too.
pub fn is_data_locked(e: &arca_repo::Error) -> bool {
    let text = e.to_string().to_ascii_lowercase();
    ["object lock", "objectlock", "retention", "worm", "immutable", "legal hold"].iter().any(|w| text.contains(w))
}

async fn refuse(
    api: &Api<Backup>,
    obj: &Backup,
    ctx: &Context,
    reason: &str,
    message: String,
) -> Result<Action, ReconcileError> {
    let mut s = obj.status.clone().unwrap_or_default();
    let already = s.conditions.iter().any(|c| c.type_ == "Deletable" && c.status == "False" && c.message == message);
    if !already {
        set_condition(&mut s.conditions, Condition::new("Deletable", false, reason, message.clone()));
        patch_status(api, &obj.name_any(), &s).await?;
        ctx.events.warning(obj, "DeletionRefused", message.clone()).await;
    }
    Err(ReconcileError::Refused(message))
}

fn short(id: &str) -> &str {
    &id[..id.len().min(8)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locked_data_is_told_from_other_errors() {
        let locked = arca_repo::Error::Backend {
            path: "snapshots/ab".into(),
            detail: "AccessDenied: object is WORM protected under Object Lock retention".into(),
        };
        assert!(is_data_locked(&locked));
        let other = arca_repo::Error::Backend { path: "snapshots/ab".into(), detail: "connection reset".into() };
        assert!(!is_data_locked(&other));
        // The repository's own lock (another process) is transient, not locked data.
        let busy = arca_repo::Error::Locked { kind: "exclusive", holder: "x".into() };
        assert!(!is_data_locked(&busy));
    }
}
