//! The volume half of a backup (an `arca_kube::data::BackupDataPhase`):
//! inventory → method per volume → snapshots and mover pods, bounded by the
//! limits → one [`VolumeRecord`] per volume, failed ones also as errors.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arca_kube::api::Kube;
use arca_kube::backup::ItemError;
use arca_kube::data::{BackupData, BackupDataPhase, DataOutcome};
use futures::StreamExt;
use futures::future::BoxFuture;
use serde_json::{Value, json};

use crate::inventory::{self, VolumeItem};
use crate::limits::{Deadline, Limits};
use crate::method::{self, Decision, Facts, Mode, Plan};
use crate::mover::{self, MoverPod, Placement, VolumeSource};
use crate::policy::{Policy, VolumeFacts};
use crate::record::{Method, VolumeRecord, VolumeState};
use crate::run::{self, PodOutcome};
use crate::snapshot::{self, ClaimShape, Staged};
use crate::{CREATED_BY, CREATED_BY_LABEL};

/// Label naming the backup on everything a backup creates.
pub const BACKUP_LABEL: &str = "arca.io/backup";

/// Everything `arca backup create` says about volumes.
#[derive(Clone)]
pub struct VolumeBackupOptions {
    pub mode: Mode,
    pub policy: Option<Policy>,
    /// Arca's namespace for movers, staged snapshots and the credentials Secret.
    pub namespace: String,
    pub image: String,
    /// A `ResourceRequirements` object for mover containers.
    pub resources: Option<Value>,
    pub kubelet_root: String,
    pub keep_snapshots: bool,
    pub timeout: Duration,
    pub concurrency: usize,
    pub per_node: usize,
    /// The repository URL as movers reach it.
    pub repository: String,
    /// The host directory of a local-directory repository (mounted into movers).
    pub local_repository: Option<String>,
    pub password: Vec<u8>,
    /// The process's environment (the object-store variables are passed on).
    pub env: Vec<(String, String)>,
}

impl std::fmt::Debug for VolumeBackupOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password, never the environment.
        f.debug_struct("VolumeBackupOptions")
            .field("mode", &self.mode)
            .field("namespace", &self.namespace)
            .field("image", &self.image)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The data phase a backup runs for its volumes.
pub struct VolumeBackup(pub Arc<VolumeBackupOptions>);

impl BackupDataPhase for VolumeBackup {
    fn run<'a>(&'a self, ctx: BackupData<'a>) -> BoxFuture<'a, DataOutcome> {
        Box::pin(run_phase(&self.0, ctx))
    }
}

async fn run_phase(opts: &VolumeBackupOptions, ctx: BackupData<'_>) -> DataOutcome {
    let mut out = DataOutcome::default();
    let state = match inventory::read(ctx.kube, &mut out.log).await {
        Ok(s) => s,
        Err(e) => {
            let reason = format!("the volumes could not be listed, none was backed up: {e}");
            out.errors.push(ItemError { object: "volumes".into(), reason });
            return out;
        }
    };
    let items = inventory::assemble(&state, ctx.filter);
    if items.is_empty() {
        out.log.push("no volumes in the selection".into());
        return out;
    }
    let planned: Vec<(VolumeItem, Decision)> = items
        .into_iter()
        .map(|i| {
            let d = decide(&i, opts);
            (i, d)
        })
        .collect();
    let parents = match previous_snapshots(ctx.repo) {
        Ok(p) => p,
        Err(e) => {
            out.warnings.push(format!("earlier backups could not be read, every volume is read in full: {e}"));
            HashMap::new()
        }
    };
    let needs_movers =
        planned.iter().any(|(_, d)| d.plan == Plan::Run && matches!(d.method, Method::Move | Method::Fs));
    let session = if needs_movers { Some(Session::open(ctx.kube, opts, ctx.backup, &mut out.log).await) } else { None };
    let limits = Limits::new(opts.concurrency, opts.per_node);
    let work = Work {
        kube: ctx.kube,
        opts,
        backup: ctx.backup,
        limits: &limits,
        session: session.as_ref(),
        parents: &parents,
    };
    let records: Vec<VolumeRecord> = futures::stream::iter(planned)
        .map(|(item, decision)| work.protect(item, decision))
        .buffered(opts.concurrency.max(1) * 2)
        .collect()
        .await;
    if let Some(Ok(s)) = &session {
        s.close(ctx.kube).await;
    }
    for r in &records {
        out.log.push(log_line(r));
        match r.state {
            VolumeState::Failed => out.errors.push(ItemError { object: object_name(r), reason: r.reason.clone() }),
            VolumeState::NotProtected => {
                out.warnings.push(format!("{} is not protected: {}", object_name(r), r.reason))
            }
            _ => {}
        }
    }
    out.volumes = records.iter().filter_map(|r| serde_json::to_value(r).ok()).collect();
    out
}

