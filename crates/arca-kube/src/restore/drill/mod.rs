//! Restore drills: a backup restored into scratch namespaces (`drill-NS`),
//! its objects compared with the backup, its volumes' contents checked
//! against their snapshots, the scratch namespaces removed, and the result
//! stored in the repository. A backup is only as good as its last restore;
//! a drill is that restore, done on purpose and measured.

pub mod compare;
pub mod report;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arca_repo::Repository;
use chrono::Utc;
use futures::future::BoxFuture;
use serde_json::Value;

use self::compare::ObjectCheck;
use self::report::{DrillReport, DrillResult};
use super::report::{ItemLines, RestoreReport};
use super::{RestoreOptions, run_with_items};
use crate::api::Kube;
use crate::catalog::Catalog;
use crate::error::{Error, Result};
use crate::filter::Filter;

/// Checks restored volumes' contents (implemented by `arca-volumes`, which
/// runs a verifying mover per claim). Gets the restore report's `volumes`
/// and returns one check per volume, each with a `state` of `Passed`,
/// `Failed` or `Skipped` and, when not passed, a `reason`.
pub trait DrillVolumeCheck: Send + Sync {
    fn check<'a>(&'a self, kube: &'a Kube, restored: &'a [Value]) -> BoxFuture<'a, Vec<Value>>;
}

/// Namespace names are DNS labels.
const MAX_NAMESPACE: usize = 63;

pub struct DrillOptions {
    /// The drill's name (its restore report has the same one).
    pub name: String,
    /// Scratch namespaces are `PREFIX` + the backup's namespace.
    pub prefix: String,
    /// The restore: backup, selection, data phases, `wait`. Its namespace
    /// mapping and existing-object policy are the drill's.
    pub restore: RestoreOptions,
    /// Leave the scratch namespaces for a look (the next drill refuses until they are gone).
    pub keep: bool,
    /// How long to wait for the scratch namespaces to be deleted.
    pub cleanup_timeout: Duration,
    pub volumes: Option<Arc<dyn DrillVolumeCheck>>,
}

/// The scratch namespace for `namespace`: `prefix` + name, cut to a DNS label.
pub fn scratch_namespace(prefix: &str, namespace: &str) -> String {
    let mut name = format!("{prefix}{namespace}");
    if name.len() > MAX_NAMESPACE {
        // Keep the names apart: a hash of the full name replaces the tail.
        let tag = &blake3::hash(name.as_bytes()).to_hex()[..8];
        name.truncate(MAX_NAMESPACE - 9);
        name = format!("{}-{tag}", name.trim_end_matches('-'));
    }
    name
}

/// Each selected namespace of the backup and its scratch namespace.
pub fn scratch_namespaces(
    backup_namespaces: &[String],
    filter: &Filter,
    prefix: &str,
) -> Result<BTreeMap<String, String>> {
    let map: BTreeMap<String, String> = backup_namespaces
        .iter()
        .filter(|ns| filter.namespace_included(ns))
        .map(|ns| (ns.clone(), scratch_namespace(prefix, ns)))
        .collect();
    if map.is_empty() {
        return Err(Error::invalid(
            "drill",
            "the backup holds no namespace in the selection: a drill restores namespaces (check --include-namespaces)",
        ));
    }
    Ok(map)
}

