//! Restore: plan (pure, [`plan`]) then apply ([`apply`]) a backup's objects
//! into a cluster, and keep a report ([`report`]).
//!
//! Order is a table ([`priority`]); per-kind behaviour is a registry of
//! small rules ([`sanitize`]); mappings and user modifiers are data
//! ([`mapping`], [`modifiers`]). What the target cluster manages itself is
//! skipped by a table of its own ([`managed`]). Into another Kubernetes
//! version, each object goes to a version the target serves ([`versions`]),
//! built-in kinds through conversion rules kept as data ([`convert`]).

pub mod admission;
pub mod apply;
pub mod convert;
pub mod managed;
pub mod mapping;
pub mod modifiers;
pub mod plan;
pub mod priority;
pub mod readiness;
pub mod rebind;
pub mod report;
pub mod sanitize;
pub mod strategic;
pub mod versions;

use std::sync::Arc;
use std::time::Duration;

use arca_repo::Repository;
use chrono::Utc;
use serde::{Deserialize, Serialize};

use crate::api::Kube;
use crate::catalog::{Catalog, CatalogEntry, Scope};
use crate::error::{Error, Result};
use crate::restore::modifiers::Modifiers;
use crate::restore::plan::{Plan, PlanOptions, Planner};
use crate::restore::report::RestoreReport;

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
        }
    }
}

struct PlanScope<'a>(&'a Planner);
impl Scope for PlanScope<'_> {
    fn namespace(&self, ns: &str) -> bool {
        self.0.wants_namespace(ns)
    }
}

/// Reads the backup and plans the restore. Blocking (repository reads).
pub fn plan(repo: &Repository, opts: &RestoreOptions) -> Result<(Plan, Catalog, arca_repo::SnapshotEntry)> {
    let backup = crate::backup::find_backup(repo, &opts.backup)?;
    let catalog = Catalog::open(repo, &backup.snapshot.tree)?;
    let mut planner = Planner::new(opts.plan.clone(), catalog.resources()?)?;
    let entries: Vec<CatalogEntry> = catalog.entries(&PlanScope(&planner))?;
    planner.set_custom(
        entries
            .iter()
            .filter(|e| e.path.namespace.is_none() && e.path.resource == "customresourcedefinitions")
            .map(|e| e.path.name.clone()),
    );
    // Namespaced first: cluster-scoped objects are chosen by what they serve.
    // Within each part the order does not matter (the plan sorts), so
    // objects are read in storage order.
    let (namespaced, cluster): (Vec<_>, Vec<_>) = entries.into_iter().partition(|e| e.path.namespace.is_some());
    let planner = std::sync::Mutex::new(planner);
    for part in [namespaced, cluster] {
        catalog.load_each(&part, |e, obj| {
            planner.lock().unwrap_or_else(|p| p.into_inner()).add(e, &obj);
            Ok(())
        })?;
    }
    let planner = planner.into_inner().unwrap_or_else(|p| p.into_inner());
    Ok((planner.finish(), catalog, backup))
}

/// Plans and applies a restore, then stores its report (unless a dry run).
pub async fn run(kube: &Kube, server: &str, repo: &Repository, opts: &RestoreOptions) -> Result<RestoreReport> {
    let started = Utc::now();
    let (plan, catalog, backup) = {
        let (repo, opts) = (repo.clone(), opts.clone());
        tokio::task::spawn_blocking(move || plan(&repo, &opts)).await??
    };
    let outcome = apply::execute(kube, &plan, Arc::new(catalog), opts).await;
    let report = RestoreReport {
        name: opts.name.clone(),
        backup: backup.snapshot.paths.first().cloned().unwrap_or_default(),
        backup_snapshot: backup.id.to_hex(),
        phase: RestoreReport::phase_of(&outcome.items),
        dry_run: opts.dry_run,
        started,
        finished: Utc::now(),
        cluster: server.to_string(),
        options: serde_json::json!({
            "plan": opts.plan,
            "existing_resource_policy": opts.policy,
            "resource_modifiers": !opts.modifiers.is_empty(),
        }),
        counts: RestoreReport::count(&outcome.items),
        warnings: outcome.warnings,
        items: outcome.items,
    };
    if opts.dry_run {
        return Ok(report);
    }
    let (repo, log) = (repo.clone(), outcome.log.join("\n") + "\n");
    let (_, report) = tokio::task::spawn_blocking(move || {
        let _lock = repo.lock(false, "kubernetes restore report")?;
        report::save(&repo, report, &log)
    })
    .await??;
    Ok(report)
}
