//! Progress of a running backup: counted by the library's callbacks, written
//! to `status.progress` by a ticker at most every few seconds.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arca_api::backup::BackupProgress;

#[derive(Default)]
pub struct Counter {
    objects: AtomicU64,
    types: AtomicU64,
}

impl Counter {
    pub fn snapshot(&self) -> BackupProgress {
        BackupProgress {
            objects: self.objects.load(Ordering::Relaxed),
            resource_types: self.types.load(Ordering::Relaxed),
            ..Default::default()
        }
    }
}

/// The library's progress callbacks into a shared counter.
pub struct Counting(pub Arc<Counter>);

impl arca_kube::backup::Progress for Counting {
    fn type_done(&self, _resource: &str, _objects: u64) {
        self.0.types.fetch_add(1, Ordering::Relaxed);
    }
    fn objects_saved(&self, n: u64) {
        self.0.objects.fetch_add(n, Ordering::Relaxed);
    }
}
