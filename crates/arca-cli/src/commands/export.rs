//! `arca export BACKUP --to DIR`: clean YAML per object, to seed a Git repository.

use std::path::PathBuf;

use anyhow::Result;
use arca_kube::export::ExportSummary;
use clap::Args;
use serde::Serialize;

use crate::context::Context;
use crate::exit;
use crate::output::{Render, emit};

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Backup name (or snapshot id)
    pub backup: String,
    /// Directory to write into (created if missing)
    #[arg(long)]
    pub to: PathBuf,
    /// Write Secret values in clear (default: redacted)
    #[arg(long)]
    pub include_secret_values: bool,
}

#[derive(Serialize)]
#[serde(transparent)]
struct Exported(ExportSummary);

impl Render for Exported {
    fn human(&self) -> String {
        format!(
            "wrote {} object(s) to {} ({} skipped as not restorable, {} secret(s) with values redacted)",
            self.0.written, self.0.directory, self.0.skipped, self.0.secrets_redacted
        )
    }
}

pub fn run(ctx: &Context, args: &ExportArgs) -> Result<i32> {
    let repo = ctx.open_repo_with_index()?;
    let summary = arca_kube::export::export(&repo, &args.backup, &args.to, args.include_secret_values)?;
    emit(ctx.output(), &Exported(summary))?;
    Ok(exit::OK)
}
