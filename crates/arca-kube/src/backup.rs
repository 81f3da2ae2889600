//! Backup: list every selected object page by page and store each as a file
//! of the catalog tree, then a snapshot describing the run.
//!
//! Stages: discover → pick types → list pages (bounded concurrency, retries in
//! [`Kube`], a `410 Gone` restarts the list and skips what was already
//! stored) → filter and closure → save blobs (on blocking threads) → catalog
//! trees → snapshot. Only one page of objects per type in flight is held in
//! memory; the catalog keeps one small node per object.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use arca_repo::{BlobType, Repository, Snapshot, SnapshotEntry};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::Kube;
use crate::catalog::{self, CatalogBuilder, CatalogPath, ObjectDir};
use crate::closure::{self, Closure};
use crate::discover::{self, Discovery};
use crate::error::{Error, Result};
use crate::filter::{ClusterMode, Filter, FilterSpec};
use crate::objects::{self, ResourceType};
use crate::{KIND_BACKUP, Phase};

#[derive(Debug, Clone)]
pub struct BackupOptions {
    pub name: String,
    pub filter: FilterSpec,
    /// Types left out unless named in `--include-resources` (`resource.group`).
    pub skip: Vec<String>,
    pub page_size: u32,
    /// Resource types listed at once.
    pub concurrency: usize,
    pub tags: Vec<String>,
    /// Volume data (and later application data), run after the objects.
    pub data: Option<crate::data::DataPhase>,
}

impl BackupOptions {
    pub fn new(name: &str) -> Self {
        BackupOptions {
            name: name.to_string(),
            filter: FilterSpec::default(),
            skip: discover::default_skip(),
            page_size: 500,
            concurrency: 4,
            tags: Vec::new(),
            data: None,
        }
    }
}

/// Who the cluster is.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ClusterIdentity {
    pub server: String,
    pub version: String,
    /// The uid of the `kube-system` namespace: stable for a cluster's life.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
}

/// Something that failed, on which object, and why.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ItemError {
    pub object: String,
    pub reason: String,
}

/// A cluster-scoped object pulled in by the closure, and why.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Inclusion {
    pub object: String,
    pub reason: String,
}

/// What a backup did; stored in its snapshot.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BackupReport {
    pub name: String,
    pub phase: Phase,
    pub started: DateTime<Utc>,
    pub finished: DateTime<Utc>,
    pub cluster: ClusterIdentity,
    pub filters: FilterSpec,
    pub objects: u64,
    pub bytes: u64,
    /// Objects per type (`resource.group`).
    pub counts: BTreeMap<String, u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ItemError>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub included_by_closure: Vec<Inclusion>,
    /// Bytes this backup added to the repository (after dedup, compression).
    #[serde(default)]
    pub stored_bytes: u64,
    /// One record per volume (`arca-volumes`' `VolumeRecord`), absent in backups without volume data.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Value>,
    /// One record per hook run (`arca-apps`' `HookRecord`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hooks: Vec<Value>,
    /// One record per application dump (`arca-apps`' `DumpRecord`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dumps: Vec<Value>,
}

impl BackupReport {
    /// Reads the report back from a backup's snapshot.
    pub fn from_snapshot(entry: &SnapshotEntry) -> Result<BackupReport> {
        let map: serde_json::Map<String, Value> = entry.snapshot.meta.clone().into_iter().collect();
        serde_json::from_value(Value::Object(map))
            .map_err(|e| Error::Catalog { what: format!("snapshot {}", entry.id.short()), message: e.to_string() })
    }
}

/// Progress callbacks (the CLI draws a bar; tests ignore them).
pub trait Progress: Send + Sync {
    fn type_done(&self, _resource: &str, _objects: u64) {}
    fn objects_saved(&self, _n: u64) {}
}

/// No progress reporting.
pub struct Quiet;
impl Progress for Quiet {}

/// Backups in the repository (snapshots of kind `kubernetes`), oldest first.
pub fn list_backups(repo: &Repository) -> Result<Vec<SnapshotEntry>> {
    Ok(repo.list_snapshots()?.into_iter().filter(|s| s.snapshot.kind == KIND_BACKUP).collect())
}

