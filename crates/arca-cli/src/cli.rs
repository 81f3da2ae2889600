//! Command-line grammar. Global options follow kubectl/velero habits.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(name = "arca", version, about = "Kubernetes-native backup and disaster recovery", propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOpts,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Global options")]
pub struct GlobalOpts {
    /// Repository URL: /path, file:///path, s3://bucket/prefix, gs://bucket/prefix, az://container/prefix
    #[arg(long, short = 'r', env = "ARCA_REPO", global = true)]
    pub repo: Option<String>,
    /// Read the repository password from this file (else ARCA_PASSWORD, else a prompt)
    #[arg(long, env = "ARCA_PASSWORD_FILE", global = true)]
    pub password_file: Option<PathBuf>,
    /// Output format
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Table, global = true)]
    pub output: OutputFormat,
    /// More log output (-v info and request counts, -vv debug, -vvv every storage request)
    #[arg(long, short = 'v', action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// No progress bars
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,
    /// Never delete or overwrite anything in the repository but lock files (forget, prune and key changes are refused)
    #[arg(long, env = "ARCA_APPEND_ONLY", global = true)]
    pub append_only: bool,
    /// Read the index, snapshots and trees of a remote repository from storage every time, not from the local metadata cache
    #[arg(long, env = "ARCA_NO_CACHE", global = true)]
    pub no_cache: bool,
    /// The metadata cache of remote repositories (default: $XDG_CACHE_HOME/arca, else ~/.cache/arca); safe to delete
    #[arg(long, env = "ARCA_CACHE_DIR", value_name = "DIR", global = true)]
    pub cache_dir: Option<PathBuf>,
    #[command(flatten)]
    pub kube: crate::kube_opts::KubeOpts,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Table,
    Json,
    Yaml,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create, inspect and maintain a repository
    #[command(subcommand)]
    Repo(RepoCommand),
    /// List snapshots
    Snapshots(SnapshotsArgs),
    /// Back up and restore directory trees (the volume data mover)
    #[command(subcommand)]
    Fs(FsCommand),
    /// Back up a byte stream from stdin, restore it to stdout (database dumps)
    #[command(subcommand)]
    Stream(StreamCommand),
    /// Back up Kubernetes objects: create, list, describe, delete, logs
    #[command(subcommand)]
    Backup(crate::commands::backup::BackupCommand),
    /// Restore Kubernetes objects from a backup: create, list, describe, logs
    #[command(subcommand)]
    Restore(crate::commands::restore::RestoreCommand),
    /// Write a backup's objects as clean YAML files (to seed a Git repository)
    Export(crate::commands::export::ExportArgs),
    /// Compare two of: a backup, the live cluster (`live`), a directory of manifests
    Diff(crate::commands::diff::DiffArgs),
    /// Run inside Arca's mover pods: move one volume's data
    #[command(subcommand)]
    Mover(crate::commands::mover::MoverCommand),
    /// A backup's volumes: list them, restore one's files to a local directory
    #[command(subcommand)]
    Volume(crate::commands::volume::VolumeCommand),
    /// PostgreSQL's WAL archive: push, fetch, list, forget, base backups, point-in-time restore
    #[command(subcommand)]
    Wal(crate::commands::wal::WalCommand),
    /// Blueprints (application dumps): list, show, validate
    #[command(subcommand)]
    Blueprint(crate::commands::blueprint::BlueprintCommand),
    /// Install Arca in a cluster: CRDs, RBAC, the server (or print / write them)
    Install(crate::commands::install::InstallArgs),
    /// Backups on a cron schedule with GFS retention, run by `arca server`
    #[command(subcommand)]
    Schedule(crate::commands::schedule::ScheduleCommand),
    /// Run Arca in the cluster: controllers for Backup, Restore, Schedule and BackupLocation objects
    Server(crate::commands::server::ServerArgs),
    /// BackupLocations for `arca server`: create (from --repo and the password), list, describe
    #[command(subcommand)]
    Location(crate::commands::location::LocationCommand),
    /// A backup's or a restore's report as one self-contained HTML file
    Report(crate::commands::report::ReportArgs),
    /// Read a backup's data back from the repository; with --drill, restore it into scratch
    /// namespaces, compare objects and volumes with the backup, and clean up
    Verify(Box<crate::commands::verify::VerifyArgs>),
    /// Restore drills stored in the repository: list them
    Drills,
}

#[derive(Subcommand, Debug)]
pub enum RepoCommand {
    /// Create a new repository
    Init(InitArgs),
    /// Show repository configuration and statistics
    Info,
    /// Verify the repository's structure (and with --read-data, every byte)
    Check(CheckArgs),
    /// Remove unreferenced data and repack partly used packs
    Prune(PruneArgs),
    /// Remove snapshots by id or by a retention policy
    Forget(ForgetArgs),
    /// Repair damage: rebuild the index from the packs, find (and forget) unreadable snapshots
    #[command(subcommand)]
    Repair(RepairCommand),
    /// Remove stale locks (or all locks with --all)
    Unlock(UnlockArgs),
    /// Object Lock: move every object's retain-until date to the retention from now (run more often than the retention)
    ExtendRetention(DryRunArgs),
    /// After deletes or overwrites through the storage's API: make every object's first version current again (S3, versioned or Object Lock buckets)
    Recover(DryRunArgs),
    /// Manage the passwords (key files) that open the repository
    #[command(subcommand)]
    Key(KeyCommand),
}

