//! Bounded concurrency per location: at most `maxConcurrent` backups and
//! restores run against one `BackupLocation` at once; different locations
//! never wait for each other.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// One location's key: `namespace/name`.
pub type LocationKey = String;

#[derive(Default)]
pub struct Slots {
    /// Per location: its bound when the semaphore was made, and the semaphore.
    by_location: Mutex<HashMap<LocationKey, (u32, Arc<Semaphore>)>>,
}

/// A running job's slot; freed when dropped.
pub struct Slot(#[allow(dead_code)] OwnedSemaphorePermit);

impl Slots {
    pub fn new() -> Self {
        Slots::default()
    }

    /// A slot of `location` if one is free (`limit` of them in all).
    pub fn try_take(&self, location: &str, limit: u32) -> Option<Slot> {
        let limit = limit.max(1);
        let semaphore = {
            let mut map = self.by_location.lock().unwrap_or_else(|p| p.into_inner());
            let entry =
                map.entry(location.to_string()).or_insert_with(|| (limit, Arc::new(Semaphore::new(limit as usize))));
            if entry.0 != limit {
                // The bound changed: grow or shrink the free permits by the difference.
                if limit > entry.0 {
                    entry.1.add_permits((limit - entry.0) as usize);
                } else {
                    entry.1.forget_permits((entry.0 - limit) as usize);
                }
                entry.0 = limit;
            }
            entry.1.clone()
        };
        semaphore.try_acquire_owned().ok().map(Slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_location_runs_at_most_its_bound_and_others_are_not_held_up() {
        let slots = Slots::new();
        let a1 = slots.try_take("ns/a", 2);
        let a2 = slots.try_take("ns/a", 2);
        assert!(a1.is_some() && a2.is_some());
        assert!(slots.try_take("ns/a", 2).is_none(), "a third job waits");
        assert!(slots.try_take("ns/b", 1).is_some(), "another location has its own slots");
        drop(a1);
        assert!(slots.try_take("ns/a", 2).is_some(), "a freed slot is taken again");
    }

    #[test]
    fn a_raised_bound_frees_more_slots() {
        let slots = Slots::new();
        let _a = slots.try_take("ns/a", 1);
        assert!(slots.try_take("ns/a", 1).is_none());
        assert!(slots.try_take("ns/a", 2).is_some());
    }
}
