//! `arca restore create|list|describe|logs`: bring a backup's objects back.

use anyhow::{Context as _, Result};
use arca_kube::restore::mapping::{Mappings, parse_pairs};
use arca_kube::restore::modifiers::Modifiers;
use arca_kube::restore::plan::{ItemRef, PlanOptions};
use arca_kube::restore::report::{self, Outcome, RestoreReport};
use arca_kube::restore::{self as kube_restore, ExistingPolicy, RestoreOptions};
use clap::{Args, Subcommand};
use serde::Serialize;

use super::backup::SelectionArgs;
use crate::context::Context;
use crate::exit;
use crate::kube_opts::{self, KubeOpts};
use crate::output::{LogOutput, Render, emit, table};

#[derive(Subcommand, Debug)]
pub enum RestoreCommand {
    /// Restore a backup (whole, or narrowed) into the cluster
    Create(Box<CreateArgs>),
    /// List stored restore reports
    List,
    /// Show a restore's result (with --details, every object's outcome)
    Describe {
        /// Restore name
        name: String,
        #[arg(long)]
        details: bool,
    },
    /// Show a restore's log
    Logs {
        /// Restore name
        name: String,
    },
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Name of the restore (default: BACKUP-YYYYMMDDHHMMSS)
    pub name: Option<String>,
    /// Backup to restore (name or snapshot id)
    #[arg(long)]
    pub from_backup: String,
    #[command(flatten)]
    pub selection: SelectionArgs,
    /// Only this object: TYPE/NAMESPACE/NAME or TYPE/NAME (repeatable)
    #[arg(long)]
    pub item: Vec<String>,
    /// Restore namespace OLD into NEW (OLD:NEW, comma-separated or repeated)
    #[arg(long)]
    pub namespace_mappings: Vec<String>,
    /// Replace storage class OLD by NEW (OLD:NEW)
    #[arg(long)]
    pub storage_class_mappings: Vec<String>,
    /// YAML file of resource modifier rules (JSON/merge patches)
    #[arg(long, value_name = "FILE")]
    pub resource_modifiers: Option<std::path::PathBuf>,
    /// What to do with objects that already exist: none (leave them) or update (server-side apply)
    #[arg(long, default_value = "none")]
    pub existing_resource_policy: String,
    /// Restore the status of objects too
    #[arg(long)]
    pub restore_status: bool,
    /// Keep Services' node ports
    #[arg(long)]
    pub preserve_node_ports: bool,
    /// Restore what the target cluster manages itself too (its APIServices, API priority and
    /// fairness defaults, bootstrap RBAC, the kubernetes Service, kube-root-ca.crt, ...)
    #[arg(long)]
    pub include_cluster_managed: bool,
    /// Restore order: these types (resource.group) first, in this order (webhook
    /// configurations, admission policies and APIServices, restored last by default,
    /// move here when named)
    #[arg(long, value_delimiter = ',')]
    pub priorities: Vec<String>,
    /// Print the plan without changing the cluster
    #[arg(long)]
    pub dry_run: bool,
    /// Objects created at once
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Wait until restored Deployments, StatefulSets, DaemonSets, Pods and claims are ready;
    /// any not ready in time makes the restore PartiallyFailed (exit 3)
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5m", value_name = "DURATION")]
    pub wait_timeout: std::time::Duration,
}

pub fn run(ctx: &Context, kube: &KubeOpts, cmd: RestoreCommand) -> Result<i32> {
    match cmd {
        RestoreCommand::Create(args) => create(ctx, kube, &args),
        RestoreCommand::List => list(ctx),
        RestoreCommand::Describe { name, details } => describe(ctx, &name, details),
        RestoreCommand::Logs { name } => logs(ctx, &name),
    }
}

fn options(args: &CreateArgs) -> Result<RestoreOptions> {
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("{}-{}", args.from_backup, chrono::Utc::now().format("%Y%m%d%H%M%S")));
    let mut opts = RestoreOptions::new(&name, &args.from_backup);
    let items = args.item.iter().map(|i| i.parse::<ItemRef>()).collect::<Result<Vec<_>, _>>()?;
    opts.plan = PlanOptions {
        filter: args.selection.filter_spec()?,
        items,
        mappings: Mappings {
            namespaces: parse_pairs(&args.namespace_mappings, "--namespace-mappings")?,
            storage_classes: parse_pairs(&args.storage_class_mappings, "--storage-class-mappings")?,
        },
        priorities: if args.priorities.is_empty() {
            None
        } else {
            let mut p = args.priorities.clone();
            p.extend(
                arca_kube::restore::priority::DEFAULT_PRIORITIES
                    .iter()
                    .map(|s| s.to_string())
                    .filter(|s| !args.priorities.contains(s)),
            );
            Some(p)
        },
        restore_status: args.restore_status,
        preserve_node_ports: args.preserve_node_ports,
        include_cluster_managed: args.include_cluster_managed,
    };
    if let Some(path) = &args.resource_modifiers {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading resource modifiers {}", path.display()))?;
        opts.modifiers = Modifiers::parse(&text, &path.display().to_string())?;
    }
    opts.policy = args.existing_resource_policy.parse::<ExistingPolicy>()?;
    opts.dry_run = args.dry_run;
    opts.concurrency = args.concurrency.max(1);
    opts.wait = args.wait.then_some(args.wait_timeout);
    Ok(opts)
}

