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
    /// Also serve groupsnapshot.storage.k8s.io at this version (v1beta1 or v1beta2) with a test class.
    #[arg(long, value_name = "VERSION")]
    group_snapshots: Option<String>,
    /// The Kubernetes release to imitate: 1.25, 1.29 or 1.33.
    #[arg(long, value_name = "VERSION", default_value = "1.33")]
    kubernetes_version: String,
    /// Create the objects of this file (one JSON object per line) before serving.
    #[arg(long, value_name = "FILE")]
    load: Option<PathBuf>,
    /// Put this directory first on every container's PATH (repeatable): what the "images" hold.
    #[arg(long, value_name = "DIR")]
    container_path: Vec<PathBuf>,
    /// How many nodes run pods: 1 is `arca-node`, more are `arca-node-1` … `arca-node-N`.
    #[arg(long, value_name = "N", default_value_t = 1)]
    nodes: usize,
    /// Images starting with this prefix cannot be pulled (repeatable).
    #[arg(long, value_name = "PREFIX")]
    unpullable_image: Vec<String>,
    /// Enforce RBAC (default: every request is allowed).
    #[arg(long)]
    rbac: bool,
}

/// Creates the objects of a JSON-lines file, read one line at a time; stops
/// at the first line that is not a JSON object, naming it.
fn load(cluster: &arca_testcluster::TestCluster, path: &PathBuf) -> anyhow::Result<usize> {
    use std::io::BufRead;
    let file = std::fs::File::open(path).map_err(|e| anyhow::anyhow!("opening {}: {e}", path.display()))?;
    let mut bad: Option<anyhow::Error> = None;
    let objects = std::io::BufReader::new(file).lines().enumerate().map_while(|(n, line)| {
        let parsed = line.map_err(anyhow::Error::from).and_then(|l| Ok(serde_json::from_str(&l)?));
        parsed.map_err(|e| bad = Some(anyhow::anyhow!("{} line {}: {e}", path.display(), n + 1))).ok()
    });
    let created = cluster.create_objects(objects)?;
    bad.map_or(Ok(created), Err)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let mut builder = arca_testcluster::TestCluster::builder()
        .kubeconfig(&args.kubeconfig)
        .snapshot_crds(args.snapshot_crds)
        .kubernetes_version(&args.kubernetes_version)
        .nodes(args.nodes)
        .rbac(args.rbac);
    for prefix in &args.unpullable_image {
        builder = builder.unpullable_image(prefix);
    }
    if let Some(dir) = &args.data_dir {
        builder = builder.data_dir(dir);
    }
    if let Some(version) = &args.group_snapshots {
        builder = builder.group_snapshots(version);
    }
    for dir in &args.container_path {
        builder = builder.container_path(dir);
    }
    let cluster = builder.start().await?;
    if let Some(path) = &args.load {
        let n = load(&cluster, path)?;
        // Loading is setup, not history: forget its events as etcd compaction would.
        cluster.compact();
        eprintln!("loaded {n} object(s) from {}", path.display());
    }
    eprintln!("serving at {}", cluster.url());
    let mut out = std::io::stdout();
    writeln!(out, "ready")?;
    out.flush()?;
    tokio::signal::ctrl_c().await?;
    drop(cluster);
    Ok(())
}
