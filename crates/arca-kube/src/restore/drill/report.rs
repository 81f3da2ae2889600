//! Drill reports, stored in the repository beside the backups they prove:
//! a snapshot of kind `kubernetes-drill` named after the drill, whose
//! metadata is the report (listing needs no tree read) and whose tree holds
//! it as `drill.json` (format in `docs/FORMAT.md`).

use std::collections::BTreeMap;

use arca_repo::{BlobType, Repository, Snapshot, SnapshotEntry};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::compare::ObjectCheck;
use crate::catalog::{self, CatalogBuilder};
use crate::error::{Error, Result};
use crate::{KIND_DRILL, Phase};

pub const DRILL_FILE: &str = "drill.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DrillResult {
    Passed,
    Failed,
}

impl std::fmt::Display for DrillResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DrillResult::Passed => "Passed",
            DrillResult::Failed => "Failed",
        })
    }
}

/// What one drill did and found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrillReport {
    pub name: String,
    pub backup: String,
    pub backup_snapshot: String,
    pub result: DrillResult,
    pub started: DateTime<Utc>,
    pub finished: DateTime<Utc>,
    /// Server the drill restored into.
    pub cluster: String,
    /// Each namespace of the backup and the scratch namespace it went to.
    pub namespaces: BTreeMap<String, String>,
    /// The drill's restore (its report: `arca restore describe NAME`).
    pub restore: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_phase: Option<Phase>,
    #[serde(default)]
    pub restore_counts: BTreeMap<String, u64>,
    pub objects: ObjectCheck,
    /// Whether restored workloads were waited for, and why not.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub readiness: String,
    /// One check per restored volume (`arca-volumes`' `VolumeCheck`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Value>,
    /// The restore's application dump results (`arca-apps`' `DumpRestore`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dumps: Vec<Value>,
    /// Why the drill failed, one line each (empty when it passed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    /// Things worth knowing that did not fail it (volumes not verifiable, cleanup trouble).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// What happened to the scratch namespaces.
    pub cleanup: String,
}

impl DrillReport {
    pub fn from_snapshot(entry: &SnapshotEntry) -> Result<DrillReport> {
        let meta: serde_json::Map<String, Value> = entry.snapshot.meta.clone().into_iter().collect();
        serde_json::from_value(Value::Object(meta))
            .map_err(|e| Error::Decode { what: format!("drill report in snapshot {}", entry.id), source: e })
    }

    pub fn passed(&self) -> bool {
        self.result == DrillResult::Passed
    }

    /// The namespaces of the backup this drill covered.
    pub fn covers(&self, namespace: &str) -> bool {
        self.namespaces.contains_key(namespace)
    }
}

/// Stores a drill report; returns the snapshot's id.
pub fn save(repo: &Repository, report: &DrillReport) -> Result<arca_repo::Id> {
    let body = serde_json::to_vec(report).map_err(|e| Error::Decode { what: "drill report".into(), source: e })?;
    let mut b = CatalogBuilder::new(repo);
    let blob = repo.save_blob(BlobType::Data, &body)?;
    b.add(&[DRILL_FILE.to_string()], catalog::file_node("", vec![blob], body.len() as u64))?;
    let root = b.save()?;
    repo.flush()?;
    let mut snap = Snapshot::new(KIND_DRILL, vec![report.name.clone()], root);
    snap.time = report.started;
    if let Value::Object(m) =
        serde_json::to_value(report).map_err(|e| Error::Decode { what: "drill report".into(), source: e })?
    {
        snap.meta = m.into_iter().collect();
    }
    snap.summary.insert("passed".into(), u64::from(report.passed()).into());
    snap.summary.insert("objects".into(), report.objects.compared.into());
    snap.summary.insert("volumes".into(), (report.volumes.len() as u64).into());
    Ok(repo.save_snapshot(&snap)?)
}

/// Every stored drill, oldest first.
pub fn list(repo: &Repository) -> Result<Vec<SnapshotEntry>> {
    Ok(repo.list_snapshots()?.into_iter().filter(|s| s.snapshot.kind == KIND_DRILL).collect())
}

/// Every stored drill that reads, oldest first; unreadable ones are named in the second list.
pub fn load_all(repo: &Repository) -> Result<(Vec<DrillReport>, Vec<String>)> {
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    for s in list(repo)? {
        match DrillReport::from_snapshot(&s) {
            Ok(r) => ok.push(r),
            Err(e) => bad.push(e.to_string()),
        }
    }
    Ok((ok, bad))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_survives_a_snapshot_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = crate::test_repo::repo(dir.path()).expect("repository");
        let now = Utc::now();
        let report = DrillReport {
            name: "drill-shop-1".into(),
            backup: "shop-1".into(),
            backup_snapshot: "abc".into(),
            result: DrillResult::Failed,
            started: now,
            finished: now,
            cluster: "https://k".into(),
            namespaces: [("shop".to_string(), "drill-shop".to_string())].into(),
            restore: "drill-shop-1".into(),
            restore_phase: Some(Phase::Completed),
            restore_counts: [("created".to_string(), 4)].into(),
            objects: ObjectCheck {
                compared: 4,
                equal: 3,
                missing: vec!["configmaps/shop/x".into()],
                ..Default::default()
            },
            readiness: String::new(),
            volumes: vec![serde_json::json!({"claim": "drill-shop/data", "state": "Passed"})],
            dumps: Vec::new(),
            problems: vec!["1 object missing".into()],
            warnings: Vec::new(),
            cleanup: "deleted drill-shop".into(),
        };
        save(&repo, &report).expect("save");
        let (loaded, bad) = load_all(&repo).expect("load");
        assert!(bad.is_empty());
        assert_eq!(loaded, vec![report.clone()]);
        assert!(loaded[0].covers("shop") && !loaded[0].covers("blog"));
        // Drills are not backups: a backup lookup does not find one.
        assert!(crate::backup::find_backup(&repo, "drill-shop-1").is_err());
    }
}
