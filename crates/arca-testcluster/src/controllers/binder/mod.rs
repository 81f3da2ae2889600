//! The PersistentVolume controller (binder): binds claims and volumes both
//! ways, marks volumes `Released` when their claim is gone and carries out the
//! reclaim policy, with upstream's rules and events (see `rules`). Volumes of
//! the test provisioner with policy `Delete` are deleted by the provisioner a
//! configurable delay after they were released, as a real external provisioner
//! deletes them some time later.

mod actions;
pub mod rules;

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::events::{self, Event};
use super::scheduler::delays_binding;
use super::volumes::pv_path;
use super::{log_err, objects};
use crate::cluster::Cluster;
use crate::meta;
use crate::registry::ResourceType;
use crate::seed::{TEST_LOCAL_PROVISIONER, TEST_PROVISIONER};
use crate::state::{DeleteOpts, State};
use rules::{ClaimAction, Note, VolumeAction};

pub(crate) const MANAGER: &str = "persistentvolume-controller";
/// Upstream's `--pvclaimbinder-sync-period`: how often an unchanged claim is
/// synced again (and its event repeated).
const SYNC_PERIOD: Duration = Duration::from_secs(15);

pub(crate) fn pv_rt(state: &State) -> Option<ResourceType> {
    state.resource("", "v1", "persistentvolumes")
}

pub(crate) fn pvc_rt(state: &State) -> Option<ResourceType> {
    state.resource("", "v1", "persistentvolumeclaims")
}

/// The binder's memory between passes.
pub struct Binder {
    deletion_delay: Duration,
    /// When each volume (by uid) waiting for the provisioner's delete was released.
    released: HashMap<String, Instant>,
    /// Per (claim uid, message): what claim and volume looked like when the
    /// note was last recorded, and when.
    noted: HashMap<(String, String), (String, Instant)>,
}

impl Binder {
    pub fn new(deletion_delay: Duration) -> Self {
        Binder { deletion_delay, released: HashMap::new(), noted: HashMap::new() }
    }

    /// Whether a delayed volume deletion is due (the pass must run even if
    /// nothing changed).
    pub fn due(&self) -> bool {
        self.released.values().any(|t| t.elapsed() >= self.deletion_delay)
    }

    pub fn reconcile(&mut self, cluster: &Cluster) {
        let mut state = cluster.lock();
        let pvs = objects(&state, "", "persistentvolumes");
        let classes = objects(&state, "storage.k8s.io", "storageclasses");
        for claim in objects(&state, "", "persistentvolumeclaims") {
            let delayed = delays_binding(&classes, rules::class_of(&claim));
            let action = rules::decide_claim(&claim, &pvs, delayed);
            self.apply_claim(&mut state, &claim, &pvs, action);
        }
        let claims = objects(&state, "", "persistentvolumeclaims");
        let live: Vec<String> =
            objects(&state, "", "persistentvolumes").iter().map(|pv| meta::uid(pv).to_string()).collect();
        self.released.retain(|uid, _| live.contains(uid));
        for pv in objects(&state, "", "persistentvolumes") {
            let claim = claims.iter().find(|c| {
                meta::str_at(&pv, "/spec/claimRef/namespace") == Some(meta::namespace(c))
                    && meta::str_at(&pv, "/spec/claimRef/name") == Some(meta::name(c))
            });
            match rules::decide_volume(&pv, claim) {
                VolumeAction::Phase(phase) => {
                    actions::set_pv_phase(&mut state, meta::name(&pv), phase);
                }
                VolumeAction::Release => self.release(&mut state, cluster, &pv),
                VolumeAction::Unbind => actions::unbind(&mut state, &pv),
                VolumeAction::Wait => {}
            }
        }
        let claim_uids: Vec<&str> = claims.iter().map(meta::uid).collect();
        self.noted.retain(|(uid, _), _| claim_uids.contains(&uid.as_str()));
    }

    fn apply_claim(&mut self, state: &mut State, claim: &Value, pvs: &[Value], action: ClaimAction) {
        match action {
            ClaimAction::Bind(pv) => actions::bind(state, &pv, claim),
            ClaimAction::Pending(note) => {
                actions::set_claim_phase(state, claim, "Pending", None);
                if let Some(note) = note {
                    self.note(state, claim, pvs, &note);
                }
            }
            ClaimAction::NoteOnly(note) => self.note(state, claim, pvs, &note),
            ClaimAction::Lost(note) => {
                if actions::set_claim_phase(state, claim, "Lost", None) {
                    record(state, claim, &note);
                }
            }
            ClaimAction::Provision => {}
        }
    }

