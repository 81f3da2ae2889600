//! Repository locks: backups take shared locks, prune an exclusive one.
//!
//! A lock is an encrypted file `locks/<random id>`. It is refreshed (a new
//! file written, the old one removed) every few minutes while held; a lock
//! not refreshed for [`STALE_AFTER`] or whose process is gone on this host is
//! stale and ignored. Locks live outside the write-once areas (Object Lock
//! rules must exclude `locks/`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::backend::WriteMode;
use crate::error::{Error, Result};
use crate::id::Id;
use crate::repository::Repository;

pub const STALE_AFTER: Duration = Duration::from_secs(30 * 60);
const REFRESH_EVERY: Duration = Duration::from_secs(5 * 60);
const LOCK_AAD: &[u8] = b"locks";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LockInfo {
    pub exclusive: bool,
    pub hostname: String,
    pub username: String,
    pub pid: u32,
    pub time: DateTime<Utc>,
    pub command: String,
}

impl LockInfo {
    fn describe(&self) -> String {
        format!(
            "{}@{} (pid {}, {}, since {})",
            self.username,
            self.hostname,
            self.pid,
            self.command,
            self.time.to_rfc3339()
        )
    }

    /// True when the lock no longer protects anything.
    pub fn is_stale(&self, now: DateTime<Utc>) -> bool {
        let age = now.signed_duration_since(self.time).to_std().unwrap_or_default();
        if age > STALE_AFTER {
            return true;
        }
        self.hostname == crate::host::hostname() && !process_alive(self.pid)
    }
}

fn process_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists() || !std::path::Path::new("/proc/self").exists()
}

/// A held lock; released on drop.
pub struct Lock {
    repo: Repository,
    current: Arc<Mutex<Id>>,
    stop: Arc<AtomicBool>,
    refresher: Option<std::thread::JoinHandle<()>>,
}

impl Repository {
    /// Takes a shared (`exclusive == false`) or exclusive lock.
    pub fn lock(&self, exclusive: bool, command: &str) -> Result<Lock> {
        self.check_conflicts(exclusive, None)?;
        let info = LockInfo {
            exclusive,
            hostname: crate::host::hostname(),
            username: crate::host::username(),
            pid: std::process::id(),
            time: Utc::now(),
            command: command.to_string(),
        };
        let id = self.write_lock(&info)?;
        // Someone may have locked between our check and our write.
        if let Err(e) = self.check_conflicts(exclusive, Some(id)) {
            let _ = self.backend().delete(&format!("locks/{id}"));
            return Err(e);
        }
        let current = Arc::new(Mutex::new(id));
        let stop = Arc::new(AtomicBool::new(false));
        let refresher = {
            let (repo, current, stop) = (self.clone(), Arc::clone(&current), Arc::clone(&stop));
            std::thread::Builder::new()
                .name("arca-lock".into())
                .spawn(move || refresh_loop(&repo, &current, &stop, info))
                .ok()
        };
        Ok(Lock { repo: self.clone(), current, stop, refresher })
    }

    fn write_lock(&self, info: &LockInfo) -> Result<Id> {
        let json = serde_json::to_vec(info).map_err(|e| Error::Json { what: "lock".into(), source: e })?;
        let id = Id::random();
        self.backend().put(&format!("locks/{id}"), Bytes::from(self.seal(&json, LOCK_AAD)), WriteMode::Create)?;
        Ok(id)
    }

    /// Every lock file and what it says (unreadable ones are reported as errors).
    pub fn list_locks(&self) -> Result<Vec<(Id, LockInfo)>> {
        self.locks_other_than(None)
    }

    /// As [`Self::list_locks`], without reading `own` (this process's lock:
    /// what it says is known, and reading it is one more request).
    fn locks_other_than(&self, own: Option<Id>) -> Result<Vec<(Id, LockInfo)>> {
        let (ids, _) = self.list_ids("locks")?;
        let mut out = Vec::new();
        for id in ids.into_iter().filter(|id| Some(*id) != own) {
            let path = format!("locks/{id}");
            let bytes = match self.backend().get(&path) {
                Ok(b) => b,
                Err(Error::NotFound { .. }) => continue, // released meanwhile
                Err(e) => return Err(e),
            };
            let plain = self.open_sealed(&bytes, LOCK_AAD, &path)?;
            let info = serde_json::from_slice(&plain).map_err(|e| Error::Json { what: path, source: e })?;
            out.push((id, info));
        }
        Ok(out)
    }

    fn check_conflicts(&self, exclusive: bool, own: Option<Id>) -> Result<()> {
        let now = Utc::now();
        for (_, info) in self.locks_other_than(own)? {
            if info.is_stale(now) {
                continue;
            }
            if exclusive || info.exclusive {
                let kind = if info.exclusive { "exclusively" } else { "shared" };
                return Err(Error::Locked { kind, holder: info.describe() });
            }
        }
        Ok(())
    }

    /// Removes stale locks (or all locks with `all`); returns how many.
    pub fn unlock(&self, all: bool) -> Result<usize> {
        let now = Utc::now();
        let mut removed = 0;
        for (id, info) in self.list_locks()? {
            if all || info.is_stale(now) {
                self.backend().delete(&format!("locks/{id}"))?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

fn refresh_loop(repo: &Repository, current: &Mutex<Id>, stop: &AtomicBool, mut info: LockInfo) {
    // Parked, not sleeping in ticks: releasing the lock unparks at once
    // (a tick of sleep made every locking command up to 200 ms slower).
    let mut next = std::time::Instant::now() + REFRESH_EVERY;
    while !stop.load(Ordering::Relaxed) {
        let now = std::time::Instant::now();
        if now < next {
            std::thread::park_timeout(next - now);
            continue;
        }
        next = now + REFRESH_EVERY;
        info.time = Utc::now();
        match repo.write_lock(&info) {
            Ok(new_id) => {
                let old = std::mem::replace(&mut *current.lock(), new_id);
                let _ = repo.backend().delete(&format!("locks/{old}"));
            }
            Err(e) => tracing::warn!("could not refresh repository lock: {e}"),
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.refresher.take() {
            t.thread().unpark();
            let _ = t.join();
        }
        let id = *self.current.lock();
        if let Err(e) = self.repo.backend().delete(&format!("locks/{id}")) {
            tracing::warn!("could not remove lock locks/{id}: {e}");
        }
    }
}
