//! `RestoreSpec` → the library's `RestoreOptions` with the data phases
//! `arca restore create` runs (volume data, restore hooks, blueprint dumps),
//! and its report → `RestoreStatus`.

use std::sync::Arc;

use arca_api::RestorePhase;
use arca_api::restore::{RestoreProgress, RestoreSpec, RestoreStatus};
use arca_apps::blueprint::{Bindings, BlueprintRestore, DumpRecord, Library, RestoreSettings};
use arca_apps::hooks::restore::{RestoreHookOptions, RestoreHooks};
use arca_kube::backup::BackupReport;
use arca_kube::data::{RestoreChain, RestoreDataPhase, RestorePhase as DataPhase};
use arca_kube::restore::mapping::Mappings;
use arca_kube::restore::plan::PlanOptions;
use arca_kube::restore::report::{ItemLines, Outcome, RestoreReport};
use arca_kube::restore::{ExistingPolicy, RestoreOptions};
use arca_repo::{Repository, SnapshotEntry};
use arca_volumes::record;
use arca_volumes::restore::VolumeRestorer;
use arca_volumes::restore::settings::MoverSettings;

use super::{capped, filter, issue};
use crate::config::ServerConfig;
use crate::location::OpenedLocation;

const VOLUME_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30 * 60);
const DUMP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60 * 60);

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
        let (repository, local_repository) = super::backup::mover_repository(&loc.url)?;
        let mut settings = MoverSettings::new(&repository, loc.password.clone());
        settings.local_repository = local_repository;
        settings.image = config.mover_image.clone();
        settings.timeout = VOLUME_TIMEOUT;
        settings.env = loc.settings.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        phases.push(Arc::new(VolumeRestorer::new(name, records, settings)));
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
