//! View models of `arca-ui` from what a repository stores: a backup's
//! snapshot report and catalog, a restore's report. Shared by the
//! dashboard and `arca report --html`. Names, counts and messages only:
//! hook output (stdout/stderr) and hook commands are left out (they may
//! print or hold anything), and no Secret's data is ever read: the catalog
//! view lists object names, never their content.

use arca_apps::blueprint::DumpRecord;
use arca_apps::hooks::HookRecord;
use arca_kube::backup::BackupReport;
use arca_kube::catalog::{All, Catalog};
use arca_kube::restore::report::{self, ItemResult, RestoreReport};
use arca_repo::{Id, Repository, SnapshotEntry};
use arca_ui::model::{BackupRow, CatalogView, IssueRow, RestoreRow, RestoredItem, Severity, StepRow, VolumeRow};
use arca_volumes::restore::result::{RestoreState as VolumeRestoreState, VolumeRestore};
use serde_json::Value;

/// Records of one kind parsed from a report's JSON values; one that does
/// not parse becomes a warning naming it, never silently dropped.
fn records<T: serde::de::DeserializeOwned>(what: &str, values: &[Value], issues: &mut Vec<IssueRow>) -> Vec<T> {
    values
        .iter()
        .filter_map(|v| match serde_json::from_value(v.clone()) {
            Ok(r) => Some(r),
            Err(e) => {
                issues.push(warning("UnreadableRecord", format!("a {what} record does not parse: {e}"), None));
                None
            }
        })
        .collect()
}

fn warning(reason: &str, message: String, object: Option<String>) -> IssueRow {
    IssueRow { severity: Severity::Warning, reason: reason.into(), message, object }
}

fn hook_step(h: &HookRecord) -> StepRow {
    let mut message = h.reason.clone().unwrap_or_default();
    if let Some(code) = h.exit_code.filter(|c| *c != 0) {
        message =
            if message.is_empty() { format!("exit code {code}") } else { format!("{message} (exit code {code})") };
    }
    StepRow {
        kind: "hook".into(),
        name: h.name.clone().unwrap_or_else(|| format!("{:?}", h.phase).to_lowercase()),
        target: format!("{}/{}", h.pod, h.container),
        phase: format!("{:?}", h.state),
        bytes: None,
        duration_seconds: Some(h.duration_secs),
        message,
    }
}

fn dump_step(d: &DumpRecord) -> StepRow {
    let name = match &d.item {
        Some(item) => format!("{} {} ({item})", d.blueprint, d.stream),
        None => format!("{} {}", d.blueprint, d.stream),
    };
    StepRow {
        kind: "dump".into(),
        name,
        target: format!("{} ({}/{})", d.object, d.pod, d.container),
        phase: format!("{:?}", d.state),
        bytes: Some(d.bytes),
        duration_seconds: Some(d.duration_secs),
        message: d.reason.clone().unwrap_or_default(),
    }
}

