//! The apply step: sends a plan to the cluster, group by group (owner depth,
//! then priority), with bounded concurrency inside a group. CRDs are waited
//! for until Established and discovery is refreshed before anything that
//! needs them; namespaces that would be missing are created; a namespace
//! still terminating (a restore right after a delete) is waited out.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::StreamExt;
use serde_json::{Value, json};

use crate::api::Kube;
use crate::catalog::{Catalog, CatalogEntry};
use crate::diff;
use crate::discover::{self, Discovery};
use crate::error::{Error, Result};
use crate::objects::{self, ResourceType};
use crate::restore::admission;
use crate::restore::convert;
use crate::restore::plan::{Plan, PlanItem, TransformContext, transform};
use crate::restore::readiness::{self, Readiness};
use crate::restore::rebind::{self, Prepared};
use crate::restore::report::{ItemResult, Outcome};
use crate::restore::versions::{self, Resolution, Unresolved};
use crate::restore::{ExistingPolicy, RestoreOptions};

/// How often `--wait` looks at what is not ready yet.
const READY_POLL: Duration = Duration::from_secs(1);

/// What the apply step produced.
pub struct Outcomes {
    pub items: Vec<ItemResult>,
    pub warnings: Vec<String>,
    pub log: Vec<String>,
}

struct Applier<'a> {
    kube: &'a Kube,
    catalog: Arc<Catalog>,
    opts: &'a RestoreOptions,
    disco: RwLock<Discovery>,
    /// The target's Kubernetes version (`v1.33`), read once.
    target: String,
    uids: Mutex<BTreeMap<String, String>>,
    restored_pvs: BTreeSet<String>,
    /// Backup uids that some restored object names as its owner: the only
    /// new uids worth remembering.
    owner_uids: HashSet<String>,
    log: Mutex<Vec<String>>,
    warnings: Mutex<Vec<String>>,
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

/// Applies the plan. Never fails as a whole: each object's failure is in its result.
pub async fn execute(kube: &Kube, plan: &Plan, catalog: Arc<Catalog>, opts: &RestoreOptions) -> Outcomes {
    let app = Applier {
        kube,
        catalog,
        opts,
        disco: RwLock::new(Discovery::default()),
        target: target_version(kube).await,
        uids: Mutex::new(BTreeMap::new()),
        restored_pvs: plan.restored_pvs(),
        owner_uids: plan.items.iter().flat_map(|i| i.owners.iter().cloned()).collect(),
        log: Mutex::new(Vec::new()),
        warnings: Mutex::new(Vec::new()),
    };
    if let Err(e) = app.refresh_discovery().await {
        let reason = format!("discovery failed: {}", e.reason());
        let items = plan.items.iter().map(|i| result(i, Outcome::Failed, Some(reason.clone()))).collect();
        return Outcomes { items, warnings: vec![reason], log: app.log.into_inner().unwrap_or_default() };
    }
    let ns_rank = plan.items.iter().find(|i| i.group.is_empty() && i.resource == "namespaces").map(|i| i.rank);
    let mut results: Vec<(usize, ItemResult)> = Vec::with_capacity(plan.items.len());
    let mut namespaces_ready = false;
    let mut start = 0;
    while start < plan.items.len() {
        let key = (plan.items[start].depth, plan.items[start].rank);
        let end =
            plan.items[start..].iter().position(|i| (i.depth, i.rank) != key).map_or(plan.items.len(), |p| start + p);
        let after_namespaces = key.0 > 0 || ns_rank.is_none_or(|r| key.1 > r);
        if !namespaces_ready && after_namespaces {
            app.ensure_namespaces(&plan.target_namespaces()).await;
            namespaces_ready = true;
        }
        let group: Vec<(usize, &PlanItem)> = (start..end).map(|n| (n, &plan.items[n])).collect();
        let done: Vec<(usize, ItemResult)> = futures::stream::iter(group)
            .map(|(n, item)| {
                let app = &app;
                async move { (n, app.restore_one(item).await) }
            })
            .buffer_unordered(opts.concurrency.max(1))
            .collect()
            .await;
        let crds: Vec<String> = done
            .iter()
            .filter(|(n, r)| {
                plan.items[*n].group_resource() == CRDS
                    && matches!(r.outcome, Outcome::Created | Outcome::Updated | Outcome::Unchanged)
            })
            .map(|(n, _)| plan.items[*n].name.clone())
            .collect();
        results.extend(done);
        if !crds.is_empty() && !opts.dry_run {
            app.wait_established(&crds).await;
            if let Err(e) = app.refresh_discovery().await {
                app.warn(format!("refreshing discovery after restoring CRDs: {}", e.reason()));
            }
        }
        start = end;
    }
    if !namespaces_ready {
        app.ensure_namespaces(&plan.target_namespaces()).await;
    }
    results.sort_by_key(|(n, _)| *n);
    if let (Some(timeout), false) = (opts.wait, opts.dry_run) {
        app.wait_ready(plan, &mut results, timeout).await;
    }
    Outcomes {
        items: results.into_iter().map(|(_, r)| r).collect(),
        warnings: app.warnings.into_inner().unwrap_or_default(),
        log: app.log.into_inner().unwrap_or_default(),
    }
}

