//! Restoring volume data, the implementation of arca-kube's restore data
//! phase ([`arca_kube::data::RestoreDataPhase`]):
//!
//! - before a claim is created ([`VolumeRestorer`]'s `rewrite_claim`): a
//!   `snapshot` record gets a pre-provisioned snapshot and a data source
//!   ([`snapshot`]); a `move`/`fs` record a fresh volume ([`claim`]);
//! - once the claims are in, before pods and workloads: restore movers fill
//!   the fresh claims and restored pods' inline `hostPath` volumes ([`fill`]);
//! - `--data-only`: live claims filled in place, their workloads scaled to
//!   zero and back ([`data_only`]).

pub mod claim;
pub mod data_only;
pub mod fill;
pub(crate) mod job;
pub mod owners;
pub mod result;
pub mod settings;
pub mod snapshot;

use std::collections::BTreeMap;
use std::sync::Mutex;

use arca_kube::api::Kube;
use arca_kube::data::{
    ClaimRewrite, ClaimToRestore, DataOnly, RestoreData, RestoreDataOutcome, RestoreDataPhase, RestoredClaim,
};
use futures::StreamExt;
use futures::future::BoxFuture;

use crate::mover::VolumeSource;
use crate::record::{Method, VolumeRecord, VolumeState};
use result::{RestoreState, VolumeRestore};
use settings::MoverSettings;

/// How a claim's data comes back, decided from its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A claim provisioned from the recorded CSI snapshot.
    Snapshot,
    /// A restore mover writes the repository snapshot into a fresh claim.
    Repository,
}

/// Where a restorable record's data comes from: `snapshot` records use the
/// snapshot; `move` and `fs` records the repository.
pub fn source_of(record: &VolumeRecord) -> Option<Source> {
    if !record.restorable() {
        return None;
    }
    match (record.method, &record.repository_snapshot, &record.snapshot) {
        (Method::Snapshot, _, Some(_)) | (_, None, Some(_)) => Some(Source::Snapshot),
        (_, Some(_), _) => Some(Source::Repository),
        _ => None,
    }
}

/// Why a record has nothing to restore.
pub fn not_restorable(record: &VolumeRecord) -> String {
    let why = if record.reason.is_empty() { String::new() } else { format!(": {}", record.reason) };
    match record.state {
        VolumeState::Completed => "the backup holds neither a snapshot nor files of it".to_string(),
        state => format!("its data is not in the backup ({state}{why})"),
    }
}

/// One restore's volume data phase.
pub struct VolumeRestorer {
    restore: String,
    /// Claims' records by `NAMESPACE/NAME` in the backup.
    claims: BTreeMap<String, VolumeRecord>,
    /// Pods' inline volumes.
    inline: Vec<VolumeRecord>,
    settings: MoverSettings,
    /// Results decided when claims were rewritten (from a snapshot, skipped, refused).
    decided: Mutex<BTreeMap<String, VolumeRestore>>,
}

impl VolumeRestorer {
    /// From the backup report's volume records (ones that do not parse are
    /// errors naming their claim: the caller reports them).
    pub fn new(restore: &str, records: Vec<VolumeRecord>, settings: MoverSettings) -> Self {
        let (inline, claims): (Vec<_>, Vec<_>) = records.into_iter().partition(|r| r.inline);
        VolumeRestorer {
            restore: restore.to_string(),
            claims: claims.into_iter().map(|r| (r.claim.clone(), r)).collect(),
            inline,
            settings,
            decided: Mutex::new(BTreeMap::new()),
        }
    }

    /// Each mover reads back what it wrote and compares it with the snapshot
    /// before the claim is used (a drill's proof); a copy that differs fails.
    pub fn verifying(mut self) -> Self {
        self.settings.verify = true;
        self
    }

    pub fn settings(&self) -> &MoverSettings {
        &self.settings
    }

    pub fn record(&self, claim: &str) -> Option<&VolumeRecord> {
        self.claims.get(claim)
    }

    pub fn records(&self) -> impl Iterator<Item = &VolumeRecord> {
        self.claims.values()
    }

    pub fn restore_name(&self) -> &str {
        &self.restore
    }

    fn decide(&self, target: String, result: VolumeRestore) {
        self.decided.lock().unwrap_or_else(|e| e.into_inner()).insert(target, result);
    }

    fn take_decided(&self, key: &str) -> Option<VolumeRestore> {
        self.decided.lock().unwrap_or_else(|e| e.into_inner()).remove(key)
    }