/// A backup by name (the newest of that name), or by snapshot id prefix.
pub fn find_backup(repo: &Repository, name: &str) -> Result<SnapshotEntry> {
    let all = list_backups(repo)?;
    if let Some(s) = all.iter().rev().find(|s| s.snapshot.paths.first().map(String::as_str) == Some(name)) {
        return Ok(s.clone());
    }
    let mut by_id: Vec<_> = all.into_iter().filter(|s| name.len() >= 6 && s.id.to_hex().starts_with(name)).collect();
    match by_id.len() {
        1 => Ok(by_id.remove(0)),
        _ => Err(Error::BackupNotFound(name.to_string())),
    }
}

struct Shared {
    repo: Repository,
    filter: Filter,
    mode: ClusterMode,
    builder: Mutex<CatalogBuilder>,
    closure: Mutex<Closure>,
    counts: Mutex<BTreeMap<String, u64>>,
    inclusions: Mutex<Vec<Inclusion>>,
    /// Types left out because the credentials may not list them.
    warnings: Mutex<Vec<String>>,
    log: Mutex<Vec<String>>,
    bytes: std::sync::atomic::AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    fn log(&self, line: String) {
        tracing::info!("{line}");
        lock(&self.log).push(format!("{} {line}", Utc::now().format("%H:%M:%S%.3f")));
    }

    /// Whether an object goes into the backup, and why when the closure took it.
    fn decide(&self, rt: &ResourceType, obj: &Value) -> Option<Option<String>> {
        if !self.filter.object_namespace_included(obj) {
            return None;
        }
        if rt.namespaced {
            return self.filter.object_selected(obj).then_some(None);
        }
        if rt.group.is_empty() && rt.resource == "namespaces" {
            return self.decide_namespace(rt, obj);
        }
        match self.mode {
            ClusterMode::Everything => self.filter.object_selected(obj).then_some(None),
            ClusterMode::Nothing => None,
            ClusterMode::ClosureOnly => {
                if objects::label(obj, crate::EXCLUDE_LABEL) == Some("true") {
                    return None;
                }
                lock(&self.closure).reason_for(rt, obj).map(Some)
            }
        }
    }

    /// Namespaces go with their content: always when their name is selected
    /// and no selector narrows objects, else when an included object needs them.
    fn decide_namespace(&self, rt: &ResourceType, obj: &Value) -> Option<Option<String>> {
        let name = objects::name(obj);
        if !self.filter.namespace_included(name) || objects::label(obj, crate::EXCLUDE_LABEL) == Some("true") {
            return None;
        }
        if !self.filter.has_selector() || self.filter.object_selected(obj) {
            return Some(None);
        }
        lock(&self.closure).reason_for(rt, obj).map(Some)
    }

    /// Stores the selected items of one page, skipping objects stored
    /// already (a list restarted after `410 Gone` sends them again), then
    /// closes the type's catalog directories the list has moved past. Runs
    /// on a blocking thread.
    fn save_page(&self, rt: &ResourceType, items: Vec<Value>) -> Result<u64> {
        let mut saved = 0;
        let mut last_dir: Option<ObjectDir> = None;
        for obj in items {
            let path = CatalogPath {
                namespace: if rt.namespaced { objects::namespace(&obj).map(String::from) } else { None },
                group: rt.group.clone(),
                resource: rt.resource.clone(),
                name: objects::name(&obj).to_string(),
            };
            last_dir = Some(ObjectDir::of(&path));
            if lock(&self.builder).contains(&path)? {
                continue;
            }
            let Some(why) = self.decide(rt, &obj) else {
                continue;
            };
            let bytes = serde_json::to_vec(&obj).map_err(|e| Error::Decode { what: rt.group_resource(), source: e })?;
            let id = self.repo.save_blob(BlobType::Data, &bytes)?;
            lock(&self.builder).add_object(&path, vec![id], bytes.len() as u64)?;
            self.bytes.fetch_add(bytes.len() as u64, std::sync::atomic::Ordering::Relaxed);
            lock(&self.closure).observe(rt, &obj);
            if let Some(reason) = why {
                let object = objects::describe(&rt.kind, None, objects::name(&obj));
                lock(&self.inclusions).push(Inclusion { object, reason });
            }
            saved += 1;
        }
        lock(&self.builder).close_type(&rt.group, &rt.resource, last_dir.as_ref())?;
        *lock(&self.counts).entry(rt.group_resource()).or_default() += saved;
        Ok(saved)
    }

