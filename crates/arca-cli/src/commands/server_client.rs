//! `--server` mode of `arca backup create` and `arca restore create`: the
//! CLI creates a `Backup` / `Restore` object for `arca server` to carry out;
//! with `--wait` it follows the object's status and exits as the direct
//! mode does (0 Completed, 3 PartiallyFailed, 1 Failed).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use arca_api::backup::{DumpOptions, HookOptions, VolumeOptions};
use arca_api::{Backup, BackupPhase, BackupSpec, Restore, RestorePhase, RestoreSpec};
use arca_kube::restore::mapping::parse_pairs;
use clap::Args;
use kube::api::PostParams;
use kube::{Api, Client};
use serde::Serialize;

use super::backup::{CreateArgs as BackupArgs, SelectionArgs};
use super::restore::CreateArgs as RestoreArgs;
use crate::context::Context;
use crate::exit;
use crate::kube_opts::{self, KubeOpts};
use crate::output::{Render, emit};

/// How often `--wait` reads the object.
const POLL: Duration = Duration::from_secs(1);

#[derive(Args, Debug, Clone, Default)]
pub struct ServerModeArgs {
    /// Create a Backup/Restore object for `arca server` to carry out, instead of doing the work here
    #[arg(long)]
    pub server: bool,
    /// With --server: the BackupLocation to back up into (default: the namespace's default location)
    #[arg(long, requires = "server")]
    pub location: Option<String>,
    /// With --server: the namespace of the object (default: the kubeconfig's)
    #[arg(long, short = 'n', requires = "server")]
    pub namespace: Option<String>,
    /// With --server --wait: how long to follow the object before giving up
    #[arg(long, value_parser = humantime::parse_duration, default_value = "6h", value_name = "DURATION")]
    pub server_timeout: Duration,
}

/// Flags given with a value the server does not carry out.
fn backup_unsupported(args: &BackupArgs) -> Vec<&'static str> {
    let v = &args.volumes;
    let checks = [
        ("--hooks (the server runs hooks from pod annotations)", args.hooks.hooks.is_some()),
        ("--volume-policies", v.volume_policies.is_some()),
        ("--keep-snapshots", v.keep_snapshots),
        (
            "--mover-namespace (the server's --mover-namespace applies)",
            v.mover_namespace != arca_volumes::DEFAULT_NAMESPACE,
        ),
        ("--mover-cpu", v.mover_cpu.is_some()),
        ("--mover-memory", v.mover_memory.is_some()),
        ("--mover-concurrency", v.mover_concurrency != 4),
        ("--movers-per-node", v.movers_per_node != 2),
        ("--kubelet-root", v.kubelet_root != "/var/lib/kubelet"),
        ("--blueprints (the server uses the built-in blueprints)", !args.blueprints.library.blueprints.is_empty()),
        ("--blueprint-bindings", args.blueprints.blueprint_bindings.is_some()),
        ("--no-default-skips", args.no_default_skips),
        ("--page-size", args.page_size != 500),
        ("--concurrency", args.concurrency != 4),
    ];
    checks.into_iter().filter(|(_, given)| *given).map(|(flag, _)| flag).collect()
}

fn some_unless(value: &str, default: &str) -> Option<String> {
    (value != default).then(|| value.to_string())
}

/// The Backup's spec from the same flags as the direct mode.
pub fn backup_spec(args: &BackupArgs) -> Result<BackupSpec> {
    let unsupported = backup_unsupported(args);
    if !unsupported.is_empty() {
        bail!(
            "--server cannot carry out {}: drop them, or back up directly (without --server)",
            unsupported.join(", ")
        );
    }
    let s: &SelectionArgs = &args.selection;
    s.filter_spec()?; // the same checks as the direct mode, before anything is created
    let v = &args.volumes;
    Ok(BackupSpec {
        location: args.server.location.clone(),
        include_namespaces: s.include_namespaces.clone(),
        exclude_namespaces: s.exclude_namespaces.clone(),
        include_resources: s.include_resources.clone(),
        exclude_resources: s.exclude_resources.clone(),
        selector: s.selector.clone(),
        or_selectors: s.or_selector.clone(),
        include_cluster_resources: some_unless(&s.include_cluster_resources, "auto"),
        tags: args.tag.clone(),
        volumes: VolumeOptions {
            mode: some_unless(&v.volumes, "auto"),
            timeout: some_unless(&v.volume_timeout, "30m"),
            mover_image: some_unless(&v.mover_image, arca_volumes::DEFAULT_MOVER_IMAGE),
        },
        hooks: HookOptions {
            enabled: None,
            consistency: some_unless(&args.hooks.consistency, "pod"),
            freeze_timeout: args.hooks.freeze_timeout.clone(),
        },
        dumps: DumpOptions {
            enabled: None,
            timeout: (args.blueprints.dump_timeout != Duration::from_secs(3600))
                .then(|| humantime::format_duration(args.blueprints.dump_timeout).to_string()),
        },
        snapshot: None,
    })
}