fn object_name(r: &VolumeRecord) -> String {
    if r.inline { format!("volume {}", r.claim) } else { format!("PersistentVolumeClaim {}", r.claim) }
}

fn log_line(r: &VolumeRecord) -> String {
    let mut s = match r.state {
        // No method ran: the record's `skip` is a placeholder.
        VolumeState::NotProtected => format!("volume {}: {} ({})", r.claim, r.state, r.chosen_by),
        _ => format!("volume {}: {} ({}) {}", r.claim, r.method, r.chosen_by, r.state),
    };
    if r.state == VolumeState::Completed && matches!(r.method, Method::Move | Method::Fs) {
        s.push_str(&format!(
            ": {} file(s), {} byte(s) read, {} added, {:.1}s",
            r.files, r.bytes_read, r.bytes_added, r.duration_secs
        ));
    }
    if !r.reason.is_empty() {
        s.push_str(&format!(": {}", r.reason));
    }
    s
}

fn decide(item: &VolumeItem, opts: &VolumeBackupOptions) -> Decision {
    if !item.inline && item.pv.is_empty() {
        let reason = "the claim is not bound to a volume: no data to back up yet".to_string();
        return Decision { method: Method::Skip, chosen_by: "inventory".into(), plan: Plan::Skipped(reason) };
    }
    let facts = VolumeFacts {
        storage_class: &item.storage_class,
        driver: &item.driver,
        capacity: item.capacity_bytes,
        volume_type: &item.volume_type,
    };
    let views: Vec<_> = item.annotating_pods.iter().map(|p| p.view()).collect();
    let f = Facts {
        key: &item.key,
        claim_annotations: (!item.inline).then_some(&item.claim_annotations),
        pods: &views,
        policy: opts.policy.as_ref().and_then(|p| p.action_for(&facts)),
        driver: &item.driver,
        volume_type: &item.volume_type,
        snapshot_class: item.snapshot_class.as_deref(),
        readable_in_place: item.pods.iter().any(|p| p.node.is_some()) || local_with_affinity(item),
        inline: item.inline,
    };
    method::choose(&f, opts.mode)
}

fn local_with_affinity(item: &VolumeItem) -> bool {
    item.host_path.is_some() && item.node_affinity.is_some()
}

/// The newest repository snapshot of each volume in earlier backups (the
/// parent of its next one), among the snapshots still in the repository.
fn previous_snapshots(repo: &arca_repo::Repository) -> Result<HashMap<String, String>, arca_repo::Error> {
    let all = repo.list_snapshots()?;
    let present: std::collections::HashSet<String> = all.iter().map(|s| s.id.to_hex()).collect();
    let backups = all.iter().filter(|s| s.snapshot.kind == arca_kube::KIND_BACKUP);
    let mut parents = HashMap::new();
    for entry in backups.rev() {
        let Ok(report) = arca_kube::backup::BackupReport::from_snapshot(entry) else { continue };
        for record in crate::record::from_report(&report.volumes).into_iter().flatten() {
            if record.state == VolumeState::Completed
                && let Some(id) = record.repository_snapshot
                && present.contains(&id)
            {
                parents.entry(record.claim).or_insert(id);
            }
        }
    }
    Ok(parents)
}

/// Arca's namespace and the run's credentials Secret.
struct Session {
    namespace: String,
    secret: String,
    /// Object-store env entries for each mover.
    env: Vec<Value>,
}

