//! The drills page's data: drill reports read from each location's
//! repository the viewer may see, kept where the viewer may read Backups
//! in every namespace a drill covered.

use std::collections::BTreeSet;

use arca_kube::restore::drill::report::{self, DrillReport};
use arca_ui::drills::DrillRow;
use serde_json::Value;

use super::access::Viewer;
use super::{Ui, data, detail};

/// Every drill `viewer` may see, and what could not be read.
pub async fn rows(ui: &Ui, viewer: &Viewer, seen: &data::Seen) -> (Vec<DrillRow>, Vec<String>) {
    let mut rows = Vec::new();
    let mut unreadable = Vec::new();
    // Several locations may share a repository: a drill is shown once.
    let mut shown: BTreeSet<(String, String)> = BTreeSet::new();
    for location in &seen.locations {
        let at = format!("{}/{}", location.namespace, location.name);
        let read = match detail::repository(ui, &location.namespace, Some(&location.name)).await {
            Ok(repo) => detail::read(repo, |repo| report::load_all(repo).map_err(|e| e.to_string())).await,
            Err(e) => Err(e),
        };
        let (drills, bad) = match read {
            Ok(found) => found,
            Err(why) => {
                unreadable.push(format!("Drills of location {at} could not be read: {why}"));
                continue;
            }
        };
        unreadable.extend(bad.into_iter().map(|why| format!("Location {at}: {why}")));
        for d in drills {
            if !shown.insert((d.name.clone(), d.started.to_rfc3339())) || !may_see(ui, viewer, &d).await {
                continue;
            }
            rows.push(row(&d, &at));
        }
    }
    (rows, unreadable)
}

async fn may_see(ui: &Ui, viewer: &Viewer, drill: &DrillReport) -> bool {
    for ns in drill.namespaces.keys() {
        if !ui.access.may_get(viewer, arca_api::GROUP, "backups", ns).await {
            return false;
        }
    }
    true
}

fn state(v: &Value) -> &str {
    v.get("state").and_then(Value::as_str).unwrap_or_default()
}

pub fn row(d: &DrillReport, location: &str) -> DrillRow {
    DrillRow {
        name: d.name.clone(),
        backup: d.backup.clone(),
        location: location.to_string(),
        passed: d.passed(),
        started: Some(d.started),
        finished: Some(d.finished),
        namespaces: d.namespaces.keys().cloned().collect(),
        objects_compared: d.objects.compared,
        objects_equal: d.objects.equal,
        volumes_checked: d.volumes.iter().filter(|v| state(v) != "Skipped").count() as u64,
        volumes_passed: d.volumes.iter().filter(|v| state(v) == "Passed").count() as u64,
        dumps: d.dumps.iter().filter(|v| state(v) == "Restored").count() as u64,
        problems: d.problems.clone(),
        warnings: d.warnings.clone(),
    }
}
