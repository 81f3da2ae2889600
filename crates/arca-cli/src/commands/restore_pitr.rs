//! `--to-time` for `arca restore create` and `arca mover pitr`: the wiring
//! of PostgreSQL point-in-time recovery into Kubernetes restores
//! (`docs/PITR.md`; base backups join a backup in `arca_apps::phases`).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, Result, anyhow, bail};
use arca_apps::wal::phase::{KIND, PodBaseBackup};
use arca_apps::wal::restore_phase::{Excluding, PitrRestorePhase, PitrTarget, claims};
use arca_apps::wal::{base_backup, recovery};
use arca_kube::backup::BackupReport;
use arca_kube::data::{RestoreDataPhase, RestorePhase};
use arca_kube::restore::RestoreOptions;
use arca_repo::{Repository, SnapshotEntry};
use arca_volumes::restore::settings::MoverSettings;
use chrono::{DateTime, Utc};
use clap::Args;

use crate::context::Context;
use crate::exit;

#[derive(Args, Debug, Clone)]
pub struct PitrArgs {
    /// Recover the backup's PostgreSQL apps (base backups) to this time by replaying archived WAL (RFC 3339)
    #[arg(long, value_parser = super::wal::parse_time, value_name = "TIME")]
    pub to_time: Option<DateTime<Utc>>,
    /// The restore_command the recovered database runs
    #[arg(long, default_value = "arca wal fetch --cluster {cluster} %f %p", requires = "to_time")]
    pub pitr_restore_command: String,
}

/// With `--to-time`: checks the target against every base backup in the
/// backup and the archive, then puts the PITR phase in front of the restore's
/// data phase (which then leaves the recovered claims alone).
pub fn wire(
    ctx: &Context,
    args: &PitrArgs,
    repo: &Repository,
    backup: &SnapshotEntry,
    opts: &mut RestoreOptions,
    password: Vec<u8>,
    movers: &super::volume_restore::MoverArgs,
) -> Result<()> {
    let Some(to_time) = args.to_time else { return Ok(()) };
    let targets = targets(repo, backup, to_time)?;
    let mut settings = MoverSettings::new(ctx.repo_url()?, password);
    settings.image = movers.mover_image.clone();
    settings.timeout = movers.volume_timeout;
    settings.env = std::env::vars().collect();
    let skip = claims(&targets);
    let restore_command = args.pitr_restore_command.clone();
    let pitr = PitrRestorePhase { restore: opts.name.clone(), to_time, targets, settings, restore_command };
    let mut chain: Vec<Arc<dyn RestoreDataPhase>> = vec![Arc::new(pitr)];
    if let Some(rest) = opts.data.take() {
        chain.push(Arc::new(Excluding { inner: rest.0, skip }));
    }
    opts.data = Some(RestorePhase(Arc::new(arca_kube::data::RestoreChain(chain))));
    Ok(())
}

/// The completed base backups in `backup`, each checked against `to_time`.
fn targets(repo: &Repository, backup: &SnapshotEntry, to_time: DateTime<Utc>) -> Result<Vec<PitrTarget>> {
    let report = BackupReport::from_snapshot(backup)?;
    let records: Vec<PodBaseBackup> = report
        .dumps
        .iter()
        .filter(|d| d["kind"] == KIND)
        .filter_map(|d| serde_json::from_value(d.clone()).ok())
        .collect();
    if records.is_empty() {
        bail!(
            "backup {} holds no base backup: --to-time needs a PostgreSQL pod annotated \
             blueprints.arca.io/name=postgresql and blueprints.arca.io/pitr=\"true\" at backup time",
            backup.id.short()
        );
    }
    let mut out = Vec::new();
    for r in records {
        let (Some(base), Some(claim)) = (r.base_backup.clone(), r.claim.clone()) else {
            bail!(
                "the base backup of {} in this backup is not restorable ({}); pick another backup",
                r.pod,
                r.reason.as_deref().unwrap_or("it names no data claim")
            );
        };
        let newest = recovery::newest_segment(repo, &base.cluster)?;
        recovery::check_target(&base, to_time, newest.as_ref().map(|(n, t)| (n.as_str(), *t)))
            .with_context(|| format!("recovering {} (WAL cluster {})", r.pod, base.cluster))?;
        let snapshot = base.snapshot.clone().ok_or_else(|| anyhow!("base backup of {} names no snapshot", r.pod))?;
        out.push(PitrTarget { claim, cluster: base.cluster.clone(), snapshot, record: r });
    }
    Ok(out)
}

#[derive(Args, Debug)]
pub struct MoverPitrArgs {
    /// The base backup's stream snapshot
    #[arg(long)]
    pub snapshot: String,
    /// The WAL area the database fetches from
    #[arg(long)]
    pub cluster: String,
    #[arg(long, value_parser = super::wal::parse_time)]
    pub to_time: DateTime<Utc>,
    /// The (empty) data directory to prepare
    #[arg(long)]
    pub target: PathBuf,
    #[arg(long)]
    pub restore_command: String,
}

/// `arca mover pitr`: the base backup unpacked into the claim with the
/// recovery settings; the last stdout line is the mover result.
pub fn mover(ctx: &Context, args: &MoverPitrArgs) -> Result<i32> {
    let started = std::time::Instant::now();
    let repo = ctx.open_repo()?;
    let entry = repo.find_snapshot(&args.snapshot)?;
    if !entry.snapshot.tags.iter().any(|t| t == base_backup::TAG) {
        bail!("snapshot {} is not a base backup", entry.id.short());
    }
    let (reader, writer) = arca_apps::wal::pipe::pipe(8);
    let streamer = {
        let (repo, id) = (repo.clone(), entry.id);
        std::thread::spawn(move || arca_fs::restore_stream(&repo, &id, writer))
    };
    let unpacked = recovery::prepare_data_dir(reader, &args.target, &args.restore_command, args.to_time);
    let streamed = streamer.join().map_err(|_| anyhow!("the base backup reader stopped unexpectedly"))?;
    streamed.with_context(|| format!("reading base backup {}", entry.id.short()))?;
    let bytes = unpacked?;
    let result = serde_json::json!({
        "mover": "pitr", "snapshot": entry.id.to_hex(), "bytes_written": bytes,
        "duration_secs": started.elapsed().as_secs_f64(),
    });
    println!("{result}");
    Ok(exit::OK)
}
