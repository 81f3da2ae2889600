//! `arca verify BACKUP`: read the backup's data back from the repository;
//! with `--drill`, restore it into scratch namespaces, compare objects and
//! volume contents with the backup, clean up, and store the drill's result.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use arca_kube::backup::BackupReport;
use arca_kube::restore::RestoreOptions;
use arca_kube::restore::drill::report::DrillReport;
use arca_kube::restore::drill::{self, DrillOptions};
use arca_kube::restore::plan::PlanOptions;
use arca_repo::{ReadBack, Repository, SnapshotEntry};
use clap::Args;
use serde::Serialize;
use serde_json::Value;

use super::backup::SelectionArgs;
use crate::context::Context;
use crate::exit;
use crate::kube_opts::{self, KubeOpts};
use crate::output::{Render, emit};

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// Backup to verify (name or snapshot id)
    pub backup: String,
    /// Restore drill: restore into scratch namespaces (PREFIX + namespace), compare every
    /// object and volume with the backup, delete the scratch namespaces, store the result
    #[arg(long)]
    pub drill: bool,
    /// Name of the drill (default: drill-BACKUP-YYYYMMDDHHMMSS)
    #[arg(long, requires = "drill")]
    pub name: Option<String>,
    #[command(flatten)]
    pub selection: SelectionArgs,
    /// Scratch namespaces are PREFIX + the backup's namespace
    #[arg(long, default_value = "drill-", requires = "drill")]
    pub prefix: String,
    /// Keep the scratch namespaces (to look at them; the next drill refuses until they are gone)
    #[arg(long, requires = "drill")]
    pub keep: bool,
    /// How long to wait for restored workloads and claims to be ready (where the cluster has nodes)
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5m", value_name = "DURATION")]
    pub wait_timeout: Duration,
    /// Drill into another cluster: its kubeconfig (default: the one of --kubeconfig)
    #[arg(long, value_name = "FILE", requires = "drill")]
    pub kubeconfig_target: Option<PathBuf>,
    /// With --kubeconfig-target: its context
    #[arg(long, value_name = "NAME", requires = "drill")]
    pub context_target: Option<String>,
    #[command(flatten)]
    pub movers: super::volume_restore::MoverArgs,
    #[command(flatten)]
    pub blueprints: super::backup_blueprints::BlueprintArgs,
}

pub fn run(ctx: &Context, kube: &KubeOpts, args: &VerifyArgs) -> Result<i32> {
    if args.drill { run_drill(ctx, kube, args) } else { read_back(ctx, &args.backup) }
}

/// The backup's own data read back: its objects' tree and every volume's
/// and dump's repository snapshot.
#[derive(Serialize)]
struct DataVerified {
    backup: String,
    snapshot: String,
    /// The snapshots read: the backup's, then its volumes' and dumps'.
    snapshots: Vec<String>,
    #[serde(flatten)]
    read: ReadBack,
}

impl Render for DataVerified {
    fn human(&self) -> String {
        let mut s = format!(
            "backup {}: {} snapshot(s), {} tree(s), {} blob(s), {} read back{}",
            self.backup,
            self.snapshots.len(),
            self.read.trees,
            self.read.blobs,
            crate::output::bytes(self.read.bytes),
            if self.read.is_ok() { ", all intact" } else { "" }
        );
        for p in &self.read.problems {
            s.push_str(&format!("\n  damaged: {p}"));
        }
        if self.read.problems_omitted > 0 {
            s.push_str(&format!("\n  … and {} more", self.read.problems_omitted));
        }
        s
    }
}

fn read_back(ctx: &Context, name: &str) -> Result<i32> {
    let repo = ctx.open_repo_uncached()?;
    repo.load_index().with_context(|| format!("loading the index of {}", repo.location()))?;
    let backup = arca_kube::backup::find_backup(&repo, name)?;
    let mut roots = vec![(format!("backup {}", backup.id.short()), backup.snapshot.tree)];
    let mut snapshots = vec![backup.id.to_hex()];
    for (what, id) in data_snapshots(&backup)? {
        let entry = repo.find_snapshot(&id)?;
        snapshots.push(entry.id.to_hex());
        roots.push((what, entry.snapshot.tree));
    }
    let read = arca_repo::read_back(&repo, &roots);
    let ok = read.is_ok();
    emit(ctx.output(), &DataVerified { backup: name.to_string(), snapshot: backup.id.to_hex(), snapshots, read })?;
    Ok(if ok { exit::OK } else { exit::PARTIAL })
}

/// `(what, snapshot id)` of each volume and dump the backup stored in the repository.
fn data_snapshots(backup: &SnapshotEntry) -> Result<Vec<(String, String)>> {
    let report = BackupReport::from_snapshot(backup)?;
    let mut out = Vec::new();
    for v in super::volume_restore::records(backup)? {
        if let Some(id) = v.repository_snapshot {
            out.push((format!("volume {}", v.claim), id));
        }
    }
    for d in arca_apps::blueprint::record::DumpRecord::from_report(&report.dumps).into_iter().flatten() {
        if let Some(id) = d.snapshot.clone() {
            out.push((format!("dump {}", d.object), id));
        }
    }
    Ok(out)
}

