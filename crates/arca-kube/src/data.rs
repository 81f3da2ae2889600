//! The seam to the data half of a backup (volume data, later application
//! dumps): arca-kube captures objects; a data phase given in the backup's
//! options runs after the capture, inside the backup's repository lock and
//! before its snapshot is written, and its records go into the report.
//! A restore's data phase rewrites each claim before it is created, fills
//! the created claims before any workload that mounts them exists, and does
//! `--data-only` restores into live claims.
//! Implemented outside this crate (`arca-volumes`), so this crate stays
//! free of movers and snapshots.

use std::sync::Arc;

use arca_repo::Repository;
use futures::future::BoxFuture;
use serde_json::Value;

use crate::api::Kube;
use crate::backup::ItemError;
use crate::filter::Filter;

/// What a data phase gets to work with.
pub struct BackupData<'a> {
    pub kube: &'a Kube,
    pub repo: &'a Repository,
    /// The backup's selection (namespaces, types, labels).
    pub filter: &'a Filter,
    pub backup: &'a str,
}

/// What a data phase did.
#[derive(Debug, Default)]
pub struct DataOutcome {
    /// One record per volume, stored as the report's `volumes`.
    pub volumes: Vec<Value>,
    /// One record per hook run, stored as the report's `hooks`.
    pub hooks: Vec<Value>,
    /// One record per application dump (blueprints), stored as the report's `dumps`.
    pub dumps: Vec<Value>,
    /// Items that failed (volumes, hooks, dumps): the backup ends `PartiallyFailed`.
    pub errors: Vec<ItemError>,
    pub warnings: Vec<String>,
    /// Lines for the backup's log.
    pub log: Vec<String>,
}

impl DataOutcome {
    /// Adds another phase's outcome to this one.
    pub fn merge(&mut self, other: DataOutcome) {
        self.volumes.extend(other.volumes);
        self.hooks.extend(other.hooks);
        self.dumps.extend(other.dumps);
        self.errors.extend(other.errors);
        self.warnings.extend(other.warnings);
        self.log.extend(other.log);
    }
}

pub trait BackupDataPhase: Send + Sync {
    fn run<'a>(&'a self, ctx: BackupData<'a>) -> BoxFuture<'a, DataOutcome>;
}

/// Several data phases run one after the other (e.g. application dumps,
/// then volumes); their outcomes are merged.
pub struct BackupChain(pub Vec<Arc<dyn BackupDataPhase>>);

impl BackupDataPhase for BackupChain {
    fn run<'a>(&'a self, ctx: BackupData<'a>) -> BoxFuture<'a, DataOutcome> {
        Box::pin(async move {
            let mut all = DataOutcome::default();
            for phase in &self.0 {
                let ctx = BackupData { kube: ctx.kube, repo: ctx.repo, filter: ctx.filter, backup: ctx.backup };
                all.merge(phase.run(ctx).await);
            }
            all
        })
    }
}

/// A data phase in [`crate::backup::BackupOptions`].
#[derive(Clone)]
pub struct DataPhase(pub Arc<dyn BackupDataPhase>);

impl std::fmt::Debug for DataPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataPhase")
    }
}

// ---- Restore ----------------------------------------------------------------

/// A claim a restore is about to create, handed to
/// [`RestoreDataPhase::rewrite_claim`] after its transform and binding
/// decision and before it is sent.
pub struct ClaimToRestore<'a> {
    pub kube: &'a Kube,
    /// `NAMESPACE/NAME` in the backup (the key of its volume record).
    pub source: String,
    /// Namespace it is created in (after mapping).
    pub namespace: &'a str,
    pub name: &'a str,
    pub dry_run: bool,
}

/// What the data phase made of a claim before it is sent.
#[derive(Debug, Clone, PartialEq)]
pub enum ClaimRewrite {
    /// Sent as it is (no data in the backup, or it keeps an existing
    /// volume); the note, if any, goes into its result.
    Unchanged(Option<String>),
    /// Rewritten to receive its data (a snapshot data source, a fresh
    /// volume); filled by [`RestoreDataPhase::fill`] once created. The note
    /// says how.
    Fill(String),
    /// Not created: why.
    Refuse(String),
}

