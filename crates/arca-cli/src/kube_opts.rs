//! Cluster selection options shared by the Kubernetes commands, like kubectl's,
//! and the async runtime those commands run on.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use clap::Args;

use crate::exit;

#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "Cluster options (global)")]
pub struct KubeOpts {
    /// Kubeconfig file (default: KUBECONFIG, ~/.kube/config, else the in-cluster service account)
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use (default: the current context)
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// Requests per second to the API server, sustained (0: no client-side limit)
    #[arg(long, global = true, value_name = "QPS", default_value_t = 200.0)]
    pub client_qps: f64,
    /// Requests allowed at once above the sustained rate
    #[arg(long, global = true, value_name = "N", default_value_t = 400)]
    pub client_burst: u32,
}

impl KubeOpts {
    pub fn cluster(&self) -> arca_kube::connect::ClusterOptions {
        arca_kube::connect::ClusterOptions { kubeconfig: self.kubeconfig.clone(), context: self.context.clone() }
    }
}

/// A runtime for the commands that talk to a cluster (the repository engine
/// itself is synchronous and runs on blocking threads).
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(2)
        .build()
        .context("starting the async runtime")
}

/// Requests in flight at once, whatever the rate.
const MAX_IN_FLIGHT: usize = 16;

/// Connects to the cluster; returns the API handle and the server address.
pub async fn connect(opts: &KubeOpts) -> Result<(arca_kube::api::Kube, String)> {
    let rate = arca_kube::api::RateLimit::new(opts.client_qps, opts.client_burst)?;
    let conn = arca_kube::connect::connect(&opts.cluster()).await?;
    Ok((arca_kube::api::Kube::new(conn.client, MAX_IN_FLIGHT).with_rate_limit(rate), conn.server))
}

/// Exit code of a backup's or restore's phase.
pub fn phase_code(phase: arca_kube::Phase) -> i32 {
    match phase {
        arca_kube::Phase::Completed => exit::OK,
        arca_kube::Phase::PartiallyFailed => exit::PARTIAL,
        arca_kube::Phase::Failed => exit::FAILURE,
    }
}
