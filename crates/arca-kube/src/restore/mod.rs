//! Restore: plan (pure, [`plan`]) then apply ([`apply`]) a backup's objects
//! into a cluster, and keep a report ([`report`]). Streamed: the backup is
//! read a batch at a time ([`read`]) in passes (see [`plan::Planner`]), the
//! per-object results and the log are stored as they come ([`lines`]), and
//! ordering keeps only owner facts ([`owners`]): memory does not grow with
//! the object count.
//!
//! Order is a table ([`priority`]); per-kind behaviour is a registry of
//! small rules ([`sanitize`]); mappings and user modifiers are data
//! ([`mapping`], [`modifiers`]). What the target cluster manages itself is
//! skipped by a table of its own ([`managed`]). Into another Kubernetes
//! version, each object goes to a version the target serves ([`versions`]),
//! built-in kinds through conversion rules kept as data ([`convert`]).

pub mod apply;
pub mod convert;
pub mod drill;
pub mod lines;
pub mod managed;
pub mod mapping;
pub mod modifiers;
pub mod owners;
pub mod plan;
pub mod priority;
pub mod read;
pub mod readiness;
pub mod rebind;
pub mod report;
pub mod sanitize;
pub mod strategic;
pub mod versions;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use arca_repo::{Id, Repository, SnapshotEntry};
use chrono::Utc;
use serde::{Deserialize, Serialize};

use crate::api::Kube;
use crate::catalog::{Catalog, CatalogEntry, CatalogPath, ObjectDir, Scope};
use crate::closure::visit_rank;
use crate::error::{Error, Result};
use crate::objects::group_resource;
use crate::restore::lines::{LineWriter, Written};
use crate::restore::modifiers::Modifiers;
use crate::restore::plan::{Group, PlanOptions, Planner};
use crate::restore::report::{ItemLines, ReportFiles, RestoreReport};

const CRDS: &str = "customresourcedefinitions.apiextensions.k8s.io";

/// `--existing-resource-policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExistingPolicy {
    /// Leave existing objects alone (reported unchanged when equal, else skipped).
    #[default]
    None,
    /// Server-side apply the backed-up object over the existing one.
    Update,
}

impl std::str::FromStr for ExistingPolicy {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "none" => Ok(Self::None),
            "update" => Ok(Self::Update),
            other => Err(Error::invalid("--existing-resource-policy", format!("{other:?} is not none or update"))),
        }
    }
}

#[derive(Debug, Clone)]
pub struct RestoreOptions {
    pub name: String,
    pub backup: String,
    pub plan: PlanOptions,
    pub modifiers: Modifiers,
    pub policy: ExistingPolicy,
    pub dry_run: bool,
    /// Objects created at once within one priority group.
    pub concurrency: usize,
    /// How long to wait for a restored CRD to be Established.
    pub crd_timeout: Duration,
    /// How long to wait for a terminating namespace to go away.
    pub namespace_timeout: Duration,
    /// `--wait`: how long to wait for restored workloads, claims and pods
    /// to be ready ([`readiness`]) before the restore ends.
    pub wait: Option<Duration>,
    /// Volume data: claims rewritten and filled ([`crate::data`]).
    pub data: Option<crate::data::RestorePhase>,
    /// `--data-only`: no object is created or changed; the data phase fills live claims.
    pub data_only: bool,
    /// The repository is read-only (a ReadOnly location, credentials that
    /// cannot write): no lock is taken and the report is not stored; the
    /// caller gets it, with every result spooled to a temporary file.
    pub read_only: bool,
}

impl RestoreOptions {
    pub fn new(name: &str, backup: &str) -> Self {
        RestoreOptions {
            name: name.to_string(),
            backup: backup.to_string(),
            plan: PlanOptions::default(),
            modifiers: Modifiers::default(),
            policy: ExistingPolicy::None,
            dry_run: false,
            concurrency: 8,
            crd_timeout: Duration::from_secs(60),
            namespace_timeout: Duration::from_secs(120),
            wait: None,
            data: None,
            data_only: false,
            read_only: false,
        }
    }
}

struct PlanScope<'a>(&'a Planner);
impl Scope for PlanScope<'_> {
    fn namespace(&self, ns: &str) -> bool {
        self.0.wants_namespace(ns)
    }
}

/// A restore ready to apply: the plan's facts (no entry per object) and the
/// backup's directories in restore order.
pub struct Prepared {
    pub planner: Planner,
    pub groups: Vec<Group<Id>>,
    pub catalog: Arc<Catalog>,
    pub backup: SnapshotEntry,
}

