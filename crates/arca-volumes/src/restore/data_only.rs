//! `arca restore create --data-only`: the backup's data put into live
//! claims; no object is created. The workloads whose pods use a claim are
//! scaled to zero (remembering their replicas, annotated with
//! [`SCALED_FROM_ANNOTATION`](super::owners::SCALED_FROM_ANNOTATION)), the
//! claim is filled by a mover in mirror mode (files not in the backup are
//! removed) once no pod uses it, and the workloads are scaled back.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use arca_kube::api::Kube;
use arca_kube::data::{DataOnly, RestoreDataOutcome};
use arca_kube::filter::Filter;
use arca_kube::restore::plan::ItemRef;
use futures::StreamExt;

use super::owners::{self, Workload};
use super::result::{RestoreState, VolumeRestore};
use super::{Source, VolumeRestorer, fill, not_restorable, outcome, source_of};
use crate::mover::VolumeSource;
use crate::record::VolumeRecord;

const CLAIM_TYPES: &[&str] = &["persistentvolumeclaims", "persistentvolumeclaim", "pvc"];

/// A claim that can be filled, with the workloads to stop first.
struct Ready<'a> {
    record: &'a VolumeRecord,
    namespace: String,
    name: String,
    workloads: Vec<Workload>,
    /// `--no-scale`: the node of the pods using the claim.
    node: Option<String>,
}

pub async fn run(r: &VolumeRestorer, ctx: DataOnly<'_>) -> RestoreDataOutcome {
    let filter = match Filter::new(ctx.plan.filter.clone()) {
        Ok(f) => f,
        Err(e) => {
            let mut out = RestoreDataOutcome { failed: 1, ..Default::default() };
            out.warnings.push(format!("--data-only: {e}"));
            return out;
        }
    };
    let (records, mut results, warnings) = select(r, &filter, &ctx.plan.items);
    let mut ready = Vec::new();
    for record in records {
        let namespace = ctx.plan.mappings.namespace(record.namespace()).to_string();
        match check(ctx.kube, r, record, &namespace).await {
            Ok((workloads, node)) => {
                ready.push(Ready { record, namespace, name: record.claim_name().to_string(), workloads, node })
            }
            Err(done) => results.push(done),
        }
    }
    if ctx.dry_run {
        results.extend(ready.iter().map(|c| dry_run(c)));
    } else {
        results.extend(fill_stopped(ctx.kube, r, ready).await);
    }
    let mut out = outcome(results);
    out.warnings.extend(warnings);
    out
}

/// The records `--item persistentvolumeclaims/NS/NAME` and the namespace
/// selection name; items without data are failed results, other types warnings.
fn select<'a>(
    r: &'a VolumeRestorer,
    filter: &Filter,
    items: &[ItemRef],
) -> (Vec<&'a VolumeRecord>, Vec<VolumeRestore>, Vec<String>) {
    let mut warnings = Vec::new();
    let mut claims = Vec::new();
    for item in items {
        if CLAIM_TYPES.contains(&item.resource.as_str()) && item.namespace.is_some() {
            claims.push(format!("{}/{}", item.namespace.as_deref().unwrap_or_default(), item.name));
        } else {
            warnings.push(format!(
                "--data-only restores claims' data only: --item {}/{} is left alone",
                item.resource, item.name
            ));
        }
    }
    let mut failed = Vec::new();
    for c in &claims {
        if r.record(c).is_none() {
            failed.push(
                VolumeRestore::new(c, c, crate::record::Method::Skip, RestoreState::Failed)
                    .failed(format!("the backup holds no volume data of claim {c}")),
            );
        }
    }
    let chosen = r
        .records()
        .filter(|rec| filter.namespace_included(rec.namespace()))
        .filter(|rec| items.is_empty() || claims.contains(&rec.claim))
        .collect();
    (chosen, failed, warnings)
}

/// Whether a claim can be filled: data in the repository, the live claim,
/// and the workloads to scale down (or a failed or skipped result).
async fn check(
    kube: &Kube,
    r: &VolumeRestorer,
    record: &VolumeRecord,
    ns: &str,
) -> Result<(Vec<Workload>, Option<String>), VolumeRestore> {
    let shown = format!("{ns}/{}", record.claim_name());
    let base = || VolumeRestore::new(&shown, &record.claim, record.method, RestoreState::Failed);
    match source_of(record) {
        None => {
            let mut skipped = base();
            (skipped.state, skipped.reason) = (RestoreState::Skipped, not_restorable(record));
            return Err(skipped);
        }
        Some(Source::Snapshot) => {
            return Err(base().failed(
                "a snapshot backup restores into a new claim only: delete the claim and restore without \
                 --data-only, or restore beside it with `arca volume restore`",
            ));
        }
        Some(Source::Repository) => {}
    }
    let path = format!("/api/v1/namespaces/{ns}/persistentvolumeclaims/{}", record.claim_name());
    match kube.get_opt(&path, "reading the claim").await {
        Ok(Some(_)) => {}
        Ok(None) => {
            return Err(base().failed(format!(
                "claim {shown} does not exist: restore without --data-only to create it with its data"
            )));
        }
        Err(e) => return Err(base().failed(e.reason())),
    }
    let pods = owners::pods_using(kube, ns, record.claim_name()).await.map_err(|e| base().failed(e))?;
    let mut workloads = Vec::new();
    let mut blocked = Vec::new();
    for pod in &pods {
        match owners::owner_of(kube, pod).await {
            Ok(w) if !workloads.contains(&w) => workloads.push(w),
            Ok(_) => {}
            Err(why) => blocked.push(why),
        }
    }
    if !blocked.is_empty() && !r.settings().no_scale {
        return Err(base().failed(format!(
            "{}; stop it yourself, or pass --no-scale to fill the claim while it runs",
            blocked.join("; ")
        )));
    }
    if r.settings().no_scale {
        let node = pods.iter().find_map(|p| p["spec"]["nodeName"].as_str()).map(String::from);
        return Ok((Vec::new(), node));
    }
    Ok((workloads, None))
}