    /// Saves what is left open of a type once its list is complete.
    fn type_listed(&self, rt: &ResourceType) -> Result<()> {
        lock(&self.builder).close_type(&rt.group, &rt.resource, None)
    }
}

/// Lists one type (or one namespace of it) fully. Returns objects saved.
async fn list_into(
    kube: &Kube,
    shared: &Arc<Shared>,
    rt: &ResourceType,
    ns: Option<&str>,
    page: u32,
    progress: &dyn Progress,
) -> Result<u64> {
    let path = rt.collection_path(ns);
    let what = format!("listing {}", path);
    let mut cont: Option<String> = None;
    let mut restarts = 0;
    let mut saved = 0;
    loop {
        let page_doc = match kube.list_page(&path, page, cont.as_deref(), &what).await {
            Ok(p) => p,
            Err(e) if e.api_code() == Some(410) && cont.is_some() && restarts < 5 => {
                // The continue token expired: start over, skipping what is stored.
                restarts += 1;
                shared.log(format!(
                    "{}: continue token expired, restarting the list (skipping what is stored)",
                    rt.group_resource()
                ));
                cont = None;
                continue;
            }
            Err(e) => return Err(e),
        };
        let (items, next) = rt.take_page(page_doc);
        cont = next;
        let (shared2, rt2, last) = (Arc::clone(shared), rt.clone(), cont.is_none());
        let n = tokio::task::spawn_blocking(move || {
            let n = shared2.save_page(&rt2, items)?;
            if last {
                shared2.type_listed(&rt2)?;
            }
            Ok::<u64, Error>(n)
        })
        .await??;
        saved += n;
        progress.objects_saved(n);
        if cont.is_none() {
            return Ok(saved);
        }
    }
}

/// Lists a type in each of the namespaces the filter names exactly, or
/// cluster-wide. `Err` names what failed (the type, or the type in a namespace).
async fn list_type(
    kube: &Kube,
    shared: &Arc<Shared>,
    rt: &ResourceType,
    opts: &BackupOptions,
    progress: &dyn Progress,
) -> std::result::Result<u64, (String, Error)> {
    let Some(namespaces) = shared.filter.literal_namespaces().filter(|_| rt.namespaced) else {
        return list_into(kube, shared, rt, None, opts.page_size, progress).await.map_err(|e| (rt.group_resource(), e));
    };
    let mut total = 0;
    for ns in &namespaces {
        total += list_into(kube, shared, rt, Some(ns), opts.page_size, progress)
            .await
            .map_err(|e| (format!("{} in namespace {ns}", rt.group_resource()), e))?;
    }
    Ok(total)
}

/// One type backed up: its object count, or why it failed. A type the
/// credentials may not list is left out with one warning, not a failure:
/// what a tenant may not read is not theirs to back up.
async fn backup_type(
    kube: &Kube,
    shared: &Arc<Shared>,
    rt: &ResourceType,
    opts: &BackupOptions,
    progress: &dyn Progress,
) -> std::result::Result<u64, ItemError> {
    match list_type(kube, shared, rt, opts, progress).await {
        Ok(n) => {
            shared.log(format!("{}: {n} object(s)", rt.group_resource()));
            progress.type_done(&rt.group_resource(), n);
            Ok(n)
        }
        Err((object, e)) if e.api_code() == Some(403) => {
            let warning = format!("{object}: left out, {}", forbidden_reason(&e));
            shared.log(warning.clone());
            lock(&shared.warnings).push(warning);
            Ok(0)
        }
        Err((object, e)) => {
            shared.log(format!("{object}: FAILED: {}", e.reason()));
            Err(ItemError { object, reason: e.reason() })
        }
    }
}