/// A backup from its snapshot's report: volumes, hooks and dumps, each
/// failed item as an error, each warning as a warning.
pub fn backup_row(r: &BackupReport, snapshot_id: &str) -> BackupRow {
    let mut issues: Vec<IssueRow> = r
        .errors
        .iter()
        .map(|e| IssueRow {
            severity: Severity::Error,
            reason: "Failed".into(),
            message: e.reason.clone(),
            object: Some(e.object.clone()),
        })
        .chain(r.warnings.iter().map(|w| warning("Warning", w.clone(), None)))
        .collect();
    let mut volumes = Vec::new();
    for v in arca_volumes::record::from_report(&r.volumes) {
        match v {
            Ok(v) => volumes.push(VolumeRow {
                claim: v.claim.clone(),
                method: v.method.to_string(),
                phase: v.state.to_string(),
                bytes: v.bytes_read,
                duration_seconds: Some(v.duration_secs),
                message: v.reason.clone(),
            }),
            Err(why) => issues.push(warning("UnreadableRecord", why, None)),
        }
    }
    let mut steps: Vec<StepRow> = records::<HookRecord>("hook", &r.hooks, &mut issues).iter().map(hook_step).collect();
    steps.extend(records::<DumpRecord>("dump", &r.dumps, &mut issues).iter().map(dump_step));
    BackupRow {
        name: r.name.clone(),
        phase: r.phase.to_string(),
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

/// Every object of a backup's catalog, by namespace (empty for
/// cluster-scoped) and type (`resource.group`, as the report's `counts`
/// name them). Reads the catalog's trees only, never an object.
pub fn catalog_view(repo: &Repository, tree: &Id) -> arca_kube::Result<CatalogView> {
    let catalog = Catalog::open(repo, tree)?;
    let objects = catalog.entries(&All)?.into_iter().map(|e| {
        let p = e.path;
        (p.namespace.unwrap_or_default(), arca_kube::objects::group_resource(&p.group, &p.resource), p.name)
    });
    Ok(CatalogView::from_objects(objects))
}

/// A restore from its stored report's summary: counts of the outcomes,
/// failed volumes as errors, warnings as warnings.
pub fn restore_row(r: &RestoreReport) -> RestoreRow {
    let count = |k: &str| r.counts.get(k).copied().unwrap_or(0);
    let mut issues = Vec::new();
    for v in records::<VolumeRestore>("volume", &r.volumes, &mut issues) {
        if v.state == VolumeRestoreState::Failed {
            issues.push(IssueRow {
                severity: Severity::Error,
                reason: "VolumeFailed".into(),
                message: v.reason.clone(),
                object: Some(v.claim.clone()),
            });
        }
    }
    issues.extend(r.warnings.iter().map(|w| warning("Warning", w.clone(), None)));
    if r.warnings_omitted > 0 {
        let message = format!("{} more warnings are in the log (`arca restore logs {}`)", r.warnings_omitted, r.name);
        issues.push(warning("WarningsOmitted", message, None));
    }
    RestoreRow {
        name: r.name.clone(),
        backup: r.backup.clone(),
        phase: r.phase.to_string(),
        started: Some(r.started),
        finished: Some(r.finished),
        total: r.counts.values().sum(),
        restored: count("created") + count("updated") + count("unchanged"),
        skipped: count("skipped"),
        failed: count("failed"),
        volumes: r.volumes.len() as u64,
        issues,
        message: if r.dry_run { "Dry run: nothing was written to the cluster.".into() } else { String::new() },
        ..Default::default()
    }
}

/// One object's outcome: the reason, the version it was converted to, and
/// whether it became ready when waited for.
pub fn restored_item(i: &ItemResult) -> RestoredItem {
    let mut parts: Vec<String> = i.reason.iter().chain(i.converted.iter()).cloned().collect();
    if i.ready == Some(false) {
        parts.push("not ready in time".into());
    }
    RestoredItem { object: i.object.clone(), outcome: i.outcome.as_str().to_string(), message: parts.join("; ") }
}

/// A stored restore report (by name or id): its summary and every object's
/// outcome, read a blob at a time. Blocking.
pub fn restore_report(repo: &Repository, name: &str) -> arca_kube::Result<(RestoreRow, Vec<RestoredItem>)> {
    stored_restore(repo, &report::find(repo, name)?)
}

/// [`restore_report`] of a report already found.
pub fn stored_restore(repo: &Repository, entry: &SnapshotEntry) -> arca_kube::Result<(RestoreRow, Vec<RestoredItem>)> {
    let stored = report::open(repo, entry)?;
    let mut items = Vec::new();
    stored.items.for_each(|i| {
        items.push(restored_item(&i));
        Ok(())
    })?;
    Ok((restore_row(&stored.report), items))
}

/// Every object's outcome of a stored restore report.
pub fn restored_items(repo: &Repository, name: &str) -> arca_kube::Result<Vec<RestoredItem>> {
    restore_report(repo, name).map(|(_, items)| items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arca_kube::catalog::{CatalogBuilder, CatalogPath};
    use arca_kube::restore::lines::LineWriter;
    use arca_kube::restore::report::{Outcome, ReportFiles};
    use arca_repo::{BlobType, InitOptions, KdfParams};
    use serde_json::json;

    const SECRET_VALUE: &str = "s3cr3t-Value-that-must-never-show";

    fn repo(dir: &std::path::Path) -> anyhow::Result<Repository> {
        let backend = arca_repo::open_backend(&dir.display().to_string(), true)?;
        let repo =
            Repository::init(backend, b"pw", InitOptions { kdf: KdfParams::insecure_fast(), ..Default::default() })?;
        repo.load_index()?;
        Ok(repo)
    }

    fn backup_report() -> BackupReport {
        serde_json::from_value(json!({
            "name": "nightly", "phase": "PartiallyFailed",
            "started": "2026-03-01T02:00:00Z", "finished": "2026-03-01T02:03:30Z",
            "cluster": {"server": "https://k8s", "version": "v1.33.0"},
            "filters": {"include_namespaces": ["shop"], "exclude_namespaces": ["tmp"]},
            "objects": 12, "bytes": 4096, "stored_bytes": 1024,
            "counts": {"configmaps": 2, "deployments.apps": 1},
            "warnings": ["claim shop/cache: NotProtected (no snapshot class)"],
            "errors": [{"object": "shop/db", "reason": "pg_dump: connection refused"}],
            "volumes": [
                {"claim": "shop/data", "volume_mode": "Filesystem", "method": "move", "chosen_by": "auto: snapshot class",
                 "state": "Completed", "files": 10, "bytes_read": 2048, "duration_secs": 4.5},
                {"claim": "shop/cache", "volume_mode": "Filesystem", "method": "fs", "chosen_by": "auto",
                 "state": "NotProtected", "reason": "no snapshot class, no running pod"},
                {"claim": "shop/broken"}
            ],
            "hooks": [
                {"pod": "shop/db-0", "container": "db", "phase": "pre", "source": "annotation",
                 "command": ["sh", "-c", format!("PGPASSWORD={SECRET_VALUE} psql -c checkpoint")],
                 "on_error": "Fail", "state": "Failed", "exit_code": 2, "stdout": SECRET_VALUE, "stderr": "oops",
                 "started": "2026-03-01T02:00:01Z", "finished": "2026-03-01T02:00:02Z", "duration_secs": 1.0,
                 "reason": "the hook exited 2"},
                {"pod": "shop/web-1", "container": "web", "phase": "post", "name": "thaw", "source": "file",
                 "command": ["true"], "on_error": "Continue", "state": "Succeeded", "exit_code": 0,
                 "started": "2026-03-01T02:00:03Z", "finished": "2026-03-01T02:00:03Z", "duration_secs": 0.1}
            ],
            "dumps": [
                {"blueprint": "postgresql", "object": "StatefulSet/shop/db", "pod": "shop/db-0", "container": "db",
                 "stream": "db-shop", "item": "shop", "state": "Failed", "bytes": 0, "stored_bytes": 0,
                 "started": "2026-03-01T02:01:00Z", "duration_secs": 0.5, "reason": "pg_dump: connection refused"}
            ]
        }))
        .expect("a backup report")
    }

    #[test]
    fn a_backup_report_becomes_a_row_with_volumes_steps_and_issues() {
        let row = backup_row(&backup_report(), "abcdef0123");
        assert_eq!((row.name.as_str(), row.phase.as_str()), ("nightly", "PartiallyFailed"));
        assert_eq!(row.snapshot.as_deref(), Some("abcdef0123"));
        assert_eq!((row.objects, row.bytes, row.bytes_added), (12, 4096, 1024));
        assert_eq!(row.include_namespaces, ["shop"]);
        assert_eq!(row.exclude_namespaces, ["tmp"]);
        assert_eq!(row.duration(), Some(chrono::Duration::seconds(210)));
        assert_eq!((row.error_count, row.warning_count), (1, 1));

        assert_eq!(row.volumes.len(), 2, "the unreadable record is an issue, not a row");
        let data = &row.volumes[0];
        assert_eq!(
            (data.claim.as_str(), data.method.as_str(), data.phase.as_str()),
            ("shop/data", "move", "Completed")
        );
        assert_eq!((data.bytes, data.duration_seconds), (2048, Some(4.5)));
        assert_eq!(row.volumes[1].phase, "NotProtected");
        assert_eq!(row.volumes[1].message, "no snapshot class, no running pod");

        let kinds: Vec<(&str, &str, &str)> =
            row.steps.iter().map(|s| (s.kind.as_str(), s.name.as_str(), s.phase.as_str())).collect();
        assert_eq!(
            kinds,
            [("hook", "pre", "Failed"), ("hook", "thaw", "Succeeded"), ("dump", "postgresql db-shop (shop)", "Failed")]
        );
        assert_eq!(row.steps[0].target, "shop/db-0/db");
        assert_eq!(row.steps[0].message, "the hook exited 2 (exit code 2)");
        assert_eq!(row.steps[1].message, "", "exit code 0 says nothing");
        assert_eq!(row.steps[2].target, "StatefulSet/shop/db (shop/db-0/db)");
        assert_eq!(row.steps[2].bytes, Some(0));

        let issues: Vec<(Severity, &str, Option<&str>)> =
            row.issues.iter().map(|i| (i.severity, i.reason.as_str(), i.object.as_deref())).collect();
        assert_eq!(
            issues,
            [
                (Severity::Error, "Failed", Some("shop/db")),
                (Severity::Warning, "Warning", None),
                (Severity::Warning, "UnreadableRecord", None),
            ]
        );
        assert!(row.issues[2].message.contains("shop/broken"), "{:?}", row.issues[2]);
        // A hook's command and output can hold anything: neither is shown.
        assert!(!serde_json::to_string(&row).unwrap().contains(SECRET_VALUE));
    }

    #[test]
    fn a_backup_without_data_has_no_volumes_or_steps() {
        let mut r = backup_report();
        (r.volumes, r.hooks, r.dumps, r.errors, r.warnings) = Default::default();
        r.phase = arca_kube::Phase::Completed;
        let row = backup_row(&r, "id");
        assert!(row.volumes.is_empty() && row.steps.is_empty() && row.issues.is_empty());
        assert!(row.restorable() && !row.failed());
    }

    #[test]
    fn the_catalog_lists_names_by_namespace_and_type_without_reading_objects() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let repo = repo(dir.path())?;
        let secret = repo.save_blob(BlobType::Data, format!("{{\"data\":{{\"p\":\"{SECRET_VALUE}\"}}}}").as_bytes())?;
        let at = |ns: Option<&str>, group: &str, resource: &str, name: &str| CatalogPath {
            namespace: ns.map(String::from),
            group: group.into(),
            resource: resource.into(),
            name: name.into(),
        };
        let mut b = CatalogBuilder::new(&repo);
        for p in [
            at(None, "", "namespaces", "shop"),
            at(Some("shop"), "", "secrets", "db"),
            at(Some("shop"), "apps", "deployments", "web"),
            at(Some("shop"), "", "configmaps", "b"),
            at(Some("shop"), "", "configmaps", "a"),
            at(Some("web"), "apps", "deployments", "front"),
        ] {
            b.add_object(&p, vec![secret], 40)?;
        }
        let tree = b.save()?;
        repo.flush()?;
        let view = catalog_view(&repo, &tree)?;
        let flat: Vec<(&str, &str, Vec<&str>)> = view
            .groups
            .iter()
            .flat_map(|g| {
                g.types
                    .iter()
                    .map(|t| (g.namespace.as_str(), t.resource.as_str(), t.names.iter().map(String::as_str).collect()))
            })
            .collect();
        assert_eq!(
            flat,
            [
                ("", "namespaces", vec!["shop"]),
                ("shop", "configmaps", vec!["a", "b"]),
                ("shop", "deployments.apps", vec!["web"]),
                ("shop", "secrets", vec!["db"]),
                ("web", "deployments.apps", vec!["front"]),
            ]
        );
        assert_eq!(view.object_count(), 6);
        assert!(!serde_json::to_string(&view)?.contains(SECRET_VALUE));
        Ok(())
    }

    fn restore_report_summary() -> RestoreReport {
        serde_json::from_value(json!({
            "name": "r1", "backup": "nightly", "backup_snapshot": "abc", "phase": "PartiallyFailed",
            "dry_run": false, "started": "2026-03-02T10:00:00Z", "finished": "2026-03-02T10:00:07Z",
            "cluster": "https://k8s", "options": {},
            "counts": {"created": 5, "updated": 1, "unchanged": 2, "skipped": 3, "failed": 1},
            "warnings": ["storage class fast is not served: claims keep theirs"], "warnings_omitted": 4,
            "volumes": [
                {"claim": "qa/data", "source": "shop/data", "method": "move", "state": "Completed"},
                {"claim": "qa/logs", "source": "shop/logs", "method": "move", "state": "Failed",
                 "reason": "restore mover: image not pulled"}
            ]
        }))
        .expect("a restore report")
    }

    #[test]
    fn a_restore_report_becomes_a_row_with_counts_and_issues() {
        let row = restore_row(&restore_report_summary());
        assert_eq!((row.name.as_str(), row.backup.as_str(), row.phase.as_str()), ("r1", "nightly", "PartiallyFailed"));
        assert_eq!((row.total, row.restored, row.skipped, row.failed, row.volumes), (12, 8, 3, 1, 2));
        assert_eq!(row.duration(), Some(chrono::Duration::seconds(7)));
        let issues: Vec<(Severity, &str, Option<&str>)> =
            row.issues.iter().map(|i| (i.severity, i.reason.as_str(), i.object.as_deref())).collect();
        assert_eq!(
            issues,
            [
                (Severity::Error, "VolumeFailed", Some("qa/logs")),
                (Severity::Warning, "Warning", None),
                (Severity::Warning, "WarningsOmitted", None),
            ]
        );
        assert!(row.issues[2].message.contains("arca restore logs r1"));
        assert!(row.message.is_empty());
        let dry = restore_row(&RestoreReport { dry_run: true, ..restore_report_summary() });
        assert!(dry.message.contains("Dry run"));
    }

    #[test]
    fn items_carry_reason_conversion_and_readiness() {
        let item = |outcome, reason: Option<&str>, converted: Option<&str>, ready| ItemResult {
            object: "deployments.apps/qa/web".into(),
            outcome,
            reason: reason.map(String::from),
            converted: converted.map(String::from),
            transform: vec!["/spec/replicas".into()],
            ready,
        };
        let failed = restored_item(&item(Outcome::Failed, Some("forbidden"), None, None));
        assert_eq!((failed.outcome.as_str(), failed.message.as_str()), ("failed", "forbidden"));
        let converted = restored_item(&item(Outcome::Created, None, Some("converted from v1beta1 to v1"), Some(false)));
        assert_eq!(converted.message, "converted from v1beta1 to v1; not ready in time");
        let plain = restored_item(&item(Outcome::Unchanged, None, None, Some(true)));
        assert_eq!((plain.object.as_str(), plain.message.as_str()), ("deployments.apps/qa/web", ""));
    }

    #[test]
    fn a_stored_restore_report_is_read_back_with_every_item() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let repo = repo(dir.path())?;
        let items = LineWriter::to_repository(&repo, "results");
        let results = [
            ItemResult {
                object: "configmaps/qa/a".into(),
                outcome: Outcome::Created,
                reason: None,
                converted: None,
                transform: vec![],
                ready: None,
            },
            ItemResult {
                object: "secrets/qa/db".into(),
                outcome: Outcome::Failed,
                reason: Some("admission webhook \"guard\" denied the request: no".into()),
                converted: None,
                transform: vec![],
                ready: None,
            },
        ];
        for r in &results {
            items.line(serde_json::to_vec(r)?);
        }
        let log = LineWriter::to_repository(&repo, "log");
        log.line("restore r1 started");
        let files = ReportFiles { items: items.finish()?, log: log.finish()? };
        let mut summary = restore_report_summary();
        summary.counts = RestoreReport::count(&results);
        summary.volumes.clear();
        report::save(&repo, summary, files)?;

        let (row, items) = restore_report(&repo, "r1")?;
        assert_eq!((row.total, row.restored, row.failed), (2, 1, 1));
        let outcomes: Vec<(&str, &str)> = items.iter().map(|i| (i.object.as_str(), i.outcome.as_str())).collect();
        assert_eq!(outcomes, [("configmaps/qa/a", "created"), ("secrets/qa/db", "failed")]);
        assert!(items[1].message.contains("guard"));
        assert_eq!(restored_items(&repo, "r1")?.len(), 2);
        let missing = restore_report(&repo, "nope").unwrap_err().to_string();
        assert!(missing.contains("arca restore list"), "{missing}");
        Ok(())
    }
}
