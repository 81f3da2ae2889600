//! Errors of the file data mover. Each names the path or object involved and
//! the operation that failed, so a user can tell what to fix.

use std::path::PathBuf;

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The repository failed (storage, crypto, missing blob, …).
    #[error(transparent)]
    Repo(#[from] arca_repo::Error),

    #[error("cannot {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A tree holds a name that would escape the restore target or is not a
    /// file name at all. Trees written by Arca never do; the snapshot is
    /// damaged or was crafted.
    #[error("refusing to restore {name:?} in {parent}: not a plain file name (the snapshot's tree is corrupt)")]
    UnsafeName { parent: PathBuf, name: String },

    #[error("snapshot tree is damaged at {path}: {detail}")]
    CorruptTree { path: PathBuf, detail: String },

    #[error("invalid {what} pattern {pattern:?}: {source}")]
    Glob {
        what: &'static str,
        pattern: String,
        #[source]
        source: globset::Error,
    },

    #[error(
        "backup paths {first} and {second} would both be stored as {name:?} at the snapshot root; back them up separately or pass their common parent"
    )]
    NameClash { first: PathBuf, second: PathBuf, name: String },

    #[error("snapshot {id} is of kind {found:?}, but this needs a {expected:?} snapshot")]
    WrongKind { id: String, found: String, expected: &'static str },

    #[error("{0}")]
    Invalid(String),
}

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { op, path: path.into(), source }
    }
}
