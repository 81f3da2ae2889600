//! `arca backup create|list|describe|delete|logs`: Kubernetes object backups.

use anyhow::{Context as _, Result};
use arca_kube::backup::{self, BackupOptions, BackupReport};
use arca_kube::catalog::{All, Catalog};
use arca_kube::filter::{ClusterResources, FilterSpec};
use arca_repo::Repository;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use super::backup_volumes::{VolumeArgs, VolumesDescribed};
use crate::context::Context;
use crate::exit;
use crate::kube_opts::{self, KubeOpts};
use crate::output::{LogOutput, Render, bytes, emit, table};

#[derive(Subcommand, Debug)]
pub enum BackupCommand {
    /// Back up the cluster's objects (or a selection) into the repository
    Create(Box<CreateArgs>),
    /// List backups
    List,
    /// Show a backup's result, filters and counts
    Describe(DescribeArgs),
    /// Forget a backup (its data goes at the next `arca repo prune`)
    Delete {
        /// Backup name
        name: String,
    },
    /// Show a backup's log
    Logs {
        /// Backup name
        name: String,
    },
}

/// Selection options shared by backup and restore.
#[derive(Args, Debug, Clone, Default)]
pub struct SelectionArgs {
    /// Namespaces to include (globs, comma-separated or repeated; default all)
    #[arg(long, value_delimiter = ',')]
    pub include_namespaces: Vec<String>,
    /// Namespaces to leave out (globs)
    #[arg(long, value_delimiter = ',')]
    pub exclude_namespaces: Vec<String>,
    /// Types to include: kind, plural or short name, optionally .group (default all)
    #[arg(long, value_delimiter = ',')]
    pub include_resources: Vec<String>,
    /// Types to leave out
    #[arg(long, value_delimiter = ',')]
    pub exclude_resources: Vec<String>,
    /// Only objects matching this label selector (kubectl syntax)
    #[arg(long, short = 'l')]
    pub selector: Option<String>,
    /// Also objects matching this selector (repeatable: any of them)
    #[arg(long)]
    pub or_selector: Vec<String>,
    /// Cluster-scoped objects: auto (all for a whole-cluster selection, else only what the selection needs), true, false
    #[arg(long, default_value = "auto")]
    pub include_cluster_resources: String,
}

impl SelectionArgs {
    pub fn filter_spec(&self) -> Result<FilterSpec> {
        Ok(FilterSpec {
            include_namespaces: self.include_namespaces.clone(),
            exclude_namespaces: self.exclude_namespaces.clone(),
            include_resources: self.include_resources.clone(),
            exclude_resources: self.exclude_resources.clone(),
            selector: self.selector.clone(),
            or_selectors: self.or_selector.clone(),
            include_cluster_resources: self.include_cluster_resources.parse::<ClusterResources>()?,
        })
    }
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Name of the backup (unique in the repository)
    pub name: String,
    #[command(flatten)]
    pub selection: SelectionArgs,
    /// Wait for the backup to finish (direct backups always run in the foreground; with --server, follow the Backup object)
    #[arg(long)]
    pub wait: bool,
    /// Tag the backup's snapshot (repeatable)
    #[arg(long)]
    pub tag: Vec<String>,
    /// Also back up the types skipped by default (events, nodes, endpoints, leases, …)
    #[arg(long)]
    pub no_default_skips: bool,
    /// Objects per list request
    #[arg(long, default_value_t = 500)]
    pub page_size: u32,
    /// Resource types listed at once
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    #[command(flatten)]
    pub volumes: VolumeArgs,
    #[command(flatten)]
    pub hooks: super::backup_hooks::HookArgs,
    #[command(flatten)]
    pub blueprints: super::backup_blueprints::BlueprintArgs,
    #[command(flatten)]
    pub server: super::server_client::ServerModeArgs,
}

#[derive(Args, Debug)]
pub struct DescribeArgs {
    /// Backup name
    pub name: String,
    /// Also list every object, per-type counts and why cluster objects were included
    #[arg(long)]
    pub details: bool,
    /// Show each volume's method, state, files and bytes instead
    #[arg(long)]
    pub volumes: bool,
}

pub fn run(ctx: &Context, kube: &KubeOpts, cmd: BackupCommand) -> Result<i32> {
    match cmd {
        BackupCommand::Create(args) if args.server.server => super::server_client::backup(ctx, kube, &args),
        BackupCommand::Create(args) => create(ctx, kube, &args),
        BackupCommand::List => list(ctx),
        BackupCommand::Describe(args) => describe(ctx, &args),
        BackupCommand::Delete { name } => delete(ctx, &name),
        BackupCommand::Logs { name } => logs(ctx, &name),
    }
}

