//! One mover pod in a volume's namespace (a pod can only mount a claim of
//! its own namespace) with a credentials Secret of its own there, owned by
//! the pod so the garbage collector removes it even if Arca dies, and
//! deleted by Arca as soon as the mover ends. Restore movers ([`super::fill`])
//! and check movers ([`crate::verify`]) run this way.

use std::time::{Duration, Instant};

use arca_kube::api::Kube;
use serde_json::{Value, json};

use super::settings::MoverSettings;
use crate::mover::{self, MoverPod, Placement, VolumeSource};
use crate::run::{self, PodOutcome};

/// What one mover pod does.
pub(crate) struct Job<'a> {
    /// The pod's name; its Secret is `NAME-credentials`.
    pub name: String,
    pub namespace: &'a str,
    /// Arguments after `arca`.
    pub args: Vec<String>,
    pub source: VolumeSource,
    pub block: bool,
    pub placement: Placement,
    /// The mover writes into the volume: an inline `hostPath` is made if
    /// missing and mounted writable.
    pub writes: bool,
}

/// Runs `job` to its end with its credentials Secret. `Err` when the
/// Secret could not be created (nothing ran).
pub(crate) async fn run(kube: &Kube, settings: &MoverSettings, job: Job<'_>) -> Result<PodOutcome, String> {
    let secret_name = format!("{}-credentials", job.name);
    let secret = mover::credentials_secret(
        &secret_name,
        job.namespace,
        &settings.repository,
        &settings.password,
        settings.env.clone(),
        &settings.labels(),
    );
    let pod = MoverPod {
        name: job.name.clone(),
        namespace: job.namespace.to_string(),
        image: settings.image.clone(),
        args: job.args,
        source: job.source.clone(),
        block: job.block,
        placement: job.placement,
        resources: settings.resources.clone(),
        secret: secret_name.clone(),
        local_repository: settings.local_repository.clone(),
        labels: settings.labels(),
        env: mover::credential_env_entries(&secret, &secret_name),
    };
    let mut pod = pod.to_pod();
    if job.writes && matches!(job.source, VolumeSource::HostPath { .. }) {
        writable_host_path(&mut pod);
    }
    let secrets = format!("/api/v1/namespaces/{}/secrets", job.namespace);
    let secret_path = format!("{secrets}/{secret_name}");
    let what = format!("mover credentials Secret {}/{secret_name}", job.namespace);
    if let Err(e) = create_secret(kube, &secrets, &secret_path, &secret, &what).await {
        return Err(format!("could not create {what}: {}", e.reason()));
    }
    let pod_path = format!("/api/v1/namespaces/{}/pods/{}", job.namespace, job.name);
    let (outcome, ()) = tokio::join!(
        run::run_pod(kube, &pod, settings.timeout),
        adopt_secret(kube, &pod_path, &secret_path, &what, settings.timeout)
    );
    if let Err(e) = kube.delete(&secret_path, &what).await
        && e.api_code() != Some(404)
    {
        tracing::warn!("{what}: could not delete it: {}", e.reason());
    }
    Ok(outcome)
}

/// An inline `hostPath` is written to, and made if missing.
fn writable_host_path(pod: &mut Value) {
    pod["spec"]["volumes"][0]["hostPath"]["type"] = json!("DirectoryOrCreate");
    pod["spec"]["containers"][0]["volumeMounts"][0]["readOnly"] = json!(false);
}

/// Creates the Secret, replacing a leftover of a killed run of the same job.
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