impl Session {
    async fn open(
        kube: &Kube,
        opts: &VolumeBackupOptions,
        backup: &str,
        log: &mut Vec<String>,
    ) -> Result<Session, String> {
        let ns = &opts.namespace;
        let path = format!("/api/v1/namespaces/{ns}");
        match kube.get_opt(&path, &format!("namespace {ns}")).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                // File-level readers mount host paths and run as root: Pod Security's
                // baseline and restricted levels refuse them, so Arca's namespace is privileged.
                let body = json!({"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": ns, "labels": {CREATED_BY_LABEL: CREATED_BY,
                        "pod-security.kubernetes.io/enforce": "privileged"}}});
                kube.create("/api/v1/namespaces", &body, &format!("namespace {ns}"))
                    .await
                    .map_err(|e| format!("could not create the mover namespace {ns}: {e}"))?;
                log.push(format!("created namespace {ns} for Arca's mover pods"));
            }
            Err(e) => return Err(format!("could not read the mover namespace {ns}: {e}")),
        }
        let stamp = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default().to_string();
        let secret = mover::pod_name("arca-credentials", &[backup, &stamp]);
        let body = mover::credentials_secret(
            &secret,
            ns,
            &opts.repository,
            &opts.password,
            opts.env.iter().cloned(),
            &labels(backup),
        );
        kube.create(&format!("/api/v1/namespaces/{ns}/secrets"), &body, &format!("Secret {ns}/{secret}"))
            .await
            .map_err(|e| format!("could not create the movers' credentials Secret in {ns}: {e}"))?;
        let env = mover::credential_env_entries(&body, &secret);
        Ok(Session { namespace: ns.clone(), secret, env })
    }

    async fn close(&self, kube: &Kube) {
        let path = format!("/api/v1/namespaces/{}/secrets/{}", self.namespace, self.secret);
        if let Err(e) = kube.delete(&path, "the movers' credentials Secret").await
            && e.api_code() != Some(404)
        {
            tracing::warn!("could not delete the movers' credentials Secret {}: {e}", self.secret);
        }
    }
}

/// Labels on everything a backup creates.
fn labels(backup: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (CREATED_BY_LABEL.to_string(), CREATED_BY.to_string()),
        (BACKUP_LABEL.to_string(), label_value(backup)),
    ])
}

/// A label value (63 characters of `[A-Za-z0-9._-]`, alphanumeric at both ends).
fn label_value(s: &str) -> String {
    let cleaned: String =
        s.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '-' }).take(63).collect();
    cleaned.trim_matches(|c: char| !c.is_ascii_alphanumeric()).to_string()
}

struct Work<'a> {
    kube: &'a Kube,
    opts: &'a VolumeBackupOptions,
    backup: &'a str,
    limits: &'a Limits,
    session: Option<&'a Result<Session, String>>,
    parents: &'a HashMap<String, String>,
}