struct Bar(ProgressBar);

impl backup::Progress for Bar {
    fn type_done(&self, resource: &str, _objects: u64) {
        self.0.set_message(resource.to_string());
    }
    fn objects_saved(&self, n: u64) {
        self.0.inc(n);
    }
}

#[derive(Serialize)]
struct Created {
    snapshot: String,
    #[serde(flatten)]
    report: BackupReport,
    /// Storage requests of this process (volume movers run their own).
    requests: arca_repo::backend::Requests,
}

fn summary(r: &BackupReport) -> String {
    let secs = (r.finished - r.started).num_milliseconds() as f64 / 1000.0;
    let mut s = format!(
        "backup {}: {}\n  {} object(s), {} in {:.1}s; {} added to the repository\n  cluster {} ({}{})",
        r.name,
        r.phase,
        r.objects,
        bytes(r.bytes),
        secs,
        bytes(r.stored_bytes),
        r.cluster.server,
        r.cluster.version,
        r.cluster.uid.as_deref().map(|u| format!(", uid {u}")).unwrap_or_default()
    );
    if !r.volumes.is_empty() {
        s.push_str(&format!("\n  {}", super::backup_volumes::states_line(&r.volumes)));
    }
    if !r.hooks.is_empty() {
        s.push_str(&format!("\n  {}", super::backup_hooks::hooks_line(&r.hooks)));
    }
    super::backup_blueprints::dump_lines(&r.dumps).iter().for_each(|l| s.push_str(&format!("\n{l}")));
    for w in &r.warnings {
        s.push_str(&format!("\n  warning: {w}"));
    }
    for e in &r.errors {
        s.push_str(&format!("\n  error: {}: {}", e.object, e.reason));
    }
    s
}

impl Render for Created {
    fn human(&self) -> String {
        format!("{}\n  snapshot {}", summary(&self.report), &self.snapshot[..8.min(self.snapshot.len())])
    }
}

