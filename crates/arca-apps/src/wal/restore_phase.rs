//! `arca restore create --to-time T`: the data claim of each PostgreSQL
//! app that had a base backup in the backup is created empty and filled by
//! a restore mover (`arca mover pitr`) with the base backup, `recovery.signal`
//! and the recovery settings, before the workload exists. When the database
//! starts it replays the archived WAL up to T and promotes itself.

use std::collections::BTreeSet;
use std::time::Instant;

use std::sync::Arc;

use arca_kube::api::Kube;
use arca_kube::data::{
    AfterApply, ClaimRewrite, ClaimToRestore, DataOnly, ObjectPrepared, RestoreData, RestoreDataOutcome,
    RestoreDataPhase, RestoredClaim,
};
use arca_volumes::mover::{self, MoverPod, Placement, VolumeSource};
use arca_volumes::restore::claim;
use arca_volumes::restore::settings::MoverSettings;
use arca_volumes::run::{self, PodOutcome};
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde::Serialize;
use serde_json::Value;

use super::phase::PodBaseBackup;
use super::recovery::rfc3339;

/// One data claim to recover.
#[derive(Debug, Clone)]
pub struct PitrTarget {
    /// `NAMESPACE/CLAIM` in the backup.
    pub claim: String,
    pub record: PodBaseBackup,
    pub snapshot: String,
    pub cluster: String,
}

/// The restore data phase.
pub struct PitrRestorePhase {
    pub restore: String,
    pub to_time: DateTime<Utc>,
    pub targets: Vec<PitrTarget>,
    pub settings: MoverSettings,
    /// The `restore_command` the database runs; `{cluster}` becomes the
    /// target's WAL area, `%f %p` are left to PostgreSQL.
    pub restore_command: String,
}

/// What the report's `dumps` keeps of one recovery.
#[derive(Debug, Clone, Serialize)]
pub struct PitrResult {
    pub kind: &'static str,
    pub claim: String,
    pub source: String,
    pub base_backup: String,
    pub to_time: String,
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub bytes_written: u64,
    pub duration_secs: f64,
}

/// The claims (backup names) a PITR restore fills, so other phases leave them alone.
pub fn claims(targets: &[PitrTarget]) -> BTreeSet<String> {
    targets.iter().map(|t| t.claim.clone()).collect()
}

/// `arca mover pitr` arguments (after `arca`).
pub fn mover_args(t: &PitrTarget, to_time: DateTime<Utc>, restore_command: &str) -> Vec<String> {
    let mut dir = mover::MOUNT_PATH.to_string();
    if !t.record.sub_path.is_empty() {
        dir = format!("{dir}/{}", t.record.sub_path);
    }
    ["-o", "json", "mover", "pitr", "--snapshot", &t.snapshot, "--cluster", &t.cluster]
        .iter()
        .map(|s| s.to_string())
        .chain(["--to-time".into(), rfc3339(to_time), "--target".into(), dir])
        .chain(["--restore-command".into(), restore_command.replace("{cluster}", &t.cluster)])
        .collect()
}

impl PitrRestorePhase {
    fn target(&self, source: &str) -> Option<&PitrTarget> {
        self.targets.iter().find(|t| t.claim == source)
    }

