//! `arca mover backup|restore|verify`: what Arca's mover pods run to move
//! (or check) one volume's data. The contract (arguments, environment, the JSON result
//! line) is `arca_volumes::mover`'s module doc.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context as _, Result, anyhow, bail};
use arca_fs::{BackupOptions, ChangeDetection, DirCheck, RestoreOptions, VerifyOptions};
use arca_repo::snapshot::KIND_FILES;
use arca_repo::{Id, Repository};
use arca_volumes::mover::MoverResult;
use clap::{ArgGroup, Args, Subcommand};
use serde::Serialize;
use serde_json::json;

use crate::cli::OutputFormat;
use crate::context::Context;
use crate::exit;
use crate::output::{Render, bytes};
use crate::progress::Bar;

/// Tag every volume snapshot carries.
pub const VOLUME_TAG: &str = "volume";

#[derive(Subcommand, Debug)]
pub enum MoverCommand {
    /// Back up one volume (a directory or a block device) into the repository
    Backup(MoverBackupArgs),
    /// Write a volume snapshot into a directory or a block device
    Restore(MoverRestoreArgs),
    /// Compare a volume (a directory or a block device) with a snapshot, re-hashing what is on disk
    Verify(MoverVerifyArgs),
    /// Prepare a PostgreSQL data directory for point-in-time recovery from a base backup
    Pitr(super::restore_pitr::MoverPitrArgs),
}

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("what").required(true).args(["source", "block"])))]
pub struct MoverBackupArgs {
    /// Directory holding the volume's files
    #[arg(long)]
    pub source: Option<PathBuf>,
    /// Block device (or image file) of a block volume
    #[arg(long)]
    pub block: Option<PathBuf>,
    /// The volume: NAMESPACE/CLAIM (or NAMESPACE/POD/VOLUME for a pod's inline volume)
    #[arg(long)]
    pub volume: String,
    /// Name of the backup this volume belongs to
    #[arg(long)]
    pub backup: String,
    /// Parent snapshot for change detection (default: the latest snapshot of this volume)
    #[arg(long)]
    pub parent: Option<String>,
    /// More snapshot tags (`volume` is always set)
    #[arg(long)]
    pub tag: Vec<String>,
}

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("into").required(true).args(["target", "block"])))]
pub struct MoverRestoreArgs {
    /// Snapshot id (or unique prefix)
    #[arg(long)]
    pub snapshot: String,
    /// Directory to restore the files into
    #[arg(long)]
    pub target: Option<PathBuf>,
    /// Block device (or image file) to write a block volume's image to
    #[arg(long)]
    pub block: Option<PathBuf>,
    /// Make the target an exact copy: remove what the snapshot does not hold
    #[arg(long)]
    pub mirror: bool,
    /// Then read back what was written and compare it with the snapshot (`mover verify`);
    /// exit 3 when it differs
    #[arg(long)]
    pub verify: bool,
}

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("what").required(true).args(["target", "block"])))]
pub struct MoverVerifyArgs {
    /// Snapshot id (or unique prefix)
    #[arg(long)]
    pub snapshot: String,
    /// Directory the snapshot was restored into
    #[arg(long)]
    pub target: Option<PathBuf>,
    /// Block device (or image file) a block volume's image was written to
    #[arg(long)]
    pub block: Option<PathBuf>,
    /// Also compare owners (right when the restore ran as root)
    #[arg(long)]
    pub owners: bool,
}

pub fn run(ctx: &Context, cmd: MoverCommand) -> Result<i32> {
    match cmd {
        MoverCommand::Backup(args) => backup(ctx, &args),
        MoverCommand::Restore(args) => restore(ctx, &args),
        MoverCommand::Verify(args) => verify(ctx, &args),
        MoverCommand::Pitr(args) => super::restore_pitr::mover(ctx, &args),
    }
}

/// The result line, rendered for people or as exactly one JSON line.
struct Output(MoverResult);

