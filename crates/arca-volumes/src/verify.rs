//! Checking a restored volume against its backup, independently of the
//! restore that wrote it: a check mover pod mounts the claim read-only and
//! runs `arca mover verify`, which re-hashes every file (or the block
//! device) with the repository's chunker and key and compares the ids with
//! the snapshot's trees, reading no file data from the repository. The pod
//! and its credentials Secret run as restore movers do
//! ([`crate::restore::fill`]).
//!
//! A volume whose backup holds no repository snapshot (a `snapshot`-only
//! record: its data stays with the storage system) is `Skipped`, saying why.

use std::time::Instant;

use arca_fs::DirCheck;
use arca_kube::api::Kube;
use serde::{Deserialize, Serialize};

use crate::mover::{self, MoverResult, Placement, VolumeSource};
use crate::record::VolumeRecord;
use crate::restore::job::{self, Job};
use crate::restore::not_restorable;
use crate::restore::settings::MoverSettings;
use crate::run::PodOutcome;

/// How one volume's check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CheckState {
    /// The claim holds exactly what the snapshot holds.
    Passed,
    /// It differs (`mismatches`), or the check could not run (`reason`).
    Failed,
    /// Nothing to compare with, with the reason.
    Skipped,
}

/// What to check.
pub struct CheckTarget<'a> {
    /// The volume's record in the backup: its repository snapshot is what
    /// the claim must hold.
    pub record: &'a VolumeRecord,
    /// The namespace of the claim (the check mover runs there).
    pub namespace: &'a str,
    /// The claim holding the restored data.
    pub claim: &'a str,
    /// Names the check's pod: the drill or restore it belongs to.
    pub run: &'a str,
    /// Run on this node (a `ReadWriteOnce` claim in use elsewhere).
    pub node: Option<String>,
}

/// One volume's check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VolumeCheck {
    /// `NAMESPACE/NAME` of the claim checked.
    pub claim: String,
    /// The claim in the backup.
    pub source: String,
    pub state: CheckState,
    /// The repository snapshot compared with.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub snapshot: String,
    /// Files read and compared.
    #[serde(default)]
    pub files: u64,
    /// Bytes read and compared.
    #[serde(default)]
    pub bytes: u64,
    /// The first differences, `path: what` (the rest are counted in `reason`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mismatches: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[serde(default)]
    pub duration_secs: f64,
    /// The node the check mover ran on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

impl VolumeCheck {
    pub fn new(claim: impl Into<String>, source: impl Into<String>, state: CheckState) -> Self {
        VolumeCheck {
            claim: claim.into(),
            source: source.into(),
            state,
            snapshot: String::new(),
            files: 0,
            bytes: 0,
            mismatches: Vec::new(),
            reason: String::new(),
            duration_secs: 0.0,
            node: None,
        }
    }

    fn with(mut self, state: CheckState, reason: impl Into<String>) -> Self {
        self.state = state;
        self.reason = reason.into();
        self
    }

    /// One line for a log.
    pub fn log_line(&self) -> String {
        match self.state {
            CheckState::Passed => format!(
                "volume {}: matches repository snapshot {}: {} file(s), {} byte(s) compared in {:.1}s",
                self.claim,
                short(&self.snapshot),
                self.files,
                self.bytes,
                self.duration_secs
            ),
            CheckState::Failed => match self.mismatches.first() {
                Some(first) => format!("volume {}: check failed: {} (first: {first})", self.claim, self.reason),
                None => format!("volume {}: check failed: {}", self.claim, self.reason),
            },
            CheckState::Skipped => format!("volume {}: not checked: {}", self.claim, self.reason),
        }
    }
}

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// Runs a check mover on the claim of `target` and reports what it found.
pub async fn check(kube: &Kube, settings: &MoverSettings, target: CheckTarget<'_>) -> VolumeCheck {
    let record = target.record;
    let shown = format!("{}/{}", target.namespace, target.claim);
    let out = VolumeCheck::new(&shown, &record.claim, CheckState::Skipped);
    let snapshot = match reference(record) {
        Ok(snapshot) => snapshot,
        Err(why) => return out.with(CheckState::Skipped, why),
    };
    let mut out = VolumeCheck { snapshot: snapshot.clone(), ..out };
    let job = Job {
        name: mover::pod_name("arca-check", &[target.run, &shown]),
        namespace: target.namespace,
        args: args(&snapshot, record.is_block()),
        source: VolumeSource::Claim { name: target.claim.to_string(), read_only: true },
        block: record.is_block(),
        placement: target.node.clone().map_or(Placement::Anywhere, Placement::Node),
        writes: false,
    };
    let started = Instant::now();
    let outcome = match job::run(kube, settings, job).await {
        Ok(outcome) => outcome,
        Err(reason) => return out.with(CheckState::Failed, reason),
    };
    out.node = outcome.node().map(String::from);
    let mut out = match outcome {
        PodOutcome::Succeeded { result, .. } | PodOutcome::Failed { result: Some(result), .. }
            if result.check.is_some() =>
        {
            from_result(out, &result)
        }
        PodOutcome::Succeeded { .. } => out.with(
            CheckState::Failed,
            format!(
                "the check mover printed no comparison: its image {} may be older than `mover verify`",
                settings.image
            ),
        ),
        PodOutcome::Failed { reason, .. } => out.with(CheckState::Failed, reason),
    };
    if out.duration_secs <= 0.0 {
        out.duration_secs = started.elapsed().as_secs_f64();
    }
    out
}

