//! The blueprint options of `arca backup create`: application dumps run
//! before the volume data (`arca_apps::phases::backup_chain`), and the dump lines of
//! `arca backup describe`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow};
use arca_apps::blueprint::record::DumpState;
use arca_apps::blueprint::{BackupSettings, Bindings, DumpRecord};
use clap::Args;
use serde_json::Value;

use super::blueprint::LibraryArgs;
use crate::output::bytes;

#[derive(Args, Debug, Clone)]
pub struct BlueprintArgs {
    #[command(flatten)]
    pub library: LibraryArgs,
    /// A bindings file (YAML `bindings: [{blueprint, namespaces, kinds, names, labels, secret}]`) binding
    /// objects to blueprints besides the `blueprints.arca.io/name` annotation
    #[arg(long, value_name = "FILE")]
    pub blueprint_bindings: Option<PathBuf>,
    /// Time one dump stream may take (backup), or a restored application may take to be Ready and one
    /// stream to be restored (restore)
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1h", value_name = "DURATION")]
    pub dump_timeout: Duration,
}

impl BlueprintArgs {
    pub fn bindings(&self) -> Result<Bindings> {
        match &self.blueprint_bindings {
            None => Ok(Bindings::default()),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading the blueprint bindings file {}", path.display()))?;
                Bindings::parse(&text, &path.display().to_string()).map_err(|e| anyhow!(e))
            }
        }
    }

    /// The dump settings of the blueprint phase.
    pub fn settings(&self) -> Result<BackupSettings> {
        Ok(BackupSettings { library: self.library.library()?, bindings: self.bindings()?, timeout: self.dump_timeout })
    }
}

/// Summary lines of a backup report's dumps.
pub fn dump_lines(dumps: &[Value]) -> Vec<String> {
    DumpRecord::from_report(dumps)
        .into_iter()
        .map(|r| match r {
            Ok(d) if d.state == DumpState::Completed => format!(
                "  dump {} of {} ({}): {} read, {} stored, {:.1}s, snapshot {}",
                d.stream,
                d.object,
                d.blueprint,
                bytes(d.bytes),
                bytes(d.stored_bytes),
                d.duration_secs,
                d.snapshot.as_deref().map(|s| &s[..8.min(s.len())]).unwrap_or("-")
            ),
            Ok(d) => format!(
                "  dump {} of {} ({}): Failed: {}",
                d.stream,
                d.object,
                d.blueprint,
                d.reason.as_deref().unwrap_or_default()
            ),
            Err(why) => format!("  {why}"),
        })
        .collect()
}
