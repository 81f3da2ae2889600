//! `RestoreSpec` → the library's `RestoreOptions` with the data phases
//! `arca restore create` runs (volume data, restore hooks, blueprint dumps),
//! and its report → `RestoreStatus`.

use std::sync::Arc;

use arca_api::RestorePhase;
use arca_api::restore::{DrillStatus, RestoreProgress, RestoreSpec, RestoreStatus};
use arca_apps::blueprint::{Bindings, BlueprintRestore, DumpRecord, Library, RestoreSettings};
use arca_apps::hooks::restore::{RestoreHookOptions, RestoreHooks};
use arca_kube::backup::BackupReport;
use arca_kube::data::{RestoreChain, RestoreDataPhase, RestorePhase as DataPhase};
use arca_kube::restore::drill::report::DrillReport;
use arca_kube::restore::drill::{DrillOptions, DrillVolumeCheck};
use arca_kube::restore::mapping::Mappings;
use arca_kube::restore::plan::PlanOptions;
use arca_kube::restore::report::{ItemLines, Outcome, RestoreReport};
use arca_kube::restore::{ExistingPolicy, RestoreOptions};
use arca_repo::{Repository, SnapshotEntry};
use arca_volumes::drill::DrillVolumes;
use arca_volumes::record;
use arca_volumes::restore::VolumeRestorer;
use arca_volumes::restore::settings::MoverSettings;

use super::{capped, filter, issue};
use crate::config::ServerConfig;
use crate::location::OpenedLocation;

const VOLUME_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30 * 60);
const DUMP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60 * 60);
/// How long a drill waits for restored workloads unless `spec.wait` says.
const DRILL_WAIT: std::time::Duration = std::time::Duration::from_secs(5 * 60);
/// How long a drill waits for its scratch namespaces to be deleted.
const DRILL_CLEANUP: std::time::Duration = std::time::Duration::from_secs(5 * 60);
/// Problems a drill's status lists (the stored report has them all).
const DRILL_PROBLEMS_KEPT: usize = 10;

/// The options of one restore of `backup` (its snapshot entry).
pub fn options(
    name: &str,
    spec: &RestoreSpec,
    backup: &SnapshotEntry,
    loc: &OpenedLocation,
    config: &ServerConfig,
    library: Library,
) -> Result<RestoreOptions, String> {
    let mut opts = RestoreOptions::new(name, &backup.id.to_hex());
    opts.plan = PlanOptions {
        filter: filter(
            &spec.include_namespaces,
            &spec.exclude_namespaces,
            &spec.include_resources,
            &spec.exclude_resources,
            spec.selector.as_ref(),
            &[],
            spec.include_cluster_resources.as_ref(),
        )?,
        mappings: Mappings { namespaces: spec.namespace_mapping.clone(), ..Default::default() },
        ..Default::default()
    };
    opts.policy = match spec.existing_resource_policy.as_deref() {
        Some(p) => p.parse::<ExistingPolicy>().map_err(|e| format!("existingResourcePolicy: {e}"))?,
        None => ExistingPolicy::None,
    };
    opts.wait = match &spec.wait {
        Some(w) => Some(arca_volumes::limits::parse_duration(w).map_err(|e| format!("wait: {e}"))?),
        None => None,
    };
    opts.data_only = spec.data_only;
    // A ReadOnly location is never written: no lock, the report in status only.
    opts.read_only = loc.access == arca_api::AccessMode::ReadOnly;
    opts.data = data_phases(name, spec, backup, loc, config, library)?;
    Ok(opts)
}

fn data_phases(
    name: &str,
    spec: &RestoreSpec,
    backup: &SnapshotEntry,
    loc: &OpenedLocation,
    config: &ServerConfig,
    library: Library,
) -> Result<Option<DataPhase>, String> {
    let report = BackupReport::from_snapshot(backup).map_err(|e| e.to_string())?;
    let mut phases: Vec<Arc<dyn RestoreDataPhase>> = Vec::new();
    let records: Vec<_> = record::from_report(&report.volumes).into_iter().filter_map(Result::ok).collect();
    if spec.restore_volumes != Some(false) && (!records.is_empty() || spec.data_only) {
        let restorer = VolumeRestorer::new(name, records, mover_settings(loc, config)?);
        phases.push(Arc::new(if spec.drill { restorer.verifying() } else { restorer }));
    }
    phases.push(Arc::new(RestoreHooks::new(RestoreHookOptions { max_wait: None })));
    let dumps: Vec<DumpRecord> = DumpRecord::from_report(&report.dumps).into_iter().filter_map(Result::ok).collect();
    if !dumps.is_empty() {
        let repo: Repository = loc.repo.clone();
        let settings =
            RestoreSettings { library, bindings: Bindings::default(), repo, records: dumps, timeout: DUMP_TIMEOUT };
        phases.push(Arc::new(BlueprintRestore(Arc::new(settings))));
    }
    Ok(Some(DataPhase(Arc::new(RestoreChain(phases)))))
}

/// How restore (and check) movers of `loc` run.
fn mover_settings(loc: &OpenedLocation, config: &ServerConfig) -> Result<MoverSettings, String> {
    let (repository, local_repository) = super::backup::mover_repository(&loc.url)?;
    let mut settings = MoverSettings::new(&repository, loc.password.clone());
    settings.local_repository = local_repository;
    settings.image = config.mover_image.clone();
    settings.timeout = VOLUME_TIMEOUT;
    settings.env = loc.settings.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    Ok(settings)
}