impl Serialize for Output {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl Render for Output {
    fn human(&self) -> String {
        let r = &self.0;
        let short = r.snapshot.get(..8).unwrap_or(&r.snapshot);
        let warnings = if r.warnings > 0 { format!(", {} warning(s)", r.warnings) } else { String::new() };
        match r.mover.as_str() {
            "backup" => format!(
                "volume snapshot {short} saved: {} files, read {}, added {} in {:.1}s{warnings}",
                r.files,
                bytes(r.bytes_read),
                bytes(r.bytes_added),
                r.duration_secs
            ),
            "verify" => verified(short, r.check.as_ref().unwrap_or(&DirCheck::default()), r.duration_secs),
            _ => format!(
                "volume snapshot {short} restored: {} files, wrote {}, removed {} in {:.1}s{warnings}",
                r.files,
                bytes(r.bytes_written),
                r.removed,
                r.duration_secs
            ),
        }
    }
}

/// A verify's outcome for people: the differences, one a line.
fn verified(short: &str, c: &DirCheck, secs: f64) -> String {
    if c.passed() {
        return format!(
            "volume matches snapshot {short}: {} files, {} compared, no differences in {secs:.1}s",
            c.files,
            bytes(c.bytes)
        );
    }
    let mut out = format!(
        "volume differs from snapshot {short}: {} difference(s) ({} missing, {} extra) in {} files, {} compared",
        c.differences(),
        c.missing,
        c.extra,
        c.files,
        bytes(c.bytes)
    );
    for m in &c.mismatches {
        out.push_str(&format!("\n  {m}"));
    }
    if c.mismatches_omitted > 0 {
        out.push_str(&format!("\n  … and {} more", c.mismatches_omitted));
    }
    out
}

fn emit_result(format: OutputFormat, result: MoverResult) -> Result<()> {
    match format {
        // One line: a mover's log is read for its last JSON line.
        OutputFormat::Json => println!("{}", serde_json::to_string(&result)?),
        other => crate::output::emit(other, &Output(result))?,
    }
    Ok(())
}

fn backup(ctx: &Context, args: &MoverBackupArgs) -> Result<i32> {
    let started = Instant::now();
    check_volume_name(&args.volume)?;
    let source = match (&args.source, &args.block) {
        (Some(dir), _) => Source::Dir(canonical_dir(dir)?),
        (None, Some(device)) => Source::Block(device.clone()),
        (None, None) => bail!("give the volume's directory (--source DIR) or block device (--block DEVICE)"),
    };
    if let Source::Block(device) = &source
        && !device.exists()
    {
        bail!("block device {} does not exist", device.display());
    }
    let repo = ctx.open_repo()?;
    let parent = match &args.parent {
        Some(q) => Some(repo.find_snapshot(q).with_context(|| format!("finding parent snapshot {q}"))?.id),
        None => latest_of_volume(&repo, &args.volume, matches!(source, Source::Block(_)))?,
    };
    let mut tags = vec![VOLUME_TAG.to_string()];
    tags.extend(args.tag.iter().filter(|t| t.as_str() != VOLUME_TAG).cloned());
    let mut opts = BackupOptions {
        tags,
        parent,
        force_full: parent.is_none(),
        change_detection: ChangeDetection::Stable,
        recorded_paths: Some(vec![args.volume.clone()]),
        ..BackupOptions::default()
    };
    opts.meta.insert("volume".into(), json!(args.volume));
    opts.meta.insert("backup".into(), json!(args.backup));
    if let Ok(pod) = std::env::var("ARCA_MOVER_POD") {
        opts.meta.insert("mover_pod".into(), json!(pod));
    }
    let bar = Bar::new(ctx.show_progress(), "volume backup");
    let result = match &source {
        Source::Dir(dir) => {
            opts.paths = vec![dir.clone()];
            arca_fs::backup(&repo, &opts, &bar)
        }
        Source::Block(device) => arca_fs::backup_block(&repo, device, &opts, &bar),
    };
    bar.finish();
    let what = match &source {
        Source::Dir(dir) => dir.display().to_string(),
        Source::Block(device) => device.display().to_string(),
    };
    let result = result.with_context(|| format!("backing up volume {} from {what}", args.volume))?;
    let s = &result.summary;
    let code = if s.warnings > 0 { exit::PARTIAL } else { exit::OK };
    let out = MoverResult {
        mover: "backup".into(),
        snapshot: result.snapshot_id.to_hex(),
        files: s.total_files,
        bytes_read: s.bytes_read,
        bytes_added: s.bytes_added_raw,
        bytes_stored: s.bytes_stored,
        warnings: s.warnings,
        duration_secs: started.elapsed().as_secs_f64(),
        ..MoverResult::default()
    };
    emit_result(ctx.output(), out)?;
    Ok(code)
}

enum Source {
    Dir(PathBuf),
    Block(PathBuf),
}

/// `NAMESPACE/CLAIM` or `NAMESPACE/POD/VOLUME`, no empty parts.
fn check_volume_name(volume: &str) -> Result<()> {
    let parts: Vec<&str> = volume.split('/').collect();
    if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.is_empty()) {
        bail!("--volume {volume:?} must be NAMESPACE/CLAIM (or NAMESPACE/POD/VOLUME for a pod's inline volume)");
    }
    Ok(())
}

