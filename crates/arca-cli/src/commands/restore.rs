//! `arca restore create|list|describe|logs`: bring a backup's objects back.

use std::io::Write as _;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use arca_kube::restore::mapping::{Mappings, parse_pairs};
use arca_kube::restore::modifiers::Modifiers;
use arca_kube::restore::plan::{ItemRef, PlanOptions};
use arca_kube::restore::report::{self, ItemLines, ItemResult, Outcome, RestoreReport};
use arca_kube::restore::{self as kube_restore, ExistingPolicy, RestoreOptions};
use clap::{Args, Subcommand};
use serde::Serialize;

use super::backup::SelectionArgs;
use crate::cli::OutputFormat;
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
    /// Put the backup's data into the live claims (selected with --include-namespaces, --item
    /// persistentvolumeclaims/NS/NAME, ...); no object is created or changed. The workloads
    /// using a claim are scaled to zero and back; files not in the backup are removed
    #[arg(long)]
    pub data_only: bool,
    /// With --data-only: fill claims while the pods using them run (nothing is scaled)
    #[arg(long, requires = "data_only")]
    pub no_scale: bool,
    #[command(flatten)]
    pub movers: super::volume_restore::MoverArgs,
    #[command(flatten)]
    pub hooks: super::restore_hooks::RestoreHookArgs,
    #[command(flatten)]
    pub pitr: super::restore_pitr::PitrArgs,
    #[command(flatten)]
    pub blueprints: super::backup_blueprints::BlueprintArgs,
    #[command(flatten)]
    pub server: super::server_client::ServerModeArgs,
}

pub fn run(ctx: &Context, kube: &KubeOpts, cmd: RestoreCommand) -> Result<i32> {
    match cmd {
        RestoreCommand::Create(args) if args.server.server => super::server_client::restore(ctx, kube, &args),
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
    opts.data_only = args.data_only;
    Ok(opts)
}

/// A report as shown, with every per-object result read from where the
/// restore wrote them (streamed: a stored report is never whole in memory).
struct Shown<'a> {
    report: &'a RestoreReport,
    items: &'a ItemLines,
    /// List every object, else only the ones that need attention (failed,
    /// skipped because of a conflict); a dry run lists every object.
    details: bool,
}

/// The results as a JSON/YAML sequence, read while serializing.
struct StreamedItems<'a>(&'a ItemLines);

impl Serialize for StreamedItems<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error as _, SerializeSeq};
        let mut seq = s.serialize_seq(None)?;
        let mut failed = None;
        let read = self.0.for_each(|item| {
            seq.serialize_element(&item).map_err(|e| {
                let what = e.to_string();
                failed = Some(e);
                arca_kube::Error::invalid("restore results output", what)
            })
        });
        if let Some(e) = failed {
            return Err(e);
        }
        read.map_err(S::Error::custom)?;
        seq.end()
    }
}

impl Serialize for Shown<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error as _, SerializeMap};
        let summary = RestoreReport { items: Vec::new(), items_omitted: 0, format: None, ..self.report.clone() };
        let serde_json::Value::Object(fields) = serde_json::to_value(&summary).map_err(S::Error::custom)? else {
            return Err(S::Error::custom("a restore report is not a JSON object"));
        };
        let mut map = s.serialize_map(None)?;
        for (k, v) in &fields {
            map.serialize_entry(k, v)?;
        }
        map.serialize_entry("items", &StreamedItems(self.items))?;
        map.end()
    }
}

