//! A backup's data phases assembled in one place, for `arca backup create`
//! and for `arca server`'s `Backup` objects: PostgreSQL base backups, then
//! blueprint dumps, then volume data with hooks freezing pods around their
//! snapshots.

use std::sync::Arc;
use std::time::Duration;

use arca_kube::api::Kube;
use arca_kube::data::{BackupChain, BackupDataPhase, DataOutcome, DataPhase};
use arca_volumes::backup::{VolumeBackup, VolumeBackupOptions};
use arca_volumes::freeze::Freezer;
use serde_json::Value;

use crate::blueprint::{BackupSettings, BlueprintBackup};
use crate::hooks::backup::{BackupHooks, ThawBy};
use crate::wal::phase::PitrBackupPhase;

type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// Bound on one pg_basebackup run inside a backup.
pub const BASE_BACKUP_TIMEOUT: Duration = Duration::from_secs(2 * 60 * 60);

/// The volume phase; with `hooks`, pods are frozen around their own snapshots.
pub fn volume_phase(mut opts: VolumeBackupOptions, hooks: Option<BackupHooks>) -> DataPhase {
    opts.freezer = hooks.map(|h| Arc::new(HooksFreezer(h)) as Arc<dyn Freezer>);
    DataPhase(Arc::new(VolumeBackup(Arc::new(opts))))
}

/// Base backups (pods bound to the PostgreSQL blueprint with PITR on), then
/// blueprint dumps (when `blueprints` is given), then `volumes`.
pub fn backup_chain(blueprints: Option<BackupSettings>, volumes: Option<DataPhase>) -> Option<DataPhase> {
    let mut phases: Vec<Arc<dyn BackupDataPhase>> = vec![Arc::new(PitrBackupPhase { timeout: BASE_BACKUP_TIMEOUT })];
    if let Some(settings) = blueprints {
        phases.push(Arc::new(BlueprintBackup(Arc::new(settings))));
    }
    phases.extend(volumes.map(|v| v.0));
    Some(DataPhase(Arc::new(BackupChain(phases))))
}

/// Arca's backup hooks as the volume phase's freezer.
pub struct HooksFreezer(pub BackupHooks);

impl Freezer for HooksFreezer {
    fn has_hooks(&self, pod: &Value) -> bool {
        self.0.has_hooks(pod)
    }

    fn freeze<'a>(
        &'a self,
        kube: &'a Kube,
        pod: &'a Value,
        volumes: &'a [String],
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(self.0.freeze(kube, pod, volumes))
    }

    fn thaw<'a>(&'a self, pod: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(self.0.thaw(pod, ThawBy::Backup))
    }

    fn outcome(&self) -> DataOutcome {
        let o = self.0.take_outcome();
        DataOutcome {
            hooks: o.records.iter().filter_map(|r| serde_json::to_value(r).ok()).collect(),
            errors: o.errors,
            warnings: o.warnings,
            log: o.log,
            ..Default::default()
        }
    }
}