/// `forbidden: <the API server's message>`.
fn forbidden_reason(e: &Error) -> String {
    match e {
        Error::Api { failure, .. } => format!("forbidden: {}", failure.message),
        other => format!("forbidden: {}", other.reason()),
    }
}

/// Reads who the cluster is: version and the kube-system namespace's uid.
pub async fn cluster_identity(kube: &Kube, server: &str) -> Result<ClusterIdentity> {
    let version = kube.get("/version", "reading the server version").await?;
    // A tenant may not read kube-system: the identity then has no uid.
    let ks = match kube.get_opt("/api/v1/namespaces/kube-system", "reading namespace kube-system").await {
        Err(e) if e.api_code() == Some(403) => None,
        other => other?,
    };
    Ok(ClusterIdentity {
        server: server.to_string(),
        version: objects::str_at(&version, "/gitVersion").unwrap_or_default().to_string(),
        uid: ks.as_ref().and_then(objects::uid).map(String::from),
    })
}

/// Runs a backup to completion. `Err` only when nothing usable could be made
/// (discovery or the repository failed); per-type failures make the result
/// `PartiallyFailed`, with each failure named.
pub async fn run(
    kube: &Kube,
    server: &str,
    repo: &Repository,
    opts: &BackupOptions,
    progress: &dyn Progress,
) -> Result<(BackupReport, arca_repo::Id)> {
    let started = Utc::now();
    let filter = Filter::new(opts.filter.clone())?;
    {
        let (repo, name) = (repo.clone(), opts.name.clone());
        let exists = tokio::task::spawn_blocking(move || find_backup(&repo, &name).is_ok()).await?;
        if exists {
            return Err(Error::BackupExists(opts.name.clone()));
        }
    }
    let repo_for_lock = repo.clone();
    let _lock = tokio::task::spawn_blocking(move || repo_for_lock.lock(false, "kubernetes backup")).await??;
    let cluster = cluster_identity(kube, server).await?;
    let disco = discover::discover(kube).await?;
    let mut warnings: Vec<String> =
        disco.failed_groups.iter().map(|g| format!("discovery of {g} failed; its types were not backed up")).collect();
    let mut types: Vec<ResourceType> = disco
        .backup_types(&opts.skip, &opts.filter.include_resources)
        .into_iter()
        .filter(|t| {
            filter.type_included(t)
                || (t.group.is_empty() && t.resource == "namespaces" && !excluded_namespaces_type(&opts.filter, t))
        })
        .collect();
    types.sort_by_key(ResourceType::group_resource);
    let shared = Arc::new(Shared {
        repo: repo.clone(),
        mode: filter.cluster_mode(),
        filter,
        builder: Mutex::new(CatalogBuilder::new(repo)),
        closure: Mutex::new(Closure::default()),
        counts: Mutex::new(BTreeMap::new()),
        inclusions: Mutex::new(Vec::new()),
        warnings: Mutex::new(Vec::new()),
        log: Mutex::new(Vec::new()),
        bytes: Default::default(),
    });
    shared.log(format!(
        "backup {} of {} ({}), {} type(s) to list",
        opts.name,
        cluster.server,
        cluster.version,
        types.len()
    ));
    let (namespaced, mut cluster_types): (Vec<_>, Vec<_>) = types.iter().cloned().partition(|t| t.namespaced);
    cluster_types.sort_by_key(closure::cluster_visit_rank);
    let mut errors = Vec::new();
    // Namespaced first: the closure of cluster-scoped objects depends on them.
    let mut stages: Vec<Vec<ResourceType>> = vec![namespaced];
    for rank in 0..=2 {
        stages.push(cluster_types.iter().filter(|t| closure::cluster_visit_rank(t) == rank).cloned().collect());
    }
    for stage in stages {
        let results: Vec<_> = futures::stream::iter(stage.iter())
            .map(|rt| backup_type(kube, &shared, rt, opts, progress))
            .buffer_unordered(opts.concurrency.max(1))
            .collect()
            .await;
        errors.extend(results.into_iter().filter_map(|r| r.err()));
    }
    warnings.extend(lock(&shared.warnings).drain(..));
    let (mut volumes, mut hooks, mut dumps) = (Vec::new(), Vec::new(), Vec::new());
    if let Some(data) = &opts.data {
        let ctx = crate::data::BackupData { kube, repo, filter: &shared.filter, backup: &opts.name };
        let outcome = data.0.run(ctx).await;
        outcome.log.into_iter().for_each(|l| shared.log(l));
        warnings.extend(outcome.warnings);
        errors.extend(outcome.errors);
        volumes = outcome.volumes;
        hooks = outcome.hooks;
        dumps = outcome.dumps;
    }
    let counts = lock(&shared.counts).clone();
    let objects: u64 = counts.values().sum();
    let phase = if errors.is_empty() { Phase::Completed } else { Phase::PartiallyFailed };
    for e in &errors {
        warnings.retain(|w| w != &e.reason);
    }
    let finished = Utc::now();
    shared.log(format!(
        "{objects} object(s) in {:.1}s, phase {phase}",
        (finished - started).num_milliseconds() as f64 / 1000.0
    ));
    let report = BackupReport {
        name: opts.name.clone(),
        phase,
        started,
        finished,
        cluster,
        filters: opts.filter.clone(),
        objects,
        bytes: shared.bytes.load(std::sync::atomic::Ordering::Relaxed),
        counts,
        warnings,
        errors,
        included_by_closure: lock(&shared.inclusions).clone(),
        stored_bytes: 0,
        volumes,
        hooks,
        dumps,
    };
    let shared2 = Arc::clone(&shared);
    let tags = opts.tags.clone();
    let (report, id) = tokio::task::spawn_blocking(move || finish(&shared2, (&types, &disco), report, tags)).await??;
    Ok((report, id))
}