/// Runs a drill. Errors only when nothing was done (unknown backup, a
/// scratch namespace already there); a drill that ran is a report, passed
/// or failed, stored unless the restore is read-only.
pub async fn run(kube: &Kube, server: &str, repo: &Repository, opts: &DrillOptions) -> Result<DrillReport> {
    let started = Utc::now();
    let (entry, backup_namespaces) = {
        let (repo, backup) = (repo.clone(), opts.restore.backup.clone());
        tokio::task::spawn_blocking(move || -> Result<_> {
            let entry = crate::backup::find_backup(&repo, &backup)?;
            let namespaces = Catalog::open(&repo, &entry.snapshot.tree)?.namespaces()?;
            Ok((entry, namespaces))
        })
        .await??
    };
    let filter = Filter::new(opts.restore.plan.filter.clone())?;
    let namespaces = scratch_namespaces(&backup_namespaces, &filter, &opts.prefix)?;
    refuse_existing(kube, &namespaces).await?;
    let mut restore = opts.restore.clone();
    restore.name = opts.name.clone();
    restore.plan.mappings.namespaces = namespaces.clone();
    restore.policy = super::ExistingPolicy::None;
    restore.data_only = false;

    let readiness = readiness_note(kube, &mut restore).await;
    let mut report = DrillReport {
        name: opts.name.clone(),
        backup: entry.snapshot.paths.first().cloned().unwrap_or_default(),
        backup_snapshot: entry.id.to_hex(),
        result: DrillResult::Failed,
        started,
        finished: started,
        cluster: server.to_string(),
        namespaces: namespaces.clone(),
        restore: opts.name.clone(),
        restore_phase: None,
        restore_counts: BTreeMap::new(),
        objects: ObjectCheck::default(),
        readiness,
        volumes: Vec::new(),
        dumps: Vec::new(),
        problems: Vec::new(),
        warnings: Vec::new(),
        cleanup: String::new(),
    };
    match run_with_items(kube, server, repo, &restore).await {
        Ok((restored, items)) => {
            note_restore(&mut report, &restored, &items);
            match compare_objects(kube, server, repo, &restore).await {
                Ok(check) => report.objects = check,
                Err(e) => report.problems.push(format!("objects not compared: {e}")),
            }
            if let Some(checker) = &opts.volumes {
                report.volumes = checker.check(kube, &restored.volumes).await;
            }
        }
        Err(e) => report.problems.push(format!("restore failed: {e}")),
    }
    report.cleanup = if opts.keep {
        format!("kept {} (--keep): delete them before the next drill", join(namespaces.values()))
    } else {
        cleanup(kube, &namespaces, opts.cleanup_timeout, &mut report.warnings).await
    };
    judge(&mut report);
    report.finished = Utc::now();
    if !restore.read_only {
        let (repo, stored) = (repo.clone(), report.clone());
        tokio::task::spawn_blocking(move || report::save(&repo, &stored)).await??;
    }
    Ok(report)
}

fn join<'a>(names: impl Iterator<Item = &'a String>) -> String {
    names.map(String::as_str).collect::<Vec<_>>().join(", ")
}

async fn refuse_existing(kube: &Kube, namespaces: &BTreeMap<String, String>) -> Result<()> {
    for scratch in namespaces.values() {
        let path = format!("/api/v1/namespaces/{scratch}");
        if kube.get_opt(&path, &format!("reading namespace {scratch}")).await?.is_some() {
            return Err(Error::invalid(
                format!("namespace {scratch}"),
                "already exists: a drill restores only into new namespaces; delete it (a drill's leftover?) or pick another --prefix",
            ));
        }
    }
    Ok(())
}

/// Readiness is only waited for where pods can run.
async fn readiness_note(kube: &Kube, restore: &mut RestoreOptions) -> String {
    let Some(timeout) = restore.wait else {
        return "not waited for (no --wait)".into();
    };
    match kube.list_page("/api/v1/nodes", 1, None, "listing nodes").await {
        Ok(page) if page.get("items").and_then(Value::as_array).is_some_and(|i| !i.is_empty()) => {
            format!("waited up to {}s for restored workloads and claims", timeout.as_secs())
        }
        Ok(_) => {
            restore.wait = None;
            "not waited for: the cluster has no nodes".into()
        }
        Err(e) => {
            restore.wait = None;
            format!("not waited for: nodes could not be listed ({})", e.reason())
        }
    }
}

