//! The Schedule controller against the test cluster, with a clock the test
//! moves. The Backup controller is not running: the tests set the Backups'
//! phases themselves through the status subresource.

mod schedule_support;

use std::time::Duration;

use anyhow::Result;
use arca_api::schedule::{Retention, ScheduleSpec};
use arca_api::{Backup, BackupPhase, BackupSpec};
use arca_server::schedule::controller::backup_name;
use chrono::Utc;
use k8s_openapi::api::events::v1::Event;
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, Client};
use schedule_support::*;

fn hourly() -> ScheduleSpec {
    ScheduleSpec {
        schedule: "0 * * * *".into(),
        template: BackupSpec { include_namespaces: vec!["shop".into()], ..Default::default() },
        ..Default::default()
    }
}

/// Start the controller in this process; it stops with the returned guard.
fn start(client: &Client, clock: std::sync::Arc<TestClock>) -> tokio::task::JoinHandle<()> {
    let (client, config) = (client.clone(), config("test-server", clock));
    tokio::spawn(async move {
        if let Err(e) = arca_server::schedule::run(client, config).await {
            eprintln!("schedule::run ended: {e}");
        }
    })
}

async fn events(client: &Client, reason: &str) -> Result<Vec<String>> {
    let api: Api<Event> = Api::namespaced(client.clone(), NS);
    let list = api.list(&ListParams::default()).await?;
    Ok(list.items.into_iter().filter(|e| e.reason.as_deref() == Some(reason)).filter_map(|e| e.note).collect())
}

#[tokio::test]
async fn a_schedule_fires_at_its_due_time_and_pausing_starts_nothing() -> Result<()> {
    let (_cluster, client) = cluster().await?;
    let clock = TestClock::at(Utc::now());
    let _controller = start(&client, clock.clone());
    let s = create_schedule(&client, "nightly", hourly()).await?;
    let due = hour_after(created(&s)?, 1);

    clock.set(due - chrono::Duration::seconds(30));
    settle().await;
    assert!(backup_names(&client).await?.is_empty(), "nothing runs before the due time (and nothing at creation)");
    let status = schedule_status(&client, "nightly").await?;
    assert_eq!(status.next_run_time, Some(due));

    clock.set(due + chrono::Duration::seconds(1));
    let first = backup_name("nightly", due);
    wait_backups(&client, std::slice::from_ref(&first)).await?;
    let b: Backup = Api::namespaced(client.clone(), NS).get(&first).await?;
    assert_eq!(
        b.metadata.labels.unwrap_or_default().get(arca_api::labels::SCHEDULE).map(String::as_str),
        Some("nightly")
    );
    assert!(b.spec.tags.contains(&"schedule=nightly".to_string()));
    assert_eq!(b.spec.include_namespaces, ["shop"]);
    assert!(!events(&client, "BackupCreated").await?.is_empty());
    set_phase(&client, &first, BackupPhase::Completed, due).await?;

    // Paused through three due times, then unpaused: nothing runs by itself.
    let api: Api<arca_api::Schedule> = Api::namespaced(client.clone(), NS);
    let pause = |p: bool| serde_json::json!({"spec": {"paused": p}});
    api.patch("nightly", &PatchParams::default(), &Patch::Merge(&pause(true))).await?;
    wait_for("the pause recorded", Duration::from_secs(10), || async {
        Ok(schedule_status(&client, "nightly").await?.paused_at.map(|_| ()))
    })
    .await?;
    clock.set(due + chrono::Duration::minutes(3 * 60 + 10));
    settle().await;
    api.patch("nightly", &PatchParams::default(), &Patch::Merge(&pause(false))).await?;
    settle().await;
    wait_backups(&client, std::slice::from_ref(&first)).await?;
    let status = schedule_status(&client, "nightly").await?;
    assert_eq!(status.next_run_time, Some(due + chrono::Duration::hours(4)), "{status:?}");

    clock.set(due + chrono::Duration::hours(4));
    wait_backups(&client, &[first, backup_name("nightly", due + chrono::Duration::hours(4))]).await?;
    Ok(())
}