/// A drill of `backup`: the restore's options (the drill sets the
/// namespace mapping) and a check of each restored volume.
pub fn drill_options(
    restore: RestoreOptions,
    spec: &RestoreSpec,
    backup: &SnapshotEntry,
    loc: &OpenedLocation,
    config: &ServerConfig,
) -> Result<DrillOptions, String> {
    if !spec.namespace_mapping.is_empty() || spec.data_only {
        return Err("a drill restores into its own scratch namespaces: drop namespaceMapping and dataOnly".into());
    }
    let report = BackupReport::from_snapshot(backup).map_err(|e| e.to_string())?;
    let records: Vec<_> = record::from_report(&report.volumes).into_iter().filter_map(Result::ok).collect();
    let volumes: Option<Arc<dyn DrillVolumeCheck>> = if records.is_empty() || spec.restore_volumes == Some(false) {
        None
    } else {
        Some(Arc::new(DrillVolumes::new(&restore.name, records, mover_settings(loc, config)?)))
    };
    let mut restore = restore;
    if restore.wait.is_none() {
        restore.wait = Some(DRILL_WAIT);
    }
    // Cluster-scoped objects are the live application's: a drill leaves them alone.
    if spec.include_cluster_resources.is_none() {
        restore.plan.filter.include_cluster_resources = arca_kube::filter::ClusterResources::False;
    }
    Ok(DrillOptions {
        name: restore.name.clone(),
        prefix: spec.drill_prefix.clone().unwrap_or_else(|| "drill-".into()),
        restore,
        keep: false,
        cleanup_timeout: DRILL_CLEANUP,
        volumes,
    })
}

/// A drill's report → the Restore's status.
pub fn status_of_drill(report: &DrillReport, mut status: RestoreStatus) -> RestoreStatus {
    let state = |v: &serde_json::Value| v.get("state").and_then(serde_json::Value::as_str).map(String::from);
    status.phase = if report.passed() { RestorePhase::Completed } else { RestorePhase::PartiallyFailed };
    status.completion_time = Some(report.finished);
    status.message = format!("drill {}: {}", report.result, report.objects.summary());
    status.drill = Some(DrillStatus {
        result: report.result.to_string(),
        namespaces: report.namespaces.clone(),
        objects_compared: report.objects.compared,
        objects_equal: report.objects.equal,
        volumes_checked: report.volumes.iter().filter(|v| state(v).as_deref() != Some("Skipped")).count() as u64,
        volumes_passed: report.volumes.iter().filter(|v| state(v).as_deref() == Some("Passed")).count() as u64,
        problems: report.problems.iter().take(DRILL_PROBLEMS_KEPT).cloned().collect(),
        cleanup: report.cleanup.clone(),
    });
    status.errors =
        report.problems.iter().take(DRILL_PROBLEMS_KEPT).map(|p| issue("DrillFailed", p.clone(), None)).collect();
    status.error_count = report.problems.len() as u32;
    status.warnings =
        report.warnings.iter().take(DRILL_PROBLEMS_KEPT).map(|w| issue("DrillWarning", w.clone(), None)).collect();
    status.warning_count = report.warnings.len() as u32;
    status
}

pub fn phase_of(phase: arca_kube::Phase) -> RestorePhase {
    match phase {
        arca_kube::Phase::Completed => RestorePhase::Completed,
        arca_kube::Phase::PartiallyFailed => RestorePhase::PartiallyFailed,
        arca_kube::Phase::Failed => RestorePhase::Failed,
    }
}

/// The finished restore's status: counts from the report, failed objects as errors.
pub fn status_of(report: &RestoreReport, items: &ItemLines, mut status: RestoreStatus) -> RestoreStatus {
    let count = |k: &str| report.counts.get(k).copied().unwrap_or(0);
    status.phase = phase_of(report.phase);
    status.start_time = Some(report.started);
    status.completion_time = Some(report.finished);
    status.progress = Some(RestoreProgress {
        total: report.counts.values().sum(),
        restored: count("created") + count("updated"),
        skipped: count("skipped") + count("unchanged"),
        failed: count("failed"),
        volumes: report.volumes.len() as u64,
    });
    let mut failed = Vec::new();
    let read = items.for_each(|item| {
        if item.outcome == Outcome::Failed {
            failed.push(issue("RestoreFailed", item.reason.clone().unwrap_or_default(), Some(item.object.clone())));
        }
        Ok(())
    });
    if let Err(e) = read {
        failed.push(issue("ReportUnreadable", format!("reading the per-object results: {e}"), None));
    }
    let (errors, error_count) = capped(failed);
    let (warnings, warning_count) = capped(report.warnings.iter().map(|w| issue("Warning", w.clone(), None)));
    (status.errors, status.error_count, status.warnings, status.warning_count) =
        (errors, error_count, warnings, warning_count.saturating_add(report.warnings_omitted as u32));
    status.report = Some(report.name.clone());
    status.message = format!(
        "{} restored, {} skipped, {} failed",
        count("created") + count("updated"),
        count("skipped") + count("unchanged"),
        count("failed")
    );
    status
}
