//! One hook run as the report keeps it (`hooks` in a backup or restore
//! report; format in `docs/FORMAT.md`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use arca_kube::exec::{ExecError, Finished};

/// When a hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HookPhase {
    /// Before the pod's snapshots (the freeze).
    Pre,
    /// After them (the thaw).
    Post,
    /// In a restored pod once it is Ready.
    Restore,
    /// An init container injected into a restored pod.
    Init,
}

/// What a failing hook does to its item.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum OnError {
    /// The item (the pod's volumes in a backup, the pod in a restore) fails.
    #[default]
    Fail,
    /// A warning; the work goes on.
    Continue,
}

impl OnError {
    /// `Fail` / `Continue` as in annotations and hooks files (any case).
    pub fn parse(s: &str) -> Option<OnError> {
        match s.to_ascii_lowercase().as_str() {
            "fail" => Some(OnError::Fail),
            "continue" => Some(OnError::Continue),
            _ => None,
        }
    }
}

/// How a hook ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HookState {
    Succeeded,
    /// Non-zero exit, or it could not be started.
    Failed,
    /// Stopped at its timeout.
    TimedOut,
    /// Not run (its pod was not running, an earlier `Fail` hook failed); the reason says why.
    Skipped,
}

/// One hook run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HookRecord {
    /// `NAMESPACE/POD`.
    pub pod: String,
    pub container: String,
    pub phase: HookPhase,
    /// The hook's name in a hooks file; absent for annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Where it was declared: `annotation`, `velero-annotation` or `file`.
    pub source: String,
    pub command: Vec<String>,
    pub on_error: OnError,
    pub state: HookState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// The first bytes of its output (`arca_kube::exec::OUTPUT_KEPT`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stdout: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stderr: String,
    /// Output beyond what is kept was cut.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    pub started: DateTime<Utc>,
    pub finished: DateTime<Utc>,
    pub duration_secs: f64,
    /// Why it failed, timed out or was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Post hooks: how long the pod had been frozen (its pre hooks' end → this hook's start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freeze_secs: Option<f64>,
    /// Post hooks: who ran it — `backup` (after the snapshots), `watchdog` (the freeze outlived its bound) or `interrupt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thawed_by: Option<String>,
}

/// What a hook is, before it runs.
#[derive(Debug, Clone, PartialEq)]
pub struct HookRun {
    pub pod: String,
    pub container: String,
    pub phase: HookPhase,
    pub name: Option<String>,
    pub source: String,
    pub command: Vec<String>,
    pub on_error: OnError,
}

impl HookRecord {
    /// The record of a run that ended (or not) at `finished`.
    pub fn of(run: &HookRun, started: DateTime<Utc>, result: &Result<Finished, ExecError>) -> HookRecord {
        let finished = Utc::now();
        let mut record = HookRecord::blank(run, started, finished);
        match result {
            Ok(f) => {
                record.exit_code = f.exit_code;
                record.stdout = f.stdout.text.clone();
                record.stderr = f.stderr.text.clone();
                record.truncated = f.stdout.truncated || f.stderr.truncated;
                if f.success() {
                    record.state = HookState::Succeeded;
                } else {
                    record.state = HookState::Failed;
                    record.reason = Some(failure_reason(f));
                }
            }
            Err(e @ ExecError::Timeout { .. }) => {
                record.state = HookState::TimedOut;
                record.reason = Some(e.to_string());
            }
            Err(e) => {
                record.state = HookState::Failed;
                record.reason = Some(e.to_string());
            }
        }
        record
    }

    /// A hook that was not run, and why.
    pub fn skipped(run: &HookRun, why: impl Into<String>) -> HookRecord {
        let now = Utc::now();
        let mut record = HookRecord::blank(run, now, now);
        record.state = HookState::Skipped;
        record.reason = Some(why.into());
        record
    }