    /// The rewrite of one claim (see the module).
    pub async fn rewrite(&self, claim: &ClaimToRestore<'_>, desired: &mut serde_json::Value) -> ClaimRewrite {
        let Some(record) = self.claims.get(&claim.source) else {
            return ClaimRewrite::Unchanged(None);
        };
        let target = format!("{}/{}", claim.namespace, claim.name);
        let skipped = |why: String| {
            let mut r = VolumeRestore::new(&target, &record.claim, record.method, RestoreState::Skipped);
            r.reason = why.clone();
            self.decide(target.clone(), r);
            ClaimRewrite::Unchanged(Some(why))
        };
        let Some(source) = source_of(record) else {
            return skipped(not_restorable(record));
        };
        if let Some(volume) = claim::volume_name(desired) {
            return skipped(format!(
                "binds to the kept volume {volume}: its data stays as it is, not restored over it \
                 (`arca restore create --data-only` puts the backup's data into it)"
            ));
        }
        let path = format!("/api/v1/namespaces/{}/persistentvolumeclaims/{}", claim.namespace, claim.name);
        if let Ok(Some(_)) = claim.kube.get_opt(&path, "reading the claim").await {
            return skipped(
                "exists: its data is left as it is (`arca restore create --data-only` puts the backup's data into it)"
                    .into(),
            );
        }
        match source {
            Source::Repository => {
                claim::fresh(desired);
                let snap = record.repository_snapshot.as_deref().unwrap_or_default();
                ClaimRewrite::Fill(format!(
                    "a new volume, filled from repository snapshot {snap} by a restore mover before its pods start"
                ))
            }
            Source::Snapshot => self.provision_from_snapshot(claim, record, &target, desired).await,
        }
    }

    async fn provision_from_snapshot(
        &self,
        claim: &ClaimToRestore<'_>,
        record: &VolumeRecord,
        target: &str,
        desired: &mut serde_json::Value,
    ) -> ClaimRewrite {
        let Some(snap) = &record.snapshot else {
            return ClaimRewrite::Refuse("its volume record has no snapshot".into());
        };
        let refuse = |why: String| {
            let why = format!("volume data of {}: {why}", record.claim);
            self.decide(
                target.to_string(),
                VolumeRestore::new(target, &record.claim, record.method, RestoreState::Failed).failed(why.clone()),
            );
            ClaimRewrite::Refuse(why)
        };
        let (class, driver) = match snapshot::class_driver(claim.kube, claim::storage_class(desired)).await {
            Ok(found) => found,
            Err(why) => return refuse(why),
        };
        if driver != snap.driver {
            return refuse(format!(
                "the target storage class {class} uses the driver {driver}, the snapshot {} belongs to {}: a snapshot \
                 restores only through its own driver (map the class with --storage-class-mappings, or use a `move` \
                 backup to cross drivers)",
                snap.handle, snap.driver
            ));
        }
        let names = snapshot::names(&self.restore, claim.namespace, claim.name);
        let from = if claim.dry_run {
            format!(
                "VolumeSnapshot {}/{} (would be created for handle {})",
                claim.namespace, names.snapshot, snap.handle
            )
        } else {
            let labels = self.settings.labels();
            match snapshot::provision(claim.kube, &names, claim.namespace, snap, &labels, self.settings.timeout).await {
                Ok(from) => from,
                Err(why) => return refuse(why),
            }
        };
        claim::from_snapshot(desired, &names.snapshot, snap.restore_size.as_deref());
        let mut done = VolumeRestore::new(target, &record.claim, record.method, RestoreState::Completed);
        done.from = from.clone();
        done.reason = "provisioned from the snapshot by its CSI driver".into();
        self.decide(target.to_string(), done);
        ClaimRewrite::Fill(format!("a new volume from {from}"))
    }

    async fn fill_claim(&self, kube: &Kube, record: &VolumeRecord, c: &RestoredClaim) -> VolumeRestore {
        let target = fill::Target {
            record,
            namespace: &c.namespace,
            source: VolumeSource::Claim { name: c.name.clone(), read_only: false },
            shown: format!("{}/{}", c.namespace, c.name),
            mirror: false,
            restore: &self.restore,
            node: None,
        };
        fill::fill(kube, &self.settings, target).await
    }

    /// A restored pod's inline `hostPath` volume (`NAMESPACE/POD/VOLUME`), filled before the pod exists.
    async fn fill_inline(&self, kube: &Kube, record: &VolumeRecord, ns: &str) -> VolumeRestore {
        let volume = record.claim.split_once('/').map(|(_, rest)| rest).unwrap_or(&record.claim);
        let shown = format!("{ns}/{volume}");
        match (source_of(record), &record.host_path) {
            (Some(Source::Repository), Some(path)) => {
                let source = VolumeSource::HostPath { path: path.clone() };
                let target = fill::Target {
                    record,
                    namespace: ns,
                    source,
                    shown,
                    mirror: false,
                    restore: &self.restore,
                    node: None,
                };
                fill::fill(kube, &self.settings, target).await
            }
            (Some(_), _) => VolumeRestore::new(shown, &record.claim, record.method, RestoreState::Failed)
                .failed("only a repository copy with its host path can restore an inline volume"),
            (None, _) => {
                let mut r = VolumeRestore::new(shown, &record.claim, record.method, RestoreState::Skipped);
                r.reason = not_restorable(record);
                r
            }
        }
    }

