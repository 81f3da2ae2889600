//! The key audit log: every key added or removed leaves a record in
//! `keylog/<id>` (format 1.1), sealed with the master key and never
//! deleted, so `arca repo key log` shows who changed which key when, and
//! someone with storage credentials alone cannot forge an entry.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::id::Id;
use crate::repository::{Repository, warn_foreign};

/// Where key events live.
pub const KEY_LOG: &str = "keylog";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyAction {
    Added,
    Removed,
}

/// One change of the repository's keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyEvent {
    pub time: DateTime<Utc>,
    pub action: KeyAction,
    pub key: Id,
    /// The key the repository was opened with (none at `init`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<Id>,
    pub hostname: String,
    pub username: String,
}

impl KeyEvent {
    pub(crate) fn now(action: KeyAction, key: Id, by: Option<Id>) -> KeyEvent {
        KeyEvent {
            time: Utc::now(),
            action,
            key,
            by,
            hostname: crate::host::hostname(),
            username: crate::host::username(),
        }
    }
}

impl Repository {
    pub(crate) fn log_key_event(&self, event: &KeyEvent) -> Result<()> {
        self.save_json(KEY_LOG, event).map(drop)
    }

    /// Every key event, oldest first (repositories from before the log have none).
    pub fn key_log(&self) -> Result<Vec<KeyEvent>> {
        let (ids, foreign) = self.list_ids(KEY_LOG)?;
        warn_foreign(KEY_LOG, &foreign);
        let mut events = ids.iter().map(|id| self.load_json::<KeyEvent>(KEY_LOG, id)).collect::<Result<Vec<_>>>()?;
        events.sort_by_key(|e| e.time);
        Ok(events)
    }
}