fn restore_unsupported(args: &RestoreArgs) -> Vec<&'static str> {
    let checks = [
        ("--item", !args.item.is_empty()),
        ("--storage-class-mappings", !args.storage_class_mappings.is_empty()),
        ("--resource-modifiers", args.resource_modifiers.is_some()),
        ("--restore-status", args.restore_status),
        ("--preserve-node-ports", args.preserve_node_ports),
        ("--include-cluster-managed", args.include_cluster_managed),
        ("--priorities", !args.priorities.is_empty()),
        ("--dry-run", args.dry_run),
        ("--no-scale", args.no_scale),
        ("--to-time", args.pitr.to_time.is_some()),
        ("--or-selector", !args.selection.or_selector.is_empty()),
        ("--blueprints (the server uses the built-in blueprints)", !args.blueprints.library.blueprints.is_empty()),
        ("--blueprint-bindings", args.blueprints.blueprint_bindings.is_some()),
        ("--no-restore-hooks", args.hooks.no_restore_hooks),
    ];
    checks.into_iter().filter(|(_, given)| *given).map(|(flag, _)| flag).collect()
}

/// The Restore's spec from the same flags as the direct mode.
pub fn restore_spec(args: &RestoreArgs) -> Result<RestoreSpec> {
    let unsupported = restore_unsupported(args);
    if !unsupported.is_empty() {
        bail!(
            "--server cannot carry out {}: drop them, or restore directly (without --server)",
            unsupported.join(", ")
        );
    }
    let s = &args.selection;
    s.filter_spec()?;
    let namespace_mapping: BTreeMap<String, String> = parse_pairs(&args.namespace_mappings, "--namespace-mappings")?;
    args.existing_resource_policy.parse::<arca_kube::restore::ExistingPolicy>()?;
    Ok(RestoreSpec {
        backup: args.from_backup.clone(),
        include_namespaces: s.include_namespaces.clone(),
        exclude_namespaces: s.exclude_namespaces.clone(),
        include_resources: s.include_resources.clone(),
        exclude_resources: s.exclude_resources.clone(),
        selector: s.selector.clone(),
        namespace_mapping,
        include_cluster_resources: some_unless(&s.include_cluster_resources, "auto"),
        existing_resource_policy: some_unless(&args.existing_resource_policy, "none"),
        data_only: args.data_only,
        restore_volumes: None,
        wait: args.wait.then(|| humantime::format_duration(args.wait_timeout).to_string()),
        drill: false,
        drill_prefix: None,
    })
}

/// What `--server` prints: the object, and its end when followed.
#[derive(Serialize)]
struct Outcome {
    kind: &'static str,
    namespace: String,
    name: String,
    phase: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<serde_json::Value>,
}

impl Render for Outcome {
    fn human(&self) -> String {
        let mut s = format!("{} {}/{}: {}", self.kind.to_lowercase(), self.namespace, self.name, self.phase);
        if let Some(st) = &self.status {
            if let Some(m) = st["message"].as_str().filter(|m| !m.is_empty()) {
                s.push_str(&format!("\n  {m}"));
            }
            if let Some(snap) = st["snapshot"].as_str() {
                s.push_str(&format!("\n  snapshot {}", &snap[..snap.len().min(8)]));
            }
            for e in st["errors"].as_array().into_iter().flatten() {
                s.push_str(&format!(
                    "\n  error: {}{}: {}",
                    e["reason"].as_str().unwrap_or_default(),
                    e["object"].as_str().map(|o| format!(" {o}")).unwrap_or_default(),
                    e["message"].as_str().unwrap_or_default()
                ));
            }
        }
        s
    }
}

async fn client(kube: &KubeOpts, namespace: &Option<String>) -> Result<(Client, String)> {
    let (api, _) = kube_opts::connect(kube).await?;
    let client = api.client().clone();
    let ns = namespace.clone().unwrap_or_else(|| client.default_namespace().to_string());
    Ok((client, ns))
}

