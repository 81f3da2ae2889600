//! Object Lock retention kept ahead of expiry: every object of the
//! repository (locks apart) gets its retain-until date moved to the
//! repository's retention from now, so data that kept snapshots still use
//! never becomes deletable while they are kept. Run it more often than the
//! retention period (the server's maintenance does, on its schedule).

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::backend::retain_until;
use crate::error::{Error, Result};
use crate::repository::Repository;

/// What an extension did (or, with `dry_run`, would do).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RetentionReport {
    pub dry_run: bool,
    /// Objects whose retention was (would be) extended.
    pub objects: u64,
    /// Their new retain-until date (at the least).
    pub until: DateTime<Utc>,
}

/// Extends the retention of every object but locks; takes a shared lock
/// (what it lists is not pruned meanwhile).
pub fn extend_retention(repo: &Repository, dry_run: bool) -> Result<RetentionReport> {
    let Some(lock) = repo.config().object_lock else {
        return Err(Error::Invalid(format!(
            "repository {} has no Object Lock: there is no retention to extend (`arca repo init --object-lock`)",
            repo.location()
        )));
    };
    let _lock = repo.lock(false, "extend retention")?;
    let keys: Vec<String> =
        repo.backend().list("")?.into_iter().map(|e| e.name).filter(|name| !name.starts_with("locks/")).collect();
    let until = retain_until(&lock, Utc::now());
    let objects = if dry_run { keys.len() as u64 } else { repo.backend().extend_retention(&keys)? };
    Ok(RetentionReport { dry_run, objects, until })
}