    async fn fill_one(&self, kube: &Kube, t: &PitrTarget, c: &RestoredClaim) -> PitrResult {
        let started = Instant::now();
        let mut out = PitrResult {
            kind: "point-in-time-recovery",
            claim: format!("{}/{}", c.namespace, c.name),
            source: t.claim.clone(),
            base_backup: t.snapshot.clone(),
            to_time: rfc3339(self.to_time),
            state: "Completed",
            reason: None,
            bytes_written: 0,
            duration_secs: 0.0,
        };
        let name = mover::pod_name("arca-pitr", &[&self.restore, &out.claim]);
        let secret_name = format!("{name}-credentials");
        let s = &self.settings;
        let secret = mover::credentials_secret(
            &secret_name,
            &c.namespace,
            &s.repository,
            &s.password,
            s.env.clone(),
            &s.labels(),
        );
        let pod = MoverPod {
            name: name.clone(),
            namespace: c.namespace.clone(),
            image: s.image.clone(),
            args: mover_args(t, self.to_time, &self.restore_command),
            source: VolumeSource::Claim { name: c.name.clone(), read_only: false },
            block: false,
            placement: Placement::Anywhere,
            resources: s.resources.clone(),
            secret: secret_name.clone(),
            local_repository: s.local_repository.clone(),
            labels: s.labels(),
            env: mover::credential_env_entries(&secret, &secret_name),
        }
        .to_pod();
        let secrets = format!("/api/v1/namespaces/{}/secrets", c.namespace);
        let secret_path = format!("{secrets}/{secret_name}");
        let what = format!("PITR mover credentials Secret {}/{secret_name}", c.namespace);
        if let Err(e) = kube.create(&secrets, &secret, &format!("creating {what}")).await
            && e.api_code() != Some(409)
        {
            return failed(out, format!("could not create {what}: {}", e.reason()), started);
        }
        let outcome = run::run_pod(kube, &pod, s.timeout).await;
        if let Err(e) = kube.delete(&secret_path, &what).await
            && e.api_code() != Some(404)
        {
            tracing::warn!("{what}: could not delete it: {}", e.reason());
        }
        match outcome {
            PodOutcome::Succeeded { result, .. } => {
                out.bytes_written = result.bytes_written;
                out.duration_secs = started.elapsed().as_secs_f64();
                out
            }
            PodOutcome::Failed { reason, .. } => failed(out, reason, started),
        }
    }
}

fn failed(mut out: PitrResult, reason: String, started: Instant) -> PitrResult {
    out.state = "Failed";
    out.reason = Some(reason);
    out.duration_secs = started.elapsed().as_secs_f64();
    out
}

impl RestoreDataPhase for PitrRestorePhase {
    fn rewrite_claim<'a>(&'a self, c: ClaimToRestore<'a>, desired: &'a mut Value) -> BoxFuture<'a, ClaimRewrite> {
        Box::pin(async move {
            match self.target(&c.source) {
                Some(t) => {
                    claim::fresh(desired);
                    ClaimRewrite::Fill(format!(
                        "fresh volume filled from base backup {} to recover to {}",
                        t.snapshot.get(..8).unwrap_or(&t.snapshot),
                        rfc3339(self.to_time)
                    ))
                }
                None => ClaimRewrite::Unchanged(None),
            }
        })
    }

    fn fill<'a>(&'a self, ctx: RestoreData<'a>) -> BoxFuture<'a, RestoreDataOutcome> {
        Box::pin(async move {
            let mut out = RestoreDataOutcome::default();
            for c in &ctx.claims {
                let Some(t) = self.target(&c.source) else { continue };
                let r = self.fill_one(ctx.kube, t, c).await;
                out.log.push(match &r.reason {
                    None => format!(
                        "claim {} filled from base backup {} to recover to {}",
                        r.claim, r.base_backup, r.to_time
                    ),
                    Some(why) => format!("claim {}: point-in-time recovery failed: {why}", r.claim),
                });
                if r.reason.is_some() {
                    out.failed += 1;
                }
                out.dumps.push(serde_json::to_value(&r).unwrap_or(Value::Null));
            }
            out
        })
    }
}

/// Another data phase, kept away from the claims the PITR phase fills.
pub struct Excluding {
    pub inner: Arc<dyn RestoreDataPhase>,
    pub skip: BTreeSet<String>,
}

impl RestoreDataPhase for Excluding {
    fn rewrite_claim<'a>(&'a self, claim: ClaimToRestore<'a>, desired: &'a mut Value) -> BoxFuture<'a, ClaimRewrite> {
        self.inner.rewrite_claim(claim, desired)
    }
    fn fill<'a>(&'a self, ctx: RestoreData<'a>) -> BoxFuture<'a, RestoreDataOutcome> {
        let claims = ctx.claims.iter().filter(|c| !self.skip.contains(&c.source)).cloned().collect();
        self.inner.fill(RestoreData { claims, ..ctx })
    }
    fn data_only<'a>(&'a self, ctx: DataOnly<'a>) -> BoxFuture<'a, RestoreDataOutcome> {
        self.inner.data_only(ctx)
    }
    fn prepare_object(&self, desired: &mut Value) -> ObjectPrepared {
        self.inner.prepare_object(desired)
    }
    fn after_apply<'a>(&'a self, ctx: AfterApply<'a>) -> BoxFuture<'a, RestoreDataOutcome> {
        self.inner.after_apply(ctx)
    }
}
