//! The seam to the data half of a backup (volume data, later application
//! dumps): arca-kube captures objects; a data phase given in the backup's
//! options runs after the capture, inside the backup's repository lock and
//! before its snapshot is written, and its records go into the report.
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
