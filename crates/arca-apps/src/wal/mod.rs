//! PostgreSQL's write-ahead log in the repository: `arca wal push|fetch`
//! for `archive_command`/`restore_command` ([`archive`]), base backups from
//! `pg_basebackup` ([`base_backup`]), the archive's own retention
//! ([`retention`]) and point-in-time recovery into a data directory
//! ([`recovery`]). The storage layout is the repository's WAL area
//! (`arca_repo::wal`, `docs/FORMAT.md`).

pub mod archive;
pub mod base_backup;
pub mod cluster;
pub mod error;
pub mod names;
pub mod phase;
pub mod pipe;
pub mod recovery;
pub mod restore_phase;
pub mod retention;

pub use error::{Result, WalError};
