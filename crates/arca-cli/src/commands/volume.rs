//! `arca volume list|files`: a backup's volume records, and one volume's
//! files restored to a local directory (no cluster needed).

use std::path::PathBuf;

use anyhow::{Context as _, Result, anyhow, bail};
use arca_fs::{IMAGE_NAME, NoProgress, RestoreOptions};
use arca_kube::backup::{BackupReport, find_backup};
use arca_repo::Repository;
use arca_volumes::record::{self, Method, VolumeRecord, VolumeState};
use clap::{Args, Subcommand};
use serde::Serialize;

use crate::context::Context;
use crate::exit;
use crate::output::{Render, bytes, emit, table};

#[derive(Subcommand, Debug)]
pub enum VolumeCommand {
    /// List a backup's volumes: method, state, sizes, reasons
    List {
        /// Backup name (or snapshot id prefix)
        backup: String,
    },
    /// Restore one volume's files from the repository into a local directory
    Files(FilesArgs),
}

#[derive(Args, Debug)]
pub struct FilesArgs {
    /// Backup name (or snapshot id prefix)
    pub backup: String,
    /// The volume: NAMESPACE/CLAIM (as `arca volume list` shows it)
    pub claim: String,
    /// Directory to restore into (a block volume becomes DIR/volume.img)
    #[arg(long)]
    pub target: PathBuf,
    /// Only restore paths matching this glob (repeatable; file volumes only)
    #[arg(long)]
    pub include: Vec<String>,
}

pub fn run(ctx: &Context, cmd: VolumeCommand) -> Result<i32> {
    match cmd {
        VolumeCommand::List { backup } => list(ctx, &backup),
        VolumeCommand::Files(args) => files(ctx, &args),
    }
}

/// The backup's volume records; records that do not parse are returned
/// as messages, never dropped.
fn records(repo: &Repository, backup: &str) -> Result<(Vec<VolumeRecord>, Vec<String>)> {
    let entry = find_backup(repo, backup)?;
    let report = BackupReport::from_snapshot(&entry)?;
    let (mut ok, mut bad) = (Vec::new(), Vec::new());
    for r in record::from_report(&report.volumes) {
        match r {
            Ok(rec) => ok.push(rec),
            Err(e) => bad.push(e),
        }
    }
    Ok((ok, bad))
}

#[derive(Serialize)]
#[serde(transparent)]
struct ListOutput(Vec<VolumeRecord>);

impl Render for ListOutput {
    fn human(&self) -> String {
        if self.0.is_empty() {
            return "this backup holds no volume records".into();
        }
        let rows = self.0.iter().map(|r| {
            vec![
                r.claim.clone(),
                r.method.to_string(),
                r.state.to_string(),
                r.files.to_string(),
                bytes(r.bytes_read),
                bytes(r.bytes_added),
                format!("{:.1}s", r.duration_secs),
                r.reason.clone(),
            ]
        });
        table(&["claim", "method", "state", "files", "size read", "added", "duration", "reason"], rows)
    }
}

fn list(ctx: &Context, backup: &str) -> Result<i32> {
    let repo = ctx.open_repo()?;
    let (records, bad) = records(&repo, backup).with_context(|| format!("reading the volumes of backup {backup}"))?;
    for message in &bad {
        eprintln!("warning: {message}");
    }
    emit(ctx.output(), &ListOutput(records))?;
    Ok(if bad.is_empty() { exit::OK } else { exit::PARTIAL })
}

#[derive(Serialize)]
struct FilesOutput {
    claim: String,
    snapshot: String,
    target: String,
    block: bool,
    files: u64,
    bytes_written: u64,
    warnings: u64,
    duration_secs: f64,
}

impl Render for FilesOutput {
    fn human(&self) -> String {
        format!(
            "restored volume {} (snapshot {}) to {}: {} files, {} written in {:.1}s{}",
            self.claim,
            self.snapshot.get(..8).unwrap_or(&self.snapshot),
            self.target,
            self.files,
            bytes(self.bytes_written),
            self.duration_secs,
            if self.warnings > 0 { format!("\n{} warning(s)", self.warnings) } else { String::new() }
        )
    }
}