fn excluded_namespaces_type(spec: &FilterSpec, rt: &ResourceType) -> bool {
    spec.exclude_resources.iter().any(|n| crate::filter::names_type(n, rt))
}

/// Stores `value` as a JSON file at the catalog's root.
fn add_json<T: Serialize + ?Sized>(
    builder: &mut CatalogBuilder,
    repo: &Repository,
    name: &str,
    value: &T,
) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| Error::Decode { what: name.into(), source: e })?;
    let id = repo.save_blob(BlobType::Data, &bytes)?;
    builder.add(&[name.to_string()], catalog::file_node("", vec![id], bytes.len() as u64))
}

/// Saves the catalog, flushes, and writes the snapshot. Blocking.
fn finish(
    shared: &Shared,
    listed: (&[ResourceType], &Discovery),
    mut report: BackupReport,
    tags: Vec<String>,
) -> Result<(BackupReport, arca_repo::Id)> {
    let repo = &shared.repo;
    let mut builder = std::mem::replace(&mut *lock(&shared.builder), CatalogBuilder::new(repo));
    let (types, discovery) = listed;
    add_json(&mut builder, repo, catalog::RESOURCES_FILE, &types)?;
    add_json(&mut builder, repo, catalog::DISCOVERY_FILE, discovery)?;
    let log = lock(&shared.log).join("\n") + "\n";
    let log_id = repo.save_blob(BlobType::Data, log.as_bytes())?;
    builder.add(&[catalog::LOG_FILE.to_string()], catalog::file_node("", vec![log_id], log.len() as u64))?;
    let mut stats = builder.flushed;
    let root = builder.save()?;
    stats.add(&repo.flush()?);
    report.stored_bytes = stats.bytes_stored;
    let mut snap = Snapshot::new(KIND_BACKUP, vec![report.name.clone()], root);
    snap.tags = tags;
    snap.time = report.started;
    if let Value::Object(map) =
        serde_json::to_value(&report).map_err(|e| Error::Decode { what: "report".into(), source: e })?
    {
        snap.meta = map.into_iter().collect();
    }
    snap.summary.insert("objects".into(), report.objects.into());
    snap.summary.insert("bytes".into(), report.bytes.into());
    snap.summary.insert("stored_bytes".into(), stats.bytes_stored.into());
    snap.summary.insert("blobs_added".into(), stats.blobs_added.into());
    let id = repo.save_snapshot(&snap)?;
    Ok((report, id))
}
