//! Reading a location's repository catalog: its backups with their stored
//! reports, its restore reports and its size. Blocking (repository IO).

use arca_kube::backup::{BackupReport, list_backups};
use arca_kube::restore::report::{self as restore_report, RestoreReport};
use arca_repo::Repository;
use chrono::{DateTime, Utc};

use crate::error::Result;
use crate::metrics::{BackupStats, DrillStats, LocationStats, RestoreStats, VolumeStats, schedule_of};

/// One backup snapshot of the repository.
#[derive(Debug, Clone)]
pub struct StoredBackup {
    /// The snapshot id (full hex).
    pub id: String,
    /// The backup's name (`arca backup create NAME`).
    pub name: String,
    pub time: DateTime<Utc>,
    pub tags: Vec<String>,
    /// The report stored in the snapshot, or why it does not parse.
    pub report: std::result::Result<BackupReport, String>,
}

/// What a sync reads from a repository.
#[derive(Debug, Clone, Default)]
pub struct RepoCatalog {
    /// Oldest first.
    pub backups: Vec<StoredBackup>,
    /// Stored restore reports, dry runs left out.
    pub restores: Vec<RestoreStats>,
    /// Stored restore drills, oldest first.
    pub drills: Vec<DrillStats>,
    /// Bytes of pack files.
    pub repository_bytes: u64,
}

/// Reads the catalog: backup and restore snapshots and the pack sizes.
pub fn read(repo: &Repository) -> Result<RepoCatalog> {
    let backups = list_backups(repo)?
        .into_iter()
        .map(|entry| StoredBackup {
            id: entry.id.to_hex(),
            name: entry.snapshot.paths.first().cloned().unwrap_or_default(),
            time: entry.snapshot.time,
            tags: entry.snapshot.tags.clone(),
            report: BackupReport::from_snapshot(&entry).map_err(|e| e.to_string()),
        })
        .collect();
    let restores = restore_report::list(repo)?
        .iter()
        .filter_map(|entry| RestoreReport::from_snapshot(entry).ok())
        .filter(|r| !r.dry_run)
        .map(|r| RestoreStats { name: r.name, phase: r.phase.to_string() })
        .collect();
    let (drills, _) = arca_kube::restore::drill::report::load_all(repo)?;
    let drills = drills
        .into_iter()
        .map(|d| DrillStats {
            passed: d.passed(),
            namespaces: d.namespaces.keys().cloned().collect(),
            finished: Some(d.finished),
            name: d.name,
        })
        .collect();
    let repository_bytes = repo.backend().list("data")?.iter().map(|e| e.size).sum();
    Ok(RepoCatalog { backups, restores, drills, repository_bytes })
}

/// The metrics of a location from its catalog.
pub fn stats(catalog: &RepoCatalog, synced_at: DateTime<Utc>) -> LocationStats {
    LocationStats {
        available: true,
        repository_bytes: Some(catalog.repository_bytes),
        last_sync: Some(synced_at),
        backups: catalog.backups.iter().map(backup_stats).collect(),
        restores: catalog.restores.clone(),
        drills: catalog.drills.clone(),
    }
}

fn backup_stats(b: &StoredBackup) -> BackupStats {
    let schedule = schedule_of(&b.name, &b.tags);
    match &b.report {
        Ok(r) => BackupStats {
            name: b.name.clone(),
            phase: r.phase.to_string(),
            started: Some(r.started),
            finished: Some(r.finished),
            objects: r.objects,
            bytes_added: r.stored_bytes,
            schedule,
            volumes: arca_volumes::record::from_report(&r.volumes)
                .into_iter()
                .flatten()
                .map(|v| VolumeStats {
                    claim: v.claim,
                    bytes: v.bytes_read,
                    bytes_added: v.bytes_stored,
                    duration_seconds: v.duration_secs,
                })
                .collect(),
        },
        // A report that does not parse is not a backup to trust.
        Err(_) => BackupStats {
            name: b.name.clone(),
            phase: "Failed".into(),
            started: Some(b.time),
            schedule,
            ..Default::default()
        },
    }
}
