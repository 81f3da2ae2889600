//! The blueprint part of `arca restore create`: when the backup holds
//! application dumps, a blueprint restore phase is chained after the
//! volume phase (it runs once everything is applied).

use std::sync::Arc;

use anyhow::Result;
use arca_apps::blueprint::record::{DumpRestore, RestoreState};
use arca_apps::blueprint::{BlueprintRestore, DumpRecord, RestoreSettings};
use arca_kube::backup::BackupReport;
use arca_kube::data::{RestoreChain, RestoreDataPhase, RestorePhase};
use arca_repo::{Repository, SnapshotEntry};
use serde_json::Value;

use super::backup_blueprints::BlueprintArgs;
use crate::output::bytes;

/// `data` with the blueprint phase after it, when the backup holds dumps.
pub fn chain(
    args: &BlueprintArgs,
    data: Option<RestorePhase>,
    repo: &Repository,
    backup: &SnapshotEntry,
) -> Result<Option<RestorePhase>> {
    let report = BackupReport::from_snapshot(backup)?;
    let mut records = Vec::new();
    for r in DumpRecord::from_report(&report.dumps) {
        match r {
            Ok(r) => records.push(r),
            Err(why) => tracing::warn!("{why}; it is not restored"),
        }
    }
    if records.is_empty() {
        return Ok(data);
    }
    let settings = RestoreSettings {
        library: args.library.library()?,
        bindings: args.bindings()?,
        repo: repo.clone(),
        records,
        timeout: args.dump_timeout,
    };
    let mut phases: Vec<Arc<dyn RestoreDataPhase>> = data.map(|d| d.0).into_iter().collect();
    phases.push(Arc::new(BlueprintRestore(Arc::new(settings))));
    Ok(Some(RestorePhase(Arc::new(RestoreChain(phases)))))
}

/// Summary lines of a restore report's volumes, then its dumps.
pub fn data_lines(volumes: &[Value], dumps: &[Value]) -> Vec<String> {
    let mut lines = super::volume_restore::summary_lines(volumes);
    lines.extend(summary_lines(dumps));
    lines
}

/// Summary lines of a restore report's dumps.
pub fn summary_lines(dumps: &[Value]) -> Vec<String> {
    dumps
        .iter()
        .map(|v| match serde_json::from_value::<DumpRestore>(v.clone()) {
            Ok(d) if d.state == RestoreState::Restored => {
                format!(
                    "  dump {} of {} restored into {}: {}, {:.1}s",
                    d.stream,
                    d.object,
                    d.pod,
                    bytes(d.bytes),
                    d.duration_secs
                )
            }
            Ok(d) => format!("  dump {} of {}: {:?}: {}", d.stream, d.object, d.state, d.reason.unwrap_or_default()),
            Err(_) => format!("  dump {v}"),
        })
        .collect()
}
