//! `arca report NAME --html FILE`: one self-contained HTML file (style
//! inline, charts as SVG, no script needed, no link out) describing a
//! backup or a restore, for a ticket or an audit trail. The pages come from
//! `arca-ui`, filled by the same conversions the dashboard uses
//! (`arca_server::ui::report_views`). Names, counts and messages only: no
//! Secret's data is read.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use arca_kube::backup::{self, BackupReport};
use arca_kube::restore::report as restore_report;
use arca_server::ui::report_views;
use arca_ui::PageContext;
use clap::Args;
use serde::Serialize;

use crate::context::Context;
use crate::exit;
use crate::output::{Render, emit};

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// The backup's name (or snapshot id); `backup/NAME` or `restore/NAME` say which kind
    pub name: String,
    /// NAME is a restore (as `restore/NAME`)
    #[arg(long)]
    pub restore: bool,
    /// Write the report as one self-contained HTML file (replaced atomically if it exists)
    #[arg(long, value_name = "FILE")]
    pub html: PathBuf,
}

/// What the report is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Backup,
    Restore,
}

/// `backup/NAME`, `restore/NAME` or a plain NAME (a backup unless `--restore`).
fn target(name: &str, restore: bool) -> Result<(Kind, &str)> {
    let (kind, rest) = match name.split_once('/') {
        Some(("backup", rest)) => (Kind::Backup, rest),
        Some(("restore", rest)) => (Kind::Restore, rest),
        Some((other, _)) => {
            bail!("{name:?}: {other:?} is not a kind of report; write backup/NAME, restore/NAME or just NAME")
        }
        None => (if restore { Kind::Restore } else { Kind::Backup }, name),
    };
    if restore && kind == Kind::Backup {
        bail!("{name:?} names a backup, but --restore was given; drop one of them");
    }
    if rest.is_empty() {
        bail!("{name:?}: no name after the slash");
    }
    Ok((kind, rest))
}