/// A report as shown: `details` lists every object, else only the ones
/// that need attention (failed, skipped because of a conflict).
struct Shown<'a> {
    report: &'a RestoreReport,
    details: bool,
}

impl Serialize for Shown<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.report.serialize(s)
    }
}

impl Render for Shown<'_> {
    fn human(&self) -> String {
        let r = self.report;
        let counts: Vec<String> = r.counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
        let mut s = format!(
            "restore {}{} from backup {}: {}\n  {}",
            r.name,
            if r.dry_run { " (dry run)" } else { "" },
            r.backup,
            r.phase,
            if counts.is_empty() { "nothing to restore".to_string() } else { counts.join(", ") }
        );
        for w in &r.warnings {
            s.push_str(&format!("\n  warning: {w}"));
        }
        let rows: Vec<Vec<String>> = r
            .items
            .iter()
            .filter(|i| {
                self.details
                    || r.dry_run
                    || i.outcome == Outcome::Failed
                    || i.converted.is_some()
                    || i.reason.as_deref().is_some_and(|x| x.contains("differs"))
            })
            .map(|i| {
                let reason = [i.reason.as_deref(), i.converted.as_deref()].into_iter().flatten().collect::<Vec<_>>();
                let mut row = vec![i.object.clone(), i.outcome.as_str().to_string(), reason.join("; ")];
                if r.dry_run {
                    row.push(i.transform.join(" "));
                }
                row
            })
            .collect();
        if !rows.is_empty() {
            let header: &[&str] =
                if r.dry_run { &["object", "result", "reason", "transform"] } else { &["object", "result", "reason"] };
            s.push_str("\n\n");
            s.push_str(&table(header, rows));
        }
        s
    }
}

fn create(ctx: &Context, kube: &KubeOpts, args: &CreateArgs) -> Result<i32> {
    let opts = options(args)?;
    let repo = ctx.open_repo_with_index()?;
    // A mistyped backup name is the user's to fix before any cluster is involved.
    arca_kube::backup::find_backup(&repo, &opts.backup)?;
    let rt = kube_opts::runtime()?;
    let report = rt.block_on(async {
        let (api, server) = kube_opts::connect(kube).await?;
        anyhow::Ok(kube_restore::run(&api, &server, &repo, &opts).await?)
    })?;
    emit(ctx.output(), &Shown { report: &report, details: false })?;
    Ok(if report.dry_run { exit::OK } else { kube_opts::phase_code(report.phase) })
}

#[derive(Serialize)]
struct Listed {
    snapshot: String,
    #[serde(flatten)]
    report: RestoreReport,
}

#[derive(Serialize)]
#[serde(transparent)]
struct RestoreList(Vec<Listed>);

impl Render for RestoreList {
    fn human(&self) -> String {
        if self.0.is_empty() {
            return "no restores".into();
        }
        table(
            &["name", "backup", "phase", "created", "updated", "unchanged", "skipped", "failed", "started"],
            self.0.iter().map(|l| {
                let r = &l.report;
                let c = |k: &str| r.counts.get(k).copied().unwrap_or(0).to_string();
                vec![
                    r.name.clone(),
                    r.backup.clone(),
                    r.phase.to_string(),
                    c("created"),
                    c("updated"),
                    c("unchanged"),
                    c("skipped"),
                    c("failed"),
                    r.started.format("%Y-%m-%d %H:%M:%S").to_string(),
                ]
            }),
        )
    }
}

fn list(ctx: &Context) -> Result<i32> {
    let repo = ctx.open_repo()?;
    let mut out = Vec::new();
    for s in report::list(&repo)? {
        match RestoreReport::from_snapshot(&s) {
            Ok(r) => out.push(Listed { snapshot: s.id.to_hex(), report: r }),
            Err(e) => tracing::warn!("{e}"),
        }
    }
    emit(ctx.output(), &RestoreList(out))?;
    Ok(exit::OK)
}

fn describe(ctx: &Context, name: &str, details: bool) -> Result<i32> {
    let repo = ctx.open_repo_with_index()?;
    let entry = report::find(&repo, name)?;
    let (full, _) = report::load_full(&repo, &entry)?;
    emit(ctx.output(), &Shown { report: &full, details })?;
    Ok(exit::OK)
}

fn logs(ctx: &Context, name: &str) -> Result<i32> {
    let repo = ctx.open_repo_with_index()?;
    let entry = report::find(&repo, name)?;
    let (_, log) = report::load_full(&repo, &entry)?;
    emit(ctx.output(), &LogOutput { name: name.to_string(), log })?;
    Ok(exit::OK)
}
