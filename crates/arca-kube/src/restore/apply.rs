//! The apply step: sends a prepared restore to the cluster, group by group
//! (priority rank, then objects owned by restored objects by depth), each
//! group's objects streamed from the backup a batch at a time and created
//! with bounded concurrency. CRDs are waited for until Established and
//! discovery is refreshed before anything that needs them; namespaces that
//! would be missing are created; a namespace still terminating (a restore
//! right after a delete) is waited out. Results go to a line file as they
//! come; only counts, notable results and the `--wait` set stay in memory.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::api::Kube;
use crate::catalog::CatalogEntry;
use crate::diff;
use crate::discover::{self, Discovery};
use crate::error::{Error, Result};
use crate::objects::{self, ResourceType};
use arca_repo::Id;

use crate::admission;
use crate::restore::convert;
use crate::restore::lines::LineWriter;
use crate::restore::plan::{Group, PlanItem, Planner, TransformContext, transform};
use crate::restore::read::{self, Batch};
use crate::restore::readiness::{self, Readiness};
use crate::restore::rebind;
use crate::restore::report::{Capped, ItemResult, Outcome, Tally, WARNINGS_KEPT};
use crate::restore::versions::{self, Resolution, Unresolved};
use crate::restore::{ExistingPolicy, Prepared, RestoreOptions};

/// How often `--wait` looks at what is not ready yet.
const READY_POLL: Duration = Duration::from_secs(1);
/// Batches read ahead of the one being applied.
const READ_AHEAD: usize = 1;

/// What the apply step produced (the results themselves went to their file).
pub struct Outcomes {
    pub tally: Tally,
    pub warnings: Capped<String>,
    /// The data phase's per-volume results, and how many failed.
    pub volumes: Vec<Value>,
    pub volumes_failed: u64,
    /// The data phase's restore hooks and dumps.
    pub hooks: Vec<Value>,
    pub dumps: Vec<Value>,
}

struct Applier<'a> {
    kube: &'a Kube,
    planner: &'a Planner,
    opts: &'a RestoreOptions,
    disco: RwLock<Discovery>,
    /// The target's Kubernetes version (`v1.33`), read once.
    target: String,
    /// Set when discovery failed: every object fails with this reason.
    broken: Option<String>,
    uids: Mutex<BTreeMap<String, String>>,
    /// Backup uids that some restored object names as its owner: the only
    /// new uids worth remembering.
    owner_uids: &'a HashSet<String>,
    results: &'a LineWriter,
    log: &'a LineWriter,
    tally: Mutex<Tally>,
    /// `--wait`: restored objects of watched kinds, reported once waited for.
    waiting: Mutex<Vec<(PlanItem, ItemResult)>>,
    warnings: Mutex<Capped<String>>,
    /// Claims created to be filled by the data phase.
    to_fill: Mutex<Vec<crate::data::RestoredClaim>>,
    volumes: Mutex<crate::data::RestoreDataOutcome>,
    /// Objects the data phase follows, once sent ([`crate::data::RestoredObject`]).
    followed: Mutex<Vec<crate::data::RestoredObject>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

const CRDS: &str = "customresourcedefinitions.apiextensions.k8s.io";

fn result(item: &PlanItem, outcome: Outcome, reason: Option<String>) -> ItemResult {
    ItemResult { object: item.display(), outcome, reason, converted: None, transform: Vec::new(), ready: None }
}

/// The target's version as `v1.33` (errors name it; unknown when unreadable).
async fn target_version(kube: &Kube) -> String {
    let version = kube.get("/version", "reading the target's version").await.ok();
    versions::minor_version(version.as_ref().and_then(|v| objects::str_at(v, "/gitVersion")).unwrap_or_default())
}

/// Adds a note (e.g. how a claim's volume was chosen) to an item's reason.
fn add_note(r: &mut ItemResult, note: Option<String>) {
    if let Some(n) = note {
        r.reason = Some(match r.reason.take() {
            Some(why) => format!("{why}; {n}"),
            None => n,
        });
    }
}

