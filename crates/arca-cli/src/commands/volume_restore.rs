//! `arca volume restore BACKUP NS/CLAIM [--to NS/NEW]`: one claim's data
//! restored into a new claim beside the original, for inspection; and the
//! mover options restores share (`arca restore create` uses them too).

use std::time::Duration;

use anyhow::{Context as _, Result, anyhow, bail};
use arca_kube::backup::BackupReport;
use arca_kube::catalog::{Catalog, CatalogPath};
use arca_kube::data::{ClaimRewrite, ClaimToRestore, RestoreData, RestoredClaim};
use arca_repo::{Repository, SnapshotEntry};
use arca_volumes::record::{self, VolumeRecord};
use arca_volumes::restore::VolumeRestorer;
use arca_volumes::restore::claim::BIND_ANNOTATIONS;
use arca_volumes::restore::result::{RestoreState, VolumeRestore};
use arca_volumes::restore::settings::MoverSettings;
use clap::Args;
use serde::Serialize;
use serde_json::{Value, json};

use crate::context::Context;
use crate::exit;
use crate::kube_opts::{self, KubeOpts};
use crate::output::{Render, emit};

/// How restore movers run.
#[derive(Args, Debug, Clone)]
pub struct MoverArgs {
    /// Image of the restore mover pods (the `arca` binary of this version)
    #[arg(long, default_value = arca_volumes::DEFAULT_MOVER_IMAGE)]
    pub mover_image: String,
    /// Restore movers running at once
    #[arg(long, default_value_t = 4)]
    pub mover_concurrency: usize,
    /// How long one volume's restore (its mover, its snapshot, its pods stopping) may take
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30m", value_name = "DURATION")]
    pub volume_timeout: Duration,
}

#[derive(Args, Debug)]
pub struct VolumeRestoreArgs {
    /// Backup holding the claim's data (name or snapshot id)
    pub backup: String,
    /// The backed-up claim: NAMESPACE/NAME
    pub claim: String,
    /// The new claim: NAMESPACE/NAME (default: NAME-restored beside the original)
    #[arg(long, value_name = "NAMESPACE/NAME")]
    pub to: Option<String>,
    #[command(flatten)]
    pub movers: MoverArgs,
}

/// Opens the repository, keeping the password for the movers' Secret (asked once).
pub fn open_repo(ctx: &Context) -> Result<(Repository, Vec<u8>)> {
    open_repo_through(ctx, true)
}

/// As [`open_repo`]; around the metadata cache unless `cached` (a drill
/// proves what storage holds, as a new machine would read it).
pub fn open_repo_through(ctx: &Context, cached: bool) -> Result<(Repository, Vec<u8>)> {
    let url = ctx.repo_url()?;
    let password = ctx.password()?;
    let backend = if cached { ctx.backend(url)? } else { ctx.backend_uncached(url)? };
    let repo = Repository::open(backend, &password)?;
    repo.load_index().with_context(|| format!("loading the index of {}", repo.location()))?;
    Ok((repo, password))
}

/// The backup's volume records; ones that do not parse are named on stderr
/// (their claims restore without data).
pub fn records(backup: &SnapshotEntry) -> Result<Vec<VolumeRecord>> {
    let report = BackupReport::from_snapshot(backup)?;
    let mut out = Vec::new();
    for r in record::from_report(&report.volumes) {
        match r {
            Ok(r) => out.push(r),
            Err(why) => tracing::warn!("{why}; its data is not restored"),
        }
    }
    Ok(out)
}

/// The restore's data phase, from the backup's records and the mover options.
pub fn phase(
    ctx: &Context,
    restore: &str,
    records: Vec<VolumeRecord>,
    password: Vec<u8>,
    movers: &MoverArgs,
    no_scale: bool,
) -> Result<VolumeRestorer> {
    let mut settings = MoverSettings::new(ctx.repo_url()?, password);
    settings.image = movers.mover_image.clone();
    settings.concurrency = movers.mover_concurrency.max(1);
    settings.timeout = movers.volume_timeout;
    settings.env = std::env::vars().collect();
    settings.no_scale = no_scale;
    Ok(VolumeRestorer::new(restore, records, settings))
}

/// Lines of a restore report's volume results, for its summary.
pub fn summary_lines(volumes: &[Value]) -> Vec<String> {
    volumes
        .iter()
        .map(|v| match serde_json::from_value::<VolumeRestore>(v.clone()) {
            Ok(r) => format!("  {}", r.log_line()),
            Err(_) => format!("  volume {v}"),
        })
        .collect()
}

fn split_claim(s: &str, what: &str) -> Result<(String, String)> {
    match s.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
            Ok((ns.to_string(), name.to_string()))
        }
        _ => bail!("{what} {s:?} is not NAMESPACE/NAME"),
    }
}