impl Applier<'_> {
    fn note(&self, line: String) {
        tracing::info!("{line}");
        lock(&self.log).push(format!("{} {line}", Utc::now().format("%H:%M:%S%.3f")));
    }

    fn warn(&self, line: String) {
        self.note(format!("warning: {line}"));
        lock(&self.warnings).push(line);
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

    async fn restore_one(&self, item: &PlanItem) -> ItemResult {
        if let Some(why) = &item.skip {
            return result(item, Outcome::Skipped, Some(why.clone()));
        }
        match self.try_restore(item).await {
            Ok(r) => r,
            Err(e) => {
                let why = admission::explain(&e);
                self.note(format!("{}: failed: {why}", item.display()));
                result(item, Outcome::Failed, Some(why))
            }
        }
    }

    async fn load(&self, item: &PlanItem) -> Result<Value> {
        let catalog = Arc::clone(&self.catalog);
        let entry = CatalogEntry { path: item.source.clone(), content: item.content.clone(), size: 0 };
        tokio::task::spawn_blocking(move || catalog.load(&entry)).await?
    }

    async fn try_restore(&self, item: &PlanItem) -> Result<ItemResult> {
        let original = self.load(item).await?;
        let mut desired = {
            let uids = lock(&self.uids);
            let ctx = TransformContext {
                opts: &self.opts.plan,
                modifiers: &self.opts.modifiers,
                restored_pvs: &self.restored_pvs,
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
        let in_plan = |pv: &str| self.restored_pvs.contains(pv);
        let dry_run = self.opts.dry_run;
        let note = match rebind::prepare(self.kube, item, &original, &mut desired, &in_plan, dry_run).await? {
            Prepared::Create(note) => note,
            Prepared::Refuse(why) => {
                self.note(format!("{}: not created: {why}", item.display()));
                return Ok(result(item, Outcome::Failed, Some(why)));
            }
        };
        if let Some(n) = &note {
            self.note(format!("{}: {n}", item.display()));
        }
        let mut r = self.send(item, &rt, &original, &desired).await?;
        add_note(&mut r, note);
        r.converted = converted;
        Ok(r)
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
    async fn wait_ready(&self, plan: &Plan, results: &mut [(usize, ItemResult)], timeout: Duration) {
        let mut pending: Vec<usize> = (0..results.len())
            .filter(|&i| {
                let (n, r) = &results[i];
                matches!(r.outcome, Outcome::Created | Outcome::Updated | Outcome::Unchanged)
                    && readiness::watched(&plan.items[*n].group, &plan.items[*n].kind)
            })
            .collect();
        if pending.is_empty() {
            return;
        }
        self.note(format!("waiting up to {timeout:?} for {} object(s) to be ready", pending.len()));
        let deadline = Instant::now() + timeout;
        let mut why: BTreeMap<usize, String> = BTreeMap::new();
        loop {
            let checks: Vec<(usize, Readiness)> = futures::stream::iter(pending.iter().map(|&i| (i, results[i].0)))
                .map(|(i, n)| async move { (i, self.check_ready(&plan.items[n]).await) })
                .buffer_unordered(self.opts.concurrency.max(1))
                .collect()
                .await;
            pending.clear();
            for (i, state) in checks {
                match state {
                    Readiness::Ready | Readiness::NotWatched => results[i].1.ready = Some(true),
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
        for i in pending {
            let mut state = why.remove(&i).unwrap_or_default();
            if let Some(event) = self.latest_event(&plan.items[results[i].0]).await {
                state = format!("{state} ({event})");
            }
            let reason = format!("not ready after {timeout:?}: {state}");
            self.warn(format!("{}: {reason}", results[i].1.object));
            results[i].1.ready = Some(false);
            // What the restore said of it (e.g. its volume) stays, after why it is not ready.
            let earlier = results[i].1.reason.replace(reason);
            add_note(&mut results[i].1, earlier);
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
