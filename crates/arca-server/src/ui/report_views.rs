//! View models of `arca-ui` from what a repository stores: a backup's
//! snapshot report and catalog, a restore's report. Shared by the
//! dashboard and `arca report --html`. Names, counts and messages only:
//! hook output (stdout/stderr) is left out, it may print anything.

use arca_apps::blueprint::DumpRecord;
use arca_apps::hooks::HookRecord;
use arca_kube::backup::BackupReport;
use arca_kube::catalog::{All, Catalog};
use arca_kube::restore::report::{self, RestoreReport};
use arca_repo::{Id, Repository};
use arca_ui::model::{BackupRow, CatalogView, IssueRow, RestoreRow, RestoredItem, Severity, StepRow, VolumeRow};
use serde_json::Value;

fn records<T: serde::de::DeserializeOwned>(values: &[Value]) -> Vec<T> {
    values.iter().filter_map(|v| serde_json::from_value(v.clone()).ok()).collect()
}

fn hook_step(h: &HookRecord) -> StepRow {
    StepRow {
        kind: "hook".into(),
        name: h.name.clone().unwrap_or_else(|| format!("{:?}", h.phase).to_lowercase()),
        target: format!("{}/{}", h.pod, h.container),
        phase: format!("{:?}", h.state),
        bytes: None,
        duration_seconds: Some(h.duration_secs),
        message: h.exit_code.map(|c| format!("exit code {c}")).unwrap_or_default(),
    }
}

fn dump_step(d: &DumpRecord) -> StepRow {
    StepRow {
        kind: "dump".into(),
        name: format!("{} {}", d.blueprint, d.stream),
        target: format!("{} ({}/{})", d.object, d.pod, d.container),
        phase: format!("{:?}", d.state),
        bytes: Some(d.bytes),
        duration_seconds: Some(d.duration_secs),
        message: d.reason.clone().unwrap_or_default(),
    }
}

/// A backup from its snapshot's report.
pub fn backup_row(r: &BackupReport, snapshot_id: &str) -> BackupRow {
    let volumes = arca_volumes::record::from_report(&r.volumes)
        .into_iter()
        .filter_map(Result::ok)
        .map(|v| VolumeRow {
            claim: v.claim.clone(),
            method: v.method.to_string(),
            phase: v.state.to_string(),
            bytes: v.bytes_read,
            duration_seconds: Some(v.duration_secs),
            message: v.reason.clone(),
        })
        .collect();
    let mut steps: Vec<StepRow> = records::<HookRecord>(&r.hooks).iter().map(hook_step).collect();
    steps.extend(records::<DumpRecord>(&r.dumps).iter().map(dump_step));
    let issues = r
        .errors
        .iter()
        .map(|e| IssueRow {
            severity: Severity::Error,
            reason: "Failed".into(),
            message: e.reason.clone(),
            object: Some(e.object.clone()),
        })
        .chain(r.warnings.iter().map(|w| IssueRow {
            severity: Severity::Warning,
            reason: "Warning".into(),
            message: w.clone(),
            object: None,
        }))
        .collect();
    BackupRow {
        name: r.name.clone(),
        phase: format!("{:?}", r.phase),
        started: Some(r.started),
        finished: Some(r.finished),
        include_namespaces: r.filters.include_namespaces.clone(),
        exclude_namespaces: r.filters.exclude_namespaces.clone(),
        objects: r.objects,
        bytes: r.bytes,
        bytes_added: r.stored_bytes,
        error_count: r.errors.len() as u32,
        warning_count: r.warnings.len() as u32,
        snapshot: Some(snapshot_id.to_string()),
        volumes,
        steps,
        issues,
        ..Default::default()
    }
}

/// Every object of a backup's catalog, by namespace and type.
pub fn catalog_view(repo: &Repository, tree: &Id) -> arca_kube::Result<CatalogView> {
    let catalog = Catalog::open(repo, tree)?;
    let objects = catalog.entries(&All)?.into_iter().map(|e| {
        let p = e.path;
        let resource = if p.group.is_empty() { p.resource } else { format!("{}.{}", p.resource, p.group) };
        (p.namespace.unwrap_or_default(), resource, p.name)
    });
    Ok(CatalogView::from_objects(objects))
}

/// A restore from its stored report's summary.
pub fn restore_row(r: &RestoreReport) -> RestoreRow {
    let count = |k: &str| r.counts.get(k).copied().unwrap_or(0);
    RestoreRow {
        name: r.name.clone(),
        backup: r.backup.clone(),
        phase: format!("{:?}", r.phase),
        started: Some(r.started),
        finished: Some(r.finished),
        total: r.counts.values().sum(),
        restored: count("created") + count("updated") + count("unchanged"),
        skipped: count("skipped"),
        failed: count("failed"),
        volumes: r.volumes.len() as u64,
        issues: r
            .warnings
            .iter()
            .map(|w| IssueRow {
                severity: Severity::Warning,
                reason: "Warning".into(),
                message: w.clone(),
                object: None,
            })
            .collect(),
        ..Default::default()
    }
}

/// A stored restore report (by name or id): its summary and every object's outcome.
pub fn restore_report(repo: &Repository, name: &str) -> arca_kube::Result<(RestoreRow, Vec<RestoredItem>)> {
    let entry = report::find(repo, name)?;
    let stored = report::open(repo, &entry)?;
    let mut items = Vec::new();
    stored.items.for_each(|i| {
        let mut message = i.reason.clone().unwrap_or_default();
        if let Some(c) = &i.converted {
            message = if message.is_empty() { c.clone() } else { format!("{message}; {c}") };
        }
        items.push(RestoredItem { object: i.object.clone(), outcome: i.outcome.as_str().to_string(), message });
        Ok(())
    })?;
    Ok((restore_row(&stored.report), items))
}

/// Every object's outcome of a stored restore report.
pub fn restored_items(repo: &Repository, name: &str) -> arca_kube::Result<Vec<RestoredItem>> {
    restore_report(repo, name).map(|(_, items)| items)
}