/// Which pass a group belongs to: priority order (objects restored later
/// are left out), or the later ones (owned by restored objects).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    Priority,
    Later,
}

/// Applies a prepared restore, writing each object's result to `results`
/// and events to `log`. Each object's failure is in its result; only a
/// backup that cannot be read fails the whole.
pub async fn execute(
    kube: &Kube,
    prepared: &Prepared,
    opts: &RestoreOptions,
    results: &LineWriter,
    log: &LineWriter,
) -> Result<Outcomes> {
    let planner = &prepared.planner;
    let mut app = Applier {
        kube,
        planner,
        opts,
        disco: RwLock::new(Discovery::default()),
        target: target_version(kube).await,
        broken: None,
        uids: Mutex::new(BTreeMap::new()),
        owner_uids: planner.owner_uids(),
        results,
        log,
        tally: Mutex::new(Tally::default()),
        waiting: Mutex::new(Vec::new()),
        warnings: Mutex::new(Capped::default()),
        to_fill: Mutex::new(Vec::new()),
        volumes: Mutex::new(Default::default()),
        followed: Mutex::new(Vec::new()),
    };
    if let Err(e) = app.refresh_discovery().await {
        let reason = format!("discovery failed: {}", e.reason());
        app.warn(reason.clone());
        app.broken = Some(reason);
    }
    let ns_rank = planner.namespace_rank(&prepared.groups);
    let claims_rank = planner.rank("", "persistentvolumeclaims");
    let mut namespaces_ready = false;
    let mut filled = false;
    // Admission and APIServices wait until the owned objects are in too.
    let (head, tail): (Vec<_>, Vec<_>) = prepared.groups.iter().partition(|g| !planner.is_tail(g.rank));
    for group in head {
        if !namespaces_ready && ns_rank.is_none_or(|r| group.rank > r) {
            app.ensure_namespaces(planner.target_namespaces()).await;
            namespaces_ready = true;
        }
        if !filled && group.rank > claims_rank {
            app.fill_volumes().await;
            filled = true;
        }
        app.apply_dirs(prepared, group).await?;
    }
    if !namespaces_ready {
        app.ensure_namespaces(planner.target_namespaces()).await;
    }
    if !filled {
        app.fill_volumes().await;
    }
    let later = planner.later();
    let mut start = 0;
    while start < later.len() {
        let key = (later[start].depth, later[start].rank);
        let end = later[start..].iter().position(|l| (l.depth, l.rank) != key).map_or(later.len(), |p| start + p);
        let entries: Vec<CatalogEntry> = later[start..end].iter().map(|l| l.entry.clone()).collect();
        let catalog = Arc::clone(&prepared.catalog);
        let batches = spawn_reader(move |send| read::read_batches(&catalog, entries.into_iter().map(Ok), send));
        app.apply_group(batches, Pass::Later).await?;
        start = end;
    }
    for group in tail {
        app.apply_dirs(prepared, group).await?;
    }
    let mut waiting = std::mem::take(&mut *lock(&app.waiting));
    if let (Some(timeout), false) = (opts.wait, opts.dry_run) {
        app.wait_ready(&mut waiting, timeout).await;
    }
    for (_, r) in waiting {
        app.report(r);
    }
    app.after_apply().await;
    let volumes = app.volumes.into_inner().unwrap_or_else(|e| e.into_inner());
    Ok(Outcomes {
        tally: app.tally.into_inner().unwrap_or_else(|e| e.into_inner()),
        warnings: app.warnings.into_inner().unwrap_or_else(|e| e.into_inner()),
        volumes: volumes.volumes,
        volumes_failed: volumes.failed,
        hooks: volumes.hooks,
        dumps: volumes.dumps,
    })
}

/// Runs a blocking reader that hands batches to the returned channel (a
/// batch or two ahead of the applier).
fn spawn_reader<F>(read: F) -> mpsc::Receiver<Result<Batch>>
where
    F: FnOnce(&mut dyn FnMut(Batch) -> Result<()>) -> Result<()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(READ_AHEAD);
    tokio::task::spawn_blocking(move || {
        let mut send = |batch: Batch| {
            tx.blocking_send(Ok(batch)).map_err(|_| Error::Task("the restore stopped reading the backup".into()))
        };
        if let Err(e) = read(&mut send) {
            let _ = tx.blocking_send(Err(e));
        }
    });
    rx
}

