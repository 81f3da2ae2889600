//! Storage backends: where the repository's objects live.
//!
//! The engine sees a flat namespace of write-once objects (`data/ab/<id>`,
//! `index/<id>`, …). [`open`] turns a repository URL into a backend.

/// The Object Lock calls of a wrapping backend, passed to the backend it
/// wraps (`self.$inner`): a wrapper changes reads and writes, never retention.
macro_rules! forward_object_lock {
    ($inner:tt) => {
        fn extend_retention(&self, keys: &[String]) -> Result<u64> {
            self.$inner.extend_retention(keys)
        }

        fn check_object_lock(&self) -> Result<()> {
            self.$inner.check_object_lock()
        }

        fn enable_object_lock(&self, lock: crate::config::ObjectLock) -> Result<()> {
            self.$inner.enable_object_lock(lock)
        }
    };
}

mod append_only;
mod cached;
mod counting;
mod object_lock;
mod store;
mod url;

use std::ops::Range;

use bytes::Bytes;

use crate::error::Result;

pub use self::append_only::AppendOnly;
pub use self::cached::Cached;
pub use self::counting::{Counting, RequestCounter, Requests};
pub use self::object_lock::{Recovery, StoredVersion, parse_versions, retain_until};
pub use self::store::ObjectStoreBackend;
pub use self::url::{RepoUrl, open, open_with};

/// How a write treats an existing object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Fail with `AlreadyExists` if the object exists (S3 `If-None-Match: *`).
    Create,
    /// Replace any existing object (locks only).
    Overwrite,
}

/// One listed object: its name relative to the listed directory, and its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub size: u64,
}

/// A blocking object store. Implementations may run async IO internally.
pub trait Backend: Send + Sync {
    /// The repository URL, for messages.
    fn location(&self) -> &str;
    fn get(&self, path: &str) -> Result<Bytes>;
    fn get_range(&self, path: &str, range: Range<u64>) -> Result<Bytes>;
    fn put(&self, path: &str, data: Bytes, mode: WriteMode) -> Result<()>;
    /// `range` of a pack of tree blobs: a cache may download the pack
    /// whole once and serve every later range from disk.
    fn get_metadata_range(&self, path: &str, range: Range<u64>) -> Result<Bytes> {
        self.get_range(path, range)
    }
    /// Writes a pack of tree blobs: a cache keeps a copy.
    fn put_metadata(&self, path: &str, data: Bytes, mode: WriteMode) -> Result<()> {
        self.put(path, data, mode)
    }
    /// Lists every object below `dir` (recursively), names relative to `dir`.
    fn list(&self, dir: &str) -> Result<Vec<Entry>>;
    fn delete(&self, path: &str) -> Result<()>;
    /// Size of an object, or `None` when it does not exist.
    fn size(&self, path: &str) -> Result<Option<u64>>;
    /// True when deletes (other than of locks) are refused: append-only access.
    fn append_only(&self) -> bool {
        false
    }
    /// Moves the retain-until date of each of `keys` to the repository's
    /// retention from now; how many. Only with Object Lock.
    fn extend_retention(&self, keys: &[String]) -> Result<u64> {
        let _ = keys;
        Err(crate::error::Error::Invalid(format!("{}: the repository has no Object Lock", self.location())))
    }
    /// `Ok` when this storage can lock objects (an S3 bucket with Object
    /// Lock enabled), else why not.
    fn check_object_lock(&self) -> Result<()> {
        self.enable_object_lock(crate::config::ObjectLock {
            mode: crate::config::LockMode::Governance,
            retention_secs: 0,
        })
    }
    /// From now on every object but locks is written under `lock`'s
    /// retention; `Err` when this storage has no Object Lock.
    fn enable_object_lock(&self, lock: crate::config::ObjectLock) -> Result<()> {
        let _ = lock;
        Err(crate::error::Error::Invalid(format!(
            "{}: Object Lock needs an S3 repository on a bucket with Object Lock enabled",
            self.location()
        )))
    }
}