fn note_restore(report: &mut DrillReport, restored: &RestoreReport, items: &ItemLines) {
    report.restore_phase = Some(restored.phase);
    report.restore_counts = restored.counts.clone();
    report.dumps = restored.dumps.clone();
    if restored.phase != crate::Phase::Completed {
        let failed = restored.counts.get("failed").copied().unwrap_or(0);
        let mut why = format!("restore {}: {failed} object(s) failed", restored.phase);
        let mut not_ready = 0u64;
        let _ = items.for_each(|i| {
            if i.ready == Some(false) {
                not_ready += 1;
            }
            Ok(())
        });
        if not_ready > 0 {
            why.push_str(&format!(", {not_ready} not ready in time"));
        }
        report.problems.push(why);
    }
}

/// The drill's restore planned again as a read-only dry run: every object
/// the backup has is compared with what is now live in the scratch namespaces.
async fn compare_objects(
    kube: &Kube,
    server: &str,
    repo: &Repository,
    restore: &RestoreOptions,
) -> Result<ObjectCheck> {
    let mut again = restore.clone();
    again.name = format!("{}-compare", restore.name);
    again.dry_run = true;
    again.read_only = true;
    again.data = None;
    again.wait = None;
    let (_, items) = run_with_items(kube, server, repo, &again).await?;
    let mut check = ObjectCheck::default();
    items.for_each(|i| {
        check.add(&i);
        Ok(())
    })?;
    Ok(check)
}