impl Work<'_> {
    async fn protect(&self, item: VolumeItem, decision: Decision) -> VolumeRecord {
        let started = Instant::now();
        let mut record = base_record(&item, &decision);
        match decision.plan {
            Plan::Skipped(reason) => (record.state, record.reason) = (VolumeState::Skipped, reason),
            Plan::NotProtected(reason) => (record.state, record.reason) = (VolumeState::NotProtected, reason),
            Plan::Failed(reason) => (record.state, record.reason) = (VolumeState::Failed, reason),
            Plan::Run => {
                let deadline = Deadline::after(self.opts.timeout);
                let result = match decision.method {
                    Method::Snapshot => self.snapshot_only(&item, &mut record, &deadline).await,
                    Method::Move => self.move_data(&item, &mut record, &deadline).await,
                    Method::Fs => self.read_in_place(&item, &mut record, &deadline).await,
                    Method::Skip => Ok(()),
                };
                match result {
                    Ok(()) => record.state = VolumeState::Completed,
                    Err(reason) => (record.state, record.reason) = (VolumeState::Failed, reason),
                }
            }
        }
        record.duration_secs = started.elapsed().as_secs_f64();
        record
    }

    async fn take_snapshot(
        &self,
        item: &VolumeItem,
        deadline: &Deadline,
    ) -> Result<crate::record::SnapshotRecord, String> {
        let class = item.snapshot_class.as_deref().unwrap_or_default();
        let name = mover::pod_name("arca-snap", &[self.backup, &item.key]);
        let result =
            snapshot::take(self.kube, (&item.namespace, &item.claim), &name, class, &labels(self.backup), deadline)
                .await;
        if result.is_err() {
            // Never leave a half-made snapshot behind.
            snapshot::delete_snapshot(self.kube, &item.namespace, &name).await;
        }
        result
    }

    async fn snapshot_only(
        &self,
        item: &VolumeItem,
        record: &mut VolumeRecord,
        deadline: &Deadline,
    ) -> Result<(), String> {
        let mut snap = self.take_snapshot(item, deadline).await?;
        let retained = snapshot::retain(self.kube, &snap.content).await;
        snap.kept = true;
        record.snapshot = Some(snap);
        retained
    }

    async fn move_data(&self, item: &VolumeItem, record: &mut VolumeRecord, deadline: &Deadline) -> Result<(), String> {
        let session = self.session()?;
        let snap = self.take_snapshot(item, deadline).await?;
        let name = mover::pod_name("arca-stage", &[self.backup, &item.key]);
        let shape =
            ClaimShape { storage_class: &item.storage_class, volume_mode: &item.volume_mode, capacity: &item.capacity };
        let (staged, made) =
            Staged::create(self.kube, (&session.namespace, &name), &snap, &shape, &labels(self.backup), deadline).await;
        let result = match made {
            Ok(()) => {
                let source = VolumeSource::Claim { name: staged.name.clone(), read_only: true };
                self.run_mover(item, record, source, Placement::Anywhere, deadline).await
            }
            Err(e) => Err(e),
        };
        staged.remove(self.kube).await;
        let mut snap = snap;
        snap.kept = self.opts.keep_snapshots;
        let retained = if snap.kept {
            snapshot::retain(self.kube, &snap.content).await
        } else {
            snapshot::delete_snapshot(self.kube, &item.namespace, &snap.name).await;
            Ok(())
        };
        record.snapshot = Some(snap);
        result.and(retained)
    }

    async fn read_in_place(
        &self,
        item: &VolumeItem,
        record: &mut VolumeRecord,
        deadline: &Deadline,
    ) -> Result<(), String> {
        if item.is_block() {
            return Err("fs reads file systems and this is a Block claim; use move".into());
        }
        let running = item.pods.iter().find(|p| p.node.is_some());
        let path = match fs_path(item, running, &self.opts.kubelet_root) {
            Some(p) => p,
            None => {
                return Err(format!(
                    "fs cannot find a {} volume's files on the node; use move, or a hostPath/local/CSI volume",
                    item.volume_type
                ));
            }
        };
        let placement = match (running.and_then(|p| p.node.clone()), &item.node_affinity) {
            (Some(node), _) => Placement::Node(node),
            (None, Some(affinity)) => Placement::Affinity(affinity["required"].clone()),
            (None, None) => return Err("fs needs the node holding the volume, and no running pod names one".into()),
        };
        if let Some(p) = running {
            record.pod = Some(format!("{}/{}", p.namespace, p.name));
        }
        self.run_mover(item, record, VolumeSource::HostPath { path }, placement, deadline).await
    }

    fn session(&self) -> Result<&Session, String> {
        match self.session {
            Some(Ok(s)) => Ok(s),
            Some(Err(e)) => Err(e.clone()),
            None => Err("no mover session was opened".into()),
        }
    }

    async fn run_mover(
        &self,
        item: &VolumeItem,
        record: &mut VolumeRecord,
        source: VolumeSource,
        placement: Placement,
        deadline: &Deadline,
    ) -> Result<(), String> {
        let session = self.session()?;
        let name = mover::pod_name("arca-mover", &[self.backup, &item.key]);
        let mut args: Vec<String> = ["-o", "json", "mover", "backup"].map(String::from).to_vec();
        if item.is_block() {
            args.extend(["--block".into(), mover::DEVICE_PATH.into()]);
        } else {
            args.extend(["--source".into(), mover::MOUNT_PATH.into()]);
        }
        args.extend(["--volume".into(), item.key.clone(), "--backup".into(), self.backup.to_string()]);
        if let Some(parent) = self.parents.get(&item.key) {
            args.extend(["--parent".into(), parent.clone()]);
            record.details.insert("parent".into(), json!(parent));
        }
        let node = match &placement {
            Placement::Node(n) => Some(n.clone()),
            _ => None,
        };
        let pod = MoverPod {
            name: name.clone(),
            namespace: session.namespace.clone(),
            image: self.opts.image.clone(),
            args,
            source,
            block: item.is_block(),
            placement,
            resources: self.opts.resources.clone(),
            secret: session.secret.clone(),
            local_repository: self.opts.local_repository.clone(),
            labels: labels(self.backup),
            env: session.env.clone(),
        };
        record.details.insert("mover_pod".into(), json!(format!("{}/{name}", session.namespace)));
        let _slot = self.limits.acquire(node.as_deref()).await;
        let outcome = run::run_pod(self.kube, &pod.to_pod(), deadline.remaining()).await;
        if let Some(n) = outcome.node() {
            record.node = Some(n.to_string());
            record.details.insert("mover_node".into(), json!(n));
        }
        match outcome {
            PodOutcome::Succeeded { result, .. } => {
                record.repository_snapshot = Some(result.snapshot);
                record.files = result.files;
                record.bytes_read = result.bytes_read;
                record.bytes_added = result.bytes_added;
                record.bytes_stored = result.bytes_stored;
                record.details.insert("mover_secs".into(), json!(result.duration_secs));
                Ok(())
            }
            PodOutcome::Failed { reason, .. } => Err(reason),
        }
    }
}