/// What was written, for `-o json`.
#[derive(Serialize)]
struct Written {
    kind: Kind,
    name: String,
    /// The backup's snapshot, or the restore's report snapshot.
    snapshot: String,
    phase: String,
    file: String,
    bytes: u64,
    #[serde(flatten)]
    counts: Counts,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Counts {
    Backup { objects: usize, namespaces: usize, types: usize, volumes: usize, steps: usize, issues: usize },
    Restore { items: usize, restored: u64, skipped: u64, failed: u64, volumes: u64, issues: usize },
}

impl Render for Written {
    fn human(&self) -> String {
        let what = match &self.counts {
            Counts::Backup { objects, namespaces, volumes, issues, .. } => {
                format!("{objects} objects in {namespaces} namespaces, {volumes} volumes, {issues} issues")
            }
            Counts::Restore { items, failed, issues, .. } => {
                format!("{items} objects, {failed} failed, {issues} issues")
            }
        };
        let kind = match self.kind {
            Kind::Backup => "backup",
            Kind::Restore => "restore",
        };
        format!("wrote the report of {kind} {} ({}; {what}) to {}", self.name, self.phase, self.file)
    }
}

pub fn run(ctx: &Context, args: &ReportArgs) -> Result<i32> {
    let (kind, name) = target(&args.name, args.restore)?;
    let repo = ctx.open_repo_with_index()?;
    let page = PageContext { now: chrono::Utc::now(), user: None, base: None };
    let (html, mut written) = match kind {
        Kind::Backup => {
            let entry = backup::find_backup(&repo, name).map_err(|e| other_kind(&repo, kind, name, e))?;
            let report = BackupReport::from_snapshot(&entry)?;
            let mut row = report_views::backup_row(&report, &entry.id.to_hex());
            // The repository, without query options (they may carry keys).
            row.location = ctx.repo_url()?.split('?').next().unwrap_or_default().to_string();
            let catalog = report_views::catalog_view(&repo, &entry.snapshot.tree)
                .with_context(|| format!("reading the catalog of backup {name}"))?;
            let html = arca_ui::report::backup(&page, &row, &catalog).into_string();
            let counts = Counts::Backup {
                objects: catalog.object_count(),
                namespaces: catalog.groups.iter().filter(|g| !g.namespace.is_empty()).count(),
                types: catalog.groups.iter().map(|g| g.types.len()).sum(),
                volumes: row.volumes.len(),
                steps: row.steps.len(),
                issues: row.issues.len(),
            };
            (html, Written::new(kind, row.name, entry.id.to_hex(), row.phase, counts))
        }
        Kind::Restore => {
            let entry = restore_report::find(&repo, name).map_err(|e| other_kind(&repo, kind, name, e))?;
            let (row, items) = report_views::stored_restore(&repo, &entry)
                .with_context(|| format!("reading the report of restore {name}"))?;
            let html = arca_ui::report::restore(&page, &row, &items).into_string();
            let counts = Counts::Restore {
                items: items.len(),
                restored: row.restored,
                skipped: row.skipped,
                failed: row.failed,
                volumes: row.volumes,
                issues: row.issues.len(),
            };
            (html, Written::new(kind, row.name, entry.id.to_hex(), row.phase, counts))
        }
    };
    write_atomically(&args.html, html.as_bytes())?;
    written.file = args.html.display().to_string();
    written.bytes = html.len() as u64;
    emit(ctx.output(), &written)?;
    Ok(exit::OK)
}

/// A name not found as the kind asked for, but found as the other kind:
/// the error says how to ask for that one.
fn other_kind(repo: &arca_repo::Repository, kind: Kind, name: &str, err: arca_kube::Error) -> anyhow::Error {
    let other = match (&err, kind) {
        (arca_kube::Error::BackupNotFound(_), Kind::Backup) if restore_report::find(repo, name).is_ok() => "restore",
        (arca_kube::Error::RestoreNotFound(_), Kind::Restore) if backup::find_backup(repo, name).is_ok() => "backup",
        _ => return err.into(),
    };
    anyhow::anyhow!("{err}; there is a {other} named {name:?}: `arca report {other}/{name} --html FILE`")
}

impl Written {
    fn new(kind: Kind, name: String, snapshot: String, phase: String, counts: Counts) -> Written {
        Written { kind, name, snapshot, phase, file: String::new(), bytes: 0, counts }
    }
}

/// Writes `data` to a temporary file beside `path`, syncs it and renames it
/// over `path`: a reader sees the old file or the whole new one, never a
/// part.
fn write_atomically(path: &Path, data: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let file_name = path.file_name().with_context(|| format!("{}: not a file name", path.display()))?;
    let tmp = dir.join(format!(".{}.{}.tmp", file_name.to_string_lossy(), std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("writing the report to {}", path.display()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_say_which_kind() {
        assert_eq!(target("nightly", false).unwrap(), (Kind::Backup, "nightly"));
        assert_eq!(target("nightly", true).unwrap(), (Kind::Restore, "nightly"));
        assert_eq!(target("backup/nightly", false).unwrap(), (Kind::Backup, "nightly"));
        assert_eq!(target("restore/r1", false).unwrap(), (Kind::Restore, "r1"));
        assert_eq!(target("restore/r1", true).unwrap(), (Kind::Restore, "r1"));
        assert!(target("backup/nightly", true).unwrap_err().to_string().contains("--restore"));
        assert!(target("schedule/x", false).unwrap_err().to_string().contains("backup/NAME"));
        assert!(target("backup/", false).is_err());
    }

    #[test]
    fn writes_replace_the_file_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.html");
        write_atomically(&path, b"old").unwrap();
        write_atomically(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, [std::ffi::OsString::from("r.html")], "no temporary file is left");
        let missing = write_atomically(&dir.path().join("no/such/dir/r.html"), b"x").unwrap_err();
        assert!(format!("{missing:#}").contains("no/such/dir/r.html"), "{missing:#}");
    }
}
