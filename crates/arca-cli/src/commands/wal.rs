//! `arca wal …`: PostgreSQL's WAL archive in the repository
//! (`archive_command`, `restore_command`), base backups, retention and
//! point-in-time recovery into a local directory.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, anyhow};
use arca_apps::wal::{WalError, archive, base_backup, cluster, names, recovery, retention};
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use serde::Serialize;

use crate::context::Context;
use crate::exit;
use crate::output::{Render, bytes, emit, table};

/// `restore_command` exit code for a failure that is not "no such file":
/// above 125, PostgreSQL stops the recovery instead of taking a broken
/// repository for the end of the archive.
const FETCH_FATAL: i32 = 126;

#[derive(Subcommand, Debug)]
pub enum WalCommand {
    /// Archive one WAL file (PostgreSQL's `archive_command = 'arca wal push %p'`)
    Push {
        /// The file to archive (`%p`)
        path: PathBuf,
        #[command(flatten)]
        area: AreaArgs,
    },
    /// Write an archived WAL file (`restore_command = 'arca wal fetch %f %p'`); exit 1 when it is not archived
    Fetch {
        /// The file's name (`%f`)
        name: String,
        /// Where to write it (`%p`)
        dest: PathBuf,
        #[command(flatten)]
        area: AreaArgs,
    },
    /// Show the archive: timelines, ranges of segments, base backups
    List {
        /// Only this cluster area
        #[arg(long, env = "ARCA_WAL_CLUSTER")]
        cluster: Option<String>,
    },
    /// Remove archived WAL that no kept base backup needs and that is older than --keep-within
    Forget(ForgetArgs),
    /// Run pg_basebackup on this machine and store its tar stream
    BaseBackup(BaseBackupArgs),
    /// Recover a data directory to a point in time: base backup unpacked, WAL replayed at start
    Restore(RestoreArgs),
}

/// Which cluster's archive area.
#[derive(Args, Debug, Clone)]
pub struct AreaArgs {
    /// The cluster area (default: the system identifier in PGDATA's `global/pg_control`)
    #[arg(long, env = "ARCA_WAL_CLUSTER")]
    pub cluster: Option<String>,
    /// The data directory to read the system identifier from (default: the current directory)
    #[arg(long, env = "PGDATA")]
    pub pgdata: Option<PathBuf>,
}

impl AreaArgs {
    fn resolve(&self) -> Result<String> {
        let dir = self.pgdata.clone().unwrap_or_else(|| PathBuf::from("."));
        Ok(cluster::resolve(self.cluster.as_deref(), &dir)?)
    }
}

#[derive(Args, Debug)]
pub struct ForgetArgs {
    /// Keep everything archived within this long before now (e.g. `7d`)
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub keep_within: std::time::Duration,
    #[command(flatten)]
    pub area: AreaArgs,
    /// Say what would go, remove nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Args, Debug)]
pub struct BaseBackupArgs {
    #[command(flatten)]
    pub area: AreaArgs,
    /// The backup label PostgreSQL records
    #[arg(long, default_value = "arca")]
    pub label: String,
    /// The pg_basebackup program
    #[arg(long, default_value = "pg_basebackup")]
    pub pg_basebackup: String,
    /// More pg_basebackup arguments after `--` (connection: `-h HOST -p PORT -U USER`, or libpq's PG* environment)
    #[arg(last = true)]
    pub extra: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// Recover to this time (RFC 3339, e.g. 2026-05-01T10:15:00Z)
    #[arg(long, value_parser = parse_time, value_name = "TIME")]
    pub to_time: DateTime<Utc>,
    /// The empty directory to become the data directory
    #[arg(long)]
    pub target_dir: PathBuf,
    /// The cluster area (default: the only one in the repository)
    #[arg(long, env = "ARCA_WAL_CLUSTER")]
    pub cluster: Option<String>,
    /// The restore_command to write (default: this arca with --repo, --password-file and --cluster)
    #[arg(long)]
    pub restore_command: Option<String>,
}

pub fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("{s:?} is not an RFC 3339 time such as 2026-05-01T10:15:00Z: {e}"))
}