#[tokio::test]
async fn a_run_due_while_the_previous_is_going_is_skipped_and_reported() -> Result<()> {
    let (_cluster, client) = cluster().await?;
    let clock = TestClock::at(Utc::now());
    let _controller = start(&client, clock.clone());
    let s = create_schedule(&client, "hourly", hourly()).await?;
    let due = hour_after(created(&s)?, 1);
    let at = |h: i64| due + chrono::Duration::hours(h);

    clock.set(at(0));
    let first = backup_name("hourly", at(0));
    wait_backups(&client, std::slice::from_ref(&first)).await?;
    set_phase(&client, &first, BackupPhase::InProgress, at(0)).await?;
    settle().await;

    clock.set(at(1) + chrono::Duration::seconds(2));
    let status = wait_for("the skip in the status", Duration::from_secs(15), || async {
        let st = schedule_status(&client, "hourly").await?;
        Ok((st.skipped_runs == 1).then_some(st))
    })
    .await?;
    let overlap = status.conditions.iter().find(|c| c.type_ == "Overlap").expect("an Overlap condition");
    assert_eq!(overlap.status, "True");
    assert!(overlap.message.contains(&first) && overlap.message.contains(&at(1).to_rfc3339()), "{overlap:?}");
    assert_eq!(status.last_schedule_time, Some(at(1)));
    let notes = events(&client, "RunSkipped").await?;
    assert!(notes.iter().any(|n| n.contains(&first)), "{notes:?}");
    settle().await;
    wait_backups(&client, std::slice::from_ref(&first)).await?;
    assert_eq!(schedule_status(&client, "hourly").await?.skipped_runs, 1, "one skip per due time");

    // Once it is done, the next due time runs again.
    set_phase(&client, &first, BackupPhase::Completed, at(0)).await?;
    clock.set(at(2));
    wait_backups(&client, &[first.clone(), backup_name("hourly", at(2))]).await?;
    let st = schedule_status(&client, "hourly").await?;
    assert_eq!(st.last_successful_backup.as_deref(), Some(first.as_str()));
    Ok(())
}

#[tokio::test]
async fn a_three_hour_outage_runs_once() -> Result<()> {
    let (_cluster, client) = cluster().await?;
    let clock = TestClock::at(Utc::now());
    let controller = start(&client, clock.clone());
    let s = create_schedule(&client, "hourly", hourly()).await?;
    let due = hour_after(created(&s)?, 1);

    clock.set(due);
    let first = backup_name("hourly", due);
    wait_backups(&client, std::slice::from_ref(&first)).await?;
    set_phase(&client, &first, BackupPhase::Completed, due).await?;
    settle().await;

    // The server is away for three hours (due+1h, +2h, +3h missed).
    controller.abort();
    clock.set(due + chrono::Duration::minutes(3 * 60 + 20));
    let _again = start(&client, clock.clone());
    wait_backups(&client, &[first.clone(), backup_name("hourly", due + chrono::Duration::hours(3))]).await?;
    settle().await;
    assert_eq!(backup_names(&client).await?.len(), 2, "one run for the three missed");
    Ok(())
}

#[tokio::test]
async fn retention_keeps_the_expected_set_and_the_last_completed_backup() -> Result<()> {
    let (_cluster, client) = cluster().await?;
    let clock = TestClock::at(Utc::now());
    let _controller = start(&client, clock.clone());
    let spec = ScheduleSpec { retention: Retention { keep_last: Some(1), ..Default::default() }, ..hourly() };
    let s = create_schedule(&client, "gfs", spec).await?;
    let due = hour_after(created(&s)?, 1);
    let at = |h: i64| due + chrono::Duration::hours(h);
    let name = |h: i64| backup_name("gfs", at(h));

    // Four runs: Completed, Completed, Failed, Failed.
    let phases = [BackupPhase::Completed, BackupPhase::Completed, BackupPhase::Failed, BackupPhase::Failed];
    let mut seen: Vec<String> = Vec::new();
    for (h, phase) in phases.iter().enumerate() {
        let h = h as i64;
        clock.set(at(h));
        wait_for(&format!("the run due {}", at(h)), Duration::from_secs(15), || async {
            Ok(backup_names(&client).await?.contains(&name(h)).then_some(()))
        })
        .await?;
        set_phase(&client, &name(h), *phase, at(h)).await?;
        seen.push(name(h));
    }
    // keepLast 1 keeps the newest successful (gfs@+1h, though two failed
    // runs are newer) and the newest run, to show its failure.
    wait_backups(&client, &[name(1), name(3)]).await?;
    let notes = events(&client, "RetentionApplied").await?;
    assert!(notes.iter().any(|n| n.contains(&name(0))), "{notes:?}");
    assert!(notes.iter().any(|n| n.contains(&name(2)) && n.contains("Failed")), "{notes:?}");
    let st = schedule_status(&client, "gfs").await?;
    assert_eq!(st.last_status.as_deref(), Some("Failed"));
    assert_eq!(st.last_successful_backup.as_deref(), Some(name(1).as_str()));
    Ok(())
}

