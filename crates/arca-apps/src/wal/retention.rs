//! The WAL archive's own retention: a file goes when no kept base backup
//! needs it (it lies before the oldest one's start segment) and it is older
//! than `--keep-within`. History files are tiny and always kept. Without
//! any base backup nothing goes: the WAL would be all there is.

use arca_repo::Repository;
use chrono::{DateTime, Utc};

use super::base_backup;
use super::error::Result;
use super::names::{DEFAULT_SEGMENT_SIZE, WalFile};

/// Files before `first_needed` (a segment number) that may go if old enough (pure).
pub fn candidates<'a>(names: impl IntoIterator<Item = &'a str>, first_needed: u64, segment_size: u64) -> Vec<&'a str> {
    names
        .into_iter()
        .filter(|n| match WalFile::parse(n) {
            Some(f @ (WalFile::Segment { .. } | WalFile::BackupHistory { .. })) => {
                f.segment_number(segment_size).is_some_and(|s| s < first_needed)
            }
            _ => false,
        })
        .collect()
}

/// What `arca wal forget` did or, with `dry_run`, would do.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ForgetOutcome {
    pub cluster: String,
    /// The start segment of the oldest base backup kept, when there is one.
    pub oldest_base_backup_start: Option<String>,
    pub removed: Vec<String>,
    pub kept: usize,
    pub dry_run: bool,
}

/// Removes the archived files of `cluster` no kept base backup needs and
/// pushed before `keep_after`. Blobs go at the next `arca repo prune`.
pub fn forget(repo: &Repository, cluster: &str, keep_after: DateTime<Utc>, dry_run: bool) -> Result<ForgetOutcome> {
    let _lock = repo.lock(false, "wal forget")?;
    let backups = base_backup::list(repo, Some(cluster))?;
    let names: Vec<String> = repo.list_wal()?.into_iter().filter(|n| n.cluster == cluster).map(|n| n.name).collect();
    let mut outcome = ForgetOutcome { cluster: cluster.to_string(), dry_run, ..ForgetOutcome::default() };
    let oldest = backups
        .iter()
        .filter_map(|(_, r)| {
            let n = WalFile::parse(&r.start_segment)?.segment_number(DEFAULT_SEGMENT_SIZE)?;
            Some((n, r.start_segment.clone()))
        })
        .min();
    let Some((first_needed, start)) = oldest else {
        outcome.kept = names.len();
        return Ok(outcome);
    };
    outcome.oldest_base_backup_start = Some(start);
    for name in candidates(names.iter().map(String::as_str), first_needed, DEFAULT_SEGMENT_SIZE) {
        let old_enough = repo.wal_entry(cluster, name)?.is_some_and(|e| e.time < keep_after);
        if old_enough {
            if !dry_run {
                repo.delete_wal_entry(cluster, name)?;
            }
            outcome.removed.push(name.to_string());
        }
    }
    outcome.kept = names.len() - outcome.removed.len();
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_files_before_the_oldest_backup_are_candidates() {
        let names = [
            "000000010000000000000001",
            "000000010000000000000002.00000028.backup",
            "000000010000000000000003",
            "000000010000000000000004",
            "00000002.history",
            "000000020000000000000003",
        ];
        let got = candidates(names.iter().copied(), 4, DEFAULT_SEGMENT_SIZE);
        assert_eq!(
            got,
            vec![
                "000000010000000000000001",
                "000000010000000000000002.00000028.backup",
                "000000010000000000000003",
                "000000020000000000000003",
            ]
        );
    }
}