    /// Records a note of a claim sync, once per sync: again only when the claim
    /// or its volume changed, or a sync period passed.
    fn note(&mut self, state: &mut State, claim: &Value, pvs: &[Value], note: &Note) {
        let volume = meta::str_at(claim, "/spec/volumeName").unwrap_or_default();
        let pv_rv =
            pvs.iter().find(|p| meta::name(p) == volume).and_then(|p| meta::str_at(p, "/metadata/resourceVersion"));
        let seen = format!("{:?}/{pv_rv:?}", meta::str_at(claim, "/metadata/resourceVersion"));
        let key = (meta::uid(claim).to_string(), note.message.clone());
        if let Some((last, at)) = self.noted.get(&key) {
            if *last == seen && at.elapsed() < SYNC_PERIOD {
                return;
            }
        }
        record(state, claim, note);
        self.noted.insert(key, (seen, Instant::now()));
    }

    /// The claim is gone: `Released` (a `Failed` phase stays), then the reclaim policy.
    fn release(&mut self, state: &mut State, cluster: &Cluster, pv: &Value) {
        let name = meta::name(pv);
        let phase = meta::str_at(pv, "/status/phase");
        let pv = if matches!(phase, Some("Released") | Some("Failed")) {
            pv.clone()
        } else {
            match actions::set_pv_phase(state, name, "Released") {
                Some(pv) => pv,
                None => return,
            }
        };
        match meta::str_at(&pv, "/spec/persistentVolumeReclaimPolicy").unwrap_or("Retain") {
            // The volume keeps its claimRef (uid included): only an administrator frees it.
            "Retain" => {}
            "Delete" => self.delete_later(state, cluster, &pv),
            "Recycle" => recycle(state, cluster, &pv),
            _ => {
                fail(state, &pv, "VolumeUnknownReclaimPolicy", "Volume has unrecognized PersistentVolumeReclaimPolicy")
            }
        }
    }

    /// The test provisioner deletes its volumes (directory, then the PV object,
    /// which `kubernetes.io/pv-protection` holds until it is no longer Bound)
    /// `deletion_delay` after their release. Other volumes wait for an external
    /// deleter that does not exist here, as they would on a cluster without one.
    fn delete_later(&mut self, state: &mut State, cluster: &Cluster, pv: &Value) {
        let ours = [TEST_PROVISIONER, TEST_LOCAL_PROVISIONER].iter().any(|p| {
            rules::annotation(pv, rules::ANN_PROVISIONED_BY) == Some(p)
                || meta::str_at(pv, "/spec/csi/driver") == Some(p)
        });
        if !ours || meta::is_deleting(pv) {
            return;
        }
        let since = *self.released.entry(meta::uid(pv).to_string()).or_insert_with(Instant::now);
        if since.elapsed() < self.deletion_delay {
            return;
        }
        if let Some(dir) = pv_path(pv).filter(|d| d.starts_with(&cluster.data_dir)) {
            if let Err(e) = super::fsutil::remove_volume(&dir) {
                tracing::debug!("deleting volume directory {}: {e}", dir.display());
            }
        }
        if let Some(rt) = pv_rt(state) {
            log_err("delete pv", state.delete(&rt, "", meta::name(pv), &DeleteOpts::default()));
        }
        self.released.remove(meta::uid(pv));
    }
}

fn record(state: &mut State, involved: &Value, note: &Note) {
    let e = Event { involved, warning: note.warning, reason: note.reason, message: &note.message, component: MANAGER };
    events::record(state, &e);
}

/// `updateVolumePhaseWithEvent(Failed)`: the event only when the phase changes.
fn fail(state: &mut State, pv: &Value, reason: &'static str, message: &str) {
    if meta::str_at(pv, "/status/phase") == Some("Failed") {
        return;
    }
    if let Some(failed) = actions::set_pv_phase(state, meta::name(pv), "Failed") {
        record(state, &failed, &Note { warning: true, reason, message: message.to_string() });
    }
}

/// Upstream recycles only `hostPath` and NFS volumes (a scrubber pod empties
/// them); here a `hostPath` inside the cluster's data directory is emptied and
/// made `Available` again, anything else has no recycler and fails.
fn recycle(state: &mut State, cluster: &Cluster, pv: &Value) {
    let dir = meta::str_at(pv, "/spec/hostPath/path").map(Path::new).filter(|d| d.starts_with(&cluster.data_dir));
    let Some(dir) = dir else {
        return fail(state, pv, "VolumeFailedRecycle", "No recycler plugin found for the volume!");
    };
    if let Err(e) = scrub(dir) {
        return fail(state, pv, "VolumeFailedRecycle", &format!("Recycle failed: {e}"));
    }
    record(state, pv, &Note { warning: false, reason: "VolumeRecycled", message: "Volume recycled".into() });
    actions::unbind(state, pv);
}

/// Removes everything inside `dir`, keeping `dir`.
fn scrub(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() { std::fs::remove_dir_all(&path)? } else { std::fs::remove_file(&path)? }
    }
    Ok(())
}
