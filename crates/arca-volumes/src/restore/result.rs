//! What a restore did with one volume's data: stored in the restore
//! report's `volumes` (format in `docs/FORMAT.md`).

use serde::{Deserialize, Serialize};

use crate::record::Method;

/// How one volume's restore ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RestoreState {
    Completed,
    Failed,
    /// Not filled on purpose, with the reason (its data is not in the
    /// backup, or it keeps an existing volume).
    Skipped,
}

/// One volume's restore.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VolumeRestore {
    /// `NAMESPACE/NAME` of the claim filled (`NAMESPACE/POD/VOLUME` for a pod's inline volume).
    pub claim: String,
    /// The claim (or inline volume) in the backup.
    pub source: String,
    pub method: Method,
    pub state: RestoreState,
    /// Where the data came from: `VolumeSnapshot NS/NAME (…)` or `repository snapshot ID`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub from: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[serde(default)]
    pub files: u64,
    #[serde(default)]
    pub bytes_written: u64,
    /// Entries a `--data-only` (mirror) restore removed: not in the backup.
    #[serde(default)]
    pub removed: u64,
    #[serde(default)]
    pub duration_secs: f64,
    /// The node the restore mover ran on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// `--data-only`: the workloads scaled to zero and back (`deployment/NS/NAME: 2 → 0 → 2`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scaled: Vec<String>,
    /// With verification (drills): what the mover read back from the claim
    /// right after writing it, compared with the snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<arca_fs::DirCheck>,
}

impl VolumeRestore {
    pub fn new(claim: impl Into<String>, source: impl Into<String>, method: Method, state: RestoreState) -> Self {
        VolumeRestore {
            claim: claim.into(),
            source: source.into(),
            method,
            state,
            from: String::new(),
            reason: String::new(),
            files: 0,
            bytes_written: 0,
            removed: 0,
            duration_secs: 0.0,
            node: None,
            scaled: Vec::new(),
            check: None,
        }
    }

    pub fn failed(mut self, reason: impl Into<String>) -> Self {
        self.state = RestoreState::Failed;
        self.reason = reason.into();
        self
    }

    /// One line for the restore's log.
    pub fn log_line(&self) -> String {
        match self.state {
            RestoreState::Completed => format!(
                "volume {}: filled from {}: {} file(s), {} byte(s) written{} in {:.1}s",
                self.claim,
                self.from,
                self.files,
                self.bytes_written,
                if self.removed > 0 { format!(", {} removed", self.removed) } else { String::new() },
                self.duration_secs
            ),
            RestoreState::Failed => format!("volume {}: failed: {}", self.claim, self.reason),
            RestoreState::Skipped => format!("volume {}: not filled: {}", self.claim, self.reason),
        }
    }
}
