//! `arca repo check|prune|forget`: verification and space reclamation.

use anyhow::{Result, bail};
use arca_repo::check::CheckProgress;
use arca_repo::{CheckOptions, CheckReport, ForgetReport, PruneOptions, PruneReport, RetentionPolicy};
use serde::Serialize;

use crate::cli::{CheckArgs, ForgetArgs, PruneArgs};
use crate::context::Context;
use crate::exit;
use crate::output::{Render, bytes, emit, table};

struct CheckOutput(CheckReport);

impl Serialize for CheckOutput {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl Render for CheckOutput {
    fn human(&self) -> String {
        let r = &self.0;
        let c = &r.counts;
        let mut out = format!(
            "checked {} snapshots, {} trees, {} index files, {} packs, {} blobs{}\n",
            c.snapshots,
            c.trees,
            c.index_files,
            c.packs,
            c.blobs,
            if r.read_data { format!(" ({} read)", bytes(c.bytes_read)) } else { String::new() }
        );
        for info in &r.infos {
            out.push_str(&format!("info: {}: {}\n", info.object, info.message));
        }
        for e in &r.errors {
            let affected: Vec<String> = e.affected_snapshots.iter().map(|s| s.short()).collect();
            let affected = if affected.is_empty() {
                String::new()
            } else {
                format!(" (affects snapshots {})", affected.join(", "))
            };
            out.push_str(&format!("error: {}: {}{affected}\n", e.object, e.problem));
        }
        if r.is_ok() {
            out.push_str("no errors found");
        } else {
            out.push_str(&format!("{} error(s) found", r.errors.len()));
        }
        out
    }
}

pub fn check(ctx: &Context, args: &CheckArgs) -> Result<i32> {
    let repo = ctx.open_repo_uncached()?;
    let bar = ctx.show_progress().then(|| indicatif::ProgressBar::new(0));
    let on_progress = |p: CheckProgress| {
        if let Some(bar) = &bar {
            bar.set_length(p.total);
            bar.set_position(p.done);
            bar.set_message(format!("{:?}", p.phase));
        }
    };
    let report = arca_repo::check(&repo, &CheckOptions { read_data: args.read_data }, Some(&on_progress));
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let report = report?;
    let code = if report.is_ok() { exit::OK } else { exit::PARTIAL };
    emit(ctx.output(), &CheckOutput(report))?;
    Ok(code)
}

struct PruneOutput(PruneReport);

impl Serialize for PruneOutput {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl Render for PruneOutput {
    fn human(&self) -> String {
        let r = &self.0;
        format!(
            "{}packs: {} kept, {} repacked, {} deleted, {} unreferenced removed\nsize: {} before, {} after, {} freed",
            if r.dry_run { "dry run, nothing changed\n" } else { "" },
            r.kept.packs,
            r.repacked.packs,
            r.deleted.packs,
            r.unreferenced.packs,
            bytes(r.bytes_before),
            bytes(r.bytes_after),
            bytes(r.bytes_freed)
        )
    }
}

pub fn prune(ctx: &Context, args: &PruneArgs) -> Result<i32> {
    if !(0.0..=100.0).contains(&args.max_unused) {
        bail!("--max-unused must be a percentage between 0 and 100, got {}", args.max_unused);
    }
    let repo = ctx.open_repo()?;
    let report = arca_repo::prune(&repo, &PruneOptions { dry_run: args.dry_run, max_unused_percent: args.max_unused })?;
    emit(ctx.output(), &PruneOutput(report))?;
    Ok(exit::OK)
}

#[derive(Serialize)]
struct ForgetOutput {
    forget: ForgetReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    prune: Option<PruneReport>,
}

impl Render for ForgetOutput {
    fn human(&self) -> String {
        let f = &self.forget;
        let rows = f.decisions.iter().map(|d| {
            vec![
                d.id.short(),
                d.time.format("%Y-%m-%d %H:%M:%S").to_string(),
                if d.keep { "keep".into() } else { "remove".into() },
                d.reasons.join(", "),
            ]
        });
        let mut out = table(&["id", "time", "action", "reasons"], rows);
        out.push_str(&format!(
            "\n{} kept, {} {}",
            f.kept.len(),
            f.removed.len(),
            if f.dry_run { "would be removed (dry run)" } else { "removed" }
        ));
        if let Some(p) = &self.prune {
            out.push('\n');
            out.push_str(&PruneOutput(p.clone()).human());
        }
        out
    }
}

pub fn forget(ctx: &Context, args: &ForgetArgs) -> Result<i32> {
    let policy = RetentionPolicy {
        keep_last: args.keep.keep_last,
        keep_hourly: args.keep.keep_hourly,
        keep_daily: args.keep.keep_daily,
        keep_weekly: args.keep.keep_weekly,
        keep_monthly: args.keep.keep_monthly,
        keep_yearly: args.keep.keep_yearly,
        keep_within: args.keep_within,
        keep_tags: args.keep_tag.clone(),
    };
    let repo = ctx.open_repo()?;
    let report = match (args.snapshots.is_empty(), policy.is_empty()) {
        (false, true) => {
            let ids = args.snapshots.iter().map(|q| Ok(repo.find_snapshot(q)?.id)).collect::<Result<Vec<_>>>()?;
            arca_repo::forget_snapshots(&repo, &ids, args.dry_run)?
        }
        (true, false) => arca_repo::forget(&repo, &policy, args.dry_run)?,
        (false, false) => bail!("give snapshot ids or a retention policy (--keep-…), not both"),
        (true, true) => bail!("nothing to forget: give snapshot ids or a retention policy such as --keep-last 7"),
    };
    let prune =
        if args.prune && !args.dry_run { Some(arca_repo::prune(&repo, &PruneOptions::default())?) } else { None };
    emit(ctx.output(), &ForgetOutput { forget: report, prune })?;
    Ok(exit::OK)
}