/// A claim this restore created to be filled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoredClaim {
    /// `NAMESPACE/NAME` in the backup.
    pub source: String,
    pub namespace: String,
    pub name: String,
}

/// What [`RestoreDataPhase::fill`] gets: called once the claims' priority
/// group is applied and before any later group (pods, workloads).
pub struct RestoreData<'a> {
    pub kube: &'a Kube,
    pub restore: &'a str,
    /// The claims created with [`ClaimRewrite::Fill`].
    pub claims: Vec<RestoredClaim>,
    /// Where a backed-up namespace is restored to (`None`: not restored),
    /// for pods' inline volumes.
    pub namespaces: &'a (dyn Fn(&str) -> Option<String> + Sync),
}

/// What [`RestoreDataPhase::data_only`] gets: a restore of data into live
/// claims, no object created or changed.
pub struct DataOnly<'a> {
    pub kube: &'a Kube,
    pub restore: &'a str,
    /// The restore's selection (namespaces, `--item persistentvolumeclaims/NS/NAME`, mappings).
    pub plan: &'a crate::restore::plan::PlanOptions,
    pub dry_run: bool,
}

/// An object the restore sent that a data phase asked to follow
/// ([`RestoreDataPhase::prepare_object`]), handed to
/// [`RestoreDataPhase::after_apply`] when it was created or updated.
#[derive(Debug, Clone, PartialEq)]
pub struct RestoredObject {
    /// The object as it was sent (after transforms and the data phase's changes).
    pub object: Value,
    /// Its namespace in the backup (`None`: cluster-scoped).
    pub source_namespace: Option<String>,
}

/// What [`RestoreDataPhase::after_apply`] gets: called once every object is
/// applied (and `--wait` is over).
pub struct AfterApply<'a> {
    pub kube: &'a Kube,
    pub restore: &'a str,
    /// The followed objects that were created or updated.
    pub restored: Vec<RestoredObject>,
    /// Where a backed-up namespace is restored to (`None`: not restored).
    pub namespaces: &'a (dyn Fn(&str) -> Option<String> + Sync),
    pub dry_run: bool,
}

/// What a restore's data phase did.
#[derive(Debug, Default)]
pub struct RestoreDataOutcome {
    /// One result per volume, stored as the restore report's `volumes`.
    pub volumes: Vec<Value>,
    /// One result per restore hook run, stored as the report's `hooks`.
    pub hooks: Vec<Value>,
    /// One result per application dump restored, stored as the report's `dumps`.
    pub dumps: Vec<Value>,
    /// How many items (volumes, hooks, dumps) failed: the restore ends
    /// `PartiallyFailed` (or `Failed`).
    pub failed: u64,
    pub warnings: Vec<String>,
    /// Lines for the restore's log.
    pub log: Vec<String>,
}

impl RestoreDataOutcome {
    /// Adds another phase's outcome to this one.
    pub fn merge(&mut self, other: RestoreDataOutcome) {
        self.volumes.extend(other.volumes);
        self.hooks.extend(other.hooks);
        self.dumps.extend(other.dumps);
        self.failed += other.failed;
        self.warnings.extend(other.warnings);
        self.log.extend(other.log);
    }
}

/// What [`RestoreDataPhase::prepare_object`] made of an object about to be sent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObjectPrepared {
    /// Goes into the object's result (e.g. "init container injected").
    pub note: Option<String>,
    /// Hand the object to [`RestoreDataPhase::after_apply`] once it is in.
    pub follow: bool,
}

fn nothing<'a>() -> BoxFuture<'a, RestoreDataOutcome> {
    Box::pin(async { RestoreDataOutcome::default() })
}

