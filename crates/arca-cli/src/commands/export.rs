//! `arca export BACKUP --to DIR`: clean YAML per object, to seed a Git repository.

use std::path::PathBuf;

use anyhow::Result;
use arca_kube::export::sops::{RECIPIENTS_ENV, Recipients};
use arca_kube::export::{ExportSummary, SecretValues};
use clap::{Args, ValueEnum};
use serde::Serialize;

use crate::context::Context;
use crate::exit;
use crate::output::{Render, emit};

/// What a Secret's values become in the export.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretsMode {
    /// Each value replaced by a placeholder, keys kept; the Secret annotated
    Redact,
    /// Values as stored, in clear (a warning says so)
    Include,
    /// Each Secret file encrypted in the SOPS format for age recipients (`sops -d` decrypts it)
    SopsAge,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Backup name (or snapshot id)
    pub backup: String,
    /// Directory to write into (created if missing)
    #[arg(long)]
    pub to: PathBuf,
    /// What Secret values become: redacted, included in clear, or SOPS-encrypted for age recipients
    #[arg(long, value_enum, default_value = "redact", conflicts_with = "include_secret_values")]
    pub secrets: SecretsMode,
    /// An age public key (age1…) to encrypt Secrets for with `--secrets sops-age`; repeatable, or comma-separated in the env variable, as sops reads it
    #[arg(long = "age-recipient", value_name = "AGE1…", env = RECIPIENTS_ENV, value_delimiter = ',')]
    pub age_recipients: Vec<String>,
    /// Same as `--secrets include` (older spelling)
    #[arg(long, hide = true)]
    pub include_secret_values: bool,
}

#[derive(Serialize)]
#[serde(transparent)]
struct Exported(ExportSummary);

impl Render for Exported {
    fn human(&self) -> String {
        let s = &self.0;
        let secrets = match s.secrets.as_str() {
            "include" => format!("{} secret(s) with values in clear", s.secrets_in_clear),
            "sops-age" => format!(
                "{} secret(s) SOPS-encrypted for {} age recipient(s)",
                s.secrets_encrypted,
                s.age_recipients.len()
            ),
            _ => format!("{} secret(s) with values redacted", s.secrets_redacted),
        };
        format!("wrote {} object(s) to {} ({} skipped as not restorable, {secrets})", s.written, s.directory, s.skipped)
    }
}

fn secret_values(args: &ExportArgs) -> Result<SecretValues> {
    let mode = if args.include_secret_values { SecretsMode::Include } else { args.secrets };
    Ok(match mode {
        SecretsMode::Redact => SecretValues::Redact,
        SecretsMode::Include => SecretValues::Include,
        SecretsMode::SopsAge => SecretValues::SopsAge(Recipients::parse(&args.age_recipients)?),
    })
}

pub fn run(ctx: &Context, args: &ExportArgs) -> Result<i32> {
    // Recipients are checked before the repository is opened.
    let secrets = secret_values(args)?;
    let repo = ctx.open_repo_with_index()?;
    let summary = arca_kube::export::export(&repo, &args.backup, &args.to, &secrets)?;
    if summary.secrets_in_clear > 0 {
        eprintln!(
            "warning: {} now holds {} Secret(s) with their values in clear: keep it out of Git and shared places \
             (--secrets sops-age --age-recipient age1… encrypts them instead)",
            summary.directory, summary.secrets_in_clear
        );
    }
    emit(ctx.output(), &Exported(summary))?;
    Ok(exit::OK)
}