/// Deletes the scratch namespaces and waits until they are gone.
async fn cleanup(
    kube: &Kube,
    namespaces: &BTreeMap<String, String>,
    timeout: Duration,
    warnings: &mut Vec<String>,
) -> String {
    let deadline = Instant::now() + timeout;
    let mut pending = Vec::new();
    for scratch in namespaces.values() {
        let path = format!("/api/v1/namespaces/{scratch}");
        match kube.delete(&path, &format!("deleting namespace {scratch}")).await {
            Ok(()) => pending.push((scratch.clone(), path)),
            Err(e) if e.api_code() == Some(404) => {}
            Err(e) => warnings.push(format!("namespace {scratch} not deleted: {}", e.reason())),
        }
    }
    while !pending.is_empty() && Instant::now() < deadline {
        let mut still = Vec::new();
        for (scratch, path) in pending {
            match kube.get_opt(&path, &format!("waiting for namespace {scratch} to go")).await {
                Ok(None) => {}
                _ => still.push((scratch, path)),
            }
        }
        pending = still;
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    if pending.is_empty() {
        return format!("deleted {}", join(namespaces.values()));
    }
    let left: Vec<String> = pending.into_iter().map(|(n, _)| n).collect();
    warnings.push(format!(
        "namespace(s) {} still terminating after {}s: check their finalizers",
        left.join(", "),
        timeout.as_secs()
    ));
    format!("deletion requested; still terminating: {}", left.join(", "))
}

/// Passed when the restore completed, every object equals the backup, every
/// volume checked passed and every dump was restored.
fn judge(report: &mut DrillReport) {
    let objects = &report.objects;
    if !objects.passed() {
        report.problems.push(format!("objects: {}", objects.summary()));
    }
    for v in &report.volumes {
        let claim = v.get("claim").and_then(Value::as_str).unwrap_or("a volume");
        let first_mismatch = v.pointer("/mismatches/0").and_then(Value::as_str);
        let reason = match (v.get("reason").and_then(Value::as_str).filter(|r| !r.is_empty()), first_mismatch) {
            (Some(r), Some(m)) => format!("{r} (first: {m})"),
            (Some(r), None) => r.to_string(),
            (None, Some(m)) => m.to_string(),
            (None, None) => "no reason given".to_string(),
        };
        match v.get("state").and_then(Value::as_str) {
            Some("Passed") => {}
            Some("Skipped") => report.warnings.push(format!("volume {claim} not verified: {reason}")),
            _ => report.problems.push(format!("volume {claim}: {reason}")),
        }
    }
    for d in &report.dumps {
        if d.get("state").and_then(Value::as_str).is_some_and(|s| s != "Restored") {
            let what = d.get("object").or_else(|| d.get("blueprint")).and_then(Value::as_str).unwrap_or("a dump");
            let reason = d.get("reason").and_then(Value::as_str).unwrap_or_default();
            report.problems.push(format!("dump {what}: {reason}"));
        }
    }
    report.result = if report.problems.is_empty() { DrillResult::Passed } else { DrillResult::Failed };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_names_are_dns_labels_and_stay_apart() {
        assert_eq!(scratch_namespace("drill-", "shop"), "drill-shop");
        let long = "a".repeat(60);
        let (x, y) = (scratch_namespace("drill-", &long), scratch_namespace("drill-", &format!("{long}b")));
        assert!(x.len() <= MAX_NAMESPACE && y.len() <= MAX_NAMESPACE);
        assert_ne!(x, y);
        assert!(x.starts_with("drill-aaa") && !x.ends_with('-'));
    }

    #[test]
    fn the_selection_picks_the_namespaces() {
        let all = vec!["blog".to_string(), "shop".to_string()];
        let spec = crate::filter::FilterSpec { include_namespaces: vec!["shop".into()], ..Default::default() };
        let map = scratch_namespaces(&all, &Filter::new(spec).expect("filter"), "drill-").expect("map");
        assert_eq!(map, [("shop".to_string(), "drill-shop".to_string())].into());
        let none = crate::filter::FilterSpec { include_namespaces: vec!["nope".into()], ..Default::default() };
        let err = scratch_namespaces(&all, &Filter::new(none).expect("filter"), "drill-").expect_err("empty");
        assert!(err.to_string().contains("--include-namespaces"), "{err}");
    }

    fn report() -> DrillReport {
        let now = Utc::now();
        DrillReport {
            name: "d".into(),
            backup: "b".into(),
            backup_snapshot: "s".into(),
            result: DrillResult::Failed,
            started: now,
            finished: now,
            cluster: String::new(),
            namespaces: BTreeMap::new(),
            restore: "d".into(),
            restore_phase: Some(crate::Phase::Completed),
            restore_counts: BTreeMap::new(),
            objects: ObjectCheck { compared: 2, equal: 2, ..Default::default() },
            readiness: String::new(),
            volumes: vec![serde_json::json!({"claim": "drill-a/data", "state": "Passed"})],
            dumps: vec![serde_json::json!({"state": "Restored"})],
            problems: Vec::new(),
            warnings: Vec::new(),
            cleanup: String::new(),
        }
    }

    #[test]
    fn a_drill_passes_only_when_everything_checked_passes() {
        let mut r = report();
        judge(&mut r);
        assert_eq!(r.result, DrillResult::Passed, "{:?}", r.problems);
        let mut r = report();
        r.volumes.push(
            serde_json::json!({"claim": "drill-a/logs", "state": "Failed", "reason": "app.log: content differs"}),
        );
        judge(&mut r);
        assert_eq!(r.result, DrillResult::Failed);
        assert_eq!(r.problems, ["volume drill-a/logs: app.log: content differs"]);
        let mut r = report();
        r.volumes
            .push(serde_json::json!({"claim": "drill-a/cache", "state": "Skipped", "reason": "no repository copy"}));
        judge(&mut r);
        assert_eq!(r.result, DrillResult::Passed);
        assert_eq!(r.warnings, ["volume drill-a/cache not verified: no repository copy"]);
        let mut r = report();
        r.objects.missing.push("configmaps/drill-a/x".into());
        r.dumps.push(serde_json::json!({"object": "StatefulSet/a/pg", "state": "Failed", "reason": "psql exited 1"}));
        judge(&mut r);
        assert_eq!(r.problems.len(), 2, "{:?}", r.problems);
    }
}