fn files(ctx: &Context, args: &FilesArgs) -> Result<i32> {
    let repo = ctx.open_repo()?;
    let (records, bad) =
        records(&repo, &args.backup).with_context(|| format!("reading the volumes of backup {}", args.backup))?;
    let record = pick(&records, &bad, &args.backup, &args.claim)?;
    let snapshot_hex = restorable_snapshot(record, &args.backup)?;
    let snapshot = repo
        .find_snapshot(snapshot_hex)
        .with_context(|| format!("finding volume {}'s repository snapshot {snapshot_hex}", record.claim))?;
    let started = std::time::Instant::now();
    let block = arca_fs::is_block_snapshot(&snapshot.snapshot);
    let mut out = FilesOutput {
        claim: record.claim.clone(),
        snapshot: snapshot.id.to_hex(),
        target: args.target.display().to_string(),
        block,
        files: 0,
        bytes_written: 0,
        warnings: 0,
        duration_secs: 0.0,
    };
    let what = || format!("restoring volume {} to {}", record.claim, args.target.display());
    if block {
        if !args.include.is_empty() {
            bail!("volume {} is a block volume (one image): --include does not apply to it", record.claim);
        }
        std::fs::create_dir_all(&args.target)
            .with_context(|| format!("creating directory {}", args.target.display()))?;
        let image = args.target.join(IMAGE_NAME);
        let s = arca_fs::restore_block(&repo, &snapshot.id, &image, &NoProgress).with_context(what)?;
        (out.files, out.bytes_written, out.target) = (1, s.bytes_written, image.display().to_string());
    } else {
        let opts = RestoreOptions { include: args.include.clone(), ..RestoreOptions::default() };
        let s = arca_fs::restore(&repo, &snapshot.id, &args.target, &opts, &NoProgress).with_context(what)?;
        (out.files, out.bytes_written, out.warnings) = (s.files + s.hardlinks, s.bytes_written, s.warnings);
    }
    out.duration_secs = started.elapsed().as_secs_f64();
    let code = if out.warnings > 0 { exit::PARTIAL } else { exit::OK };
    emit(ctx.output(), &out)?;
    Ok(code)
}

/// The record of `claim`; an error lists the claims the backup has.
fn pick<'a>(records: &'a [VolumeRecord], bad: &[String], backup: &str, claim: &str) -> Result<&'a VolumeRecord> {
    if let Some(r) = records.iter().find(|r| r.claim == claim) {
        return Ok(r);
    }
    if let Some(message) = bad.iter().find(|m| m.contains(&format!(" {claim} "))) {
        bail!("{message}");
    }
    let have: Vec<&str> = records.iter().map(|r| r.claim.as_str()).collect();
    if have.is_empty() {
        bail!("backup {backup} holds no volumes (it was made without volume data)");
    }
    Err(anyhow!("backup {backup} has no volume {claim}; its volumes: {}", have.join(", ")))
}

/// The repository snapshot holding the volume's data, or why there is none.
fn restorable_snapshot<'a>(record: &'a VolumeRecord, backup: &str) -> Result<&'a str> {
    let claim = &record.claim;
    let reason = if record.reason.is_empty() { String::new() } else { format!(": {}", record.reason) };
    match record.state {
        VolumeState::Completed => {}
        VolumeState::Failed => bail!("volume {claim} failed in backup {backup}{reason}; it has no data to restore"),
        VolumeState::Skipped => bail!("volume {claim} was skipped in backup {backup}{reason}; it has no data"),
        VolumeState::NotProtected => {
            bail!("volume {claim} was not protected by backup {backup}{reason}; it has no data")
        }
    }
    match (&record.repository_snapshot, record.method, &record.snapshot) {
        (Some(id), _, _) => Ok(id),
        (None, Method::Snapshot, Some(snap)) => bail!(
            "volume {claim} was backed up as a CSI snapshot only ({}/{}, driver {}): there is no copy in the repository to restore locally; restore it into a cluster with `arca restore`",
            record.namespace(),
            snap.name,
            snap.driver
        ),
        (None, method, _) => {
            bail!("volume {claim} (method {method}) has no copy in the repository to restore locally")
        }
    }
}
