//! Leader election on a coordination.k8s.io/v1 Lease, so that of several
//! replicas exactly one runs schedules.
//!
//! Every write is a resourceVersion-checked replace (or a create), so two
//! candidates never both win. A candidate takes over a held Lease only when
//! it has seen the same record unchanged for the lease duration (as
//! client-go does): that needs no agreement between the replicas' clocks.
//! Times are the real clock's, never a schedule's test clock.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::ServerConfig;
use crate::error::{Error, Result};

/// This replica holds the Lease until [`Leadership::lost`] resolves.
pub struct Leadership {
    api: Api<Lease>,
    name: String,
    identity: String,
    lost: watch::Receiver<bool>,
    renewer: JoinHandle<()>,
}

struct Candidate {
    api: Api<Lease>,
    name: String,
    identity: String,
    duration: Duration,
}

/// What a candidate last saw of someone else's Lease, and since when.
struct Observed {
    record: (Option<String>, Option<MicroTime>, Option<String>),
    since: Instant,
}

/// Wait until this replica holds the Lease `config.lease_name` in
/// `config.namespace`, then keep renewing it every `lease_renew_every`.
pub async fn acquire(client: Client, config: &ServerConfig) -> Result<Leadership> {
    let c = Arc::new(Candidate {
        api: Api::namespaced(client, &config.namespace),
        name: config.lease_name.clone(),
        identity: config.identity.clone(),
        duration: config.lease_duration,
    });
    let retry = config.lease_renew_every.min(config.lease_duration / 2).max(Duration::from_millis(100));
    let mut observed: Option<Observed> = None;
    loop {
        match c.try_acquire(&mut observed).await {
            Ok(true) => break,
            Ok(false) => {}
            // Waiting would never end: the namespace is missing.
            Err(Error::Kube(kube::Error::Api(s))) if s.code == 404 => {
                return Err(Error::Other(format!(
                    "leader election: cannot create Lease {}/{}: {}; create the namespace \
                     (`arca install` does) or run the server with -n NAMESPACE",
                    config.namespace, c.name, s.message
                )));
            }
            // Forbidden and server errors may pass (RBAC applied later, a restart): retry.
            Err(e) => tracing::warn!("leader election on Lease {}/{}: {e}", config.namespace, c.name),
        }
        tokio::time::sleep(retry).await;
    }
    tracing::info!("{} leads (Lease {})", c.identity, c.name);
    let (tx, lost) = watch::channel(false);
    let renewer = tokio::spawn(renew_loop(Arc::clone(&c), config.lease_renew_every, tx));
    Ok(Leadership { api: c.api.clone(), name: c.name.clone(), identity: c.identity.clone(), lost, renewer })
}

impl Candidate {
    fn spec(&self, transitions: i32, acquired: Option<MicroTime>) -> LeaseSpec {
        let now = MicroTime(Timestamp::now());
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(i32::try_from(self.duration.as_secs().max(1)).unwrap_or(i32::MAX)),
            acquire_time: Some(acquired.unwrap_or_else(|| now.clone())),
            renew_time: Some(now),
            lease_transitions: Some(transitions),
            ..Default::default()
        }
    }

    /// One attempt: create the Lease, or take it when free or expired.
    async fn try_acquire(&self, observed: &mut Option<Observed>) -> Result<bool> {
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta { name: Some(self.name.clone()), ..Default::default() },
                spec: Some(self.spec(0, None)),
            };
            return conflict_is_false(self.api.create(&PostParams::default(), &lease).await);
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let transitions = spec.lease_transitions.unwrap_or(0);
        let new_spec = match holder.as_deref() {
            Some(h) if h == self.identity => self.spec(transitions, spec.acquire_time.clone()),
            None => self.spec(transitions + 1, None),
            Some(_) => {
                let record = (holder.clone(), spec.renew_time.clone(), lease.metadata.resource_version.clone());
                let expired_after = spec
                    .lease_duration_seconds
                    .and_then(|s| u64::try_from(s).ok())
                    .map_or(self.duration, Duration::from_secs);
                match observed {
                    Some(o) if o.record == record => {
                        if o.since.elapsed() < expired_after {
                            return Ok(false);
                        }
                    }
                    _ => {
                        *observed = Some(Observed { record, since: Instant::now() });
                        return Ok(false);
                    }
                }
                self.spec(transitions + 1, None)
            }
        };
        lease.spec = Some(new_spec);
        conflict_is_false(self.api.replace(&self.name, &PostParams::default(), &lease).await)
    }

    /// Renew; false when someone else holds the Lease now.
    async fn renew(&self) -> Result<bool> {
        let mut lease = self.api.get(&self.name).await?;
        let spec = lease.spec.clone().unwrap_or_default();
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return Ok(false);
        }
        lease.spec = Some(self.spec(spec.lease_transitions.unwrap_or(0), spec.acquire_time));
        self.api.replace(&self.name, &PostParams::default(), &lease).await?;
        Ok(true)
    }
}

/// A write that lost a race (409) is a lost attempt, not an error.
fn conflict_is_false(r: kube::Result<Lease>) -> Result<bool> {
    match r {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
        Err(e) => Err(e.into()),
    }
}

async fn renew_loop(c: Arc<Candidate>, every: Duration, lost: watch::Sender<bool>) {
    let mut last_renewed = Instant::now();
    loop {
        tokio::time::sleep(every).await;
        match c.renew().await {
            Ok(true) => last_renewed = Instant::now(),
            Ok(false) => {
                tracing::warn!("{} lost Lease {}: another replica holds it", c.identity, c.name);
                break;
            }
            Err(e) => {
                tracing::warn!("{} renewing Lease {}: {e}", c.identity, c.name);
                if last_renewed.elapsed() >= c.duration {
                    break;
                }
            }
        }
    }
    let _ = lost.send(true);
}

impl Leadership {
    /// Resolves when leadership is lost: renewals failed for the lease
    /// duration, or another replica holds the Lease. Stop leading then.
    pub async fn lost(&self) {
        let mut rx = self.lost.clone();
        // An Err means the renewer ended without a word: lost as well.
        let _ = rx.wait_for(|lost| *lost).await;
    }

    /// Give the Lease up (graceful shutdown): a standby takes over at once.
    pub async fn release(self) {
        self.renewer.abort();
        let result = async {
            let mut lease = self.api.get(&self.name).await?;
            let Some(spec) = lease.spec.as_mut() else { return Ok(()) };
            if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
                return Ok(());
            }
            spec.holder_identity = None;
            spec.acquire_time = None;
            spec.renew_time = None;
            self.api.replace(&self.name, &PostParams::default(), &lease).await.map(|_| ())
        }
        .await;
        if let Err(e) = result {
            tracing::warn!("{} releasing Lease {}: {e}", self.identity, self.name);
        }
    }
}

impl Drop for Leadership {
    fn drop(&mut self) {
        // A dropped leadership stops renewing; the Lease expires.
        self.renewer.abort();
    }
}
