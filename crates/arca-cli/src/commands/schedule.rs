//! `arca schedule create|list|describe|pause|unpause|delete`: `Schedule`
//! objects that `arca server` runs (backups on a cron schedule, GFS
//! retention). The cron expression and zone are checked here first with
//! the server's own code.

use anyhow::{Context as _, Result, bail};
use arca_api::backup::{DumpOptions, HookOptions, VolumeOptions};
use arca_api::schedule::{MissedRunPolicy, OverlapPolicy, Retention};
use arca_api::{BackupSpec, Schedule, ScheduleSpec};
use clap::{Args, Subcommand, ValueEnum};
use kube::api::{DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde::Serialize;

use super::backup::SelectionArgs;
use crate::context::Context;
use crate::exit;
use crate::kube_opts::{self, KubeOpts};
use crate::output::{Render, emit, table};

#[derive(Subcommand, Debug)]
pub enum ScheduleCommand {
    /// Create a schedule (runs at its next due time, never at once)
    Create(Box<CreateArgs>),
    /// List schedules
    List(NamespaceArg),
    /// Show a schedule's spec and status
    Describe(NameArgs),
    /// Stop starting runs (a running backup goes on)
    Pause(NameArgs),
    /// Start runs again at the next due time (never at once)
    Unpause(NameArgs),
    /// Delete a schedule (its backups stay)
    Delete(NameArgs),
}

#[derive(Args, Debug, Clone)]
pub struct NamespaceArg {
    /// Namespace of the schedule (default: the kubeconfig's)
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct NameArgs {
    /// Schedule name
    pub name: String,
    #[command(flatten)]
    pub ns: NamespaceArg,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlap {
    /// Skip a run due while the previous one is going (and say so)
    Skip,
    /// Start it anyway
    Allow,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missed {
    /// One run however many were missed while the server was away
    RunOnce,
    /// None: wait for the next due time
    Skip,
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Schedule name (its backups are named NAME-YYYYMMDDHHMMSS)
    pub name: String,
    /// Cron expression, 5 fields (`0 2 * * *`) or a macro (`@daily`)
    #[arg(long)]
    pub schedule: String,
    /// IANA time zone the expression is read in (e.g. Europe/Berlin; default UTC)
    #[arg(long)]
    pub timezone: Option<String>,
    #[command(flatten)]
    pub keep: crate::cli::KeepArgs,
    /// What to do with a run due while the previous one is going
    #[arg(long, value_enum, default_value_t = Overlap::Skip)]
    pub overlap: Overlap,
    /// What to do with runs missed while the server was away
    #[arg(long, value_enum, default_value_t = Missed::RunOnce)]
    pub missed_runs: Missed,
    /// Create it paused
    #[arg(long)]
    pub paused: bool,
    /// Restore drill (`arca verify --drill`, run by the server) after every N-th Completed backup
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub drill_every: Option<u32>,
    /// The BackupLocation its backups go to (default: the namespace's default location)
    #[arg(long)]
    pub location: Option<String>,
    #[command(flatten)]
    pub ns: NamespaceArg,
    #[command(flatten)]
    pub selection: SelectionArgs,
    /// Tag every backup's snapshot (repeatable; `schedule=NAME` is added)
    #[arg(long)]
    pub tag: Vec<String>,
    /// How claims' data is protected: auto, move, snapshot, fs, none
    #[arg(long)]
    pub volumes: Option<String>,
    /// Time one volume may take, e.g. 90s, 10m
    #[arg(long)]
    pub volume_timeout: Option<String>,
    /// Image of mover pods (default: the server's own)
    #[arg(long)]
    pub mover_image: Option<String>,
    /// Run no backup hooks
    #[arg(long)]
    pub no_hooks: bool,
    /// pod or group
    #[arg(long)]
    pub consistency: Option<String>,
    /// The longest a pod stays frozen
    #[arg(long)]
    pub freeze_timeout: Option<String>,
    /// Take no blueprint dumps
    #[arg(long)]
    pub no_dumps: bool,
    /// Time one dump stream may take
    #[arg(long)]
    pub dump_timeout: Option<String>,
}

pub fn run(ctx: &Context, kube: &KubeOpts, cmd: ScheduleCommand) -> Result<i32> {
    if let ScheduleCommand::Create(args) = &cmd {
        // Checked before connecting: a typo is reported without a cluster.
        arca_server::schedule::cron::validate(&args.schedule, args.timezone.as_deref())
            .map_err(|e| anyhow::anyhow!("--schedule/--timezone: {e}"))?;
    }
    let rt = kube_opts::runtime()?;
    rt.block_on(async {
        let conn = arca_kube::connect::connect(&kube.cluster()).await?;
        let client = conn.client;
        let ns_of = |n: &NamespaceArg| n.namespace.clone().unwrap_or_else(|| client.default_namespace().to_string());
        match cmd {
            ScheduleCommand::Create(args) => {
                let api: Api<Schedule> = Api::namespaced(client.clone(), &ns_of(&args.ns));
                let s = api.create(&PostParams::default(), &schedule_of(&args)?).await.map_err(|e| {
                    anyhow::anyhow!("creating Schedule {}: {}", args.name, already_exists_hint(&e, &args.name))
                })?;
                emit(ctx.output(), &Described(s))?;
            }
            ScheduleCommand::List(ns) => {
                let api: Api<Schedule> = Api::namespaced(client.clone(), &ns_of(&ns));
                let list = api.list(&Default::default()).await.context("listing Schedules")?;
                emit(ctx.output(), &Listed(list.items))?;
            }
            ScheduleCommand::Describe(a) => {
                let s = get(&Api::namespaced(client.clone(), &ns_of(&a.ns)), &a.name).await?;
                emit(ctx.output(), &Described(s))?;
            }
            ScheduleCommand::Pause(a) => {
                set_paused(ctx, &Api::namespaced(client.clone(), &ns_of(&a.ns)), &a.name, true).await?
            }
            ScheduleCommand::Unpause(a) => {
                set_paused(ctx, &Api::namespaced(client.clone(), &ns_of(&a.ns)), &a.name, false).await?
            }
            ScheduleCommand::Delete(a) => {
                let api: Api<Schedule> = Api::namespaced(client.clone(), &ns_of(&a.ns));
                get(&api, &a.name).await?;
                api.delete(&a.name, &DeleteParams::default())
                    .await
                    .with_context(|| format!("deleting Schedule {}", a.name))?;
                emit(ctx.output(), &Message(format!("deleted schedule {} (its backups stay)", a.name)))?;
            }
        }
        anyhow::Ok(exit::OK)
    })
}

fn already_exists_hint(e: &kube::Error, name: &str) -> String {
    match e {
        kube::Error::Api(s) if s.code == 409 => {
            format!(
                "a schedule named {name:?} exists already: pick another name or `arca schedule delete {name}` first"
            )
        }
        other => other.to_string(),
    }
}

async fn get(api: &Api<Schedule>, name: &str) -> Result<Schedule> {
    match api.get_opt(name).await.with_context(|| format!("reading Schedule {name}"))? {
        Some(s) => Ok(s),
        None => bail!("no schedule {name:?} in this namespace: `arca schedule list` shows them"),
    }
}

fn none_if_empty(v: &Option<String>) -> Option<String> {
    v.clone().filter(|s| !s.trim().is_empty())
}

fn schedule_of(a: &CreateArgs) -> Result<Schedule> {
    let sel = &a.selection;
    sel.filter_spec()?; // the same checks as `arca backup create`
    let template = BackupSpec {
        location: none_if_empty(&a.location),
        include_namespaces: sel.include_namespaces.clone(),
        exclude_namespaces: sel.exclude_namespaces.clone(),
        include_resources: sel.include_resources.clone(),
        exclude_resources: sel.exclude_resources.clone(),
        selector: none_if_empty(&sel.selector),
        or_selectors: sel.or_selector.clone(),
        include_cluster_resources: Some(sel.include_cluster_resources.clone()).filter(|c| c != "auto"),
        tags: a.tag.clone(),
        volumes: VolumeOptions {
            mode: none_if_empty(&a.volumes),
            timeout: none_if_empty(&a.volume_timeout),
            mover_image: none_if_empty(&a.mover_image),
        },
        hooks: HookOptions {
            enabled: a.no_hooks.then_some(false),
            consistency: none_if_empty(&a.consistency),
            freeze_timeout: none_if_empty(&a.freeze_timeout),
        },
        dumps: DumpOptions { enabled: a.no_dumps.then_some(false), timeout: none_if_empty(&a.dump_timeout) },
        snapshot: None,
    };
    let k = a.keep;
    let retention = Retention {
        keep_last: k.keep_last,
        keep_hourly: k.keep_hourly,
        keep_daily: k.keep_daily,
        keep_weekly: k.keep_weekly,
        keep_monthly: k.keep_monthly,
        keep_yearly: k.keep_yearly,
    };
    let spec = ScheduleSpec {
        schedule: a.schedule.trim().to_string(),
        time_zone: none_if_empty(&a.timezone),
        paused: a.paused,
        template,
        retention,
        overlap_policy: match a.overlap {
            Overlap::Skip => OverlapPolicy::Skip,
            Overlap::Allow => OverlapPolicy::Allow,
        },
        missed_run_policy: match a.missed_runs {
            Missed::RunOnce => MissedRunPolicy::RunOnce,
            Missed::Skip => MissedRunPolicy::Skip,
        },
        drill: a
            .drill_every
            .map(|every| arca_api::schedule::ScheduleDrill { every: Some(every), ..Default::default() }),
    };
    let mut s = Schedule::new(&a.name, spec);
    s.metadata = ObjectMeta { name: Some(a.name.clone()), ..Default::default() };
    Ok(s)
}

async fn set_paused(ctx: &Context, api: &Api<Schedule>, name: &str, paused: bool) -> Result<()> {
    get(api, name).await?;
    let patch = serde_json::json!({"spec": {"paused": paused}});
    let s = api
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .with_context(|| format!("updating Schedule {name}"))?;
    let msg = if paused {
        format!("paused schedule {name}: no runs start until `arca schedule unpause {name}`")
    } else {
        format!("unpaused schedule {name}: it runs at its next due time (not now)")
    };
    emit(ctx.output(), &Changed { message: msg, schedule: s })
}

fn time(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M:%SZ").to_string()).unwrap_or_else(|| "-".into())
}

#[derive(Serialize)]
#[serde(transparent)]
struct Listed(Vec<Schedule>);

impl Render for Listed {
    fn human(&self) -> String {
        if self.0.is_empty() {
            return "no schedules".to_string();
        }
        let rows = self.0.iter().map(|s| {
            let st = s.status.clone().unwrap_or_default();
            vec![
                s.name_any(),
                s.spec.schedule.clone(),
                s.spec.time_zone.clone().unwrap_or_else(|| "UTC".into()),
                s.spec.paused.to_string(),
                time(st.last_success_time),
                time(st.next_run_time),
            ]
        });
        table(&["name", "schedule", "zone", "paused", "last success", "next"], rows)
    }
}

#[derive(Serialize)]
#[serde(transparent)]
struct Described(Schedule);

impl Render for Described {
    fn human(&self) -> String {
        let s = &self.0;
        let st = s.status.clone().unwrap_or_default();
        let r = &s.spec.retention;
        let keep: Vec<String> = [
            ("last", r.keep_last),
            ("hourly", r.keep_hourly),
            ("daily", r.keep_daily),
            ("weekly", r.keep_weekly),
            ("monthly", r.keep_monthly),
            ("yearly", r.keep_yearly),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| format!("{k} {v}")))
        .collect();
        let mut out = vec![
            format!("schedule {}/{}", s.namespace().unwrap_or_default(), s.name_any()),
            format!("  cron         {} ({})", s.spec.schedule, s.spec.time_zone.as_deref().unwrap_or("UTC")),
            format!("  paused       {}", s.spec.paused),
            format!("  overlap      {:?}, missed runs {:?}", s.spec.overlap_policy, s.spec.missed_run_policy),
            format!("  retention    {}", if keep.is_empty() { "keep all".to_string() } else { keep.join(", ") }),
            format!("  location     {}", s.spec.template.location.as_deref().unwrap_or("(namespace default)")),
            format!("  next run     {}", time(st.next_run_time)),
            format!("  last run     {} {}", time(st.last_schedule_time), st.last_backup.as_deref().unwrap_or("")),
            format!("  last status  {}", st.last_status.as_deref().unwrap_or("-")),
            format!(
                "  last success {} {}",
                time(st.last_success_time),
                st.last_successful_backup.as_deref().unwrap_or("")
            ),
            format!("  skipped runs {}", st.skipped_runs),
        ];
        for c in &st.conditions {
            out.push(format!("  condition    {}={} {} {}", c.type_, c.status, c.reason, c.message));
        }
        out.join("\n")
    }
}

#[derive(Serialize)]
struct Changed {
    message: String,
    schedule: Schedule,
}

impl Render for Changed {
    fn human(&self) -> String {
        self.message.clone()
    }
}

#[derive(Serialize)]
#[serde(transparent)]
struct Message(String);

impl Render for Message {
    fn human(&self) -> String {
        self.0.clone()
    }
}