pub fn run(ctx: &Context, cmd: WalCommand) -> Result<i32> {
    match cmd {
        WalCommand::Push { path, area } => push(ctx, &path, &area),
        WalCommand::Fetch { name, dest, area } => Ok(fetch(ctx, &name, &dest, &area)),
        WalCommand::List { cluster } => list(ctx, cluster.as_deref()),
        WalCommand::Forget(args) => forget(ctx, &args),
        WalCommand::BaseBackup(args) => take_base_backup(ctx, &args),
        WalCommand::Restore(args) => restore(ctx, &args),
    }
}

fn push(ctx: &Context, path: &Path, area: &AreaArgs) -> Result<i32> {
    let cluster = area.resolve()?;
    let repo = ctx.open_repo()?;
    let pushed = archive::push(&repo, &cluster, path).with_context(|| format!("archiving {}", path.display()))?;
    if !ctx.global.quiet {
        match pushed {
            archive::Pushed::Stored { size } => eprintln!("archived {} ({})", path.display(), bytes(size)),
            archive::Pushed::AlreadyArchived { .. } => {
                eprintln!("{} was archived already with identical content", path.display())
            }
        }
    }
    Ok(exit::OK)
}

/// Exit 0 with the file written, 1 when the archive does not have it (how
/// PostgreSQL learns the archive ends), FETCH_FATAL for anything else.
fn fetch(ctx: &Context, name: &str, dest: &Path, area: &AreaArgs) -> i32 {
    let result = area.resolve().and_then(|cluster| {
        let repo = ctx.open_repo()?;
        Ok(archive::fetch(&repo, &cluster, name, dest)?)
    });
    match result {
        Ok(_) => exit::OK,
        Err(e) if matches!(e.downcast_ref::<WalError>(), Some(WalError::NotArchived { .. })) => {
            if !ctx.global.quiet {
                eprintln!("{}", exit::render(&e));
            }
            exit::FAILURE
        }
        Err(e) => {
            eprintln!("error: fetching {name}: {}", exit::render(&e));
            FETCH_FATAL
        }
    }
}

#[derive(Serialize)]
struct ClusterListing {
    cluster: String,
    files: usize,
    history: Vec<String>,
    runs: Vec<RunOut>,
    base_backups: Vec<base_backup::BaseBackupRecord>,
}

#[derive(Serialize)]
struct RunOut {
    timeline: u32,
    first: String,
    last: String,
    segments: u64,
}

#[derive(Serialize)]
#[serde(transparent)]
struct Listing(Vec<ClusterListing>);

impl Render for Listing {
    fn human(&self) -> String {
        if self.0.is_empty() {
            return "the WAL archive is empty".into();
        }
        let mut out = String::new();
        for c in &self.0 {
            out.push_str(&format!("cluster {}: {} files, history {}\n", c.cluster, c.files, display_list(&c.history)));
            out.push_str(&table(
                &["timeline", "first segment", "last segment", "segments"],
                c.runs
                    .iter()
                    .map(|r| vec![r.timeline.to_string(), r.first.clone(), r.last.clone(), r.segments.to_string()]),
            ));
            out.push('\n');
            if c.base_backups.is_empty() {
                out.push_str("no base backups\n");
            } else {
                out.push_str(&table(
                    &["base backup", "ended", "start segment", "start lsn", "stop lsn", "size"],
                    c.base_backups.iter().map(|b| {
                        vec![
                            b.snapshot.as_deref().and_then(|s| s.get(..8)).unwrap_or("?").to_string(),
                            recovery::rfc3339(b.stop_time),
                            b.start_segment.clone(),
                            b.start_lsn.clone(),
                            b.stop_lsn.clone(),
                            bytes(b.size),
                        ]
                    }),
                ));
                out.push('\n');
            }
        }
        out
    }
}