pub fn run(ctx: &Context, kube: &KubeOpts, args: &VolumeRestoreArgs) -> Result<i32> {
    let (source_ns, source_name) = split_claim(&args.claim, "the claim")?;
    let (ns, name) = match &args.to {
        Some(to) => split_claim(to, "--to")?,
        None => (source_ns.clone(), format!("{source_name}-restored")),
    };
    let (repo, password) = open_repo(ctx)?;
    let backup = arca_kube::backup::find_backup(&repo, &args.backup)?;
    let records = records(&backup)?;
    if !records.iter().any(|r| r.claim == args.claim && !r.inline) {
        bail!(
            "backup {} holds no volume data of claim {}; `arca volume list {}` shows what it has",
            args.backup,
            args.claim,
            args.backup
        );
    }
    let claim = backed_up_claim(&repo, &backup, &source_ns, &source_name)?;
    let desired = new_claim(&claim, &ns, &name, &args.backup, &args.claim);
    let restore = format!("volume-{}-{}", args.backup, chrono::Utc::now().format("%Y%m%d%H%M%S"));
    let restorer = phase(ctx, &restore, records, password, &args.movers, false)?;
    let rt = kube_opts::runtime()?;
    let result = rt.block_on(async {
        let (api, _) = kube_opts::connect(kube).await?;
        restore_beside(&api, &restorer, &args.claim, desired, &ns, &name).await
    })?;
    let code = if result.state == RestoreState::Failed { exit::FAILURE } else { exit::OK };
    emit(ctx.output(), &Shown(result))?;
    Ok(code)
}

/// The claim as stored in the backup's catalog.
fn backed_up_claim(repo: &Repository, backup: &SnapshotEntry, ns: &str, name: &str) -> Result<Value> {
    let catalog = Catalog::open(repo, &backup.snapshot.tree)?;
    let path = CatalogPath {
        namespace: Some(ns.to_string()),
        group: String::new(),
        resource: "persistentvolumeclaims".into(),
        name: name.to_string(),
    };
    let entry =
        catalog.find(&path)?.ok_or_else(|| anyhow!("backup {} holds no claim {ns}/{name}", backup.id.short()))?;
    Ok(catalog.load(&entry)?)
}

/// The backed-up claim's spec under a new name (its labels and own
/// annotations kept, the binding ones and the server's fields dropped).
fn new_claim(claim: &Value, ns: &str, name: &str, backup: &str, source: &str) -> Value {
    let mut annotations = claim["metadata"]["annotations"].as_object().cloned().unwrap_or_default();
    for key in BIND_ANNOTATIONS.iter().chain(&["kubectl.kubernetes.io/last-applied-configuration"]) {
        annotations.remove(*key);
    }
    annotations.insert("arca.io/restored-from".into(), json!(format!("{backup} {source}")));
    let mut new = json!({
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": claim["metadata"]["labels"].as_object().cloned().unwrap_or_default(),
            "annotations": annotations,
        },
        "spec": claim["spec"].clone(),
    });
    // Its own volume: the original's stays with the original.
    arca_volumes::restore::claim::fresh(&mut new);
    new
}

async fn restore_beside(
    api: &arca_kube::api::Kube,
    restorer: &VolumeRestorer,
    source: &str,
    mut desired: Value,
    ns: &str,
    name: &str,
) -> Result<VolumeRestore> {
    let ns_path = format!("/api/v1/namespaces/{ns}");
    if api.get_opt(&ns_path, "reading the target namespace").await?.is_none() {
        bail!("namespace {ns} does not exist: create it, or choose another with --to NAMESPACE/NAME");
    }
    let claim = ClaimToRestore { kube: api, source: source.to_string(), namespace: ns, name, dry_run: false };
    match restorer.rewrite(&claim, &mut desired).await {
        ClaimRewrite::Fill(note) => tracing::info!("{ns}/{name}: {note}"),
        ClaimRewrite::Refuse(why) => bail!("claim {ns}/{name} not created: {why}"),
        ClaimRewrite::Unchanged(why) => {
            bail!("claim {ns}/{name} not created: {}", why.unwrap_or_else(|| "no data to restore".into()))
        }
    }
    let collection = format!("{ns_path}/persistentvolumeclaims");
    api.create(&collection, &desired, &format!("creating claim {ns}/{name}")).await?;
    let claims = vec![RestoredClaim { source: source.to_string(), namespace: ns.to_string(), name: name.to_string() }];
    let no_namespaces = |_: &str| None;
    let ctx = RestoreData { kube: api, restore: restorer.restore_name(), claims, namespaces: &no_namespaces };
    let outcome = restorer.fill_all(ctx).await;
    let result = outcome.volumes.into_iter().next().and_then(|v| serde_json::from_value::<VolumeRestore>(v).ok());
    result.ok_or_else(|| anyhow!("claim {ns}/{name} was created, but no volume result came back"))
}

#[derive(Serialize)]
#[serde(transparent)]
struct Shown(VolumeRestore);

impl Render for Shown {
    fn human(&self) -> String {
        self.0.log_line()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_new_claim_keeps_the_spec_and_drops_the_binding() {
        let old = json!({"metadata": {"name": "data", "namespace": "shop", "uid": "u1", "labels": {"app": "db"},
            "annotations": {"pv.kubernetes.io/bind-completed": "yes", "team": "a"}},
            "spec": {"volumeName": "pvc-1", "accessModes": ["ReadWriteOnce"]}, "status": {"phase": "Bound"}});
        let new = new_claim(&old, "lab", "copy", "nightly", "shop/data");
        assert_eq!(new["metadata"]["name"], "copy");
        assert_eq!(new["metadata"]["namespace"], "lab");
        assert!(new["metadata"].get("uid").is_none() && new.get("status").is_none());
        assert!(new["spec"].get("volumeName").is_none());
        assert_eq!(new["metadata"]["annotations"]["team"], "a");
        assert!(new["metadata"]["annotations"].get("pv.kubernetes.io/bind-completed").is_none());
        assert_eq!(new["metadata"]["annotations"]["arca.io/restored-from"], "nightly shop/data");
        assert!(split_claim("a/b/c", "x").is_err());
        assert_eq!(split_claim("a/b", "x").unwrap(), ("a".into(), "b".into()));
    }
}