    /// Fills the created claims and restored pods' inline volumes.
    pub async fn fill_all(&self, ctx: RestoreData<'_>) -> RestoreDataOutcome {
        let mut results: Vec<VolumeRestore> = Vec::new();
        let mut movers: Vec<(&VolumeRecord, RestoredClaim)> = Vec::new();
        for c in ctx.claims {
            let key = format!("{}/{}", c.namespace, c.name);
            match (self.take_decided(&key), self.claims.get(&c.source)) {
                (Some(decided), _) => results.push(decided),
                (None, Some(record)) => movers.push((record, c)),
                (None, None) => {}
            }
        }
        // Decisions of claims that were not created after all (refused, or failed to send).
        let rest = std::mem::take(&mut *self.decided.lock().unwrap_or_else(|e| e.into_inner()));
        results.extend(rest.into_values().map(|r| match r.state {
            // Provisioned for, but the claim's create failed (its own result says why).
            RestoreState::Completed => r.failed("the claim was not created; see its result"),
            _ => r,
        }));
        let kube = ctx.kube;
        let claim_fills: Vec<_> = movers.iter().map(|(record, c)| self.fill_claim(kube, record, c)).collect();
        let inline: Vec<(&VolumeRecord, String)> =
            self.inline.iter().filter_map(|r| (ctx.namespaces)(r.namespace()).map(|ns| (r, ns))).collect();
        let inline_fills: Vec<_> = inline.iter().map(|(record, ns)| self.fill_inline(kube, record, ns)).collect();
        let concurrency = self.settings.concurrency.max(1);
        let mut filled: Vec<VolumeRestore> =
            futures::stream::iter(claim_fills).buffer_unordered(concurrency).collect().await;
        filled.extend(futures::stream::iter(inline_fills).buffer_unordered(concurrency).collect::<Vec<_>>().await);
        results.extend(filled);
        outcome(results)
    }
}

/// The phase's outcome from per-volume results, sorted by claim.
pub fn outcome(mut results: Vec<VolumeRestore>) -> RestoreDataOutcome {
    results.sort_by(|a, b| a.claim.cmp(&b.claim));
    let mut out = RestoreDataOutcome::default();
    for r in results {
        out.log.push(r.log_line());
        if r.state == RestoreState::Failed {
            out.failed += 1;
        }
        match serde_json::to_value(&r) {
            Ok(v) => out.volumes.push(v),
            Err(e) => out.warnings.push(format!("volume {}: result not stored: {e}", r.claim)),
        }
    }
    out
}

impl RestoreDataPhase for VolumeRestorer {
    fn rewrite_claim<'a>(
        &'a self,
        claim: ClaimToRestore<'a>,
        desired: &'a mut serde_json::Value,
    ) -> BoxFuture<'a, ClaimRewrite> {
        Box::pin(async move { self.rewrite(&claim, desired).await })
    }

    fn fill<'a>(&'a self, ctx: RestoreData<'a>) -> BoxFuture<'a, RestoreDataOutcome> {
        Box::pin(self.fill_all(ctx))
    }

    fn data_only<'a>(&'a self, ctx: DataOnly<'a>) -> BoxFuture<'a, RestoreDataOutcome> {
        Box::pin(data_only::run(self, ctx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(method: Method, repo: bool, snap: bool) -> VolumeRecord {
        let v = serde_json::json!({"claim": "shop/data", "volume_mode": "Filesystem", "method": method,
            "chosen_by": "test", "state": "Completed"});
        let mut r: VolumeRecord = serde_json::from_value(v).unwrap();
        r.repository_snapshot = repo.then(|| "ab".to_string());
        r.snapshot = snap.then(Default::default);
        r
    }

    #[test]
    fn snapshot_records_use_the_snapshot_and_the_others_the_repository() {
        assert_eq!(source_of(&record(Method::Snapshot, false, true)), Some(Source::Snapshot));
        assert_eq!(source_of(&record(Method::Move, true, true)), Some(Source::Repository));
        assert_eq!(source_of(&record(Method::Fs, true, false)), Some(Source::Repository));
        assert_eq!(source_of(&record(Method::Move, false, false)), None);
        let mut failed = record(Method::Move, true, false);
        failed.state = VolumeState::Failed;
        failed.reason = "mover killed".into();
        assert_eq!(source_of(&failed), None);
        assert!(not_restorable(&failed).contains("Failed: mover killed"), "{}", not_restorable(&failed));
    }
}