impl Applier<'_> {
    fn note(&self, line: String) {
        tracing::info!("{line}");
        self.log.line(format!("{} {line}", Utc::now().format("%H:%M:%S%.3f")));
    }

    fn warn(&self, line: String) {
        self.note(format!("warning: {line}"));
        lock(&self.warnings).push(line, WARNINGS_KEPT);
    }

    /// One object's final result: counted, and written to the results.
    fn report(&self, r: ItemResult) {
        lock(&self.tally).add(&r);
        match serde_json::to_string(&r) {
            Ok(line) => self.results.line(line),
            Err(e) => self.warn(format!("{}: result not stored: {e}", r.object)),
        }
    }

    /// A result as it comes: objects `--wait` watches are held until waited for.
    fn record(&self, item: PlanItem, r: ItemResult) {
        let restored = matches!(r.outcome, Outcome::Created | Outcome::Updated | Outcome::Unchanged);
        if self.opts.wait.is_some() && !self.opts.dry_run && restored && readiness::watched(&item.group, &item.kind) {
            lock(&self.waiting).push((item, r));
        } else {
            self.report(r);
        }
    }

    /// Reads one priority group's directories in storage order and applies them.
    async fn apply_dirs(&self, prepared: &Prepared, group: &Group<Id>) -> Result<()> {
        let catalog = Arc::clone(&prepared.catalog);
        let dirs = group.dirs.clone();
        let batches = spawn_reader(move |send| read::read_batches(&catalog, read::dir_entries(&catalog, &dirs), send));
        self.apply_group(batches, Pass::Priority).await
    }

    /// Plans and applies one group's objects as they are read; then waits
    /// for the CRDs it restored.
    async fn apply_group(&self, mut batches: mpsc::Receiver<Result<Batch>>, pass: Pass) -> Result<()> {
        let read_error: Mutex<Option<Error>> = Mutex::new(None);
        let objects = futures::stream::poll_fn(|cx| batches.poll_recv(cx))
            .map(|batch| {
                batch.unwrap_or_else(|e| {
                    *lock(&read_error) = Some(e);
                    Vec::new()
                })
            })
            .flat_map(futures::stream::iter)
            .filter_map(|(entry, obj)| {
                let later = pass == Pass::Priority && self.planner.is_later(&entry.path);
                let item = if later { None } else { self.planner.item(&entry, &obj) };
                futures::future::ready(item.map(|i| (i, obj)))
            })
            .map(|(item, obj)| async move {
                let r = self.restore_one(&item, obj).await;
                (item, r)
            })
            .buffer_unordered(self.opts.concurrency.max(1));
        futures::pin_mut!(objects);
        let mut crds = Vec::new();
        while let Some((item, r)) = objects.next().await {
            let restored = matches!(r.outcome, Outcome::Created | Outcome::Updated | Outcome::Unchanged);
            if restored && item.group_resource() == CRDS {
                crds.push(item.name.clone());
            }
            self.record(item, r);
        }
        if let Some(e) = lock(&read_error).take() {
            return Err(e);
        }
        if !crds.is_empty() && !self.opts.dry_run {
            self.wait_established(&crds).await;
            if let Err(e) = self.refresh_discovery().await {
                self.warn(format!("refreshing discovery after restoring CRDs: {}", e.reason()));
            }
        }
        Ok(())
    }

    async fn refresh_discovery(&self) -> Result<()> {
        let d = discover::discover(self.kube).await?;
        *self.disco.write().unwrap_or_else(|e| e.into_inner()) = d;
        Ok(())
    }

    /// Where the target takes this object ([`versions`]).
    fn resolution(&self, item: &PlanItem) -> Result<Resolution, Unresolved> {
        let d = self.disco.read().unwrap_or_else(|e| e.into_inner());
        versions::resolve(&d, &item.group, &item.version, &item.kind)
    }

    fn resolve(&self, item: &PlanItem) -> Option<ResourceType> {
        self.resolution(item).ok().map(|r| r.resource_type().clone())
    }

    async fn restore_one(&self, item: &PlanItem, original: Value) -> ItemResult {
        if let Some(why) = &item.skip {
            return result(item, Outcome::Skipped, Some(why.clone()));
        }
        if let Some(why) = &self.broken {
            return result(item, Outcome::Failed, Some(why.clone()));
        }
        match self.try_restore(item, original).await {
            Ok(r) => r,
            Err(e) => {
                let why = admission::explain(&e);
                self.note(format!("{}: failed: {why}", item.display()));
                result(item, Outcome::Failed, Some(why))
            }
        }
    }

    async fn try_restore(&self, item: &PlanItem, original: Value) -> Result<ItemResult> {
        let mut desired = {
            let uids = lock(&self.uids);
            let ctx = TransformContext {
                opts: &self.opts.plan,
                modifiers: &self.opts.modifiers,
                restored_pvs: self.planner.restored_pvs(),
                uids: &uids,
            };
            transform(item, original.clone(), &ctx)?
        };
        let resolution = match self.resolution(item) {
            Ok(r) => r,
            Err(Unresolved::NoDefinition { .. }) if self.opts.dry_run && item.group_resource() != CRDS => {
                let mut r = result(
                    item,
                    Outcome::Created,
                    Some(format!("dry run: would create once the {} definition is restored", item.kind)),
                );
                r.transform = transform_paths(&original, &desired);
                return Ok(r);
            }
            Err(unresolved) => return Err(unresolved.into_error(&self.target)),
        };
        let rt = resolution.resource_type().clone();
        let converted = self.convert(item, &resolution, &mut desired).await?;
        let in_plan = |pv: &str| self.planner.restored_pvs().contains(pv);
        let dry_run = self.opts.dry_run;
        let note = match rebind::prepare(self.kube, item, &original, &mut desired, &in_plan, dry_run).await? {
            rebind::Prepared::Create(note) => note,
            rebind::Prepared::Refuse(why) => {
                self.note(format!("{}: not created: {why}", item.display()));
                return Ok(result(item, Outcome::Failed, Some(why)));
            }
        };
        if let Some(n) = &note {
            self.note(format!("{}: {n}", item.display()));
        }
        let (data_note, fill) = match self.rewrite_claim(item, &mut desired).await {
            Ok(rewrite) => rewrite,
            Err(why) => {
                self.note(format!("{}: not created: {why}", item.display()));
                return Ok(result(item, Outcome::Failed, Some(why)));
            }
        };
        let prepared = match &self.opts.data {
            Some(phase) => phase.0.prepare_object(&mut desired),
            None => Default::default(),
        };
        let mut r = self.send(item, &rt, &original, &desired).await?;
        if fill && r.outcome == Outcome::Created {
            lock(&self.to_fill).push(self.restored_claim(item));
        }
        if prepared.follow && matches!(r.outcome, Outcome::Created | Outcome::Updated) && !self.opts.dry_run {
            let source_namespace = item.source_namespace.clone();
            lock(&self.followed).push(crate::data::RestoredObject { object: desired.clone(), source_namespace });
        }
        add_note(&mut r, note);
        add_note(&mut r, data_note);
        add_note(&mut r, prepared.note);
        r.converted = converted;
        Ok(r)
    }

    /// The data phase's rewrite of a claim ([`crate::data`]): a note, and
    /// whether it is to be filled once created; `Err` refuses it.
    async fn rewrite_claim(&self, item: &PlanItem, desired: &mut Value) -> Result<(Option<String>, bool), String> {
        let (Some(phase), Some(ns)) = (&self.opts.data, item.namespace.as_deref()) else {
            return Ok((None, false));
        };
        if !(item.group.is_empty() && item.kind == "PersistentVolumeClaim") {
            return Ok((None, false));
        }
        let claim = crate::data::ClaimToRestore {
            kube: self.kube,
            source: self.restored_claim(item).source,
            namespace: ns,
            name: &item.name,
            dry_run: self.opts.dry_run,
        };
        match phase.0.rewrite_claim(claim, desired).await {
            crate::data::ClaimRewrite::Unchanged(note) => Ok((note, false)),
            crate::data::ClaimRewrite::Fill(note) => {
                self.note(format!("{}: {note}", item.display()));
                Ok((Some(note), true))
            }
            crate::data::ClaimRewrite::Refuse(why) => Err(why),
        }
    }

    fn restored_claim(&self, item: &PlanItem) -> crate::data::RestoredClaim {
        let source_ns = item.source_namespace.clone().unwrap_or_default();
        crate::data::RestoredClaim {
            source: format!("{source_ns}/{}", item.name),
            namespace: item.namespace.clone().unwrap_or_default(),
            name: item.name.clone(),
        }
    }

    /// Once the claims are in and before anything that mounts them: the
    /// data phase fills them (and restored pods' inline volumes).
    async fn fill_volumes(&self) {
        let Some(phase) = self.opts.data.as_ref().filter(|_| !self.opts.dry_run) else {
            return;
        };
        let claims = std::mem::take(&mut *lock(&self.to_fill));
        let planner = self.planner;
        let mappings = &self.opts.plan.mappings;
        let namespaces = move |ns: &str| planner.wants_namespace(ns).then(|| mappings.namespace(ns).to_string());
        let ctx =
            crate::data::RestoreData { kube: self.kube, restore: &self.opts.name, claims, namespaces: &namespaces };
        let outcome = phase.0.fill(ctx).await;
        self.take_outcome(outcome);
    }

    /// Once everything is in: the data phase's restore hooks and dumps.
    async fn after_apply(&self) {
        let Some(phase) = self.opts.data.as_ref() else {
            return;
        };
        let restored = std::mem::take(&mut *lock(&self.followed));
        let planner = self.planner;
        let mappings = &self.opts.plan.mappings;
        let namespaces = move |ns: &str| planner.wants_namespace(ns).then(|| mappings.namespace(ns).to_string());
        let ctx = crate::data::AfterApply {
            kube: self.kube,
            restore: &self.opts.name,
            restored,
            namespaces: &namespaces,
            dry_run: self.opts.dry_run,
        };
        let outcome = phase.0.after_apply(ctx).await;
        self.take_outcome(outcome);
    }

    fn take_outcome(&self, outcome: crate::data::RestoreDataOutcome) {
        for line in &outcome.log {
            self.note(line.clone());
        }
        for w in &outcome.warnings {
            self.warn(w.clone());
        }
        let mut all = lock(&self.volumes);
        all.volumes.extend(outcome.volumes);
        all.hooks.extend(outcome.hooks);
        all.dumps.extend(outcome.dumps);
        all.failed += outcome.failed;
    }

    /// Brings `desired` to the resolved version. A conversion by Arca's
    /// rules is first sent as a server-side dry run, so an object the target
    /// refuses is reported before anything is written.
    async fn convert(&self, item: &PlanItem, resolution: &Resolution, desired: &mut Value) -> Result<Option<String>> {
        let stored = objects::api_version(&item.group, &item.version);
        let note = resolution.note(&stored);
        match resolution {
            Resolution::AsStored(_) => return Ok(None),
            Resolution::OtherVersion(rt) => desired["apiVersion"] = json!(rt.api_version()),
            Resolution::Converted { rules, .. } => convert::apply(desired, rules),
        }
        let note = note.unwrap_or_default();
        let rt = resolution.resource_type();
        let ns = item.namespace.as_deref();
        let uri = format!("{}?dryRun=All", rt.collection_path(ns));
        let what = format!("checking the conversion of {}", item.display());
        let checked = match self.kube.create(&uri, desired, &what).await {
            // 409: validated, then found existing; the existing-object rules apply.
            Err(e) if e.api_code() == Some(409) => Ok(note),
            Err(e) if e.api_code() == Some(404) && self.opts.dry_run && ns.is_some() => {
                Ok(format!("{note}; not checked by the server: its namespace does not exist yet"))
            }
            Err(e) => Err(Error::ConversionRefused { conversion: note, reason: e.reason() }),
            Ok(_) => Ok(note),
        }?;
        self.note(format!("{}: {checked}", item.display()));
        Ok(Some(checked))
    }

    /// Creates the object, or meets the existing one per the policy.
    async fn send(&self, item: &PlanItem, rt: &ResourceType, original: &Value, desired: &Value) -> Result<ItemResult> {
        let ns = item.namespace.as_deref();
        let path = rt.object_path(ns, &item.name);
        let what = item.display();
        if self.opts.dry_run {
            return self.dry_run(item, original, desired, &path).await;
        }
        let live = match self.kube.create(&rt.collection_path(ns), desired, &format!("creating {what}")).await {
            Ok(live) => {
                self.remember_uid(item, &live);
                self.restore_status(rt, &path, desired, &what).await;
                self.note(format!("{what}: created"));
                return Ok(result(item, Outcome::Created, None));
            }
            Err(e) if e.api_code() == Some(409) => self.kube.get(&path, &format!("reading existing {what}")).await?,
            Err(e) => return Err(e),
        };
        if live.pointer("/metadata/deletionTimestamp").is_some() {
            // Being deleted (e.g. a namespace still terminating): wait, then create.
            self.wait_gone(&path, &what).await?;
            let created = self.kube.create(&rt.collection_path(ns), desired, &format!("creating {what}")).await?;
            self.remember_uid(item, &created);
            self.restore_status(rt, &path, desired, &what).await;
            self.note(format!("{what}: created after the old one was deleted"));
            return Ok(result(item, Outcome::Created, None));
        }
        self.remember_uid(item, &live);
        if same(desired, &live) {
            return Ok(result(item, Outcome::Unchanged, None));
        }
        match self.opts.policy {
            ExistingPolicy::None => Ok(result(
                item,
                Outcome::Skipped,
                Some(
                    "already exists and differs from the backup; --existing-resource-policy update replaces it".into(),
                ),
            )),
            ExistingPolicy::Update => {
                let mut body = desired.clone();
                objects::remove_at(&mut body, "/status");
                let after = self.kube.apply(&path, &body, &format!("updating {what}")).await?;
                self.restore_status(rt, &path, desired, &what).await;
                let changed = objects::str_at(&after, "/metadata/resourceVersion")
                    != objects::str_at(&live, "/metadata/resourceVersion");
                self.note(format!("{what}: {}", if changed { "updated" } else { "unchanged" }));
                Ok(result(item, if changed { Outcome::Updated } else { Outcome::Unchanged }, None))
            }
        }
    }

    /// Polls the restored objects whose kind has a readiness rule until all
    /// are ready or `timeout` passes; marks each, and names the laggards.
    async fn wait_ready(&self, waiting: &mut [(PlanItem, ItemResult)], timeout: Duration) {
        let mut pending: Vec<usize> = (0..waiting.len()).collect();
        if pending.is_empty() {
            return;
        }
        self.note(format!("waiting up to {timeout:?} for {} object(s) to be ready", pending.len()));
        let deadline = Instant::now() + timeout;
        let mut why: BTreeMap<usize, String> = BTreeMap::new();
        loop {
            let items: &[(PlanItem, ItemResult)] = waiting;
            let checks: Vec<(usize, Readiness)> = futures::stream::iter(pending.iter().copied())
                .map(|i| async move { (i, self.check_ready(&items[i].0).await) })
                .buffer_unordered(self.opts.concurrency.max(1))
                .collect()
                .await;
            pending.clear();
            for (i, state) in checks {
                match state {
                    Readiness::Ready | Readiness::NotWatched => waiting[i].1.ready = Some(true),
                    Readiness::NotYet(reason) => {
                        why.insert(i, reason);
                        pending.push(i);
                    }
                }
            }
            if pending.is_empty() || Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(READY_POLL.min(deadline.saturating_duration_since(Instant::now()))).await;
        }
        pending.sort_unstable();
        for i in pending {
            let mut state = why.remove(&i).unwrap_or_default();
            if let Some(event) = self.latest_event(&waiting[i].0).await {
                state = format!("{state} ({event})");
            }
            let reason = format!("not ready after {timeout:?}: {state}");
            self.warn(format!("{}: {reason}", waiting[i].1.object));
            waiting[i].1.ready = Some(false);
            // What the restore said of it (e.g. its volume) stays, after why it is not ready.
            let earlier = waiting[i].1.reason.replace(reason);
            add_note(&mut waiting[i].1, earlier);
        }
    }

    /// Why a claim that did not become ready is stuck, from its newest
    /// event (the binder's message); `None` for other kinds or when events
    /// cannot be read.
    async fn latest_event(&self, item: &PlanItem) -> Option<String> {
        let ns = item.namespace.as_deref().filter(|_| item.group.is_empty() && item.kind == "PersistentVolumeClaim")?;
        let path = readiness::events_path(ns, &item.kind, &item.name);
        let events = self.kube.get(&path, &format!("reading the events of {}", item.display())).await.ok()?;
        readiness::latest_event_message(&events)
    }

    async fn check_ready(&self, item: &PlanItem) -> Readiness {
        let Some(rt) = self.resolve(item) else {
            return Readiness::NotYet(format!("{} is not served", item.kind));
        };
        let path = rt.object_path(item.namespace.as_deref(), &item.name);
        match self.kube.get_opt(&path, &format!("checking whether {} is ready", item.display())).await {
            Ok(Some(live)) => readiness::readiness(&item.group, &item.kind, &live),
            Ok(None) => Readiness::NotYet("deleted since it was restored".into()),
            Err(e) => Readiness::NotYet(e.reason()),
        }
    }

    async fn dry_run(&self, item: &PlanItem, original: &Value, desired: &Value, path: &str) -> Result<ItemResult> {
        let existing = self.kube.get_opt(path, &format!("reading {}", item.display())).await?;
        let (outcome, reason) = match existing {
            None => (Outcome::Created, "dry run: would create".to_string()),
            Some(live) if same(desired, &live) => {
                (Outcome::Unchanged, "dry run: exists and equals the backup".to_string())
            }
            Some(_) if self.opts.policy == ExistingPolicy::Update => {
                (Outcome::Updated, "dry run: exists and differs; would update".to_string())
            }
            Some(_) => (Outcome::Skipped, "dry run: exists and differs (conflict); would leave it".to_string()),
        };
        let mut r = result(item, outcome, Some(reason));
        r.transform = transform_paths(original, desired);
        Ok(r)
    }

    fn remember_uid(&self, item: &PlanItem, live: &Value) {
        if let (Some(old), Some(new)) = (&item.backup_uid, objects::uid(live)) {
            if !self.owner_uids.contains(old) {
                return;
            }
            lock(&self.uids).insert(old.clone(), new.to_string());
        }
    }

    async fn restore_status(&self, rt: &ResourceType, path: &str, desired: &Value, what: &str) {
        if !self.opts.plan.restore_status || !rt.has_status {
            return;
        }
        let Some(status) = desired.get("status") else {
            return;
        };
        let body = json!({ "status": status });
        if let Err(e) =
            self.kube.merge_patch(&format!("{path}/status"), &body, &format!("restoring the status of {what}")).await
        {
            self.warn(format!("{what}: status not restored: {}", e.reason()));
        }
    }

    async fn wait_gone(&self, path: &str, what: &str) -> Result<()> {
        let deadline = Instant::now() + self.opts.namespace_timeout;
        while Instant::now() < deadline {
            if self.kube.get_opt(path, &format!("waiting for {what} to be deleted")).await?.is_none() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        Err(Error::invalid(
            what.to_string(),
            format!("still being deleted after {:?}; retry the restore later", self.opts.namespace_timeout),
        ))
    }

    /// Creates namespaces objects will go to when the plan has no Namespace
    /// object for them (a single-item restore, a mapped clone), and waits out
    /// ones still terminating.
    async fn ensure_namespaces(&self, namespaces: &BTreeSet<String>) {
        if self.opts.dry_run {
            return;
        }
        for ns in namespaces {
            let path = format!("/api/v1/namespaces/{ns}");
            let what = format!("namespace/{ns}");
            let existing = match self.kube.get_opt(&path, &format!("reading {what}")).await {
                Ok(e) => e,
                Err(e) => {
                    self.warn(format!("{what}: {}", e.reason()));
                    continue;
                }
            };
            if existing.as_ref().is_some_and(|n| n.pointer("/metadata/deletionTimestamp").is_none()) {
                continue;
            }
            if existing.is_some() {
                if let Err(e) = self.wait_gone(&path, &what).await {
                    self.warn(e.reason());
                    continue;
                }
            }
            let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
            match self.kube.create("/api/v1/namespaces", &body, &format!("creating {what}")).await {
                Ok(_) => self.note(format!("{what}: created (not in the plan, needed by its objects)")),
                Err(e) if e.api_code() == Some(409) => {}
                Err(e) => self.warn(format!("{what}: {}", e.reason())),
            }
        }
    }

    async fn wait_established(&self, crds: &[String]) {
        let deadline = Instant::now() + self.opts.crd_timeout;
        for name in crds {
            let path = format!("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}");
            loop {
                let established = match self.kube.get_opt(&path, &format!("reading CRD {name}")).await {
                    Ok(Some(crd)) => is_established(&crd),
                    Ok(None) => false,
                    Err(e) => {
                        self.warn(format!("CRD {name}: {}", e.reason()));
                        break;
                    }
                };
                if established {
                    self.note(format!("customresourcedefinition/{name}: Established"));
                    break;
                }
                if Instant::now() >= deadline {
                    self.warn(format!(
                        "CRD {name} not Established after {:?}; its resources may fail",
                        self.opts.crd_timeout
                    ));
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// A CRD's `Established` condition is `True`.
pub fn is_established(crd: &Value) -> bool {
    crd.pointer("/status/conditions").and_then(Value::as_array).is_some_and(|cs| {
        cs.iter().any(|c| {
            objects::str_at(c, "/type") == Some("Established") && objects::str_at(c, "/status") == Some("True")
        })
    })
}

/// Whether the live object already holds everything the backup sets
/// (labels, annotations, and every other field but status).
pub fn same(desired: &Value, live: &Value) -> bool {
    let mut want = desired.clone();
    for p in ["/status", "/apiVersion", "/kind", "/metadata"] {
        objects::remove_at(&mut want, p);
    }
    let meta_ok = ["labels", "annotations"].iter().all(|k| match desired.pointer(&format!("/metadata/{k}")) {
        Some(w) => live.pointer(&format!("/metadata/{k}")).is_some_and(|h| diff::is_subset(w, h)),
        None => true,
    });
    meta_ok && diff::is_subset(&want, live)
}

/// The fields a transform changed, without the server-set ones every
/// restore drops (those would bury the interesting changes).
fn transform_paths(original: &Value, desired: &Value) -> Vec<String> {
    let noise =
        |p: &str| p == "/status" || p.starts_with("/status/") || crate::restore::sanitize::SERVER_FIELDS.contains(&p);
    diff::diff(original, desired).iter().map(|c| c.path().to_string()).filter(|p| !noise(p)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equality_ignores_server_additions() {
        let desired = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"a": "b"}}, "data": {"k": "v"}});
        let live = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "uid": "x", "labels": {"a": "b", "extra": "1"}}, "data": {"k": "v"}});
        assert!(same(&desired, &live));
        let changed = json!({"metadata": {"name": "c", "labels": {"a": "b"}}, "data": {"k": "w"}});
        assert!(!same(&desired, &changed));
        let relabelled = json!({"metadata": {"name": "c", "labels": {"a": "c"}}, "data": {"k": "v"}});
        assert!(!same(&desired, &relabelled));
    }

    #[test]
    fn established_condition() {
        assert!(is_established(&json!({"status": {"conditions": [{"type": "Established", "status": "True"}]}})));
        assert!(!is_established(&json!({"status": {"conditions": [{"type": "Established", "status": "False"}]}})));
        assert!(!is_established(&json!({})));
    }
}
