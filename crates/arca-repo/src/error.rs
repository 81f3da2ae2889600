//! Errors of the repository engine. Each names the object involved and, where
//! there is one, the next step for the user.

use std::path::PathBuf;

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("wrong password or no key found in repository {repo}")]
    WrongPassword { repo: String },

    #[error("repository {repo} does not exist or is not initialized; create it with `arca repo init`")]
    NotInitialized { repo: String },

    #[error("repository {repo} is already initialized")]
    AlreadyInitialized { repo: String },

    #[error("unsupported repository URL {url:?}: {reason}")]
    BadUrl { url: String, reason: String },

    #[error("bucket or container of {repo} not found: {detail}")]
    BucketNotFound { repo: String, detail: String },

    #[error("storage error on {path}: {detail}")]
    Backend { path: String, detail: String },

    #[error("object {path} not found in the repository")]
    NotFound { path: String },

    #[error("object {path} already exists (objects are write-once)")]
    AlreadyExists { path: String },

    #[error("{what} is damaged: {detail}")]
    Corrupt { what: String, detail: String },

    #[error("unsupported repository format version {found} (this Arca reads up to {supported}); upgrade Arca")]
    UnsupportedVersion { found: u32, supported: u32 },

    #[error("blob {id} is not in the repository index; run `arca repo check`")]
    BlobMissing { id: String },

    #[error("snapshot {query:?} not found; list snapshots with `arca snapshots`")]
    SnapshotNotFound { query: String },

    #[error("snapshot prefix {query:?} is ambiguous: matches {count} snapshots")]
    AmbiguousSnapshot { query: String, count: usize },

    #[error("repository is locked {kind} by {holder}; wait for it to finish or, if it died, run `arca repo unlock`")]
    Locked { kind: &'static str, holder: String },

    #[error("key {id} not found")]
    KeyNotFound { id: String },

    #[error("refusing to remove key {id}: it is the only key, and the repository would become unreadable")]
    LastKey { id: String },

    #[error("invalid argument: {0}")]
    Invalid(String),

    #[error(
        "refusing to {action} {path}: the repository is opened append-only (--append-only, ARCA_APPEND_ONLY); \
         forget, prune and key changes need a client and credentials that may delete"
    )]
    AppendOnly { path: String, action: &'static str },

    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("malformed {what}: {source}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
}

impl Error {
    pub(crate) fn corrupt(what: impl Into<String>, detail: impl Into<String>) -> Self {
        Error::Corrupt { what: what.into(), detail: detail.into() }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
}