fn display_list(items: &[String]) -> String {
    if items.is_empty() { "none".into() } else { items.join(", ") }
}

fn list(ctx: &Context, only: Option<&str>) -> Result<i32> {
    let repo = ctx.open_repo()?;
    let all = repo.list_wal()?;
    let backups = base_backup::list(&repo, only)?;
    let mut clusters: Vec<String> = all.iter().map(|n| n.cluster.clone()).collect();
    clusters.extend(backups.iter().map(|(_, r)| r.cluster.clone()));
    clusters.sort();
    clusters.dedup();
    let listing = clusters
        .into_iter()
        .filter(|c| only.is_none_or(|o| o == c))
        .map(|c| {
            let files: Vec<&str> = all.iter().filter(|n| n.cluster == c).map(|n| n.name.as_str()).collect();
            let history = files
                .iter()
                .filter(|n| matches!(names::WalFile::parse(n), Some(names::WalFile::History { .. })))
                .map(|n| n.to_string())
                .collect();
            let runs = names::segment_runs(files.iter().copied(), names::DEFAULT_SEGMENT_SIZE)
                .into_iter()
                .map(|r| RunOut { timeline: r.timeline, first: r.first, last: r.last, segments: r.count })
                .collect();
            let base_backups = backups.iter().filter(|(_, r)| r.cluster == c).map(|(_, r)| r.clone()).collect();
            ClusterListing { files: files.len(), cluster: c, history, runs, base_backups }
        })
        .collect();
    emit(ctx.output(), &Listing(listing))?;
    Ok(exit::OK)
}

#[derive(Serialize)]
struct ForgetOut(retention::ForgetOutcome);

impl Render for ForgetOut {
    fn human(&self) -> String {
        let o = &self.0;
        let verb = if o.dry_run { "would remove" } else { "removed" };
        match &o.oldest_base_backup_start {
            None => format!("cluster {}: no base backup, so every archived file is kept ({})", o.cluster, o.kept),
            Some(start) => format!(
                "cluster {}: {verb} {} files before {start} (the oldest base backup's start), kept {}; \
                 `arca repo prune` frees their space",
                o.cluster,
                o.removed.len(),
                o.kept
            ),
        }
    }
}

fn forget(ctx: &Context, args: &ForgetArgs) -> Result<i32> {
    let cluster = args.area.resolve()?;
    let within = chrono::Duration::from_std(args.keep_within).map_err(|_| anyhow!("--keep-within is too long"))?;
    let repo = ctx.open_repo()?;
    let outcome = retention::forget(&repo, &cluster, Utc::now() - within, args.dry_run)?;
    emit(ctx.output(), &ForgetOut(outcome))?;
    Ok(exit::OK)
}

#[derive(Serialize)]
struct BaseBackupOut(base_backup::BaseBackupRecord);

impl Render for BaseBackupOut {
    fn human(&self) -> String {
        let b = &self.0;
        format!(
            "base backup {} of cluster {} stored ({}): WAL {} to {} on timeline {}, ended {}",
            b.snapshot.as_deref().and_then(|s| s.get(..8)).unwrap_or("?"),
            b.cluster,
            bytes(b.size),
            b.start_lsn,
            b.stop_lsn,
            b.timeline,
            recovery::rfc3339(b.stop_time)
        )
    }
}

fn take_base_backup(ctx: &Context, args: &BaseBackupArgs) -> Result<i32> {
    let cluster = args.area.resolve()?;
    let repo = ctx.open_repo()?;
    let (_, record) = base_backup::run_local(&repo, &cluster, &args.pg_basebackup, &args.label, &args.extra)?;
    emit(ctx.output(), &BaseBackupOut(record))?;
    Ok(exit::OK)
}

#[derive(Serialize)]
struct RestoreOut {
    cluster: String,
    base_backup: String,
    to_time: String,
    target_dir: String,
    bytes: u64,
    restore_command: String,
}

