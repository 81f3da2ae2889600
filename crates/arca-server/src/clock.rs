//! What time it is, for schedules: the system clock, or one a test moves.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock read from a file holding an RFC 3339 time (for tests of the
/// binary: `arca server --clock-file F`, hidden). A missing or unreadable
/// file reads as the system time.
pub struct FileClock(pub PathBuf);

impl Clock for FileClock {
    fn now(&self) -> DateTime<Utc> {
        std::fs::read_to_string(&self.0)
            .ok()
            .and_then(|t| DateTime::parse_from_rfc3339(t.trim()).ok())
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(Utc::now)
    }
}

pub fn system() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}