pub fn backup(ctx: &Context, kube: &KubeOpts, args: &BackupArgs) -> Result<i32> {
    let spec = backup_spec(args)?;
    let rt = kube_opts::runtime()?;
    rt.block_on(async {
        let (client, ns) = client(kube, &args.server.namespace).await?;
        let api: Api<Backup> = Api::namespaced(client, &ns);
        let mut obj = Backup::new(&args.name, spec);
        obj.metadata.namespace = Some(ns.clone());
        api.create(&PostParams::default(), &obj).await.map_err(|e| {
            anyhow!("creating Backup {ns}/{}: {e} (are Arca's CRDs installed? `arca install`)", args.name)
        })?;
        if !args.wait {
            emit(
                ctx.output(),
                &Outcome { kind: "Backup", namespace: ns, name: args.name.clone(), phase: "New".into(), status: None },
            )?;
            return Ok(exit::OK);
        }
        let deadline = Instant::now() + args.server.server_timeout;
        let mut last = String::new();
        loop {
            let b = api.get(&args.name).await?;
            let st = b.status.clone().unwrap_or_default();
            let line = format!(
                "{}{}{}",
                st.phase,
                st.progress.as_ref().map(|p| format!(", {} objects", p.objects)).unwrap_or_default(),
                if st.message.is_empty() { String::new() } else { format!(": {}", st.message) }
            );
            if line != last && !ctx.global.quiet {
                eprintln!("backup {ns}/{}: {line}", args.name);
                last = line;
            }
            if st.phase.is_final() {
                let code = match st.phase {
                    BackupPhase::Completed => exit::OK,
                    BackupPhase::PartiallyFailed => exit::PARTIAL,
                    _ => exit::FAILURE,
                };
                let status = serde_json::to_value(&st).ok();
                emit(
                    ctx.output(),
                    &Outcome {
                        kind: "Backup",
                        namespace: ns,
                        name: args.name.clone(),
                        phase: st.phase.to_string(),
                        status,
                    },
                )?;
                return Ok(code);
            }
            if Instant::now() >= deadline {
                bail!(
                    "backup {ns}/{} is still {} after --server-timeout {}: see `kubectl describe backup {} -n {ns}`",
                    args.name,
                    st.phase,
                    humantime::format_duration(args.server.server_timeout),
                    args.name
                );
            }
            tokio::time::sleep(POLL).await;
        }
    })
}

pub fn restore(ctx: &Context, kube: &KubeOpts, args: &RestoreArgs) -> Result<i32> {
    let spec = restore_spec(args)?;
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("{}-{}", args.from_backup, chrono::Utc::now().format("%Y%m%d%H%M%S")));
    let rt = kube_opts::runtime()?;
    rt.block_on(async {
        let (client, ns) = client(kube, &args.server.namespace).await?;
        let api: Api<Restore> = Api::namespaced(client, &ns);
        let mut obj = Restore::new(&name, spec);
        obj.metadata.namespace = Some(ns.clone());
        api.create(&PostParams::default(), &obj)
            .await
            .map_err(|e| anyhow!("creating Restore {ns}/{name}: {e} (are Arca's CRDs installed? `arca install`)"))?;
        if !args.wait {
            emit(ctx.output(), &Outcome { kind: "Restore", namespace: ns, name, phase: "New".into(), status: None })?;
            return Ok(exit::OK);
        }
        let deadline = Instant::now() + args.server.server_timeout;
        let mut last = String::new();
        loop {
            let r = api.get(&name).await?;
            let st = r.status.clone().unwrap_or_default();
            let line = format!("{}{}", st.phase, if st.message.is_empty() { String::new() } else { format!(": {}", st.message) });
            if line != last && !ctx.global.quiet {
                eprintln!("restore {ns}/{name}: {line}");
                last = line;
            }
            if st.phase.is_final() {
                let code = match st.phase {
                    RestorePhase::Completed => exit::OK,
                    RestorePhase::PartiallyFailed => exit::PARTIAL,
                    _ => exit::FAILURE,
                };
                let status = serde_json::to_value(&st).ok();
                emit(ctx.output(), &Outcome { kind: "Restore", namespace: ns, name, phase: st.phase.to_string(), status })?;
                return Ok(code);
            }
            if Instant::now() >= deadline {
                bail!(
                    "restore {ns}/{name} is still {} after --server-timeout {}: see `kubectl describe restore {name} -n {ns}`",
                    st.phase,
                    humantime::format_duration(args.server.server_timeout)
                );
            }
            tokio::time::sleep(POLL).await;
        }
    })
}
