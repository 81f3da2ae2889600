//! `arca snapshots`: what the repository holds.

use anyhow::Result;
use arca_repo::SnapshotEntry;
use serde::Serialize;

use crate::cli::SnapshotsArgs;
use crate::context::Context;
use crate::exit;
use crate::output::{Render, emit, table};

#[derive(Serialize)]
#[serde(transparent)]
struct SnapshotList(Vec<SnapshotEntry>);

impl Render for SnapshotList {
    fn human(&self) -> String {
        if self.0.is_empty() {
            return "no snapshots".into();
        }
        table(
            &["id", "time", "kind", "host", "tags", "paths"],
            self.0.iter().map(|s| {
                let snap = &s.snapshot;
                vec![
                    s.id.short(),
                    snap.time.format("%Y-%m-%d %H:%M:%S").to_string(),
                    snap.kind.clone(),
                    snap.hostname.clone(),
                    snap.tags.join(","),
                    snap.paths.join(" "),
                ]
            }),
        )
    }
}

pub fn run(ctx: &Context, args: &SnapshotsArgs) -> Result<i32> {
    let repo = ctx.open_repo()?;
    let list = repo
        .list_snapshots()?
        .into_iter()
        .filter(|s| args.kind.as_ref().is_none_or(|k| &s.snapshot.kind == k))
        .filter(|s| args.tag.iter().all(|t| s.snapshot.tags.contains(t)))
        .collect();
    emit(ctx.output(), &SnapshotList(list))?;
    Ok(exit::OK)
}
