//! `arca repo …`: init, info, check, prune, forget, repair, unlock, key.

use anyhow::Result;
use arca_repo::{Config, InitOptions, KdfParams, Repository};
use serde::Serialize;

use crate::cli::{InitArgs, RepoCommand, UnlockArgs};
use crate::context::Context;
use crate::exit;
use crate::output::{Render, bytes, emit};

pub fn run(ctx: &Context, cmd: RepoCommand) -> Result<i32> {
    match cmd {
        RepoCommand::Init(args) => init(ctx, &args),
        RepoCommand::Info => info(ctx),
        RepoCommand::Unlock(args) => unlock(ctx, &args),
        RepoCommand::Recover(args) => recover(ctx, &args),
        RepoCommand::ExtendRetention(args) => extend_retention(ctx, &args),
        RepoCommand::Key(cmd) => super::key::run(ctx, cmd),
        RepoCommand::Check(args) => super::maintenance::check(ctx, &args),
        RepoCommand::Prune(args) => super::maintenance::prune(ctx, &args),
        RepoCommand::Forget(args) => super::maintenance::forget(ctx, &args),
        RepoCommand::Repair(cmd) => super::repair::run(ctx, cmd),
    }
}

#[derive(Serialize)]
struct InitResult {
    repository: String,
    id: String,
    key: String,
}

impl Render for InitResult {
    fn human(&self) -> String {
        format!(
            "created repository {} at {}\nkeep the password safe: without it the data cannot be read",
            &self.id[..8],
            self.repository
        )
    }
}

fn init(ctx: &Context, args: &InitArgs) -> Result<i32> {
    let url = ctx.repo_url()?;
    if !(0..=22).contains(&args.compression) {
        anyhow::bail!("--compression must be between 0 (off) and 22, got {}", args.compression);
    }
    let password = crate::password::init_password(ctx.global.password_file.as_deref())?;
    let backend = ctx.counted(arca_repo::open_backend(url, true)?);
    let object_lock = match (args.object_lock, args.retention) {
        (Some(mode), Some(retention)) if retention.as_secs() >= 86_400 => {
            Some(arca_repo::config::ObjectLock { mode, retention_secs: retention.as_secs() })
        }
        (Some(_), Some(retention)) => anyhow::bail!(
            "--retention {} is too short to protect backups: give 1d or more",
            humantime::format_duration(retention)
        ),
        _ => None,
    };
    let config = Config { compression: args.compression, object_lock, ..Config::new() };
    let repo = Repository::init(backend, &password, InitOptions { kdf: KdfParams::default(), config })?;
    emit(
        ctx.output(),
        &InitResult { repository: url.to_string(), id: repo.config().id.to_hex(), key: repo.key_id().to_hex() },
    )?;
    Ok(exit::OK)
}

#[derive(Serialize)]
struct InfoResult {
    repository: String,
    id: String,
    format_version: u32,
    compression: i32,
    pack_size: u64,
    chunker: arca_repo::ChunkerParams,
    keys: usize,
    snapshots: usize,
    index_files: usize,
    packs: usize,
    blobs: usize,
    stored_bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    object_lock: Option<arca_repo::config::ObjectLock>,
}

impl Render for InfoResult {
    fn human(&self) -> String {
        format!(
            "repository:  {}\nid:          {}\nformat:      v{}\ncompression: zstd level {}\nkeys:        {}\nsnapshots:   {}\npacks:       {} ({} blobs, {} stored)\nindex files: {}",
            self.repository,
            self.id,
            self.format_version,
            self.compression,
            self.keys,
            self.snapshots,
            self.packs,
            self.blobs,
            bytes(self.stored_bytes),
            self.index_files
        ) + &self
            .object_lock
            .map(|l| {
                let days = l.retention_secs / 86_400;
                format!("\nobject lock: {} mode, {days} day(s) from each write", l.mode.header_value().to_lowercase())
            })
            .unwrap_or_default()
    }
}

fn info(ctx: &Context) -> Result<i32> {
    let repo = ctx.open_repo()?;
    let index_files = repo.load_index()?.len();
    let stored_bytes = repo.backend().list("data")?.iter().map(|e| e.size).sum();
    let (snapshots, _) = repo.list_ids("snapshots")?;
    let index = repo.index();
    let config = repo.config();
    let result = InfoResult {
        repository: repo.location().to_string(),
        id: config.id.to_hex(),
        format_version: config.version,
        compression: config.compression,
        pack_size: config.pack_size,
        chunker: config.chunker,
        keys: repo.list_keys()?.len(),
        snapshots: snapshots.len(),
        index_files,
        packs: index.pack_count(),
        blobs: index.blob_count(),
        stored_bytes,
        object_lock: config.object_lock,
    };
    drop(index);
    emit(ctx.output(), &result)?;
    Ok(exit::OK)
}

#[derive(Serialize)]
struct RecoverResult {
    dry_run: bool,
    #[serde(flatten)]
    recovery: arca_repo::backend::Recovery,
}

impl Render for RecoverResult {
    fn human(&self) -> String {
        let verb = if self.dry_run { "would bring back" } else { "brought back" };
        let mut out = format!("{verb} {} object(s); {} intact", self.recovery.restored.len(), self.recovery.intact);
        for key in &self.recovery.restored {
            out.push_str(&format!("\n  {key}"));
        }
        out
    }
}

fn recover(ctx: &Context, args: &crate::cli::DryRunArgs) -> Result<i32> {
    let backend = arca_repo::open_backend(ctx.repo_url()?, false)?;
    let recovery = backend.recover_versions(args.dry_run)?;
    emit(ctx.output(), &RecoverResult { dry_run: args.dry_run, recovery })?;
    Ok(exit::OK)
}

#[derive(Serialize)]
#[serde(transparent)]
struct Extended(arca_repo::RetentionReport);

impl Render for Extended {
    fn human(&self) -> String {
        let verb = if self.0.dry_run { "would extend" } else { "extended" };
        format!("{verb} the retention of {} object(s) to {}", self.0.objects, self.0.until.to_rfc3339())
    }
}

fn extend_retention(ctx: &Context, args: &crate::cli::DryRunArgs) -> Result<i32> {
    let repo = ctx.open_repo()?;
    let report = arca_repo::extend_retention(&repo, args.dry_run)?;
    emit(ctx.output(), &Extended(report))?;
    Ok(exit::OK)
}

#[derive(Serialize)]
struct UnlockResult {
    removed: usize,
}

impl Render for UnlockResult {
    fn human(&self) -> String {
        format!("removed {} lock(s)", self.removed)
    }
}

fn unlock(ctx: &Context, args: &UnlockArgs) -> Result<i32> {
    let repo = ctx.open_repo()?;
    let removed = repo.unlock(args.all)?;
    emit(ctx.output(), &UnlockResult { removed })?;
    Ok(exit::OK)
}