/// Reads the backup and prepares the restore (passes 1 and 2 of
/// [`Planner`]): every object in scope is read once, a batch at a time.
/// Blocking (repository reads).
pub fn prepare(repo: &Repository, opts: &RestoreOptions) -> Result<Prepared> {
    let backup = crate::backup::find_backup(repo, &opts.backup)?;
    let catalog = Catalog::open(repo, &backup.snapshot.tree)?;
    let mut planner = Planner::new(opts.plan.clone(), catalog.resources()?)?;
    let dirs = catalog.dirs(&PlanScope(&planner))?;
    let crds = dirs.iter().filter(|(d, _)| d.namespace.is_none() && group_resource(&d.group, &d.resource) == CRDS);
    for (dir, tree) in crds {
        planner.set_custom(catalog.dir_entries(dir, tree)?.into_iter().map(|e| e.path.name));
    }
    // Namespaced first: cluster-scoped objects are chosen by what they
    // serve; cluster-scoped types one after another in the closure's order.
    let (namespaced, mut cluster): (Vec<_>, Vec<_>) = dirs.iter().cloned().partition(|(d, _)| d.namespace.is_some());
    cluster.sort_by_key(|(d, _)| visit_rank(&group_resource(&d.group, &d.resource)));
    read::read_batches(&catalog, read::dir_entries(&catalog, &namespaced), |batch| {
        batch.iter().for_each(|(e, o)| planner.observe(e, o));
        Ok(())
    })?;
    for dir in cluster.chunks(1) {
        read::read_batches(&catalog, read::dir_entries(&catalog, dir), |batch| {
            batch.iter().for_each(|(e, o)| planner.observe(e, o));
            Ok(())
        })?;
    }
    let owners = owner_entries(&catalog, &dirs, planner.owner_paths())?;
    read::read_batches(&catalog, owners.into_iter().map(Ok), |batch| {
        batch.iter().for_each(|(e, o)| planner.observe_owner(e, o));
        Ok(())
    })?;
    planner.order_owned();
    let groups = planner.groups(dirs);
    Ok(Prepared { planner, groups, catalog: Arc::new(catalog), backup })
}

/// The catalog entries at `paths` (owners), reading each directory once.
fn owner_entries(catalog: &Catalog, dirs: &[(ObjectDir, Id)], paths: Vec<CatalogPath>) -> Result<Vec<CatalogEntry>> {
    let mut wanted: BTreeMap<ObjectDir, BTreeSet<String>> = BTreeMap::new();
    for p in paths {
        wanted.entry(ObjectDir::of(&p)).or_default().insert(p.name);
    }
    let mut out = Vec::new();
    for (dir, tree) in dirs.iter().filter(|(d, _)| wanted.contains_key(d)) {
        let names = &wanted[dir];
        out.extend(catalog.dir_entries(dir, tree)?.into_iter().filter(|e| names.contains(&e.path.name)));
    }
    Ok(out)
}

/// Whether a restore writes to the repository: a lock, its report.
fn writes_repository(opts: &RestoreOptions) -> bool {
    !opts.dry_run && !opts.read_only
}

/// Plans and applies a restore, then stores its report (unless a dry run).
/// The report holds counts and the notable results; see [`run_with_items`].
pub async fn run(kube: &Kube, server: &str, repo: &Repository, opts: &RestoreOptions) -> Result<RestoreReport> {
    Ok(run_with_items(kube, server, repo, opts).await?.0)
}

