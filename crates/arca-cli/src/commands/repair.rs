//! `arca repo repair index|snapshots`: getting a damaged repository back
//! to a state `arca repo check` passes.

use anyhow::Result;
use arca_repo::{RepairIndexReport, RepairSnapshotsReport};
use serde::Serialize;

use crate::cli::{DryRunArgs, RepairCommand, RepairSnapshotsArgs};
use crate::context::Context;
use crate::exit;
use crate::output::{Render, emit};

/// Objects named one per line before the list is cut short.
const NAMED: usize = 20;

pub fn run(ctx: &Context, cmd: RepairCommand) -> Result<i32> {
    match cmd {
        RepairCommand::Index(args) => index(ctx, &args),
        RepairCommand::Snapshots(args) => snapshots(ctx, &args),
    }
}

#[derive(Serialize)]
#[serde(transparent)]
struct IndexOutput(RepairIndexReport);

impl Render for IndexOutput {
    fn human(&self) -> String {
        let r = &self.0;
        let mut out = Vec::new();
        if r.dry_run {
            out.push("dry run, nothing changed".to_string());
        }
        out.push(format!(
            "read the headers of {} pack(s): {} blob(s) indexed, {} pack(s) that no index file listed",
            r.packs_read, r.blobs_indexed, r.packs_added
        ));
        for d in &r.damaged_index_files {
            out.push(format!("damaged index file {}: {} (replaced)", d.object, d.problem));
        }
        for p in &r.unreadable_packs {
            let kept = if p.blobs_kept > 0 {
                format!("its {} blob(s) listed by the old index stay indexed", p.blobs_kept)
            } else {
                "its blobs are not indexed".to_string()
            };
            out.push(format!("unreadable pack {}: {} (kept, not deleted; {kept})", p.pack, p.problem));
        }
        for p in r.packs_missing.iter().take(NAMED) {
            out.push(format!("missing pack {p}: listed by the old index, not in storage (dropped from the index)"));
        }
        if r.packs_missing.len() > NAMED {
            out.push(format!("… and {} more missing pack(s)", r.packs_missing.len() - NAMED));
        }
        if r.up_to_date && r.index_files_written == 0 && r.index_files_removed == 0 && r.index_files_kept.is_empty() {
            out.push("the index already matches the packs: nothing to write".to_string());
        } else {
            out.push(if r.dry_run {
                format!("index files: would write {}, remove {}", r.index_files_written, r.index_files_removed)
            } else {
                format!("index files: {} written, {} removed", r.index_files_written, r.index_files_removed)
            });
        }
        if !r.index_files_kept.is_empty() {
            out.push(format!(
                "object lock: the {} old index file(s) remain (superseded by the new index, so readers ignore them)",
                r.index_files_kept.len()
            ));
        }
        if !r.unreadable_packs.is_empty() {
            out.push(
                "next: `arca repo check --read-data` tells which snapshots the unreadable packs affect; \
                 `arca repo repair snapshots` lists the ones that can't be restored"
                    .to_string(),
            );
        }
        out.join("\n")
    }
}

fn index(ctx: &Context, args: &DryRunArgs) -> Result<i32> {
    let repo = ctx.open_repo_uncached()?;
    let report = arca_repo::repair_index(&repo, args.dry_run)?;
    let code = if report.unreadable_packs.is_empty() { exit::OK } else { exit::PARTIAL };
    emit(ctx.output(), &IndexOutput(report))?;
    Ok(code)
}

#[derive(Serialize)]
#[serde(transparent)]
struct SnapshotsOutput(RepairSnapshotsReport);

impl Render for SnapshotsOutput {
    fn human(&self) -> String {
        let r = &self.0;
        let mut out = vec![format!(
            "checked {} snapshot(s), {} tree(s): {} unreadable",
            r.snapshots_checked,
            r.trees_checked,
            r.unreadable.len()
        )];
        for u in &r.unreadable {
            let held = match &u.snapshot {
                Some(s) => arca_repo::repair::describe(s),
                None => "what it held is unknown (its document is unreadable)".to_string(),
            };
            out.push(format!("  {}  {held}\n      {}", u.id.short(), u.problem));
        }
        if !r.removed.is_empty() {
            out.push(format!(
                "forgot {} snapshot(s) (a forget record names them); `arca repo prune` frees their data",
                r.removed.len()
            ));
        } else if !r.unreadable.is_empty() {
            out.push(
                "nothing changed; `arca repo repair snapshots --forget` forgets them (after `arca repo repair index` \
                 if the index is damaged)"
                    .to_string(),
            );
        }
        out.join("\n")
    }
}

fn snapshots(ctx: &Context, args: &RepairSnapshotsArgs) -> Result<i32> {
    let repo = ctx.open_repo_uncached()?;
    let report = arca_repo::repair_snapshots(&repo, args.forget)?;
    let code = if report.unreadable.is_empty() || !report.removed.is_empty() { exit::OK } else { exit::PARTIAL };
    emit(ctx.output(), &SnapshotsOutput(report))?;
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_report_names_damage_and_says_what_stays() {
        let report = RepairIndexReport {
            packs_read: 3,
            blobs_indexed: 9,
            unreadable_packs: vec![arca_repo::repair::UnreadablePack {
                pack: "data/ab/abcd".into(),
                problem: "authentication failed".into(),
                blobs_kept: 0,
            }],
            index_files_written: 1,
            index_files_kept: vec!["index/1".into(), "index/2".into()],
            ..RepairIndexReport::default()
        };
        let text = IndexOutput(report).human();
        assert!(text.contains("unreadable pack data/ab/abcd: authentication failed (kept, not deleted"), "{text}");
        assert!(text.contains("index files: 1 written, 0 removed"), "{text}");
        assert!(text.contains("the 2 old index file(s) remain"), "{text}");
    }

    #[test]
    fn up_to_date_index_says_so() {
        let report = RepairIndexReport { up_to_date: true, dry_run: true, ..RepairIndexReport::default() };
        let text = IndexOutput(report).human();
        assert!(text.starts_with("dry run, nothing changed"), "{text}");
        assert!(text.contains("nothing to write"), "{text}");
    }
}
