//! Filling one volume from the repository: a restore mover pod in the
//! volume's namespace with a credentials Secret of its own ([`super::job`]).

use std::time::Instant;

use arca_kube::api::Kube;

use super::job::{self, Job};
use super::result::{RestoreState, VolumeRestore};
use super::settings::MoverSettings;
use crate::mover::{self, Placement, VolumeSource};
use crate::record::VolumeRecord;
use crate::run::PodOutcome;

/// What to fill.
pub struct Target<'a> {
    pub record: &'a VolumeRecord,
    pub namespace: &'a str,
    /// The claim (or the inline volume's host directory).
    pub source: VolumeSource,
    /// `NAMESPACE/NAME` shown in the report.
    pub shown: String,
    /// Remove files not in the backup (`--data-only`).
    pub mirror: bool,
    pub restore: &'a str,
    /// Run on this node (`--no-scale`: beside the pods using a
    /// `ReadWriteOnce` claim, the only node that can attach it).
    pub node: Option<String>,
}

/// Runs the restore mover for `target` and reports how it went.
pub async fn fill(kube: &Kube, settings: &MoverSettings, target: Target<'_>) -> VolumeRestore {
    let record = target.record;
    let mut out = VolumeRestore::new(&target.shown, &record.claim, record.method, RestoreState::Completed);
    let Some(snapshot) = record.repository_snapshot.clone() else {
        return out.failed("the backup holds no repository snapshot of this volume");
    };
    out.from = format!("repository snapshot {snapshot}");
    let placement = match &target.node {
        Some(node) => Placement::Node(node.clone()),
        None => placement(kube, record, &target.source).await,
    };
    let job = Job {
        name: mover::pod_name("arca-restore", &[target.restore, &target.shown]),
        namespace: target.namespace,
        args: args(&snapshot, record.is_block(), target.mirror, settings.verify),
        source: target.source.clone(),
        block: record.is_block(),
        placement,
        writes: true,
    };
    let started = Instant::now();
    let outcome = match job::run(kube, settings, job).await {
        Ok(outcome) => outcome,
        Err(reason) => return out.failed(reason),
    };
    out.node = outcome.node().map(String::from);
    match outcome {
        PodOutcome::Succeeded { result, .. } => {
            out.files = result.files;
            out.bytes_written = result.bytes_written;
            out.removed = result.removed;
            out.duration_secs =
                if result.duration_secs > 0.0 { result.duration_secs } else { started.elapsed().as_secs_f64() };
            out.check = result.check;
            out
        }
        // A copy that does not match its snapshot is a failed restore.
        PodOutcome::Failed { reason, result, .. } => {
            out.check = result.and_then(|r| r.check);
            out.failed(reason)
        }
    }
}

/// `mover restore` arguments (after `arca`).
pub fn args(snapshot: &str, block: bool, mirror: bool, verify: bool) -> Vec<String> {
    let mut a = mover::snapshot_args("restore", snapshot, block);
    if mirror {
        a.push("--mirror".into());
    }
    if verify {
        a.push("--verify".into());
    }
    a
}

/// Where the mover goes: where the recorded volume may live (local and
/// `WaitForFirstConsumer` volumes: the mover is the first consumer, so the
/// volume is provisioned where the app can mount it), or for an inline
/// volume the node it was read on, when the target cluster has it.
async fn placement(kube: &Kube, record: &VolumeRecord, source: &VolumeSource) -> Placement {
    if let Some(affinity) = &record.node_affinity {
        // A PV's `spec.nodeAffinity` holds the selector under `required`.
        return Placement::Affinity(affinity.get("required").cloned().unwrap_or_else(|| affinity.clone()));
    }
    if let (VolumeSource::HostPath { .. }, Some(node)) = (source, &record.node) {
        let path = format!("/api/v1/nodes/{node}");
        if let Ok(Some(_)) = kube.get_opt(&path, "reading the volume's node").await {
            return Placement::Node(node.clone());
        }
    }
    Placement::Anywhere
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mover_arguments() {
        assert_eq!(
            args("ab", false, false, false).join(" "),
            "-o json mover restore --snapshot ab --target /arca/volume"
        );
        assert_eq!(
            args("ab", true, true, true).join(" "),
            "-o json mover restore --snapshot ab --block /dev/arca-volume --mirror --verify"
        );
    }
}