#[derive(Args, Debug)]
pub struct InitArgs {
    /// zstd level for new data (0 = no compression)
    #[arg(long, default_value_t = 3)]
    pub compression: i32,
    /// S3 Object Lock: write every object with this retention mode (governance or compliance); the bucket must have Object Lock enabled
    #[arg(long, value_name = "MODE", requires = "retention")]
    pub object_lock: Option<arca_repo::config::LockMode>,
    /// With --object-lock: how long each object stays undeletable after it is written (e.g. 30d)
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION", requires = "object_lock")]
    pub retention: Option<std::time::Duration>,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Download, decrypt and verify every blob
    #[arg(long)]
    pub read_data: bool,
}

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Show what would be removed without removing anything
    #[arg(long)]
    pub dry_run: bool,
    /// Repack packs whose unused share exceeds this percentage
    #[arg(long, default_value_t = 5.0)]
    pub max_unused: f64,
}

/// How many of the newest backups to keep, in all and per hour, day, week,
/// month and year (restic's rules; `forget` and schedules share them).
#[derive(Args, Debug, Default, Clone, Copy)]
pub struct KeepArgs {
    #[arg(long)]
    pub keep_last: Option<u32>,
    #[arg(long)]
    pub keep_hourly: Option<u32>,
    #[arg(long)]
    pub keep_daily: Option<u32>,
    #[arg(long)]
    pub keep_weekly: Option<u32>,
    #[arg(long)]
    pub keep_monthly: Option<u32>,
    #[arg(long)]
    pub keep_yearly: Option<u32>,
}

#[derive(Args, Debug, Default)]
pub struct ForgetArgs {
    /// Snapshot ids (or unique prefixes) to forget
    pub snapshots: Vec<String>,
    #[command(flatten)]
    pub keep: KeepArgs,
    /// Keep snapshots newer than this duration (e.g. 7d, 12h)
    #[arg(long, value_parser = humantime::parse_duration)]
    pub keep_within: Option<std::time::Duration>,
    /// Keep snapshots with this tag
    #[arg(long)]
    pub keep_tag: Vec<String>,
    /// Show what would be forgotten
    #[arg(long)]
    pub dry_run: bool,
    /// Run prune afterwards
    #[arg(long)]
    pub prune: bool,
}

#[derive(Subcommand, Debug)]
pub enum RepairCommand {
    /// Rebuild the index from the packs' headers (after index files were lost or damaged); damaged packs are named, never deleted
    Index(DryRunArgs),
    /// List snapshots that cannot be restored (document unreadable, a tree or blob missing); exits 3 when there are some
    Snapshots(RepairSnapshotsArgs),
}

#[derive(Args, Debug)]
pub struct RepairSnapshotsArgs {
    /// Forget the unreadable snapshots (with a forget record); their data goes at the next prune
    #[arg(long)]
    pub forget: bool,
}

#[derive(Args, Debug)]
pub struct DryRunArgs {
    /// Only say what would be done
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Args, Debug)]
pub struct UnlockArgs {
    /// Remove every lock, not only stale ones
    #[arg(long)]
    pub all: bool,
}

#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Add a password (new key file)
    Add(NewPasswordArgs),
    /// List key files
    List,
    /// Remove a key file (never the last one)
    Remove {
        /// Key id (or unique prefix)
        id: String,
    },
    /// Change the password of the key in use
    Passwd(NewPasswordArgs),
    /// Every key added or removed: when, by which key, from where (an audit log kept in the repository)
    Log,
}

#[derive(Args, Debug)]
pub struct NewPasswordArgs {
    /// Read the new password from this file (else ARCA_NEW_PASSWORD, else a prompt)
    #[arg(long, env = "ARCA_NEW_PASSWORD_FILE")]
    pub new_password_file: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct SnapshotsArgs {
    /// Only snapshots of this kind (files, stream, …)
    #[arg(long)]
    pub kind: Option<String>,
    /// Only snapshots with this tag
    #[arg(long)]
    pub tag: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum FsCommand {
    /// Back up one or more paths
    Backup(FsBackupArgs),
    /// Restore a snapshot into a directory
    Restore(FsRestoreArgs),
}

#[derive(Args, Debug)]
pub struct FsBackupArgs {
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    #[arg(long)]
    pub tag: Vec<String>,
    /// Parent snapshot for change detection (default: latest of the same paths and host)
    #[arg(long)]
    pub parent: Option<String>,
    /// Glob of paths to leave out (repeatable)
    #[arg(long)]
    pub exclude: Vec<String>,
}

#[derive(Args, Debug)]
pub struct FsRestoreArgs {
    /// Snapshot id, unique prefix, or `latest`
    pub snapshot: String,
    #[arg(long)]
    pub target: PathBuf,
    /// Only restore paths matching this glob (repeatable)
    #[arg(long)]
    pub include: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum StreamCommand {
    /// Read stdin into a snapshot
    Backup {
        #[arg(long)]
        name: String,
        #[arg(long)]
        tag: Vec<String>,
    },
    /// Write a stream snapshot to stdout
    Restore {
        /// Snapshot id, unique prefix, or `latest`
        snapshot: String,
    },
}