fn dry_run(c: &Ready) -> VolumeRestore {
    let mut v = VolumeRestore::new(
        format!("{}/{}", c.namespace, c.name),
        &c.record.claim,
        c.record.method,
        RestoreState::Skipped,
    );
    v.from = format!("repository snapshot {}", c.record.repository_snapshot.as_deref().unwrap_or_default());
    let scaled: Vec<&str> = c.workloads.iter().map(|w| w.shown.as_str()).collect();
    v.reason = if scaled.is_empty() {
        "dry run: would fill it".into()
    } else {
        format!("dry run: would scale {} to zero, fill it and scale back", scaled.join(", "))
    };
    v
}

/// Scales the workloads down, fills each claim once no pod uses it, and
/// scales them back whatever happened.
async fn fill_stopped(kube: &Kube, r: &VolumeRestorer, ready: Vec<Ready<'_>>) -> Vec<VolumeRestore> {
    let mut scaled: BTreeMap<Workload, Result<i64, String>> = BTreeMap::new();
    for w in ready.iter().flat_map(|c| c.workloads.iter()) {
        if !scaled.contains_key(w) {
            let down = owners::scale_down(kube, w).await;
            scaled.insert(w.clone(), down);
        }
    }
    let settings = r.settings();
    let fills: Vec<_> = ready.iter().map(|c| fill_one(kube, r, c, &scaled)).collect();
    let mut results: Vec<VolumeRestore> =
        futures::stream::iter(fills).buffer_unordered(settings.concurrency.max(1)).collect().await;
    let mut back: BTreeMap<Workload, String> = BTreeMap::new();
    for (w, down) in &scaled {
        let Ok(replicas) = down else { continue };
        let line = match owners::scale_back(kube, w, *replicas).await {
            Ok(()) => format!("{}: {replicas} → 0 → {replicas}", w.shown),
            Err(why) => format!(
                "{}: {replicas} → 0, NOT scaled back ({why}): scale it to {replicas} by hand and remove its {} annotation",
                w.shown,
                owners::SCALED_FROM_ANNOTATION
            ),
        };
        back.insert(w.clone(), line);
    }
    for res in &mut results {
        let Some(c) = ready.iter().find(|c| format!("{}/{}", c.namespace, c.name) == res.claim) else { continue };
        res.scaled = c.workloads.iter().filter_map(|w| back.get(w).cloned()).collect();
    }
    results
}

/// Fills one claim once its workloads are down and no pod uses it.
async fn fill_one(
    kube: &Kube,
    r: &VolumeRestorer,
    c: &Ready<'_>,
    scaled: &BTreeMap<Workload, Result<i64, String>>,
) -> VolumeRestore {
    let settings = r.settings();
    let shown = format!("{}/{}", c.namespace, c.name);
    let base = || VolumeRestore::new(&shown, &c.record.claim, c.record.method, RestoreState::Failed);
    let not_down = c.workloads.iter().find_map(|w| match scaled.get(w) {
        Some(Err(why)) => Some(format!("{} could not be scaled down: {why}", w.shown)),
        _ => None,
    });
    if let Some(why) = not_down {
        return base().failed(why);
    }
    if !settings.no_scale
        && let Err(why) = wait_unused(kube, &c.namespace, &c.name, settings.timeout).await
    {
        return base().failed(why);
    }
    let target = fill::Target {
        record: c.record,
        namespace: &c.namespace,
        source: VolumeSource::Claim { name: c.name.clone(), read_only: false },
        shown: shown.clone(),
        mirror: true,
        restore: r.restore_name(),
        node: c.node.clone(),
    };
    fill::fill(kube, settings, target).await
}

/// Waits until no pod that has not ended uses the claim.
async fn wait_unused(kube: &Kube, ns: &str, claim: &str, timeout: Duration) -> Result<(), String> {
    let start = Instant::now();
    loop {
        let pods = owners::pods_using(kube, ns, claim).await?;
        if pods.is_empty() {
            return Ok(());
        }
        if start.elapsed() >= timeout {
            let names: Vec<&str> = pods.iter().filter_map(|p| p["metadata"]["name"].as_str()).collect();
            return Err(format!(
                "pods still use claim {ns}/{claim} after {}: {}",
                crate::run::human(timeout),
                names.join(", ")
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
