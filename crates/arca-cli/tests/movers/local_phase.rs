//! A backup data phase for tests that runs `arca mover backup` as a local
//! process for each given directory or image file (what a mover pod runs,
//! minus the pod) and returns its volume record. Records without data
//! (a `snapshot`-only volume, a failed one) can be added as they are.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use arca_kube::backup::ItemError;
use arca_kube::data::{BackupData, BackupDataPhase, DataOutcome};
use arca_volumes::mover::parse_result;
use arca_volumes::record::{Method, VolumeRecord, VolumeState};

/// What to back up for one claim.
pub enum LocalVolume {
    Dir {
        claim: String,
        dir: PathBuf,
    },
    Block {
        claim: String,
        image: PathBuf,
    },
    /// A record stored as given (no mover runs).
    Record(Box<VolumeRecord>),
}

pub struct LocalMovers {
    pub repo: String,
    pub password: String,
    pub volumes: Vec<LocalVolume>,
}

/// A record with the fields every test sets the same way.
pub fn record(claim: &str, method: Method, state: VolumeState, volume_mode: &str) -> VolumeRecord {
    VolumeRecord {
        claim: claim.into(),
        volume: format!("pvc-{}", claim.replace('/', "-")),
        storage_class: "standard".into(),
        driver: "test.csi.arca.io".into(),
        capacity: "1Gi".into(),
        access_modes: vec!["ReadWriteOnce".into()],
        volume_mode: volume_mode.into(),
        node_affinity: None,
        method,
        chosen_by: "test".into(),
        state,
        reason: String::new(),
        snapshot: None,
        repository_snapshot: None,
        host_path: None,
        inline: false,
        pod: None,
        node: None,
        files: 0,
        bytes_read: 0,
        bytes_added: 0,
        bytes_stored: 0,
        duration_secs: 0.0,
        details: Default::default(),
    }
}

impl LocalMovers {
    /// Runs the mover for one volume; a failure becomes a Failed record.
    fn move_one(&self, claim: &str, flag: &str, path: &PathBuf, backup: &str, mode: &str) -> VolumeRecord {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_arca"))
            .args(["-o", "json", "mover", "backup", flag])
            .arg(path)
            .args(["--volume", claim, "--backup", backup])
            .env("ARCA_REPO", &self.repo)
            .env("ARCA_PASSWORD", &self.password)
            .env_remove("ARCA_PASSWORD_FILE")
            .output();
        let mut rec = record(claim, Method::Move, VolumeState::Failed, mode);
        match out {
            Ok(out) => match parse_result(&String::from_utf8_lossy(&out.stdout)) {
                Some(r) if out.status.success() => {
                    rec.state = VolumeState::Completed;
                    rec.repository_snapshot = Some(r.snapshot);
                    (rec.files, rec.bytes_read, rec.bytes_added, rec.duration_secs) =
                        (r.files, r.bytes_read, r.bytes_added, r.duration_secs);
                }
                _ => rec.reason = format!("mover failed: {}", String::from_utf8_lossy(&out.stderr).trim()),
            },
            Err(e) => rec.reason = format!("cannot run the mover: {e}"),
        }
        rec
    }
}

impl BackupDataPhase for LocalMovers {
    fn run<'a>(&'a self, ctx: BackupData<'a>) -> Pin<Box<dyn Future<Output = DataOutcome> + Send + 'a>> {
        let backup = ctx.backup.to_string();
        Box::pin(async move {
            let mut outcome = DataOutcome::default();
            for v in &self.volumes {
                let rec = match v {
                    LocalVolume::Dir { claim, dir } => {
                        tokio::task::block_in_place(|| self.move_one(claim, "--source", dir, &backup, "Filesystem"))
                    }
                    LocalVolume::Block { claim, image } => {
                        tokio::task::block_in_place(|| self.move_one(claim, "--block", image, &backup, "Block"))
                    }
                    LocalVolume::Record(r) => (**r).clone(),
                };
                if rec.state == VolumeState::Failed {
                    outcome.errors.push(ItemError { object: rec.claim.clone(), reason: rec.reason.clone() });
                }
                outcome.volumes.push(serde_json::to_value(&rec).unwrap_or_default());
            }
            outcome
        })
    }
}