    fn blank(run: &HookRun, started: DateTime<Utc>, finished: DateTime<Utc>) -> HookRecord {
        HookRecord {
            pod: run.pod.clone(),
            container: run.container.clone(),
            phase: run.phase,
            name: run.name.clone(),
            source: run.source.clone(),
            command: run.command.clone(),
            on_error: run.on_error,
            state: HookState::Skipped,
            exit_code: None,
            stdout: String::new(),
            stderr: String::new(),
            truncated: false,
            started,
            finished,
            duration_secs: (finished - started).num_milliseconds().max(0) as f64 / 1000.0,
            reason: None,
            freeze_secs: None,
            thawed_by: None,
        }
    }

    /// Whether it failed its item: a `Fail` hook that did not succeed.
    pub fn fails_item(&self) -> bool {
        self.on_error == OnError::Fail && matches!(self.state, HookState::Failed | HookState::TimedOut)
    }

    /// Whether it ended badly under `Continue` (a warning).
    pub fn warns(&self) -> bool {
        self.on_error == OnError::Continue && matches!(self.state, HookState::Failed | HookState::TimedOut)
    }

    /// One line naming the hook and why it failed, with its stderr's tail.
    pub fn failure_line(&self) -> String {
        let what = match &self.name {
            Some(n) => format!("{:?} hook {n:?}", self.phase),
            None => format!("{:?} hook {:?}", self.phase, self.command),
        };
        let why = self.reason.clone().unwrap_or_else(|| "failed".into());
        format!("{what} in {} container {:?}: {why}", self.pod, self.container).to_lowercase_first()
    }
}

/// Exit code, then the stderr (or stdout) it printed.
fn failure_reason(f: &Finished) -> String {
    let code = match f.exit_code {
        Some(c) => format!("exit code {c}"),
        None => f.message.clone().unwrap_or_else(|| "failed".into()),
    };
    let said = if f.stderr.text.trim().is_empty() { f.stdout.text.trim() } else { f.stderr.text.trim() };
    if said.is_empty() { code } else { format!("{code}: {}", arca_kube::exec::tail(said, 500)) }
}

trait LowercaseFirst {
    fn to_lowercase_first(self) -> String;
}

impl LowercaseFirst for String {
    fn to_lowercase_first(self) -> String {
        let mut chars = self.chars();
        match chars.next() {
            Some(c) => c.to_lowercase().chain(chars).collect(),
            None => self,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arca_kube::exec::Captured;
    use std::time::Duration;

    fn run() -> HookRun {
        HookRun {
            pod: "db/pg-0".into(),
            container: "postgres".into(),
            phase: HookPhase::Pre,
            name: None,
            source: "annotation".into(),
            command: vec!["sh".into(), "-c".into(), "exit 2".into()],
            on_error: OnError::Fail,
        }
    }

    #[test]
    fn a_failed_hook_keeps_its_stderr_as_the_reason() {
        let finished = Finished {
            exit_code: Some(2),
            message: Some("command terminated with non-zero exit code".into()),
            stdout: Captured::default(),
            stderr: Captured { text: "cannot freeze: busy\n".into(), truncated: false, bytes: 20 },
            duration: Duration::from_millis(5),
        };
        let r = HookRecord::of(&run(), Utc::now(), &Ok(finished));
        assert_eq!(r.state, HookState::Failed);
        assert_eq!(r.reason.as_deref(), Some("exit code 2: cannot freeze: busy"));
        assert!(r.fails_item());
        assert!(r.failure_line().contains("db/pg-0"));
    }

    #[test]
    fn a_timeout_is_its_own_state() {
        let err = ExecError::Timeout { target: "t".into(), argv: vec![], timeout: Duration::from_secs(1) };
        let mut hook = run();
        hook.on_error = OnError::Continue;
        let r = HookRecord::of(&hook, Utc::now(), &Err(err));
        assert_eq!(r.state, HookState::TimedOut);
        assert!(r.warns() && !r.fails_item());
    }

    #[test]
    fn on_error_parses_any_case() {
        assert_eq!(OnError::parse("continue"), Some(OnError::Continue));
        assert_eq!(OnError::parse("Fail"), Some(OnError::Fail));
        assert_eq!(OnError::parse("retry"), None);
    }
}