pub trait RestoreDataPhase: Send + Sync {
    /// Rewrites one claim before it is created.
    fn rewrite_claim<'a>(&'a self, claim: ClaimToRestore<'a>, desired: &'a mut Value) -> BoxFuture<'a, ClaimRewrite> {
        let _ = (claim, desired);
        Box::pin(async { ClaimRewrite::Unchanged(None) })
    }
    /// Fills the created claims (and restored pods' inline volumes).
    fn fill<'a>(&'a self, ctx: RestoreData<'a>) -> BoxFuture<'a, RestoreDataOutcome> {
        let _ = ctx;
        nothing()
    }
    /// `--data-only`: fills existing claims (or applications) in place.
    fn data_only<'a>(&'a self, ctx: DataOnly<'a>) -> BoxFuture<'a, RestoreDataOutcome> {
        let _ = ctx;
        nothing()
    }
    /// Every object, after its transforms and before it is sent: may change
    /// it (restore hooks' init containers) and ask to follow it.
    fn prepare_object(&self, desired: &mut Value) -> ObjectPrepared {
        let _ = desired;
        ObjectPrepared::default()
    }
    /// Once every object is in: restore hooks, blueprints' restore actions.
    fn after_apply<'a>(&'a self, ctx: AfterApply<'a>) -> BoxFuture<'a, RestoreDataOutcome> {
        let _ = ctx;
        nothing()
    }
}

/// Several restore data phases: claims go to the first that does not leave
/// them unchanged; fills, data-only runs and after-apply steps run in order.
pub struct RestoreChain(pub Vec<Arc<dyn RestoreDataPhase>>);

impl RestoreDataPhase for RestoreChain {
    fn rewrite_claim<'a>(&'a self, claim: ClaimToRestore<'a>, desired: &'a mut Value) -> BoxFuture<'a, ClaimRewrite> {
        Box::pin(async move {
            let mut notes = Vec::new();
            for phase in &self.0 {
                let claim = ClaimToRestore { source: claim.source.clone(), ..claim };
                match phase.rewrite_claim(claim, desired).await {
                    ClaimRewrite::Unchanged(note) => notes.extend(note),
                    decided => return decided,
                }
            }
            ClaimRewrite::Unchanged((!notes.is_empty()).then(|| notes.join("; ")))
        })
    }

    fn fill<'a>(&'a self, ctx: RestoreData<'a>) -> BoxFuture<'a, RestoreDataOutcome> {
        Box::pin(async move {
            let mut all = RestoreDataOutcome::default();
            for phase in &self.0 {
                let ctx = RestoreData { claims: ctx.claims.clone(), ..ctx };
                all.merge(phase.fill(ctx).await);
            }
            all
        })
    }

    fn data_only<'a>(&'a self, ctx: DataOnly<'a>) -> BoxFuture<'a, RestoreDataOutcome> {
        Box::pin(async move {
            let mut all = RestoreDataOutcome::default();
            for phase in &self.0 {
                let ctx = DataOnly { ..ctx };
                all.merge(phase.data_only(ctx).await);
            }
            all
        })
    }

    fn prepare_object(&self, desired: &mut Value) -> ObjectPrepared {
        let mut all = ObjectPrepared::default();
        let mut notes = Vec::new();
        for phase in &self.0 {
            let p = phase.prepare_object(desired);
            all.follow |= p.follow;
            notes.extend(p.note);
        }
        all.note = (!notes.is_empty()).then(|| notes.join("; "));
        all
    }

    fn after_apply<'a>(&'a self, ctx: AfterApply<'a>) -> BoxFuture<'a, RestoreDataOutcome> {
        Box::pin(async move {
            let mut all = RestoreDataOutcome::default();
            for phase in &self.0 {
                let ctx = AfterApply { restored: ctx.restored.clone(), ..ctx };
                all.merge(phase.after_apply(ctx).await);
            }
            all
        })
    }
}

/// A restore's data phase in [`crate::restore::RestoreOptions`].
#[derive(Clone)]
pub struct RestorePhase(pub Arc<dyn RestoreDataPhase>);

impl std::fmt::Debug for RestorePhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RestorePhase")
    }
}
