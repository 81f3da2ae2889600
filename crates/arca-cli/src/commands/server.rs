//! `arca server`: the controller, in the cluster or on a workstation
//! against a kubeconfig. Stops on SIGTERM/SIGINT: running backups get
//! `--shutdown-grace` to finish, the rest is marked failed.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow};
use arca_server::ServerConfig;
use clap::Args;

use crate::exit;
use crate::kube_opts::{self, KubeOpts};

#[derive(Args, Debug)]
pub struct ServerArgs {
    /// The namespace the server runs in (its Lease, its mover pods by default)
    #[arg(long, short = 'n', default_value = "arca-system")]
    pub namespace: String,
    /// This replica's name in the Lease and in status.worker (default: POD_NAME, else host and pid)
    #[arg(long)]
    pub identity: Option<String>,
    /// Where /metrics, /healthz and /readyz are served ("none": not served)
    #[arg(long, default_value = "127.0.0.1:8085")]
    pub metrics_address: String,
    /// The dashboard at /ui/ on the metrics address: auto (open on loopback, a bearer token elsewhere), token, open, off
    #[arg(long, default_value = "auto")]
    pub ui: String,
    /// Run each namespace's backups and restores as its tenant ServiceAccount (arca-tenant), impersonated
    #[arg(long)]
    pub tenant_mode: bool,
    /// Image of mover pods (it runs the `arca` binary)
    #[arg(long, default_value = arca_volumes::DEFAULT_MOVER_IMAGE)]
    pub mover_image: String,
    /// Namespace of mover pods and staged snapshots (default: --namespace)
    #[arg(long)]
    pub mover_namespace: Option<String>,
    /// Backups and restores at once per location, unless its spec.maxConcurrent says otherwise
    #[arg(long, default_value_t = 2)]
    pub max_concurrent: u32,
    /// How long the leader's Lease holds without renewal
    #[arg(long, value_parser = humantime::parse_duration, default_value = "15s", value_name = "DURATION")]
    pub lease_duration: Duration,
    /// On SIGTERM/SIGINT, how long running backups and restores may take to finish
    #[arg(long, value_parser = humantime::parse_duration, default_value = "60s", value_name = "DURATION")]
    pub shutdown_grace: Duration,
    /// Read the time schedules use from this file (RFC 3339), for tests
    #[arg(long, hide = true)]
    pub clock_file: Option<PathBuf>,
}

fn identity(args: &ServerArgs) -> String {
    if let Some(id) = &args.identity {
        return id.clone();
    }
    if let Ok(pod) = std::env::var("POD_NAME") {
        if !pod.is_empty() {
            return pod;
        }
    }
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "arca".into());
    format!("{host}-{}", std::process::id())
}

fn metrics_address(text: &str) -> Result<Option<SocketAddr>> {
    if text == "none" || text.is_empty() {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|e| anyhow!("--metrics-address {text:?}: {e} (HOST:PORT, or none)"))
}

pub fn config(args: &ServerArgs) -> Result<ServerConfig> {
    let mut config = ServerConfig::new(&args.namespace, &identity(args));
    config.metrics_address = metrics_address(&args.metrics_address)?;
    config.tenant_mode = args.tenant_mode;
    config.ui_auth =
        arca_server::ui::access::UiAuth::parse(&args.ui, config.metrics_address).map_err(|e| anyhow!(e))?;
    config.mover_image = args.mover_image.clone();
    config.mover_namespace = args.mover_namespace.clone().unwrap_or_else(|| args.namespace.clone());
    config.max_concurrent_per_location = args.max_concurrent.max(1);
    if args.lease_duration < Duration::from_secs(2) {
        return Err(anyhow!("--lease-duration {:?} is too short: give 2s or more", args.lease_duration));
    }
    config.lease_duration = args.lease_duration;
    config.lease_renew_every = args.lease_duration / 3;
    config.shutdown_grace = args.shutdown_grace;
    if let Some(path) = &args.clock_file {
        config.clock = Arc::new(arca_server::clock::FileClock(path.clone()));
    }
    Ok(config)
}

pub fn run(kube: &KubeOpts, args: &ServerArgs) -> Result<i32> {
    let mut config = config(args)?;
    let rt = kube_opts::runtime()?;
    rt.block_on(async {
        let base = arca_kube::connect::client_config(&kube.cluster()).await?;
        let client = kube::Client::try_from(base.clone()).context("building the Kubernetes client")?;
        config.kube_config = Some(base);
        eprintln!("arca server {} in namespace {}", config.identity, config.namespace);
        arca_server::server::run(client, config, stop_signal()).await?;
        anyhow::Ok(())
    })?;
    Ok(exit::OK)
}

/// SIGTERM or SIGINT.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
            (Ok(mut int), Ok(mut term)) => {
                tokio::select! {
                    _ = int.recv() => {},
                    _ = term.recv() => {},
                }
            }
            _ => std::future::pending().await,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    eprintln!("arca server: stopping (running work gets the shutdown grace period)");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_address_none_or_host_port() {
        assert_eq!(metrics_address("none").unwrap(), None);
        assert_eq!(metrics_address("127.0.0.1:8085").unwrap().map(|a| a.port()), Some(8085));
        assert!(metrics_address("localhost").unwrap_err().to_string().contains("--metrics-address"));
    }
}