/// [`run`], and where every per-object result can be read again (stored
/// in the repository, or for a dry run in a temporary file).
pub async fn run_with_items(
    kube: &Kube,
    server: &str,
    repo: &Repository,
    opts: &RestoreOptions,
) -> Result<(RestoreReport, ItemLines)> {
    let started = Utc::now();
    let _lock = if !writes_repository(opts) {
        None
    } else {
        let repo = repo.clone();
        Some(tokio::task::spawn_blocking(move || repo.lock(false, "kubernetes restore")).await??)
    };
    if opts.data_only {
        return run_data_only(kube, server, repo, opts, started).await;
    }
    let prepared = {
        let (repo, opts) = (repo.clone(), opts.clone());
        tokio::task::spawn_blocking(move || prepare(&repo, &opts)).await??
    };
    let (items, log) = if !writes_repository(opts) {
        (LineWriter::to_spool("restore results")?, LineWriter::discard("restore log"))
    } else {
        (LineWriter::to_repository(repo, "restore results"), LineWriter::to_repository(repo, "restore log"))
    };
    let outcome = apply::execute(kube, &prepared, opts, &items, &log).await;
    let files = tokio::task::spawn_blocking(move || -> Result<ReportFiles> {
        Ok(ReportFiles { items: items.finish()?, log: log.finish()? })
    })
    .await??;
    let mut outcome = outcome?;
    let data_items = outcome.volumes.len() + outcome.hooks.len() + outcome.dumps.len();
    outcome.tally.add_volumes(data_items as u64, outcome.volumes_failed);
    let backup = &prepared.backup;
    let report = RestoreReport {
        name: opts.name.clone(),
        backup: backup.snapshot.paths.first().cloned().unwrap_or_default(),
        backup_snapshot: backup.id.to_hex(),
        phase: outcome.tally.phase(),
        dry_run: opts.dry_run,
        started,
        finished: Utc::now(),
        cluster: server.to_string(),
        options: serde_json::json!({
            "plan": opts.plan,
            "existing_resource_policy": opts.policy,
            "resource_modifiers": !opts.modifiers.is_empty(),
            "data_only": opts.data_only,
        }),
        counts: outcome.tally.counts,
        warnings: outcome.warnings.kept,
        warnings_omitted: outcome.warnings.omitted,
        items: outcome.tally.notable.kept,
        items_omitted: outcome.tally.notable.omitted,
        format: None,
        volumes: outcome.volumes,
        hooks: outcome.hooks,
        dumps: outcome.dumps,
    };
    finish(repo, opts, report, files).await
}

/// Stores the report (unless nothing may be written) and gives back where
/// every per-object result can be read.
async fn finish(
    repo: &Repository,
    opts: &RestoreOptions,
    report: RestoreReport,
    files: ReportFiles,
) -> Result<(RestoreReport, ItemLines)> {
    if !writes_repository(opts) {
        let lines = match files.items {
            Written::Spooled(file) => ItemLines::Spooled(file),
            _ => ItemLines::Inline(Vec::new()),
        };
        return Ok((report, lines));
    }
    let repo = repo.clone();
    let (_, report, lines) = tokio::task::spawn_blocking(move || report::save(&repo, report, files)).await??;
    Ok((report, lines))
}

/// `--data-only`: the data phase fills live claims; no object is touched.
/// The report holds the volumes' results and the log.
async fn run_data_only(
    kube: &Kube,
    server: &str,
    repo: &Repository,
    opts: &RestoreOptions,
    started: chrono::DateTime<Utc>,
) -> Result<(RestoreReport, ItemLines)> {
    let phase = opts
        .data
        .as_ref()
        .ok_or_else(|| Error::invalid("--data-only", "this restore has no volume data phase; nothing can be filled"))?;
    let backup = {
        let (repo, name) = (repo.clone(), opts.backup.clone());
        tokio::task::spawn_blocking(move || crate::backup::find_backup(&repo, &name)).await??
    };
    let ctx = crate::data::DataOnly { kube, restore: &opts.name, plan: &opts.plan, dry_run: opts.dry_run };
    let outcome = phase.0.data_only(ctx).await;
    let log = if !writes_repository(opts) {
        LineWriter::discard("restore log")
    } else {
        LineWriter::to_repository(repo, "restore log")
    };
    for line in &outcome.log {
        log.line(format!("{} {line}", Utc::now().format("%H:%M:%S%.3f")));
    }
    let items = if !writes_repository(opts) {
        LineWriter::to_spool("restore results")?
    } else {
        LineWriter::to_repository(repo, "restore results")
    };
    let files = tokio::task::spawn_blocking(move || -> Result<ReportFiles> {
        Ok(ReportFiles { items: items.finish()?, log: log.finish()? })
    })
    .await??;
    let mut tally = report::Tally::default();
    let data_items = outcome.volumes.len() + outcome.hooks.len() + outcome.dumps.len();
    tally.add_volumes(data_items as u64, outcome.failed);
    let report = RestoreReport {
        name: opts.name.clone(),
        backup: backup.snapshot.paths.first().cloned().unwrap_or_default(),
        backup_snapshot: backup.id.to_hex(),
        phase: tally.phase(),
        dry_run: opts.dry_run,
        started,
        finished: Utc::now(),
        cluster: server.to_string(),
        options: serde_json::json!({"plan": opts.plan, "data_only": true}),
        counts: BTreeMap::new(),
        warnings: outcome.warnings,
        warnings_omitted: 0,
        items: Vec::new(),
        items_omitted: 0,
        format: None,
        volumes: outcome.volumes,
        hooks: outcome.hooks,
        dumps: outcome.dumps,
    };
    finish(repo, opts, report, files).await
}
