//! Which cluster's area of the archive a command works on.
//!
//! By default the area is named after the PostgreSQL system identifier, the
//! first eight bytes of `global/pg_control`: `archive_command` runs in the
//! data directory, and a data directory restored from a base backup keeps
//! the identifier, so pushes, fetches and restores agree without settings.

use std::path::Path;

use arca_repo::wal::valid_wal_component;

use super::error::{Result, WalError};

/// The cluster area to use: an explicit name, else the identifier of the
/// data directory `pgdata`.
pub fn resolve(explicit: Option<&str>, pgdata: &Path) -> Result<String> {
    if let Some(name) = explicit {
        if !valid_wal_component(name) {
            return Err(WalError::Invalid(format!(
                "cluster name {name:?} must be 1 to 128 letters, digits, `.`, `_` or `-`"
            )));
        }
        return Ok(name.to_string());
    }
    system_identifier(pgdata).map(|id| id.to_string())
}

/// The system identifier of the data directory `pgdata`.
pub fn system_identifier(pgdata: &Path) -> Result<u64> {
    let control = pgdata.join("global").join("pg_control");
    let bytes =
        std::fs::read(&control).map_err(|e| WalError::NoCluster(format!("cannot read {} ({e})", control.display())))?;
    let first: [u8; 8] = bytes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| WalError::NoCluster(format!("{} is too short to be a control file", control.display())))?;
    // pg_control is written in the server's byte order; Arca runs beside it.
    Ok(u64::from_ne_bytes(first))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_names_are_checked_and_control_files_read() {
        assert_eq!(resolve(Some("orders-db"), Path::new("/nonexistent")).ok(), Some("orders-db".to_string()));
        assert!(resolve(Some("a/b"), Path::new("/")).is_err());
        let dir = std::env::temp_dir().join(format!("arca-cluster-test-{}", std::process::id()));
        let global = dir.join("global");
        std::fs::create_dir_all(&global).ok();
        std::fs::write(global.join("pg_control"), 7312345678901234567u64.to_ne_bytes()).ok();
        assert_eq!(resolve(None, &dir).ok(), Some("7312345678901234567".to_string()));
        std::fs::remove_dir_all(&dir).ok();
        let err = resolve(None, Path::new("/nonexistent")).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("--cluster"), "{err}");
    }
}