#[tokio::test]
async fn a_bad_cron_or_zone_makes_the_schedule_not_ready() -> Result<()> {
    let (_cluster, client) = cluster().await?;
    let _controller = start(&client, TestClock::at(Utc::now()));
    let spec = ScheduleSpec { time_zone: Some("Mars/Olympus".into()), ..hourly() };
    create_schedule(&client, "bad", spec).await?;
    let ready = wait_for("a Ready condition", Duration::from_secs(10), || async {
        let st = schedule_status(&client, "bad").await?;
        Ok(st.conditions.into_iter().find(|c| c.type_ == "Ready"))
    })
    .await?;
    assert_eq!(ready.status, "False");
    assert!(ready.message.contains("Mars/Olympus"), "{ready:?}");
    Ok(())
}

async fn drills(client: &Client) -> Result<Vec<arca_api::Restore>> {
    let api: Api<arca_api::Restore> = Api::namespaced(client.clone(), NS);
    Ok(api.list(&ListParams::default()).await?.items.into_iter().filter(|r| r.spec.drill).collect())
}

#[tokio::test]
async fn a_schedule_drills_every_second_completed_backup() -> Result<()> {
    let (_cluster, client) = cluster().await?;
    let clock = TestClock::at(Utc::now());
    let _controller = start(&client, clock.clone());
    let drill =
        arca_api::schedule::ScheduleDrill { every: Some(2), prefix: Some("dr-".into()), wait: Some("1m".into()) };
    let s = create_schedule(&client, "drilled", ScheduleSpec { drill: Some(drill), ..hourly() }).await?;
    let due = hour_after(created(&s)?, 1);
    let at = |h: i64| due + chrono::Duration::hours(h);
    let name = |h: i64| backup_name("drilled", at(h));
    let complete = |h: i64| {
        let client = client.clone();
        async move {
            let api: Api<Backup> = Api::namespaced(client, NS);
            let patch =
                serde_json::json!({"status": {"phase": "Completed", "startTime": at(h), "completionTime": at(h)}});
            api.patch_status(&name(h), &PatchParams::default(), &Patch::Merge(&patch)).await?;
            anyhow::Ok(())
        }
    };
    let run = |h: i64| {
        let (client, clock) = (client.clone(), clock.clone());
        async move {
            clock.set(at(h));
            wait_for(&format!("the run due {}", at(h)), Duration::from_secs(15), || async {
                Ok(backup_names(&client).await?.contains(&name(h)).then_some(()))
            })
            .await
        }
    };
    // The first Completed backup is drilled (none was before).
    run(0).await?;
    complete(0).await?;
    let first = wait_for("the first drill", Duration::from_secs(15), || async {
        Ok(drills(&client).await?.into_iter().next())
    })
    .await?;
    assert_eq!(first.metadata.name.as_deref(), Some(format!("{}-drill", name(0)).as_str()));
    assert_eq!(first.spec.backup, name(0));
    assert_eq!(first.spec.drill_prefix.as_deref(), Some("dr-"));
    assert_eq!(first.spec.wait.as_deref(), Some("1m"));
    assert!(!events(&client, "DrillCreated").await?.is_empty());
    // One more Completed backup: not yet; a second: drilled.
    run(1).await?;
    complete(1).await?;
    settle().await;
    assert_eq!(drills(&client).await?.len(), 1, "every 2nd: not after one more");
    run(2).await?;
    complete(2).await?;
    wait_for("the second drill", Duration::from_secs(15), || async {
        let names: Vec<String> = drills(&client).await?.into_iter().filter_map(|r| r.metadata.name).collect();
        Ok(names.contains(&format!("{}-drill", name(2))).then_some(()))
    })
    .await?;
    assert_eq!(schedule_status(&client, "drilled").await?.last_drilled_backup, Some(name(2)));
    Ok(())
}
