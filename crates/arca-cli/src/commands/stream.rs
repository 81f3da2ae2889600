//! `arca stream backup|restore`: byte streams such as database dumps.

use std::io::Write;

use anyhow::{Context as _, Result};
use arca_fs::StreamSummary;
use serde::Serialize;

use crate::cli::StreamCommand;
use crate::context::Context;
use crate::exit;
use crate::output::{Render, bytes, emit};

#[derive(Serialize)]
struct StreamOutput {
    id: String,
    name: String,
    #[serde(flatten)]
    summary: StreamSummary,
}

impl Render for StreamOutput {
    fn human(&self) -> String {
        format!(
            "snapshot {} saved: stream {} of {}, added {} ({} stored)",
            &self.id[..8],
            self.name,
            bytes(self.summary.size),
            bytes(self.summary.bytes_added_raw),
            bytes(self.summary.bytes_stored)
        )
    }
}

pub fn run(ctx: &Context, cmd: StreamCommand) -> Result<i32> {
    match cmd {
        StreamCommand::Backup { name, tag } => {
            let repo = ctx.open_repo()?;
            let stdin = std::io::stdin().lock();
            let (id, summary) = arca_fs::backup_stream(&repo, &name, stdin, &tag)?;
            emit(ctx.output(), &StreamOutput { id: id.to_hex(), name, summary })?;
        }
        StreamCommand::Restore { snapshot } => {
            let repo = ctx.open_repo()?;
            let snap = repo.find_snapshot(&snapshot)?;
            let mut stdout = std::io::stdout().lock();
            arca_fs::restore_stream(&repo, &snap.id, &mut stdout)
                .with_context(|| format!("restoring stream snapshot {}", snap.id.short()))?;
            stdout.flush().context("writing to stdout")?;
        }
    }
    Ok(exit::OK)
}
