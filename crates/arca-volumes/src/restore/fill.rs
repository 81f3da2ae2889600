//! Filling one volume from the repository: a restore mover pod in the
//! volume's namespace (a pod can only mount a claim of its own namespace)
//! with a credentials Secret of its own there, owned by the pod so the
//! garbage collector removes it even if Arca dies, and deleted by Arca as
//! soon as the mover ends.

use std::time::{Duration, Instant};

use arca_kube::api::Kube;
use serde_json::{Value, json};

use super::result::{RestoreState, VolumeRestore};
use super::settings::MoverSettings;
use crate::mover::{self, MoverPod, Placement, VolumeSource};
use crate::record::VolumeRecord;
use crate::run::{self, PodOutcome};

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
    let name = mover::pod_name("arca-restore", &[target.restore, &target.shown]);
    let secret_name = format!("{name}-credentials");
    let secret = mover::credentials_secret(
        &secret_name,
        target.namespace,
        &settings.repository,
        &settings.password,
        settings.env.clone(),
        &settings.labels(),
    );
    let pod = MoverPod {
        name: name.clone(),
        namespace: target.namespace.to_string(),
        image: settings.image.clone(),
        args: args(&snapshot, record.is_block(), target.mirror),
        source: target.source.clone(),
        block: record.is_block(),
        placement: match &target.node {
            Some(node) => Placement::Node(node.clone()),
            None => placement(kube, record, &target.source).await,
        },
        resources: settings.resources.clone(),
        secret: secret_name.clone(),
        local_repository: settings.local_repository.clone(),
        labels: settings.labels(),
        env: mover::credential_env_entries(&secret, &secret_name),
    };
    let mut pod = pod.to_pod();
    if matches!(target.source, VolumeSource::HostPath { .. }) {
        writable_host_path(&mut pod);
    }
    let secrets = format!("/api/v1/namespaces/{}/secrets", target.namespace);
    let secret_path = format!("{secrets}/{secret_name}");
    let what = format!("mover credentials Secret {}/{secret_name}", target.namespace);
    if let Err(e) = create_secret(kube, &secrets, &secret_path, &secret, &what).await {
        return out.failed(format!("could not create {what}: {}", e.reason()));
    }
    let started = Instant::now();
    let pod_path = format!("/api/v1/namespaces/{}/pods/{name}", target.namespace);
    let (outcome, ()) = tokio::join!(
        run::run_pod(kube, &pod, settings.timeout),
        adopt_secret(kube, &pod_path, &secret_path, &what, settings.timeout)
    );
    if let Err(e) = kube.delete(&secret_path, &what).await
        && e.api_code() != Some(404)
    {
        tracing::warn!("{what}: could not delete it: {}", e.reason());
    }
    out.node = outcome.node().map(String::from);
    match outcome {
        PodOutcome::Succeeded { result, .. } => {
            out.files = result.files;
            out.bytes_written = result.bytes_written;
            out.removed = result.removed;
            out.duration_secs =
                if result.duration_secs > 0.0 { result.duration_secs } else { started.elapsed().as_secs_f64() };
            out
        }
        PodOutcome::Failed { reason, .. } => out.failed(reason),
    }
}

/// `mover restore` arguments (after `arca`).
pub fn args(snapshot: &str, block: bool, mirror: bool) -> Vec<String> {
    let mut a: Vec<String> = ["-o", "json", "mover", "restore", "--snapshot", snapshot].map(String::from).to_vec();
    if block {
        a.extend(["--block".to_string(), mover::DEVICE_PATH.to_string()]);
    } else {
        a.extend(["--target".to_string(), mover::MOUNT_PATH.to_string()]);
    }
    if mirror {
        a.push("--mirror".into());
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

/// An inline `hostPath` is written to, and made if missing.
fn writable_host_path(pod: &mut Value) {
    pod["spec"]["volumes"][0]["hostPath"]["type"] = json!("DirectoryOrCreate");
    pod["spec"]["containers"][0]["volumeMounts"][0]["readOnly"] = json!(false);
}

/// Creates the Secret, replacing a leftover of a killed run of the same restore.
async fn create_secret(kube: &Kube, collection: &str, path: &str, secret: &Value, what: &str) -> arca_kube::Result<()> {
    match kube.create(collection, secret, &format!("creating {what}")).await {
        Err(e) if e.api_code() == Some(409) => {
            kube.delete(path, what).await?;
            kube.create(collection, secret, &format!("creating {what}")).await.map(drop)
        }
        other => other.map(drop),
    }
}

/// Once the mover pod exists, makes it the Secret's owner: the Secret goes
/// with the pod whatever happens to Arca.
async fn adopt_secret(kube: &Kube, pod_path: &str, secret_path: &str, what: &str, timeout: Duration) {
    let start = Instant::now();
    while start.elapsed() < timeout.min(Duration::from_secs(120)) {
        if let Ok(Some(pod)) = kube.get_opt(pod_path, "reading the mover pod").await {
            let (Some(name), Some(uid)) = (pod["metadata"]["name"].as_str(), pod["metadata"]["uid"].as_str()) else {
                return;
            };
            let owner = json!({"metadata": {"ownerReferences": [
                {"apiVersion": "v1", "kind": "Pod", "name": name, "uid": uid, "blockOwnerDeletion": false}]}});
            if let Err(e) = kube.merge_patch(secret_path, &owner, &format!("making the mover pod own {what}")).await {
                tracing::info!("{what}: not owned by its mover pod: {}", e.reason());
            }
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mover_arguments() {
        assert_eq!(args("ab", false, false).join(" "), "-o json mover restore --snapshot ab --target /arca/volume");
        assert_eq!(
            args("ab", true, true).join(" "),
            "-o json mover restore --snapshot ab --block /dev/arca-volume --mirror"
        );
    }
}
