//! Leader election on a Lease against the test cluster: one leader of two,
//! takeover when the leader stops renewing or releases, and two schedule
//! controllers each behind its own election making one Backup per due time.

mod schedule_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use arca_api::schedule::ScheduleSpec;
use arca_api::{BackupPhase, BackupSpec};
use arca_server::leader::{self, Leadership};
use arca_server::schedule::controller::backup_name;
use chrono::Utc;
use k8s_openapi::api::coordination::v1::Lease;
use kube::{Api, Client};
use schedule_support::*;
use tokio::task::JoinHandle;

fn candidate(client: &Client, identity: &str) -> JoinHandle<Result<Leadership>> {
    let (client, config) = (client.clone(), config(identity, TestClock::at(Utc::now())));
    tokio::spawn(async move { Ok(leader::acquire(client, &config).await?) })
}

async fn holder(client: &Client) -> Result<(Option<String>, i32)> {
    let api: Api<Lease> = Api::namespaced(client.clone(), NS);
    let spec = api.get("arca-test").await?.spec.unwrap_or_default();
    Ok((spec.holder_identity, spec.lease_transitions.unwrap_or(0)))
}

/// The first of two candidates to win, and the other, still waiting.
async fn race(
    a: JoinHandle<Result<Leadership>>,
    b: JoinHandle<Result<Leadership>>,
) -> Result<(Leadership, JoinHandle<Result<Leadership>>)> {
    let (mut a, mut b) = (a, b);
    tokio::select! {
        r = &mut a => Ok((r??, b)),
        r = &mut b => Ok((r??, a)),
    }
}

#[tokio::test]
async fn one_of_two_leads_and_the_other_takes_over_when_renewals_stop() -> Result<()> {
    let (_cluster, client) = cluster().await?;
    let (leader, standby) = race(candidate(&client, "a"), candidate(&client, "b")).await?;
    let (first, transitions) = holder(&client).await?;
    assert_eq!(transitions, 0);
    // Well past the lease duration (3 s) the standby still waits: renewals go on.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(!standby.is_finished(), "two leaders at once");
    assert_eq!(holder(&client).await?.0, first);

    // The leader dies without a word: its renewals stop.
    let stopped = Instant::now();
    drop(leader);
    let next = tokio::time::timeout(Duration::from_secs(10), standby).await???;
    let took = stopped.elapsed();
    assert!(took < Duration::from_secs(8), "takeover took {took:?} (lease 3 s)");
    assert!(took >= Duration::from_secs(2), "took over a live lease after {took:?}");
    let (second, transitions) = holder(&client).await?;
    assert_ne!(second, first);
    assert_eq!(transitions, 1);
    drop(next);
    Ok(())
}

#[tokio::test]
async fn release_hands_over_at_once_and_a_leader_notices_losing() -> Result<()> {
    let (_cluster, client) = cluster().await?;
    let (leader, standby) = race(candidate(&client, "a"), candidate(&client, "b")).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let released = Instant::now();
    leader.release().await;
    let next = tokio::time::timeout(Duration::from_secs(10), standby).await???;
    assert!(released.elapsed() < Duration::from_millis(1500), "takeover after release took {:?}", released.elapsed());

    // Someone else writes the Lease: the holder notices and says so.
    let api: Api<Lease> = Api::namespaced(client.clone(), NS);
    let mut lease = api.get("arca-test").await?;
    if let Some(spec) = lease.spec.as_mut() {
        spec.holder_identity = Some("intruder".into());
    }
    api.replace("arca-test", &Default::default(), &lease).await?;
    if tokio::time::timeout(Duration::from_secs(5), next.lost()).await.is_err() {
        bail!("the leader did not notice that another holds the Lease");
    }
    Ok(())
}

/// A replica: wins the election, then runs schedules until it loses.
fn replica(client: &Client, identity: &str, clock: Arc<TestClock>) -> JoinHandle<()> {
    let (client, config) = (client.clone(), config(identity, clock));
    tokio::spawn(async move {
        let Ok(leadership) = leader::acquire(client.clone(), &config).await else { return };
        tokio::select! {
            _ = arca_server::schedule::run(client, config) => {}
            _ = leadership.lost() => {}
        }
    })
}

#[tokio::test]
async fn two_replicas_make_one_backup_per_due_time_and_the_standby_carries_on() -> Result<()> {
    let (_cluster, client) = cluster().await?;
    let clock = TestClock::at(Utc::now());
    let a = replica(&client, "a", clock.clone());
    let b = replica(&client, "b", clock.clone());
    let spec = ScheduleSpec { schedule: "0 * * * *".into(), template: BackupSpec::default(), ..Default::default() };
    let s = create_schedule(&client, "hourly", spec).await?;
    let due = hour_after(created(&s)?, 1);
    let at = |h: i64| due + chrono::Duration::hours(h);

    let mut want = Vec::new();
    for h in 0..2 {
        clock.set(at(h));
        want.push(backup_name("hourly", at(h)));
        wait_backups(&client, &want).await?;
        set_phase(&client, &want[h as usize], BackupPhase::Completed, at(h)).await?;
    }
    // The leader is killed; the standby takes over and runs the next one.
    let leader = holder(&client).await?.0;
    match leader.as_deref() {
        Some("a") => a.abort(),
        Some("b") => b.abort(),
        other => bail!("unexpected holder {other:?}"),
    }
    clock.set(at(2));
    want.push(backup_name("hourly", at(2)));
    wait_for("the standby's run", Duration::from_secs(20), || async {
        Ok(backup_names(&client).await?.contains(&want[2]).then_some(()))
    })
    .await?;
    wait_backups(&client, &want).await?;
    assert_ne!(holder(&client).await?.0, leader);
    Ok(())
}

#[tokio::test]
async fn a_missing_namespace_is_an_error_not_an_endless_wait() -> Result<()> {
    let (_cluster, client) = cluster().await?;
    let mut config = config("a", TestClock::at(Utc::now()));
    config.namespace = "not-there".into();
    let outcome = tokio::time::timeout(Duration::from_secs(10), leader::acquire(client, &config)).await;
    let e = match outcome {
        Ok(Err(e)) => e,
        Ok(Ok(_)) => bail!("led without a namespace"),
        Err(_) => bail!("still waiting after 10 s"),
    };
    let message = e.to_string();
    assert!(message.contains("not-there") && message.contains("-n NAMESPACE"), "{message}");
    Ok(())
}