fn drill_options(ctx: &Context, args: &VerifyArgs, repo: &Repository, password: Vec<u8>) -> Result<DrillOptions> {
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("drill-{}-{}", args.backup, chrono::Utc::now().format("%Y%m%d%H%M%S")));
    let backup = arca_kube::backup::find_backup(repo, &args.backup)?;
    let mut filter = args.selection.filter_spec()?;
    // Into the cluster the backup came from, cluster-scoped objects are
    // shared with the live application: a drill leaves them alone.
    if args.kubeconfig_target.is_none() && filter.include_cluster_resources == arca_kube::filter::ClusterResources::Auto
    {
        filter.include_cluster_resources = arca_kube::filter::ClusterResources::False;
    }
    let mut restore = RestoreOptions::new(&name, &args.backup);
    restore.plan = PlanOptions { filter, ..Default::default() };
    restore.wait = Some(args.wait_timeout);
    let records = super::volume_restore::records(&backup)?;
    let mut volumes: Option<Arc<dyn drill::DrillVolumeCheck>> = None;
    if !records.is_empty() {
        let phase =
            super::volume_restore::phase(ctx, &name, records.clone(), password, &args.movers, false)?.verifying();
        volumes = Some(Arc::new(arca_volumes::drill::DrillVolumes::new(&name, records, phase.settings().clone())));
        restore.data = Some(arca_kube::data::RestorePhase(Arc::new(phase)));
    }
    restore.data = super::restore_blueprints::chain(&args.blueprints, restore.data.take(), repo, &backup)?;
    Ok(DrillOptions {
        name,
        prefix: args.prefix.clone(),
        restore,
        keep: args.keep,
        cleanup_timeout: Duration::from_secs(300),
        volumes,
    })
}

fn run_drill(ctx: &Context, kube: &KubeOpts, args: &VerifyArgs) -> Result<i32> {
    let (repo, password) = super::volume_restore::open_repo_through(ctx, false)?;
    let opts = drill_options(ctx, args, &repo, password)?;
    let target = KubeOpts {
        kubeconfig: args.kubeconfig_target.clone().or_else(|| kube.kubeconfig.clone()),
        context: if args.kubeconfig_target.is_some() { args.context_target.clone() } else { kube.context.clone() },
        ..kube.clone()
    };
    let rt = kube_opts::runtime()?;
    let report = rt.block_on(async {
        let (api, server) = kube_opts::connect(&target).await?;
        anyhow::Ok(drill::run(&api, &server, &repo, &opts).await?)
    })?;
    emit(ctx.output(), &Drilled(report.clone()))?;
    Ok(if report.passed() { exit::OK } else { exit::PARTIAL })
}

#[derive(Serialize)]
#[serde(transparent)]
struct Drilled(DrillReport);

impl Render for Drilled {
    fn human(&self) -> String {
        let r = &self.0;
        let ns: Vec<String> = r.namespaces.iter().map(|(from, to)| format!("{from} → {to}")).collect();
        let mut s = format!(
            "drill {} of backup {}: {}\n  namespaces: {}\n  objects: {}",
            r.name,
            r.backup,
            r.result,
            ns.join(", "),
            r.objects.summary()
        );
        for v in &r.volumes {
            s.push_str(&format!("\n  volume {}", volume_line(v)));
        }
        for line in super::restore_blueprints::summary_lines(&r.dumps) {
            s.push_str(&format!("\n{line}"));
        }
        if !r.readiness.is_empty() {
            s.push_str(&format!("\n  readiness: {}", r.readiness));
        }
        s.push_str(&format!("\n  cleanup: {}", r.cleanup));
        for p in &r.problems {
            s.push_str(&format!("\n  failed: {p}"));
        }
        for w in &r.warnings {
            s.push_str(&format!("\n  warning: {w}"));
        }
        s.push_str(&format!("\n  restore report: arca restore describe {} --details", r.restore));
        s
    }
}

fn volume_line(v: &Value) -> String {
    let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    let count = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
    let mut line = format!("{}: {}", text("claim"), text("state"));
    if text("state") == "Passed" {
        line.push_str(&format!(", {} file(s), {}", count("files"), crate::output::bytes(count("bytes"))));
    }
    if !text("reason").is_empty() {
        line.push_str(&format!(" ({})", text("reason")));
    }
    line
}

#[derive(Serialize)]
#[serde(transparent)]
struct DrillList(Vec<DrillReport>);

impl Render for DrillList {
    fn human(&self) -> String {
        if self.0.is_empty() {
            return "no drills".into();
        }
        crate::output::table(
            &["name", "backup", "result", "objects", "volumes", "namespaces", "started"],
            self.0.iter().map(|r| {
                let passed = r.volumes.iter().filter(|v| v.get("state").and_then(Value::as_str) == Some("Passed"));
                vec![
                    r.name.clone(),
                    r.backup.clone(),
                    r.result.to_string(),
                    format!("{}/{}", r.objects.equal, r.objects.compared),
                    format!("{}/{}", passed.count(), r.volumes.len()),
                    r.namespaces.keys().cloned().collect::<Vec<_>>().join(","),
                    r.started.format("%Y-%m-%d %H:%M:%S").to_string(),
                ]
            }),
        )
    }
}

/// `arca drills`: every stored drill, oldest first.
pub fn list(ctx: &Context) -> Result<i32> {
    let repo = ctx.open_repo()?;
    let (drills, unreadable) = drill::report::load_all(&repo)?;
    for why in unreadable {
        tracing::warn!("{why}");
    }
    emit(ctx.output(), &DrillList(drills))?;
    Ok(exit::OK)
}