/// Where a running pod's volume lives on its node.
pub fn fs_path(item: &VolumeItem, running: Option<&inventory::PodUse>, kubelet_root: &str) -> Option<String> {
    if item.inline || matches!(item.volume_type.as_str(), "hostPath" | "local") {
        return item.host_path.clone();
    }
    let pod = running?;
    let root = kubelet_root.trim_end_matches('/');
    let plugin = match item.volume_type.as_str() {
        "csi" => return Some(format!("{root}/pods/{}/volumes/kubernetes.io~csi/{}/mount", pod.uid, item.pv)),
        "nfs" => "nfs",
        "iscsi" => "iscsi",
        "fc" => "fc",
        "rbd" => "rbd",
        "cephfs" => "cephfs",
        _ => return None,
    };
    Some(format!("{root}/pods/{}/volumes/kubernetes.io~{plugin}/{}", pod.uid, item.pv))
}

fn base_record(item: &VolumeItem, d: &Decision) -> VolumeRecord {
    VolumeRecord {
        claim: item.key.clone(),
        volume: item.pv.clone(),
        storage_class: item.storage_class.clone(),
        driver: item.driver.clone(),
        capacity: item.capacity.clone(),
        access_modes: item.access_modes.clone(),
        volume_mode: item.volume_mode.clone(),
        node_affinity: item.node_affinity.clone(),
        method: d.method,
        chosen_by: d.chosen_by.clone(),
        state: VolumeState::Failed,
        reason: String::new(),
        snapshot: None,
        repository_snapshot: None,
        host_path: item.host_path.clone(),
        inline: item.inline,
        pod: None,
        node: None,
        files: 0,
        bytes_read: 0,
        bytes_added: 0,
        bytes_stored: 0,
        duration_secs: 0.0,
        details: BTreeMap::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::PodUse;

    #[test]
    fn fs_paths_per_volume_type() {
        let pod = PodUse {
            namespace: "shop".into(),
            name: "db-0".into(),
            uid: "u1".into(),
            node: Some("n1".into()),
            volume: "d".into(),
            annotations: BTreeMap::new(),
        };
        let mut item = VolumeItem { pv: "pvc-1".into(), volume_type: "csi".into(), ..Default::default() };
        assert_eq!(
            fs_path(&item, Some(&pod), "/var/lib/kubelet/").as_deref(),
            Some("/var/lib/kubelet/pods/u1/volumes/kubernetes.io~csi/pvc-1/mount")
        );
        assert_eq!(fs_path(&item, None, "/k"), None);
        item.volume_type = "nfs".into();
        assert_eq!(fs_path(&item, Some(&pod), "/k").as_deref(), Some("/k/pods/u1/volumes/kubernetes.io~nfs/pvc-1"));
        item.volume_type = "local".into();
        item.host_path = Some("/mnt/disk".into());
        assert_eq!(fs_path(&item, None, "/k").as_deref(), Some("/mnt/disk"));
        item.volume_type = "azureDisk".into();
        assert_eq!(fs_path(&item, Some(&pod), "/k"), None);
    }

    #[test]
    fn label_values_are_valid() {
        assert_eq!(label_value("nightly"), "nightly");
        assert_eq!(label_value("a b/c"), "a-b-c");
        assert_eq!(label_value("-x-"), "x");
        assert_eq!(label_value(&"x".repeat(80)).len(), 63);
    }
}
