//! `BackupSpec` → the library's `BackupOptions` and data phases (the same
//! chain `arca backup create` runs: base backups, blueprint dumps, volumes
//! with hooks from pod annotations), and its report → `BackupStatus`.

use arca_api::BackupPhase;
use arca_api::backup::{BackupProgress, BackupSpec, BackupStatus, VolumeProgress};
use arca_apps::blueprint::{BackupSettings, Bindings, Library};
use arca_apps::hooks::backup::{BackupHooks, HookOptions};
use arca_kube::backup::{BackupOptions, BackupReport};
use arca_repo::backend::RepoUrl;
use arca_volumes::backup::VolumeBackupOptions;
use arca_volumes::freeze::Consistency;
use arca_volumes::method::Mode;
use arca_volumes::record;

use super::{capped, filter, issue};
use crate::config::ServerConfig;
use crate::location::OpenedLocation;

/// Defaults as `arca backup create`'s.
const VOLUME_TIMEOUT: &str = "30m";
const DUMP_TIMEOUT: &str = "1h";

/// The options of one backup, and its hooks (to thaw pods if it is stopped).
pub fn options(
    name: &str,
    spec: &BackupSpec,
    loc: &OpenedLocation,
    config: &ServerConfig,
    library: Library,
) -> Result<(BackupOptions, Option<BackupHooks>), String> {
    let mut opts = BackupOptions::new(name);
    opts.filter = filter(
        &spec.include_namespaces,
        &spec.exclude_namespaces,
        &spec.include_resources,
        &spec.exclude_resources,
        spec.selector.as_ref(),
        &spec.or_selectors,
        spec.include_cluster_resources.as_ref(),
    )?;
    opts.tags = spec.tags.clone();
    let volumes = volume_options(spec, loc, config)?;
    let hooks = if spec.hooks.enabled == Some(false) {
        None
    } else {
        let freeze_timeout = match &spec.hooks.freeze_timeout {
            Some(t) => {
                Some(arca_apps::hooks::spec::parse_duration(t).map_err(|e| format!("hooks.freezeTimeout: {e}"))?)
            }
            None => None,
        };
        Some(BackupHooks::new(HookOptions { file: None, freeze_timeout, volume_timeout: volumes.timeout }))
    };
    let dumps = if spec.dumps.enabled == Some(false) {
        None
    } else {
        let timeout = spec.dumps.timeout.as_deref().unwrap_or(DUMP_TIMEOUT);
        let timeout = arca_volumes::limits::parse_duration(timeout).map_err(|e| format!("dumps.timeout: {e}"))?;
        Some(BackupSettings { library, bindings: Bindings::default(), timeout })
    };
    let phase = arca_apps::phases::volume_phase(volumes, hooks.clone());
    opts.data = arca_apps::phases::backup_chain(dumps, Some(phase));
    Ok((opts, hooks))
}

fn volume_options(
    spec: &BackupSpec,
    loc: &OpenedLocation,
    config: &ServerConfig,
) -> Result<VolumeBackupOptions, String> {
    let v = &spec.volumes;
    let mode: Mode = v.mode.as_deref().unwrap_or("auto").parse().map_err(|e: String| format!("volumes.mode: {e}"))?;
    let timeout = arca_volumes::limits::parse_duration(v.timeout.as_deref().unwrap_or(VOLUME_TIMEOUT))
        .map_err(|e| format!("volumes.timeout: {e}"))?;
    let consistency = match &spec.hooks.consistency {
        Some(c) => c.parse::<Consistency>().map_err(|e| format!("hooks.consistency: {e}"))?,
        None => Consistency::default(),
    };
    let (repository, local_repository) = mover_repository(&loc.url)?;
    Ok(VolumeBackupOptions {
        mode,
        policy: None,
        namespace: config.mover_namespace.clone(),
        image: v.mover_image.clone().unwrap_or_else(|| config.mover_image.clone()),
        resources: None,
        kubelet_root: "/var/lib/kubelet".to_string(),
        keep_snapshots: false,
        timeout,
        concurrency: 4,
        per_node: 2,
        repository,
        local_repository,
        password: loc.password.clone(),
        // Movers get the location's object-store settings (from its credentials Secret).
        env: loc.settings.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        freezer: None,
        consistency,
    })
}

/// The repository as movers reach it, and the host directory to mount for a local one.
pub fn mover_repository(url: &str) -> Result<(String, Option<String>), String> {
    match RepoUrl::parse(url).map_err(|e| e.to_string())? {
        RepoUrl::Local { path } => {
            let abs = std::fs::canonicalize(&path)
                .map_err(|e| format!("the repository directory {}: {e}", path.display()))?
                .display()
                .to_string();
            Ok((abs.clone(), Some(abs)))
        }
        _ => Ok((url.to_string(), None)),
    }
}

pub fn phase_of(phase: arca_kube::Phase) -> BackupPhase {
    match phase {
        arca_kube::Phase::Completed => BackupPhase::Completed,
        arca_kube::Phase::PartiallyFailed => BackupPhase::PartiallyFailed,
        arca_kube::Phase::Failed => BackupPhase::Failed,
    }
}

/// The finished backup's status (phase, snapshot, times, counts, volumes, issues).
pub fn status_of(report: &BackupReport, snapshot: &str, mut status: BackupStatus) -> BackupStatus {
    status.phase = phase_of(report.phase);
    status.snapshot = Some(snapshot.to_string());
    status.start_time = Some(report.started);
    status.completion_time = Some(report.finished);
    let volume_bytes: u64 = volumes(report).iter().map(|v| v.bytes).sum();
    status.progress = Some(BackupProgress {
        objects: report.objects,
        resource_types: report.counts.len() as u64,
        bytes: report.bytes.saturating_add(volume_bytes),
        bytes_added: report.stored_bytes,
    });
    status.volumes = volumes(report);
    let (errors, error_count) =
        capped(report.errors.iter().map(|e| issue("ObjectFailed", e.reason.clone(), Some(e.object.clone()))));
    let (warnings, warning_count) = capped(report.warnings.iter().map(|w| issue("Warning", w.clone(), None)));
    (status.errors, status.error_count, status.warnings, status.warning_count) =
        (errors, error_count, warnings, warning_count);
    status.message = format!("{} object(s) in snapshot {}", report.objects, &snapshot[..snapshot.len().min(8)]);
    status
}

fn volumes(report: &BackupReport) -> Vec<VolumeProgress> {
    record::from_report(&report.volumes)
        .into_iter()
        .filter_map(Result::ok)
        .map(|r| VolumeProgress {
            claim: r.claim.clone(),
            method: r.method.to_string(),
            phase: r.state.to_string(),
            bytes: r.bytes_read,
            duration_seconds: Some(r.duration_secs),
            message: r.reason.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_map_one_to_one() {
        assert_eq!(phase_of(arca_kube::Phase::Completed), BackupPhase::Completed);
        assert_eq!(phase_of(arca_kube::Phase::PartiallyFailed), BackupPhase::PartiallyFailed);
        assert_eq!(phase_of(arca_kube::Phase::Failed), BackupPhase::Failed);
    }

    #[test]
    fn object_store_urls_reach_movers_unchanged() {
        assert_eq!(mover_repository("s3://bucket/p").unwrap(), ("s3://bucket/p".to_string(), None));
        assert!(mover_repository("/nonexistent/arca-repo-dir").unwrap_err().contains("repository directory"));
    }
}
