//! Errors of WAL archiving and recovery; each says what to do.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum WalError {
    #[error(transparent)]
    Repo(#[from] arca_repo::Error),

    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "{name} is archived already for cluster {cluster} with different content ({archived} bytes archived, {offered} bytes offered); \
         two servers may be archiving into one cluster area: give each its own with --cluster, and keep the archived file"
    )]
    Conflict { cluster: String, name: String, archived: u64, offered: u64 },

    #[error("{name} is not in the WAL archive of cluster {cluster}")]
    NotArchived { cluster: String, name: String },

    #[error("{0:?} is not a file PostgreSQL archives (a WAL segment, `.partial`, `.history` or `.backup` file)")]
    NotWalName(String),

    #[error("cannot tell which cluster this is: {0}; pass --cluster NAME (or set ARCA_WAL_CLUSTER)")]
    NoCluster(String),

    #[error("{0}")]
    Invalid(String),

    #[error("{command} failed: {detail}")]
    Command { command: String, detail: String },
}

pub type Result<T, E = WalError> = std::result::Result<T, E>;

pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> WalError {
    let path = path.into();
    move |source| WalError::Io { what, path, source }
}