impl Render for RestoreOut {
    fn human(&self) -> String {
        format!(
            "{} prepared from base backup {} ({}) to recover cluster {} to {}: start PostgreSQL on it \
             to replay the archived WAL (restore_command = '{}')",
            self.target_dir,
            self.base_backup.get(..8).unwrap_or(&self.base_backup),
            bytes(self.bytes),
            self.cluster,
            self.to_time,
            self.restore_command
        )
    }
}

fn restore(ctx: &Context, args: &RestoreArgs) -> Result<i32> {
    let repo = ctx.open_repo()?;
    let cluster = match &args.cluster {
        Some(c) => c.clone(),
        None => only_cluster(&repo)?,
    };
    let out = restore_to_dir(ctx, &repo, &cluster, args.to_time, &args.target_dir, args.restore_command.clone())?;
    emit(ctx.output(), &out)?;
    Ok(exit::OK)
}

fn only_cluster(repo: &arca_repo::Repository) -> Result<String> {
    let mut clusters: Vec<String> = repo.list_wal()?.into_iter().map(|n| n.cluster).collect();
    clusters.dedup();
    match clusters.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(anyhow!("the WAL archive is empty: nothing to recover from")),
        many => Err(anyhow!("the archive holds several clusters ({}); pass --cluster", many.join(", "))),
    }
}

fn restore_to_dir(
    ctx: &Context,
    repo: &arca_repo::Repository,
    cluster: &str,
    to_time: DateTime<Utc>,
    dir: &Path,
    restore_command: Option<String>,
) -> Result<RestoreOut> {
    let backups: Vec<_> = base_backup::list(repo, Some(cluster))?.into_iter().map(|(_, r)| r).collect();
    let base = recovery::choose_base_backup(&backups, to_time, cluster)?;
    let newest = recovery::newest_segment(repo, cluster)?;
    recovery::check_target(base, to_time, newest.as_ref().map(|(n, t)| (n.as_str(), *t)))?;
    let snapshot = base.snapshot.clone().ok_or_else(|| anyhow!("base backup record names no snapshot"))?;
    let restore_command = match restore_command {
        Some(c) => c,
        None => default_restore_command(ctx, cluster)?,
    };
    let entry = repo.find_snapshot(&snapshot)?;
    let (reader, writer) = arca_apps::wal::pipe::pipe(8);
    let streamer = {
        let repo = repo.clone();
        std::thread::spawn(move || arca_fs::restore_stream(&repo, &entry.id, writer))
    };
    let unpacked = recovery::prepare_data_dir(reader, dir, &restore_command, to_time);
    let streamed = streamer.join().map_err(|_| anyhow!("the base backup reader stopped unexpectedly"))?;
    streamed.with_context(|| format!("reading base backup {snapshot}"))?;
    let bytes = unpacked?;
    Ok(RestoreOut {
        cluster: cluster.to_string(),
        base_backup: snapshot,
        to_time: recovery::rfc3339(to_time),
        target_dir: dir.display().to_string(),
        bytes,
        restore_command,
    })
}

/// This arca, with the repository and password file it was given (never a
/// password itself), fetching from `cluster`.
fn default_restore_command(ctx: &Context, cluster: &str) -> Result<String> {
    let exe = std::env::current_exe().context("finding the arca binary for restore_command")?;
    let mut cmd = vec![shell_quote(&exe.display().to_string())];
    if let Some(repo) = &ctx.global.repo {
        cmd.push(format!("--repo {}", shell_quote(repo)));
    }
    if let Some(file) = &ctx.global.password_file {
        cmd.push(format!("--password-file {}", shell_quote(&file.display().to_string())));
    }
    cmd.push(format!("wal fetch --cluster {} %f %p", shell_quote(cluster)));
    Ok(cmd.join(" "))
}

fn shell_quote(s: &str) -> String {
    if s.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._-:=@".contains(&b)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}