fn create(ctx: &Context, kube: &KubeOpts, args: &CreateArgs) -> Result<i32> {
    let mut opts = BackupOptions::new(&args.name);
    opts.filter = args.selection.filter_spec()?;
    opts.tags = args.tag.clone();
    opts.page_size = args.page_size.max(1);
    opts.concurrency = args.concurrency.max(1);
    if args.no_default_skips {
        opts.skip.clear();
    }
    // One password read (a prompt at most once) for the repository and the movers.
    let password = ctx.password()?;
    let url = ctx.repo_url()?;
    let (data, hooks) = super::backup_hooks::data_phase(&args.volumes, &args.hooks, url, &password)?;
    opts.data = arca_apps::phases::backup_chain(Some(args.blueprints.settings()?), data);
    let repo = Repository::open(ctx.backend(url)?, &password)?;
    repo.load_index().with_context(|| format!("loading the index of {}", repo.location()))?;
    let bar = if ctx.show_progress() {
        let b = ProgressBar::new_spinner();
        b.set_style(
            ProgressStyle::with_template("{spinner} {pos} objects  {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        b.enable_steady_tick(std::time::Duration::from_millis(120));
        Some(b)
    } else {
        None
    };
    let progress: Box<dyn backup::Progress> = match &bar {
        Some(b) => Box::new(Bar(b.clone())),
        None => Box::new(backup::Quiet),
    };
    let rt = kube_opts::runtime()?;
    let result = rt.block_on(async {
        let (api, server) = kube_opts::connect(kube).await?;
        let work = backup::run(&api, &server, &repo, &opts, progress.as_ref());
        anyhow::Ok(super::backup_hooks::interruptible(&hooks, work).await?)
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let (report, id) = result?;
    let code = kube_opts::phase_code(report.phase);
    emit(ctx.output(), &Created { snapshot: id.to_hex(), report, requests: ctx.requests() })?;
    Ok(code)
}

#[derive(Serialize)]
struct Listed {
    snapshot: String,
    #[serde(flatten)]
    report: BackupReport,
}

#[derive(Serialize)]
#[serde(transparent)]
struct BackupList(Vec<Listed>);

impl Render for BackupList {
    fn human(&self) -> String {
        if self.0.is_empty() {
            return "no backups".into();
        }
        table(
            &["name", "phase", "objects", "errors", "created", "cluster", "snapshot"],
            self.0.iter().map(|l| {
                let r = &l.report;
                vec![
                    r.name.clone(),
                    r.phase.to_string(),
                    r.objects.to_string(),
                    r.errors.len().to_string(),
                    r.started.format("%Y-%m-%d %H:%M:%S").to_string(),
                    r.cluster
                        .uid
                        .clone()
                        .map(|u| u.chars().take(8).collect())
                        .unwrap_or_else(|| r.cluster.server.clone()),
                    l.snapshot[..8.min(l.snapshot.len())].to_string(),
                ]
            }),
        )
    }
}

fn list(ctx: &Context) -> Result<i32> {
    let repo = ctx.open_repo()?;
    let mut out = Vec::new();
    for s in backup::list_backups(&repo)? {
        match BackupReport::from_snapshot(&s) {
            Ok(report) => out.push(Listed { snapshot: s.id.to_hex(), report }),
            Err(e) => tracing::warn!("{e}"),
        }
    }
    emit(ctx.output(), &BackupList(out))?;
    Ok(exit::OK)
}

#[derive(Serialize)]
struct Described {
    snapshot: String,
    #[serde(flatten)]
    report: BackupReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    objects: Option<Vec<String>>,
}

impl Render for Described {
    fn human(&self) -> String {
        let r = &self.report;
        let mut s = summary(r);
        s.push_str(&format!(
            "\n  snapshot {}\n  started {}, finished {}",
            self.snapshot,
            r.started.to_rfc3339(),
            r.finished.to_rfc3339()
        ));
        let f = serde_json::to_string(&r.filters).unwrap_or_default();
        s.push_str(&format!("\n  filters {f}"));
        if let Some(objects) = &self.objects {
            s.push_str("\n\nobjects per type:");
            for (t, n) in &r.counts {
                s.push_str(&format!("\n  {t}: {n}"));
            }
            if !r.included_by_closure.is_empty() {
                s.push_str("\n\ncluster-scoped objects included for the selection:");
                for i in &r.included_by_closure {
                    s.push_str(&format!("\n  {}: {}", i.object, i.reason));
                }
            }
            s.push_str("\n\nobjects:");
            for o in objects {
                s.push_str(&format!("\n  {o}"));
            }
        }
        s
    }
}

fn describe(ctx: &Context, args: &DescribeArgs) -> Result<i32> {
    let repo = ctx.open_repo_with_index()?;
    let entry = backup::find_backup(&repo, &args.name)?;
    let report = BackupReport::from_snapshot(&entry)?;
    if args.volumes {
        emit(ctx.output(), &VolumesDescribed::new(&report, entry.id.to_hex()))?;
        return Ok(exit::OK);
    }
    let objects = if args.details {
        let catalog = Catalog::open(&repo, &entry.snapshot.tree)?;
        Some(catalog.entries(&All)?.iter().map(|e| e.path.display()).collect())
    } else {
        None
    };
    emit(ctx.output(), &Described { snapshot: entry.id.to_hex(), report, objects })?;
    Ok(exit::OK)
}

#[derive(Serialize)]
struct Deleted {
    name: String,
    snapshot: String,
}

impl Render for Deleted {
    fn human(&self) -> String {
        format!(
            "deleted backup {} (snapshot {}); run `arca repo prune` to free its unshared data",
            self.name,
            &self.snapshot[..8.min(self.snapshot.len())]
        )
    }
}

fn delete(ctx: &Context, name: &str) -> Result<i32> {
    let repo = ctx.open_repo()?;
    let entry = backup::find_backup(&repo, name)?;
    let _lock = repo.lock(false, "backup delete")?;
    repo.remove_snapshots(&[entry.id], "backup delete")
        .with_context(|| format!("deleting snapshot {}", entry.id.short()))?;
    emit(ctx.output(), &Deleted { name: name.to_string(), snapshot: entry.id.to_hex() })?;
    Ok(exit::OK)
}

fn logs(ctx: &Context, name: &str) -> Result<i32> {
    let repo = ctx.open_repo_with_index()?;
    let entry = backup::find_backup(&repo, name)?;
    let log = Catalog::open(&repo, &entry.snapshot.tree)?.log()?;
    emit(ctx.output(), &LogOutput { name: name.to_string(), log })?;
    Ok(exit::OK)
}
