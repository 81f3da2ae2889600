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
    /// Volumes that failed: the backup ends `PartiallyFailed`.
    pub errors: Vec<ItemError>,
    pub warnings: Vec<String>,
    /// Lines for the backup's log.
    pub log: Vec<String>,
}

pub trait BackupDataPhase: Send + Sync {
    fn run<'a>(&'a self, ctx: BackupData<'a>) -> BoxFuture<'a, DataOutcome>;
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

/// What a restore's data phase did.
#[derive(Debug, Default)]
pub struct RestoreDataOutcome {
    /// One result per volume, stored as the restore report's `volumes`.
    pub volumes: Vec<Value>,
    /// How many of them failed: the restore ends `PartiallyFailed` (or `Failed`).
    pub failed: u64,
    pub warnings: Vec<String>,
    /// Lines for the restore's log.
    pub log: Vec<String>,
}

pub trait RestoreDataPhase: Send + Sync {
    /// Rewrites one claim before it is created.
    fn rewrite_claim<'a>(&'a self, claim: ClaimToRestore<'a>, desired: &'a mut Value) -> BoxFuture<'a, ClaimRewrite>;
    /// Fills the created claims (and restored pods' inline volumes).
    fn fill<'a>(&'a self, ctx: RestoreData<'a>) -> BoxFuture<'a, RestoreDataOutcome>;
    /// `--data-only`: fills existing claims in place.
    fn data_only<'a>(&'a self, ctx: DataOnly<'a>) -> BoxFuture<'a, RestoreDataOutcome>;
}

/// A restore's data phase in [`crate::restore::RestoreOptions`].
#[derive(Clone)]
pub struct RestorePhase(pub Arc<dyn RestoreDataPhase>);

impl std::fmt::Debug for RestorePhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RestorePhase")
    }
}