impl Shown<'_> {
    fn summary(&self) -> String {
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
        for line in super::restore_blueprints::data_lines(&r.volumes, &r.dumps) {
            s.push_str(&format!("\n{line}"));
        }
        for line in super::restore_hooks::summary_lines(&r.hooks) {
            s.push_str(&format!("\n{line}"));
        }
        for w in &r.warnings {
            s.push_str(&format!("\n  warning: {w}"));
        }
        if r.warnings_omitted > 0 {
            s.push_str(&format!(
                "\n  … and {} more warning(s): see `arca restore logs {}`",
                r.warnings_omitted, r.name
            ));
        }
        s
    }

    fn row(&self, i: &ItemResult) -> Option<Vec<String>> {
        let r = self.report;
        let shown = self.details
            || r.dry_run
            || i.outcome == Outcome::Failed
            || i.converted.is_some()
            || i.reason.as_deref().is_some_and(|x| x.contains("differs"));
        if !shown {
            return None;
        }
        let reason = [i.reason.as_deref(), i.converted.as_deref()].into_iter().flatten().collect::<Vec<_>>();
        let mut row = vec![i.object.clone(), i.outcome.as_str().to_string(), reason.join("; ")];
        if r.dry_run {
            row.push(i.transform.join(" "));
        }
        Some(row)
    }

    /// The summary, then the rows as a table printed as it is read (two
    /// passes over the results: column widths, then rows).
    fn print_human(&self) -> Result<()> {
        println!("{}", self.summary());
        let header: &[&str] = if self.report.dry_run {
            &["object", "result", "reason", "transform"]
        } else {
            &["object", "result", "reason"]
        };
        let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
        let mut rows = 0u64;
        self.items.for_each(|i| {
            if let Some(row) = self.row(&i) {
                rows += 1;
                for (w, cell) in widths.iter_mut().zip(&row) {
                    *w = (*w).max(cell_text(cell).chars().count());
                }
            }
            Ok(())
        })?;
        if rows == 0 {
            return Ok(());
        }
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        writeln!(out)?;
        let upper: Vec<String> = header.iter().map(|h| h.to_uppercase()).collect();
        writeln!(out, "{}", table_line(&upper, &widths))?;
        let mut failed = None;
        self.items.for_each(|i| {
            if let Some(row) = self.row(&i) {
                if let Err(e) = writeln!(out, "{}", table_line(&row, &widths)) {
                    failed = Some(e);
                    return Err(arca_kube::Error::invalid("restore output", "stdout closed"));
                }
            }
            Ok(())
        })?;
        if let Some(e) = failed {
            return Err(e.into());
        }
        out.flush()?;
        Ok(())
    }
}

/// A cell on one line.
fn cell_text(cell: &str) -> String {
    cell.replace('\n', " ")
}

/// One borderless table line, like [`crate::output::table`]'s.
fn table_line(cells: &[String], widths: &[usize]) -> String {
    let padded: Vec<String> =
        cells.iter().zip(widths).map(|(c, w)| format!(" {:<w$} ", cell_text(c), w = *w)).collect();
    padded.concat().trim_end().to_string()
}

/// Prints a report in the chosen format, its results streamed.
fn show(ctx: &Context, shown: &Shown) -> Result<()> {
    match ctx.output() {
        OutputFormat::Table => shown.print_human(),
        OutputFormat::Json => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            serde_json::to_writer_pretty(&mut out, shown)?;
            writeln!(out)?;
            Ok(out.flush()?)
        }
        OutputFormat::Yaml => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            serde_yaml::to_writer(&mut out, shown)?;
            Ok(out.flush()?)
        }
    }
}

fn create(ctx: &Context, kube: &KubeOpts, args: &CreateArgs) -> Result<i32> {
    let mut opts = options(args)?;
    let (repo, password) = super::volume_restore::open_repo(ctx)?;
    // A mistyped backup name is the user's to fix before any cluster is involved.
    let backup = arca_kube::backup::find_backup(&repo, &opts.backup)?;
    let records = super::volume_restore::records(&backup)?;
    let mut phases: Vec<Arc<dyn arca_kube::data::RestoreDataPhase>> = Vec::new();
    if !records.is_empty() || args.data_only {
        let phase =
            super::volume_restore::phase(ctx, &opts.name, records, password.clone(), &args.movers, args.no_scale)?;
        phases.push(Arc::new(phase));
    }
    phases.extend(args.hooks.phase());
    opts.data = super::restore_hooks::chain(phases);
    // A recovery to a time is the database's data: its dumps are not restored over it.
    if args.pitr.to_time.is_none() {
        opts.data = super::restore_blueprints::chain(&args.blueprints, opts.data.take(), &repo, &backup)?;
    }
    super::restore_pitr::wire(ctx, &args.pitr, &repo, &backup, &mut opts, password, &args.movers)?;
    let rt = kube_opts::runtime()?;
    let (report, items) = rt.block_on(async {
        let (api, server) = kube_opts::connect(kube).await?;
        anyhow::Ok(kube_restore::run_with_items(&api, &server, &repo, &opts).await?)
    })?;
    show(ctx, &Shown { report: &report, items: &items, details: false })?;
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
    let stored = report::open(&repo, &entry)?;
    show(ctx, &Shown { report: &stored.report, items: &stored.items, details })?;
    Ok(exit::OK)
}

fn logs(ctx: &Context, name: &str) -> Result<i32> {
    let repo = ctx.open_repo_with_index()?;
    let entry = report::find(&repo, name)?;
    let stored = report::open(&repo, &entry)?;
    if ctx.output() != OutputFormat::Table {
        emit(ctx.output(), &LogOutput { name: name.to_string(), log: stored.log()? })?;
        return Ok(exit::OK);
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    stored.each_log_line(|line| {
        writeln!(out, "{line}").map_err(|e| arca_kube::Error::invalid("restore log output", e.to_string()))
    })?;
    out.flush()?;
    Ok(exit::OK)
}
