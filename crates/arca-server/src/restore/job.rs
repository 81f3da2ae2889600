//! One restore running in this process; stopped on shutdown like a backup.

use std::sync::Arc;
use std::time::Duration;

use arca_api::common::{Condition, set_condition};
use arca_api::{Restore, RestorePhase, RestoreStatus};
use arca_kube::restore::RestoreOptions;
use arca_kube::restore::drill::DrillOptions;
use kube::{Api, Client, ResourceExt};
use tokio::sync::watch;

use super::KIND;
use crate::context::{Context, Running, key, patch_status};
use crate::error::Result;
use crate::executor::{self, REASON_SERVER_STOPPED};
use crate::location::OpenedLocation;
use crate::slots::Slot;
use crate::work::mark_failed;

pub(super) async fn start(
    ctx: Arc<Context>,
    obj: Arc<Restore>,
    client: Client,
    location: OpenedLocation,
    work: Work,
    slot: Slot,
) -> Result<()> {
    let (ns, name) = (obj.namespace().unwrap_or_default(), obj.name_any());
    let k = key(KIND, &ns, &name);
    let api: Api<Restore> = Api::namespaced(ctx.client.clone(), &ns);
    let (cancel, mut cancelled) = watch::channel(false);
    ctx.register(k.clone(), Running { kind: KIND, namespace: ns.clone(), name: name.clone(), cancel });
    let mut status = obj.status.clone().unwrap_or_default();
    status.phase = RestorePhase::InProgress;
    status.worker = Some(ctx.config.identity.clone());
    status.start_time = Some(chrono::Utc::now());
    status.message = format!("restoring from location {}", location.name);
    status.observed_generation = obj.metadata.generation;
    set_condition(&mut status.conditions, Condition::new("LocationAvailable", true, "Available", ""));
    if let Err(e) = patch_status(&api, &name, &status).await {
        ctx.finished(&k);
        return Err(e);
    }
    ctx.events.normal(&*obj, "Started", format!("restore started by {}", ctx.config.identity)).await;
    crate::context::spawn_job(format!("restore {ns}/{name}"), move || async move {
        let _slot = slot;
        let kube = arca_kube::api::Kube::new(client, 16);
        let done = work.run(&kube, &ctx.server, &location.repo, status.clone());
        let outcome = tokio::select! {
            r = done => Some(r),
            _ = cancelled.wait_for(|c| *c) => None,
        };
        match outcome {
            Some(Ok(finished)) => {
                status = finished;
                let ok = status.phase == RestorePhase::Completed;
                let reason = status.phase.to_string();
                set_condition(&mut status.conditions, Condition::new("Ready", ok, &reason, status.message.clone()));
                let note = format!("restore {name}: {} ({})", status.phase, status.message);
                write(&api, &name, &status).await;
                if ok {
                    ctx.events.normal(&*obj, "Completed", note).await;
                } else {
                    ctx.events.warning(&*obj, &reason, note).await;
                }
            }
            Some(Err(e)) => {
                let why = format!("restore {name}: {e}");
                mark_failed(&mut status, "RestoreFailed", &why);
                write(&api, &name, &status).await;
                ctx.events.warning(&*obj, "Failed", why).await;
            }
            None => {
                let why = format!("the server replica {} working on it stopped; run it again", ctx.config.identity);
                mark_failed(&mut status, REASON_SERVER_STOPPED, &why);
                write(&api, &name, &status).await;
                ctx.events.warning(&*obj, REASON_SERVER_STOPPED, why).await;
            }
        }
        ctx.finished(&k);
    });
    Ok(())
}

/// What a Restore object asks for.
pub(super) enum Work {
    Restore(RestoreOptions),
    Drill(DrillOptions),
}

impl Work {
    /// Runs it; the status it ends with.
    async fn run(
        &self,
        kube: &arca_kube::api::Kube,
        server: &str,
        repo: &arca_repo::Repository,
        status: RestoreStatus,
    ) -> arca_kube::Result<RestoreStatus> {
        match self {
            Work::Restore(opts) => {
                let (report, items) = arca_kube::restore::run_with_items(kube, server, repo, opts).await?;
                let mut status = executor::restore::status_of(&report, &items, status);
                if opts.read_only {
                    // Nothing was written to a ReadOnly location: the status is the report.
                    status.report = None;
                }
                Ok(status)
            }
            Work::Drill(opts) => {
                let report = arca_kube::restore::drill::run(kube, server, repo, opts).await?;
                Ok(executor::restore::status_of_drill(&report, status))
            }
        }
    }
}

async fn write(api: &Api<Restore>, name: &str, status: &RestoreStatus) {
    for attempt in 0..5u64 {
        match patch_status(api, name, status).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!("writing the status of restore {name}: {e}");
                tokio::time::sleep(Duration::from_millis(500 * (attempt + 1))).await;
            }
        }
    }
}
