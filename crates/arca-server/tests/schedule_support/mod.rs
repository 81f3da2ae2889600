//! What the schedule and leader tests share: a clock the test moves, the
//! test cluster with Arca's CRDs, and waits with deadlines.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use arca_api::{Backup, BackupPhase, Schedule, ScheduleSpec};
use arca_server::{Clock, ServerConfig};
use arca_testcluster::TestCluster;
use chrono::{DateTime, Utc};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};

pub const NS: &str = "default";

/// A clock that stands still until the test moves it.
pub struct TestClock(Mutex<DateTime<Utc>>);

impl TestClock {
    pub fn at(t: DateTime<Utc>) -> Arc<Self> {
        Arc::new(TestClock(Mutex::new(t)))
    }
    pub fn set(&self, t: DateTime<Utc>) {
        if let Ok(mut now) = self.0.lock() {
            *now = t;
        }
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        self.0.lock().map(|t| *t).unwrap_or_else(|_| Utc::now())
    }
}

pub async fn cluster() -> Result<(TestCluster, Client)> {
    let cluster = TestCluster::start().await?;
    let crds = arca_api::crds().into_iter().map(serde_json::to_value).collect::<Result<Vec<_>, _>>()?;
    cluster.create_objects(crds)?;
    let client = cluster.client().await?;
    Ok((cluster, client))
}

pub fn config(identity: &str, clock: Arc<TestClock>) -> ServerConfig {
    let mut c = ServerConfig::new(NS, identity);
    c.clock = clock;
    c.lease_name = "arca-test".into();
    c.lease_duration = Duration::from_secs(3);
    c.lease_renew_every = Duration::from_millis(500);
    c
}

pub async fn create_schedule(client: &Client, name: &str, spec: ScheduleSpec) -> Result<Schedule> {
    let api: Api<Schedule> = Api::namespaced(client.clone(), NS);
    Ok(api.create(&PostParams::default(), &Schedule::new(name, spec)).await?)
}

/// The schedule's creation time (the baseline of its first run).
pub fn created(s: &Schedule) -> Result<DateTime<Utc>> {
    let t = s.metadata.creation_timestamp.as_ref().context("no creationTimestamp")?.0;
    DateTime::from_timestamp(t.as_second(), 0).context("creationTimestamp out of range")
}

/// Top of the hour `hours` after the one `t` is in.
pub fn hour_after(t: DateTime<Utc>, hours: i64) -> DateTime<Utc> {
    let secs = t.timestamp() - t.timestamp().rem_euclid(3600) + hours * 3600;
    DateTime::from_timestamp(secs, 0).unwrap_or(t)
}

pub async fn backup_names(client: &Client) -> Result<Vec<String>> {
    let api: Api<Backup> = Api::namespaced(client.clone(), NS);
    let mut names: Vec<String> = api.list(&ListParams::default()).await?.items.iter().map(|b| b.name_any()).collect();
    names.sort();
    Ok(names)
}

/// Poll `check` until it yields a value, or fail after `timeout` with `what`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await? {
            return Ok(v);
        }
        if tokio::time::Instant::now() > deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Wait until exactly `want` Backups exist.
pub async fn wait_backups(client: &Client, want: &[String]) -> Result<()> {
    let mut want = want.to_vec();
    want.sort();
    let last = Mutex::new(Vec::new());
    let r = wait_for(&format!("backups {want:?}"), Duration::from_secs(15), || async {
        let names = backup_names(client).await?;
        let done = names == want;
        if let Ok(mut l) = last.lock() {
            *l = names;
        }
        Ok(done.then_some(()))
    })
    .await;
    r.with_context(|| format!("backups are {:?}", last.lock().map(|l| l.clone()).unwrap_or_default()))
}

/// Set a Backup's phase (and start time) as the Backup controller would.
pub async fn set_phase(client: &Client, name: &str, phase: BackupPhase, start: DateTime<Utc>) -> Result<()> {
    let api: Api<Backup> = Api::namespaced(client.clone(), NS);
    let patch = serde_json::json!({"status": {"phase": phase, "startTime": start}});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
    Ok(())
}

pub async fn schedule_status(client: &Client, name: &str) -> Result<arca_api::ScheduleStatus> {
    let api: Api<Schedule> = Api::namespaced(client.clone(), NS);
    Ok(api.get(name).await?.status.unwrap_or_default())
}

/// A quiet stretch: the controller polls every 2 s, so this covers two polls.
pub async fn settle() {
    tokio::time::sleep(Duration::from_secs(5)).await;
}
