//! Request counts: a backend that counts the storage requests passing
//! through it (one relaxed atomic add per request), so a command can say
//! what it cost on object storage, where requests are billed.
//!
//! One call is one request as the engine asks for it: a write that the
//! object-store client retries after a broken connection counts once.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use serde::Serialize;

use super::{Backend, Entry, WriteMode};
use crate::error::Result;

/// Counters shared by every [`Counting`] backend that holds them.
#[derive(Debug, Default)]
pub struct RequestCounter {
    get: AtomicU64,
    put: AtomicU64,
    list: AtomicU64,
    delete: AtomicU64,
    head: AtomicU64,
}

/// The requests counted so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Requests {
    /// Whole and ranged reads.
    pub get: u64,
    pub put: u64,
    pub list: u64,
    pub delete: u64,
    /// Size lookups (`HEAD`).
    pub head: u64,
}

impl Requests {
    pub fn total(&self) -> u64 {
        self.get + self.put + self.list + self.delete + self.head
    }

    /// One line for people: `requests: 12 GET, 3 PUT, 2 LIST, 0 DELETE, 1 HEAD`.
    pub fn line(&self) -> String {
        format!(
            "requests: {} GET, {} PUT, {} LIST, {} DELETE, {} HEAD",
            self.get, self.put, self.list, self.delete, self.head
        )
    }
}

impl RequestCounter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn snapshot(&self) -> Requests {
        Requests {
            get: self.get.load(Ordering::Relaxed),
            put: self.put.load(Ordering::Relaxed),
            list: self.list.load(Ordering::Relaxed),
            delete: self.delete.load(Ordering::Relaxed),
            head: self.head.load(Ordering::Relaxed),
        }
    }

    /// Counts one request; `-vvv` (trace) names each.
    fn bump(counter: &AtomicU64, method: &str, path: &str) {
        counter.fetch_add(1, Ordering::Relaxed);
        tracing::trace!("request: {method} {path}");
    }
}

/// Wraps a backend and counts every request into a shared [`RequestCounter`].
pub struct Counting {
    inner: Arc<dyn Backend>,
    counter: Arc<RequestCounter>,
}

impl Counting {
    pub fn new(inner: Arc<dyn Backend>, counter: Arc<RequestCounter>) -> Self {
        Counting { inner, counter }
    }

    pub fn counter(&self) -> &Arc<RequestCounter> {
        &self.counter
    }
}

impl Backend for Counting {
    fn location(&self) -> &str {
        self.inner.location()
    }

    fn get(&self, path: &str) -> Result<Bytes> {
        RequestCounter::bump(&self.counter.get, "GET", path);
        self.inner.get(path)
    }

    fn get_range(&self, path: &str, range: Range<u64>) -> Result<Bytes> {
        RequestCounter::bump(&self.counter.get, "GET (range)", path);
        self.inner.get_range(path, range)
    }

    fn put(&self, path: &str, data: Bytes, mode: WriteMode) -> Result<()> {
        RequestCounter::bump(&self.counter.put, "PUT", path);
        self.inner.put(path, data, mode)
    }

    fn get_metadata_range(&self, path: &str, range: Range<u64>) -> Result<Bytes> {
        RequestCounter::bump(&self.counter.get, "GET (range)", path);
        self.inner.get_metadata_range(path, range)
    }

    fn put_metadata(&self, path: &str, data: Bytes, mode: WriteMode) -> Result<()> {
        RequestCounter::bump(&self.counter.put, "PUT", path);
        self.inner.put_metadata(path, data, mode)
    }

    fn list(&self, dir: &str) -> Result<Vec<Entry>> {
        RequestCounter::bump(&self.counter.list, "LIST", dir);
        self.inner.list(dir)
    }

    fn delete(&self, path: &str) -> Result<()> {
        RequestCounter::bump(&self.counter.delete, "DELETE", path);
        self.inner.delete(path)
    }

    fn size(&self, path: &str) -> Result<Option<u64>> {
        RequestCounter::bump(&self.counter.head, "HEAD", path);
        self.inner.size(path)
    }

    fn append_only(&self) -> bool {
        self.inner.append_only()
    }

    forward_object_lock!(inner);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_each_kind_of_request() {
        let dir = tempfile::tempdir().unwrap();
        let inner: Arc<dyn Backend> = crate::backend::open(&dir.path().display().to_string(), true).unwrap();
        let counter = Arc::new(RequestCounter::new());
        let b = Counting::new(inner, Arc::clone(&counter));
        b.put("snapshots/aa", Bytes::from_static(b"xyz"), WriteMode::Create).unwrap();
        b.put("snapshots/bb", Bytes::from_static(b"x"), WriteMode::Create).unwrap();
        assert_eq!(&b.get("snapshots/aa").unwrap()[..], b"xyz");
        assert_eq!(&b.get_range("snapshots/aa", 1..3).unwrap()[..], b"yz");
        assert_eq!(b.list("snapshots").unwrap().len(), 2);
        assert_eq!(b.size("snapshots/aa").unwrap(), Some(3));
        b.delete("snapshots/bb").unwrap();
        // A failed request is a request all the same.
        assert!(b.get("snapshots/bb").is_err());
        let r = counter.snapshot();
        assert_eq!(r, Requests { get: 3, put: 2, list: 1, delete: 1, head: 1 });
        assert_eq!(r.total(), 8);
        assert_eq!(r.line(), "requests: 3 GET, 2 PUT, 1 LIST, 1 DELETE, 1 HEAD");
    }

    #[test]
    fn append_only_is_seen_through_the_counter() {
        let dir = tempfile::tempdir().unwrap();
        let inner: Arc<dyn Backend> = crate::backend::open(&dir.path().display().to_string(), true).unwrap();
        let counted: Arc<dyn Backend> = Arc::new(Counting::new(inner, Arc::new(RequestCounter::new())));
        assert!(!counted.append_only());
        let wrapped = Counting::new(Arc::new(super::super::AppendOnly(counted)), Arc::new(RequestCounter::new()));
        assert!(wrapped.append_only());
    }
}