/// The source directory without symlinks (the kubelet's pods directory may
/// be reached through one); it must exist and be a directory.
fn canonical_dir(dir: &Path) -> Result<PathBuf> {
    let canonical = std::fs::canonicalize(dir)
        .map_err(|e| anyhow!("volume source directory {} cannot be opened: {e}", dir.display()))?;
    if !canonical.is_dir() {
        bail!("volume source {} is not a directory (for a block volume pass --block)", dir.display());
    }
    Ok(canonical)
}

/// The latest snapshot of `volume` of the same shape (block or files),
/// from any host (each mover pod has its own host name).
fn latest_of_volume(repo: &Repository, volume: &str, block: bool) -> Result<Option<Id>> {
    let found = repo.list_snapshots()?.into_iter().rfind(|s| {
        s.snapshot.kind == KIND_FILES
            && s.snapshot.tags.iter().any(|t| t == VOLUME_TAG)
            && s.snapshot.paths == [volume]
            && arca_fs::is_block_snapshot(&s.snapshot) == block
    });
    Ok(found.map(|s| s.id))
}

fn restore(ctx: &Context, args: &MoverRestoreArgs) -> Result<i32> {
    let started = Instant::now();
    let repo = ctx.open_repo()?;
    let snapshot = repo.find_snapshot(&args.snapshot).with_context(|| format!("finding snapshot {}", args.snapshot))?;
    let id = snapshot.id;
    let bar = Bar::new(ctx.show_progress(), "volume restore");
    let mut out = MoverResult { mover: "restore".into(), snapshot: id.to_hex(), ..MoverResult::default() };
    let done = match (&args.target, &args.block) {
        (Some(dir), _) => {
            let opts = RestoreOptions { mirror: args.mirror, ..RestoreOptions::default() };
            arca_fs::restore(&repo, &id, dir, &opts, &bar).map(|s| {
                out.files = s.files + s.hardlinks;
                out.bytes_written = s.bytes_written;
                out.removed = s.removed;
                out.warnings = s.warnings;
            })
        }
        (None, Some(device)) => arca_fs::restore_block(&repo, &id, device, &bar).map(|s| {
            out.files = 1;
            out.bytes_written = s.bytes_written;
        }),
        (None, None) => bail!("give the directory (--target DIR) or block device (--block DEVICE) to restore into"),
    };
    bar.finish();
    let into = args.target.as_ref().or(args.block.as_ref()).map(|p| p.display().to_string()).unwrap_or_default();
    done.with_context(|| format!("restoring volume snapshot {} into {into}", id.short()))?;
    let mut code = if out.warnings > 0 { exit::PARTIAL } else { exit::OK };
    if args.verify {
        let check = compare(&repo, &id, args.target.as_deref(), args.block.as_deref(), &VerifyOptions::default())?;
        if !check.passed() {
            code = exit::PARTIAL;
        }
        out.check = Some(check);
    }
    out.duration_secs = started.elapsed().as_secs_f64();
    emit_result(ctx.output(), out)?;
    Ok(code)
}

/// A restored directory or block device compared with its snapshot.
fn compare(
    repo: &arca_repo::Repository,
    id: &arca_repo::Id,
    target: Option<&std::path::Path>,
    block: Option<&std::path::Path>,
    opts: &VerifyOptions,
) -> Result<arca_fs::DirCheck> {
    let (check, what) = match (target, block) {
        (Some(dir), _) => (arca_fs::verify(repo, id, dir, opts), dir),
        (None, Some(device)) => (arca_fs::compare_block(repo, id, device, opts), device),
        (None, None) => bail!("give the directory (--target DIR) or block device (--block DEVICE) to compare"),
    };
    check.with_context(|| format!("comparing {} with volume snapshot {}", what.display(), id.short()))
}

fn verify(ctx: &Context, args: &MoverVerifyArgs) -> Result<i32> {
    let started = Instant::now();
    let repo = ctx.open_repo()?;
    let snapshot = repo.find_snapshot(&args.snapshot).with_context(|| format!("finding snapshot {}", args.snapshot))?;
    let id = snapshot.id;
    let opts = VerifyOptions { owners: args.owners, ..VerifyOptions::default() };
    let check = compare(&repo, &id, args.target.as_deref(), args.block.as_deref(), &opts)?;
    let code = if check.passed() { exit::OK } else { exit::PARTIAL };
    let out = MoverResult {
        mover: "verify".into(),
        snapshot: id.to_hex(),
        files: check.files,
        bytes_read: check.bytes,
        duration_secs: started.elapsed().as_secs_f64(),
        check: Some(check),
        ..MoverResult::default()
    };
    emit_result(ctx.output(), out)?;
    Ok(code)
}
