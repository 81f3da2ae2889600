//! Starts a test cluster, writes its kubeconfig, prints `ready`, serves until killed.

use std::io::Write;
use std::path::PathBuf;

use clap::Parser;

#[derive(Parser)]
#[command(about = "An emulated Kubernetes API server with a simulated kubelet, for tests")]
struct Args {
    /// Where to write the kubeconfig.
    #[arg(long)]
    kubeconfig: PathBuf,
    /// Directory for volumes, snapshots and pod files (default: a temporary directory).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Install the CSI snapshot CRDs and the test VolumeSnapshotClass.
    #[arg(long)]
    snapshot_crds: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let mut builder =
        arca_testcluster::TestCluster::builder().kubeconfig(&args.kubeconfig).snapshot_crds(args.snapshot_crds);
    if let Some(dir) = &args.data_dir {
        builder = builder.data_dir(dir);
    }
    let cluster = builder.start().await?;
    eprintln!("serving at {}", cluster.url());
    let mut out = std::io::stdout();
    writeln!(out, "ready")?;
    out.flush()?;
    tokio::signal::ctrl_c().await?;
    drop(cluster);
    Ok(())
}
