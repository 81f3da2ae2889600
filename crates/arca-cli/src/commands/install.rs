//! `arca install`: print, apply or write Arca's install manifests
//! (`arca-install`): server-side apply as field manager `arca-install`,
//! CRDs first and waited for until Established.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use arca_install::InstallOptions;
use arca_kube::api::Kube;
use clap::Args;
use serde_json::{Value, json};

use crate::cli::OutputFormat;
use crate::context::Context;
use crate::kube_opts::{self, KubeOpts};

/// How long CRDs may take to become Established.
const CRD_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Args, Debug)]
pub struct InstallArgs {
    /// Print the manifests (YAML, or JSON with -o json) instead of applying them
    #[arg(long)]
    pub dry_run: bool,
    /// The namespace the server runs in
    #[arg(long, short = 'n', default_value = arca_install::DEFAULT_NAMESPACE)]
    pub namespace: String,
    /// The server's (and mover pods') image [default: this version's image]
    #[arg(long, value_name = "IMG")]
    pub image: Option<String>,
    /// Server replicas (more than one is safe: leader election)
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub replicas: u32,
    /// Run each namespace's backups as its `arca-tenant` ServiceAccount
    #[arg(long)]
    pub tenant_mode: bool,
    /// Add the node agent DaemonSet (pre-pulls the mover image on every node)
    #[arg(long)]
    pub node_agent: bool,
    /// Port of /metrics, /healthz and /readyz
    #[arg(long, value_name = "PORT", default_value_t = arca_install::DEFAULT_METRICS_PORT)]
    pub metrics_port: u16,
    /// Instead of the server: make these namespaces tenants (their `arca-tenant`
    /// ServiceAccount and RoleBinding; needs an install with --tenant-mode)
    #[arg(long, value_name = "NAMESPACE")]
    pub tenant: Vec<String>,
    /// Write a Kustomize base to DIR
    #[arg(long, value_name = "DIR")]
    pub kustomize: Option<PathBuf>,
    /// Write a Helm chart to DIR
    #[arg(long, value_name = "DIR")]
    pub helm_chart: Option<PathBuf>,
}

impl InstallArgs {
    fn options(&self) -> Result<InstallOptions> {
        if self.replicas == 0 {
            bail!("--replicas must be at least 1 (the server does nothing without a replica)");
        }
        Ok(InstallOptions {
            namespace: self.namespace.clone(),
            image: self.image.clone().unwrap_or_else(arca_install::default_image),
            replicas: self.replicas,
            tenant_mode: self.tenant_mode,
            node_agent: self.node_agent,
            metrics_port: self.metrics_port,
        })
    }
}

pub fn run(ctx: &Context, kube: &KubeOpts, args: &InstallArgs) -> Result<i32> {
    let opts = args.options()?;
    let writes_files = args.kustomize.is_some() || args.helm_chart.is_some();
    if let Some(dir) = &args.kustomize {
        write_files(dir, arca_install::kustomize_base(&opts))?;
        eprintln!("wrote the Kustomize base to {}", dir.display());
    }
    if let Some(dir) = &args.helm_chart {
        write_files(dir, arca_install::helm_chart(&opts))?;
        eprintln!("wrote the Helm chart to {}", dir.display());
    }
    if writes_files && !args.dry_run {
        return Ok(crate::exit::OK);
    }
    let objects = if args.tenant.is_empty() {
        arca_install::manifests(&opts)
    } else {
        args.tenant.iter().flat_map(|ns| arca_install::rbac::tenant_objects(ns)).collect()
    };
    if args.dry_run {
        print_manifests(ctx.output(), &objects)?;
        return Ok(crate::exit::OK);
    }
    let rt = kube_opts::runtime()?;
    rt.block_on(async {
        let (api, server) = kube_opts::connect(kube).await?;
        eprintln!("installing into {server}");
        apply_all(&api, &objects).await
    })?;
    Ok(crate::exit::OK)
}

fn print_manifests(format: OutputFormat, objects: &[Value]) -> Result<()> {
    match format {
        OutputFormat::Json => {
            let list = json!({"apiVersion": "v1", "kind": "List", "items": objects});
            println!("{}", serde_json::to_string_pretty(&list)?);
        }
        OutputFormat::Table | OutputFormat::Yaml => print!("{}", arca_install::to_yaml(objects)),
    }
    Ok(())
}

fn write_files(dir: &Path, files: Vec<(PathBuf, String)>) -> Result<()> {
    for (relative, text) in files {
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Applies in order; after the last CRD, waits until every CRD is Established
/// (objects of their types can be served only then).
async fn apply_all(api: &Kube, objects: &[Value]) -> Result<()> {
    let last_crd = objects.iter().rposition(is_crd);
    for (i, obj) in objects.iter().enumerate() {
        let outcome = apply_one(api, obj).await?;
        println!("{} {outcome}", arca_install::apply::shown(obj));
        if Some(i) == last_crd {
            let names: Vec<&str> =
                objects.iter().filter(|o| is_crd(o)).filter_map(|o| o["metadata"]["name"].as_str()).collect();
            wait_established(api, &names).await?;
        }
    }
    Ok(())
}

fn is_crd(obj: &Value) -> bool {
    obj["kind"] == "CustomResourceDefinition"
}

async fn apply_one(api: &Kube, obj: &Value) -> Result<&'static str> {
    let what = arca_install::describe(obj);
    let Some(path) = arca_install::apply::object_path(obj) else {
        bail!("{what}: no API path known for this object (apiVersion and kind needed)");
    };
    let before = api.get_opt(&path, &what).await.with_context(|| format!("reading {what}"))?;
    let after = api
        .apply_as(&path, obj, arca_install::FIELD_MANAGER, &what)
        .await
        .with_context(|| format!("applying {what}"))?;
    Ok(arca_install::apply::outcome(before.as_ref(), &after))
}

async fn wait_established(api: &Kube, names: &[&str]) -> Result<()> {
    let start = Instant::now();
    for name in names {
        let path = format!("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}");
        loop {
            let crd = api.get(&path, &format!("CRD {name}")).await?;
            if arca_install::apply::established(&crd) {
                break;
            }
            if start.elapsed() > CRD_TIMEOUT {
                bail!(
                    "CRD {name} is not Established after {}s ({}): Arca's objects can't be served; \
                     check the API server's logs and `kubectl describe crd {name}`",
                    CRD_TIMEOUT.as_secs(),
                    arca_install::apply::conditions_summary(&crd)
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(())
}
