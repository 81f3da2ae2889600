//! The server's errors. Each names the object and what to do.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Kube(#[from] kube::Error),
    #[error("{0}")]
    Repo(#[from] arca_repo::Error),
    #[error("{0}")]
    Backup(#[from] arca_kube::Error),
    /// A `BackupLocation` that cannot be used (Secret missing, repository
    /// unreachable or not initialised, wrong password).
    #[error("backup location {namespace}/{name}: {reason}")]
    Location { namespace: String, name: String, reason: String },
    /// An object whose spec cannot be carried out as written.
    #[error("{kind} {namespace}/{name}: {reason}")]
    Invalid { kind: &'static str, namespace: String, name: String, reason: String },
    #[error("{0}")]
    Other(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
