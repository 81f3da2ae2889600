//! `arca fs backup|restore`: the file data mover.

use anyhow::{Context as _, Result};
use arca_fs::{BackupOptions, BackupResult, RestoreOptions, RestoreSummary};
use serde::Serialize;

use crate::cli::{FsBackupArgs, FsCommand, FsRestoreArgs};
use crate::context::Context;
use crate::exit;
use crate::output::{Render, bytes, emit};
use crate::progress::Bar;

pub fn run(ctx: &Context, cmd: FsCommand) -> Result<i32> {
    match cmd {
        FsCommand::Backup(args) => backup(ctx, args),
        FsCommand::Restore(args) => restore(ctx, &args),
    }
}

#[derive(Serialize)]
struct BackupOutput {
    #[serde(flatten)]
    result: BackupResult,
    /// Storage requests of the backup (until its result was ready).
    requests: arca_repo::backend::Requests,
}

impl Render for BackupOutput {
    fn human(&self) -> String {
        let r = &self.result;
        let s = &r.summary;
        format!(
            "snapshot {} saved\nfiles: {} new, {} changed, {} unchanged\ndirs:  {} new, {} changed, {} unchanged\nread {} of {}; added {} ({} stored) in {:.1}s{}",
            r.snapshot_id.short(),
            s.files_new,
            s.files_changed,
            s.files_unchanged,
            s.dirs_new,
            s.dirs_changed,
            s.dirs_unchanged,
            bytes(s.bytes_read),
            bytes(s.total_bytes),
            bytes(s.bytes_added_raw),
            bytes(s.bytes_stored),
            s.duration_secs,
            if s.warnings > 0 { format!("\n{} warning(s)", s.warnings) } else { String::new() }
        )
    }
}

fn backup(ctx: &Context, args: FsBackupArgs) -> Result<i32> {
    let repo = ctx.open_repo()?;
    let parent = match &args.parent {
        Some(q) => Some(repo.find_snapshot(q)?.id),
        None => None,
    };
    let opts =
        BackupOptions { paths: args.paths, tags: args.tag, parent, excludes: args.exclude, ..BackupOptions::default() };
    let bar = Bar::new(ctx.show_progress(), "backup");
    let result = arca_fs::backup(&repo, &opts, &bar);
    bar.finish();
    let result = result?;
    let code = if result.summary.warnings > 0 { exit::PARTIAL } else { exit::OK };
    emit(ctx.output(), &BackupOutput { result, requests: ctx.requests() })?;
    Ok(code)
}

#[derive(Serialize)]
struct RestoreOutput {
    snapshot: String,
    target: String,
    #[serde(flatten)]
    summary: RestoreSummary,
}

impl Render for RestoreOutput {
    fn human(&self) -> String {
        let s = &self.summary;
        format!(
            "restored snapshot {} to {}\n{} files, {} dirs, {} symlinks, {} hard links, {} special; {} written, {} left as holes in {:.1}s{}",
            &self.snapshot[..8],
            self.target,
            s.files,
            s.dirs,
            s.symlinks,
            s.hardlinks,
            s.special,
            bytes(s.bytes_written),
            bytes(s.bytes_sparse),
            s.duration_secs,
            if s.warnings > 0 { format!("\n{} warning(s)", s.warnings) } else { String::new() }
        )
    }
}

fn restore(ctx: &Context, args: &FsRestoreArgs) -> Result<i32> {
    let repo = ctx.open_repo()?;
    let snapshot = repo.find_snapshot(&args.snapshot)?;
    let opts = RestoreOptions { include: args.include.clone(), ..RestoreOptions::default() };
    let bar = Bar::new(ctx.show_progress(), "restore");
    let summary = arca_fs::restore(&repo, &snapshot.id, &args.target, &opts, &bar);
    bar.finish();
    let summary =
        summary.with_context(|| format!("restoring snapshot {} to {}", snapshot.id.short(), args.target.display()))?;
    let code = if summary.warnings > 0 { exit::PARTIAL } else { exit::OK };
    emit(
        ctx.output(),
        &RestoreOutput { snapshot: snapshot.id.to_hex(), target: args.target.display().to_string(), summary },
    )?;
    Ok(code)
}
