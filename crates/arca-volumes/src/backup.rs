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

use crate::freeze::{self, Consistency, Freezer};
use crate::group;
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
    /// Application hooks around the snapshots, if any.
    pub freezer: Option<Arc<dyn Freezer>>,
    pub consistency: Consistency,
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
    let namespaces = ctx.filter.literal_namespaces();
    let state = match inventory::read(ctx.kube, namespaces.as_deref(), &mut out.log).await {
        Ok(s) => s,
        Err(e) => {
            let reason = format!("the volumes could not be listed, none was backed up: {e}");
            out.errors.push(ItemError { object: "volumes".into(), reason });
            return out;
        }
    };
    let items = inventory::assemble(&state, ctx.filter);
    let hooked = match &opts.freezer {
        Some(f) => hooked_pods(&state, ctx.filter, &items, f.as_ref()),
        None => Vec::new(),
    };
    if items.is_empty() && hooked.is_empty() {
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
    let group_api = match opts.consistency {
        Consistency::Group if !hooked.is_empty() => group::GroupApi::discover(ctx.kube, &mut out.log).await,
        _ => None,
    };
    let work = Work {
        kube: ctx.kube,
        opts,
        backup: ctx.backup,
        limits: &limits,
        session: session.as_ref(),
        parents: &parents,
        groups: group_api.as_ref(),
    };
    let records: Vec<VolumeRecord> = match &opts.freezer {
        Some(freezer) if !hooked.is_empty() => work.protect_frozen(planned, &hooked, freezer.as_ref()).await,
        _ => {
            futures::stream::iter(planned)
                .map(|(item, decision)| work.protect(item, decision))
                .buffered(opts.concurrency.max(1) * 2)
                .collect()
                .await
        }
    };
    if let Some(Ok(s)) = &session {
        s.close(ctx.kube).await;
    }
    if let Some(freezer) = &opts.freezer {
        out.merge(freezer.outcome());
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

fn driver_class(api: Option<&group::GroupApi>, driver: &str) -> String {
    api.and_then(|g| g.classes.get(driver)).cloned().unwrap_or_default()
}

/// Running pods with hooks: selected by the backup, or mounting one of its volumes.
fn hooked_pods(
    state: &inventory::ClusterState,
    filter: &arca_kube::filter::Filter,
    items: &[VolumeItem],
    freezer: &dyn Freezer,
) -> Vec<Value> {
    let mounting: std::collections::HashSet<String> =
        items.iter().flat_map(|i| i.pods.iter().map(|p| format!("{}/{}", p.namespace, p.name))).collect();
    let ours = |o: &Value| arca_kube::objects::label(o, crate::CREATED_BY_LABEL) == Some(crate::CREATED_BY);
    state
        .pods
        .iter()
        .filter(|p| p["status"]["phase"] == "Running" && p["metadata"]["deletionTimestamp"].is_null() && !ours(p))
        .filter(|p| {
            (filter.object_namespace_included(p) && filter.object_selected(p)) || mounting.contains(&pod_key(p))
        })
        .filter(|p| freezer.has_hooks(p))
        .cloned()
        .collect()
}

fn pod_key(pod: &Value) -> String {
    let ns = arca_kube::objects::namespace(pod).unwrap_or_default();
    format!("{ns}/{}", arca_kube::objects::name(pod))
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
    /// The group snapshot API, with `--consistency group`.
    groups: Option<&'a group::GroupApi>,
}

/// A volume on its way: planned, maybe cut (the snapshot taken or the
/// files read), then finished (content read, data moved).
struct Pending {
    item: VolumeItem,
    method: Method,
    record: VolumeRecord,
    deadline: Deadline,
    started: Instant,
    /// Still to do (planned to run and nothing failed yet).
    open: bool,
    /// Cut already (a snapshot created and cut, or an `fs` read done).
    cut: bool,
    /// Its VolumeSnapshot (a group snapshot's member has the group's name for it).
    snap_name: String,
}

/// A timestamp for the records (nanoseconds, as the hook records have, so orders show).
fn stamp() -> Value {
    json!(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
}

impl Work<'_> {
    async fn protect(&self, item: VolumeItem, decision: Decision) -> VolumeRecord {
        let mut p = self.begin(item, decision);
        self.cut(&mut p).await;
        self.finish(p).await
    }

    fn begin(&self, item: VolumeItem, decision: Decision) -> Pending {
        let mut record = base_record(&item, &decision);
        let (mut open, skip_run) = (false, decision.plan == Plan::Run && decision.method == Method::Skip);
        match decision.plan {
            Plan::Skipped(reason) => (record.state, record.reason) = (VolumeState::Skipped, reason),
            Plan::NotProtected(reason) => (record.state, record.reason) = (VolumeState::NotProtected, reason),
            Plan::Failed(reason) => (record.state, record.reason) = (VolumeState::Failed, reason),
            Plan::Run => open = decision.method != Method::Skip,
        }
        if skip_run {
            record.state = VolumeState::Completed;
        }
        Pending {
            snap_name: self.snapshot_name(&item),
            item,
            method: decision.method,
            record,
            deadline: Deadline::after(self.opts.timeout),
            started: Instant::now(),
            open,
            cut: false,
        }
    }

    fn fail(p: &mut Pending, reason: String) {
        (p.record.state, p.record.reason, p.open) = (VolumeState::Failed, reason, false);
    }

    /// Takes the snapshot until it is cut (`snapshot`, `move`) or reads the files (`fs`).
    async fn cut(&self, p: &mut Pending) {
        if !p.open || p.cut {
            return;
        }
        p.cut = true;
        p.record.details.insert("cut_started".into(), stamp());
        let result = match p.method {
            Method::Snapshot | Method::Move => self.start_snapshot(&p.item, &p.snap_name, &p.deadline).await,
            Method::Fs => self.read_in_place(&p.item, &mut p.record, &p.deadline).await,
            Method::Skip => Ok(()),
        };
        p.record.details.insert("cut_finished".into(), stamp());
        if let Err(reason) = result {
            Self::fail(p, reason);
        }
    }

    async fn finish(&self, mut p: Pending) -> VolumeRecord {
        self.cut(&mut p).await;
        if p.open {
            let result = match p.method {
                Method::Snapshot => self.snapshot_only(&p.item, &p.snap_name, &mut p.record, &p.deadline).await,
                Method::Move => self.move_data(&p.item, &p.snap_name, &mut p.record, &p.deadline).await,
                Method::Fs | Method::Skip => Ok(()),
            };
            match result {
                Ok(()) => p.record.state = VolumeState::Completed,
                Err(reason) => Self::fail(&mut p, reason),
            }
        }
        p.record.duration_secs = p.started.elapsed().as_secs_f64();
        p.record
    }

    /// Pods with hooks: each unit frozen, its volumes cut, thawed — one
    /// unit after another (`pod`), or all frozen, all cut at once, all
    /// thawed (`group`); then every volume finished as usual.
    async fn protect_frozen(
        &self,
        planned: Vec<(VolumeItem, Decision)>,
        pods: &[Value],
        freezer: &dyn Freezer,
    ) -> Vec<VolumeRecord> {
        let keys: Vec<String> = pods.iter().map(pod_key).collect();
        let items: Vec<VolumeItem> = planned.iter().map(|(i, _)| i.clone()).collect();
        let units = freeze::units(&keys, &items);
        let mut slots: Vec<Option<Pending>> = planned.into_iter().map(|(i, d)| Some(self.begin(i, d))).collect();
        let mut groups = Vec::new();
        match self.opts.consistency {
            Consistency::Pod => {
                for unit in &units {
                    let mut mine: Vec<Pending> = unit.items.iter().filter_map(|i| slots[*i].take()).collect();
                    let frozen = self.freeze_unit(unit, pods, freezer).await;
                    self.cut_all(&mut mine, frozen).await;
                    self.thaw_unit(unit, freezer).await;
                    for (i, p) in unit.items.iter().zip(mine) {
                        slots[*i] = Some(p);
                    }
                }
            }
            Consistency::Group => {
                let frozen = futures::future::join_all(units.iter().map(|u| self.freeze_unit(u, pods, freezer))).await;
                let mut taken: Vec<Vec<Pending>> =
                    units.iter().map(|u| u.items.iter().filter_map(|i| slots[*i].take()).collect()).collect();
                for (mine, f) in taken.iter_mut().zip(frozen) {
                    if let Err(why) = f {
                        self.cut_all(mine, Err(why)).await;
                    }
                }
                groups = self.cut_together(taken.iter_mut().flatten().collect()).await;
                futures::future::join_all(units.iter().map(|u| self.thaw_unit(u, freezer))).await;
                for (unit, mine) in units.iter().zip(taken) {
                    for (i, p) in unit.items.iter().zip(mine) {
                        slots[*i] = Some(p);
                    }
                }
            }
        }
        let records: Vec<VolumeRecord> = futures::stream::iter(slots.into_iter().flatten())
            .map(|p| self.finish(p))
            .buffered(self.opts.concurrency.max(1) * 2)
            .collect()
            .await;
        self.drop_groups(&groups, &records).await;
        records
    }

    /// Cuts every pending volume at once: one VolumeGroupSnapshot per
    /// namespace and driver where a class serves the driver, the others
    /// individually. Returns the group snapshots made (`NAMESPACE`, name).
    async fn cut_together(&self, pending: Vec<&mut Pending>) -> Vec<(String, String)> {
        let mut grouped: BTreeMap<(String, String), Vec<&mut Pending>> = BTreeMap::new();
        let mut single = Vec::new();
        for p in pending.into_iter().filter(|p| p.open && !p.cut) {
            let served = self.groups.and_then(|g| g.classes.get(&p.item.driver)).is_some();
            if served && !p.item.inline && matches!(p.method, Method::Snapshot | Method::Move) {
                grouped.entry((p.item.namespace.clone(), p.item.driver.clone())).or_default().push(p);
            } else {
                single.push(p);
            }
        }
        let names: Vec<(String, String)> = grouped
            .keys()
            .map(|(ns, driver)| (ns.clone(), mover::pod_name("arca-group", &[self.backup, ns, driver])))
            .collect();
        let groups = grouped.into_iter().zip(&names).map(|(((_, driver), members), (ns, name))| {
            self.cut_group(ns, name, driver_class(self.groups, &driver), members)
        });
        let singles = futures::future::join_all(single.into_iter().map(|p| self.cut(p)));
        futures::future::join(futures::future::join_all(groups), singles).await;
        names
    }

    async fn cut_group(&self, ns: &str, name: &str, class: String, mut members: Vec<&mut Pending>) {
        let Some(api) = self.groups else { return };
        let started = stamp();
        let claims: Vec<(String, String)> = members.iter().map(|p| (p.item.claim.clone(), p.item.pv.clone())).collect();
        let list: Vec<group::Member> = claims.iter().map(|(c, v)| group::Member { claim: c, pv: v }).collect();
        let deadline = Deadline::after(self.opts.timeout);
        let result = group::take(self.kube, api, (ns, name), &class, &list, &labels(self.backup), &deadline).await;
        let finished = stamp();
        for p in members.iter_mut() {
            p.cut = true;
            p.record.details.insert("cut_started".into(), started.clone());
            p.record.details.insert("cut_finished".into(), finished.clone());
            p.record.details.insert("group_snapshot".into(), json!(format!("{ns}/{name}")));
            match result.as_ref().map(|m| m.get(&p.item.claim)) {
                Ok(Some(snap)) => p.snap_name = snap.clone(),
                Ok(None) => Self::fail(p, format!("VolumeGroupSnapshot {ns}/{name} has no member for this claim")),
                Err(e) => Self::fail(p, e.clone()),
            }
        }
    }

    /// Deletes the group snapshots none of whose members is kept.
    async fn drop_groups(&self, groups: &[(String, String)], records: &[VolumeRecord]) {
        let Some(api) = self.groups else { return };
        for (ns, name) in groups {
            let tag = json!(format!("{ns}/{name}"));
            let kept = records
                .iter()
                .filter(|r| r.details.get("group_snapshot") == Some(&tag))
                .any(|r| r.snapshot.as_ref().is_some_and(|s| s.kept));
            if !kept {
                group::delete(self.kube, api, ns, name).await;
            }
        }
    }

    /// Cuts the unit's volumes at once, or fails them when its freeze failed.
    async fn cut_all(&self, mine: &mut [Pending], frozen: Result<(), String>) {
        match frozen {
            Ok(()) => {
                futures::future::join_all(mine.iter_mut().map(|p| self.cut(p))).await;
            }
            Err(why) => {
                for p in mine.iter_mut().filter(|p| p.open) {
                    Self::fail(p, format!("not snapshotted: a pre hook failed: {why}"));
                }
            }
        }
    }

    /// Runs the pre hooks of every pod of the unit; the first failure fails the unit.
    async fn freeze_unit(&self, unit: &freeze::Unit, pods: &[Value], freezer: &dyn Freezer) -> Result<(), String> {
        let mut failed = Ok(());
        for (key, volumes) in &unit.pods {
            let Some(pod) = pods.iter().find(|p| pod_key(p) == *key) else { continue };
            if let Err(e) = freezer.freeze(self.kube, pod, volumes).await
                && failed.is_ok()
            {
                failed = Err(e);
            }
        }
        failed
    }

    async fn thaw_unit(&self, unit: &freeze::Unit, freezer: &dyn Freezer) {
        for (key, _) in &unit.pods {
            freezer.thaw(key).await;
        }
    }

    /// Creates the item's VolumeSnapshot and waits until it is cut.
    async fn start_snapshot(&self, item: &VolumeItem, name: &str, deadline: &Deadline) -> Result<(), String> {
        let class = item.snapshot_class.as_deref().unwrap_or_default();
        let result = async {
            snapshot::start(self.kube, (&item.namespace, &item.claim), name, class, &labels(self.backup)).await?;
            snapshot::wait_cut(self.kube, &item.namespace, name, deadline).await
        }
        .await;
        if result.is_err() {
            // Never leave a half-made snapshot behind.
            snapshot::delete_snapshot(self.kube, &item.namespace, name).await;
        }
        result
    }

    fn snapshot_name(&self, item: &VolumeItem) -> String {
        mover::pod_name("arca-snap", &[self.backup, &item.key])
    }

    /// Waits for the cut snapshot to be ready and reads its record.
    async fn take_snapshot(
        &self,
        item: &VolumeItem,
        name: &str,
        deadline: &Deadline,
    ) -> Result<crate::record::SnapshotRecord, String> {
        let class = item.snapshot_class.as_deref().unwrap_or_default();
        let result = snapshot::complete(self.kube, &item.namespace, name, class, deadline).await;
        if result.is_err() {
            // Never leave a half-made snapshot behind.
            snapshot::delete_snapshot(self.kube, &item.namespace, name).await;
        }
        result
    }

    async fn snapshot_only(
        &self,
        item: &VolumeItem,
        name: &str,
        record: &mut VolumeRecord,
        deadline: &Deadline,
    ) -> Result<(), String> {
        let mut snap = self.take_snapshot(item, name, deadline).await?;
        let retained = snapshot::retain(self.kube, &snap.content).await;
        snap.kept = true;
        record.snapshot = Some(snap);
        retained
    }

    async fn move_data(
        &self,
        item: &VolumeItem,
        snap_name: &str,
        record: &mut VolumeRecord,
        deadline: &Deadline,
    ) -> Result<(), String> {
        let session = self.session()?;
        let snap = self.take_snapshot(item, snap_name, deadline).await?;
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