/// The repository snapshot a restored copy of `record` must equal, or why
/// there is none to compare with.
pub fn reference(record: &VolumeRecord) -> Result<String, String> {
    match (&record.repository_snapshot, record.restorable()) {
        (Some(snapshot), true) => Ok(snapshot.clone()),
        (None, true) => Err("the backup holds no repository snapshot of this volume (its data stays in a CSI \
             snapshot): there are no files to compare with"
            .into()),
        (_, false) => Err(not_restorable(record)),
    }
}

/// `mover verify` arguments (after `arca`).
pub fn args(snapshot: &str, block: bool) -> Vec<String> {
    mover::snapshot_args("verify", snapshot, block)
}

/// The check as the mover's result line tells it.
pub fn from_result(mut out: VolumeCheck, result: &MoverResult) -> VolumeCheck {
    let empty = DirCheck::default();
    let check = result.check.as_ref().unwrap_or(&empty);
    out.files = check.files;
    out.bytes = check.bytes;
    out.duration_secs = result.duration_secs;
    out.mismatches = check.mismatches.iter().map(ToString::to_string).collect();
    if check.passed() {
        return out.with(CheckState::Passed, "");
    }
    let mut reason = format!("{} difference(s) from repository snapshot {}", check.differences(), short(&out.snapshot));
    let parts: Vec<String> = [(check.missing, "missing"), (check.extra, "extra")]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
    if !parts.is_empty() {
        reason.push_str(&format!(" ({})", parts.join(", ")));
    }
    if check.mismatches_omitted > 0 {
        reason.push_str(&format!("; the first {} are listed", check.mismatches.len()));
    }
    out.with(CheckState::Failed, reason)
}

#[cfg(test)]
mod tests {
    use arca_fs::Mismatch;

    use super::*;

    fn result(check: DirCheck) -> MoverResult {
        MoverResult { mover: "verify".into(), snapshot: "ab".repeat(32), check: Some(check), ..MoverResult::default() }
    }

    fn base() -> VolumeCheck {
        VolumeCheck { snapshot: "ab".repeat(32), ..VolumeCheck::new("lab/copy", "vault/data", CheckState::Skipped) }
    }

    #[test]
    fn a_clean_result_passes_and_differences_fail_naming_their_paths() {
        let passed = from_result(base(), &result(DirCheck { files: 3, bytes: 10, ..DirCheck::default() }));
        assert_eq!(passed.state, CheckState::Passed);
        assert_eq!((passed.files, passed.bytes), (3, 10));
        assert!(passed.log_line().contains("matches repository snapshot abababab"), "{}", passed.log_line());

        let m = |p: &str, w: &str| Mismatch { path: p.into(), what: w.into() };
        let check = DirCheck {
            mismatches: vec![m("a/b", "content: bytes 0..10 differ"), m("c", "missing: the snapshot has a file here")],
            mismatches_omitted: 4,
            missing: 1,
            ..DirCheck::default()
        };
        let failed = from_result(base(), &result(check));
        assert_eq!(failed.state, CheckState::Failed);
        assert_eq!(failed.mismatches[0], "a/b: content: bytes 0..10 differ");
        assert_eq!(
            failed.reason,
            "6 difference(s) from repository snapshot abababab (1 missing); the first 2 are listed"
        );
        assert!(failed.log_line().contains("(first: a/b: content"), "{}", failed.log_line());
        let v = serde_json::to_value(&failed).unwrap();
        assert_eq!(v["state"], "Failed");
        assert_eq!(v["mismatches"][1], "c: missing: the snapshot has a file here");
    }

    #[test]
    fn records_without_files_in_the_repository_are_skipped_with_the_reason() {
        let record = |extra: serde_json::Value| {
            let mut v = serde_json::json!({"claim": "vault/data", "volume_mode": "Filesystem", "method": "move",
                "chosen_by": "test", "state": "Completed"});
            v.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            serde_json::from_value::<VolumeRecord>(v).unwrap()
        };
        let moved = record(serde_json::json!({"repository_snapshot": "cd"}));
        assert_eq!(reference(&moved), Ok("cd".to_string()));
        let snapshot_only = record(serde_json::json!({"method": "snapshot", "snapshot": {"name": "s", "content": "c",
            "class": "k", "driver": "d", "handle": "h"}}));
        assert!(reference(&snapshot_only).unwrap_err().contains("no repository snapshot"));
        let failed =
            record(serde_json::json!({"state": "Failed", "reason": "mover killed", "repository_snapshot": "cd"}));
        assert!(reference(&failed).unwrap_err().contains("mover killed"));
    }

    #[test]
    fn check_movers_read_the_snapshot_into_the_mounted_volume() {
        assert_eq!(args("ab", false).join(" "), "-o json mover verify --snapshot ab --target /arca/volume");
        assert_eq!(args("ab", true).join(" "), "-o json mover verify --snapshot ab --block /dev/arca-volume");
    }
}
