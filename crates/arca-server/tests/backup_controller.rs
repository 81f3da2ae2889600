//! The Backup controller in-process against the test cluster over HTTP,
//! with real repositories on disk.

mod common;

use std::time::Duration;

use arca_api::{Backup, BackupLocation, BackupPhase};
use common::*;
use kube::api::{Api, DeleteParams, Patch, PatchParams};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_completes_while_a_broken_location_makes_only_its_own_backup_wait() -> anyhow::Result<()> {
    let (_cluster, client) = cluster().await?;
    let dir = tempfile::tempdir()?;
    let url = repository(dir.path())?;
    app(&client, "shop", 3).await?;
    location(&client, "shop", "main", &url, PASSWORD, true, None).await?;
    location(&client, "shop", "broken", &url, b"not the password", false, None).await?;
    let (_stop, _server) = server(&client, "replica-a");
    backup(&client, "shop", "via-broken", Some("broken"), "shop").await?;
    backup(&client, "shop", "nightly", None, "shop").await?;

    let done = finished(&client, "shop", "nightly").await?;
    let st = done.status.clone().unwrap_or_default();
    assert_eq!(st.phase, BackupPhase::Completed, "{st:?}");
    assert_eq!(st.worker.as_deref(), Some("replica-a"));
    assert!(st.progress.as_ref().is_some_and(|p| p.objects >= 3), "{st:?}");
    assert!(st.start_time.is_some() && st.completion_time.is_some());
    let snapshot = st.snapshot.clone().expect("a snapshot id");
    let repo = open(&url)?;
    assert_eq!(repo.find_snapshot(&snapshot)?.id.to_hex(), snapshot);
    let packs: u64 = repo.backend().list("data")?.iter().map(|e| e.size).sum();
    assert!(packs > 0);
    assert_eq!(st.repository_bytes, Some(packs), "the repository's size when it finished");
    assert!(backups_in(&url)?.contains(&"nightly".to_string()));
    let reasons = event_reasons(&client, "shop", "nightly").await?;
    assert!(reasons.contains(&"Started".into()) && reasons.contains(&"Completed".into()), "{reasons:?}");

    // The broken one waits, saying why, and never became a backup.
    let queued = until(Duration::from_secs(10), "the broken location's backup to be Queued", || async {
        Ok(get_backup(&client, "shop", "via-broken").await?.filter(|b| {
            b.status.as_ref().is_some_and(|s| {
                s.phase == BackupPhase::Queued
                    && s.conditions.iter().any(|c| c.type_ == "LocationAvailable" && c.status == "False")
            })
        }))
    })
    .await?;
    let cond = queued.status.unwrap_or_default().conditions.into_iter().find(|c| c.type_ == "LocationAvailable");
    let message = cond.map(|c| c.message).unwrap_or_default();
    assert!(message.contains("shop/broken"), "{message}");
    assert!(!message.contains("not the password"), "the password is never shown: {message}");
    let reasons = event_reasons(&client, "shop", "via-broken").await?;
    assert!(reasons.contains(&"LocationUnavailable".into()), "{reasons:?}");
    assert!(!backups_in(&url)?.contains(&"via-broken".to_string()));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_backup_forgets_its_snapshot_unless_the_location_is_read_only() -> anyhow::Result<()> {
    let (_cluster, client) = cluster().await?;
    let dir = tempfile::tempdir()?;
    let url = repository(dir.path())?;
    app(&client, "shop", 2).await?;
    location(&client, "shop", "main", &url, PASSWORD, true, None).await?;
    let (_stop, _server) = server(&client, "replica-a");
    backup(&client, "shop", "first", None, "shop").await?;
    backup(&client, "shop", "second", None, "shop").await?;
    finished(&client, "shop", "first").await?;
    let second = finished(&client, "shop", "second").await?;
    assert!(second.metadata.finalizers.iter().flatten().any(|f| f == arca_api::labels::BACKUP_FINALIZER));

    let backups: Api<Backup> = Api::namespaced(client.clone(), "shop");
    backups.delete("first", &DeleteParams::default()).await?;
    until(Duration::from_secs(20), "backup first to go", || async {
        Ok(get_backup(&client, "shop", "first").await?.is_none().then_some(()))
    })
    .await?;
    assert!(!backups_in(&url)?.contains(&"first".to_string()), "its snapshot is forgotten");

    // A read-only location keeps the snapshot, and the object says why.
    let locations: Api<BackupLocation> = Api::namespaced(client.clone(), "shop");
    let ro = serde_json::json!({"spec": {"accessMode": "ReadOnly"}});
    locations.patch("main", &PatchParams::default(), &Patch::Merge(&ro)).await?;
    backups.delete("second", &DeleteParams::default()).await?;
    let refused = until(Duration::from_secs(20), "Deletable=False on backup second", || async {
        Ok(get_backup(&client, "shop", "second").await?.filter(|b| {
            b.status
                .as_ref()
                .is_some_and(|s| s.conditions.iter().any(|c| c.type_ == "Deletable" && c.status == "False"))
        }))
    })
    .await?;
    let cond = refused.status.unwrap_or_default().conditions.into_iter().find(|c| c.type_ == "Deletable");
    let message = cond.map(|c| c.message).unwrap_or_default();
    assert!(message.contains("ReadOnly") && message.contains("finalizer"), "{message}");
    assert!(backups_in(&url)?.contains(&"second".to_string()), "the snapshot stays");
    assert!(event_reasons(&client, "shop", "second").await?.contains(&"DeletionRefused".into()));

    // Removing the finalizer by hand drops only the object.
    let drop_finalizer = serde_json::json!({"metadata": {"finalizers": null}});
    backups.patch("second", &PatchParams::default(), &Patch::Merge(&drop_finalizer)).await?;
    until(Duration::from_secs(10), "backup second to go", || async {
        Ok(get_backup(&client, "shop", "second").await?.is_none().then_some(()))
    })
    .await?;
    assert!(backups_in(&url)?.contains(&"second".to_string()));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_concurrent_bounds_the_backups_running_against_a_location() -> anyhow::Result<()> {
    let (_cluster, client) = cluster().await?;
    let dir = tempfile::tempdir()?;
    let url = repository(dir.path())?;
    app(&client, "shop", 5).await?;
    location(&client, "shop", "main", &url, PASSWORD, true, Some(1)).await?;
    let (_stop, _server) = server(&client, "replica-a");
    let names = ["one", "two", "three"];
    for n in names {
        backup(&client, "shop", n, None, "shop").await?;
    }
    let mut spans = Vec::new();
    for n in names {
        let st = finished(&client, "shop", n).await?.status.unwrap_or_default();
        assert_eq!(st.phase, BackupPhase::Completed, "{n}: {st:?}");
        spans.push((st.start_time.expect("start"), st.completion_time.expect("end"), n));
    }
    spans.sort();
    for w in spans.windows(2) {
        assert!(w[0].1 <= w[1].0, "{} and {} ran at once with maxConcurrent 1: {spans:?}", w[0].2, w[1].2);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_left_in_progress_by_another_replica_is_failed_at_start() -> anyhow::Result<()> {
    let (_cluster, client) = cluster().await?;
    let dir = tempfile::tempdir()?;
    let url = repository(dir.path())?;
    app(&client, "shop", 1).await?;
    location(&client, "shop", "main", &url, PASSWORD, true, None).await?;
    backup(&client, "shop", "orphan", None, "shop").await?;
    let backups: Api<Backup> = Api::namespaced(client.clone(), "shop");
    let left = serde_json::json!({"status": {"phase": "InProgress", "worker": "replica-gone"}});
    backups.patch_status("orphan", &PatchParams::default(), &Patch::Merge(&left)).await?;

    let (_stop, _server) = server(&client, "replica-b");
    let st = finished(&client, "shop", "orphan").await?.status.unwrap_or_default();
    assert_eq!(st.phase, BackupPhase::Failed);
    assert!(st.errors.iter().any(|e| e.reason == "ServerStopped"), "{st:?}");
    assert!(st.message.contains("replica-gone") && st.message.contains("run it again"), "{}", st.message);
    assert!(st.snapshot.is_none(), "its partial data is no snapshot");
    assert!(backups_in(&url)?.is_empty());
    assert!(event_reasons(&client, "shop", "orphan").await?.contains(&"ServerStopped".into()));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blueprint_objects_are_read_and_a_broken_one_fails_the_backup_naming_it() -> anyhow::Result<()> {
    let (_cluster, client) = cluster().await?;
    let dir = tempfile::tempdir()?;
    let url = repository(dir.path())?;
    app(&client, "shop", 1).await?;
    location(&client, "shop", "main", &url, PASSWORD, true, None).await?;
    // Valid for the API server's schema (open objects), not for Arca: no streams.
    let spec = arca_api::BlueprintSpec {
        description: "a dump without streams".into(),
        backup: serde_json::json!({"streams": []}),
        restore: serde_json::json!({"streams": [{"match": "db", "command": ["sh", "-c", "cat > /dev/null"]}]}),
    };
    let mut bp = arca_api::Blueprint::new("broken-dump", spec);
    bp.metadata.namespace = Some("shop".into());
    let blueprints: Api<arca_api::Blueprint> = Api::namespaced(client.clone(), "shop");
    blueprints.create(&Default::default(), &bp).await?;
    let (_stop, _server) = server(&client, "replica-a");
    backup(&client, "shop", "with-broken-blueprint", None, "shop").await?;
    let st = finished(&client, "shop", "with-broken-blueprint").await?.status.unwrap_or_default();
    assert_eq!(st.phase, BackupPhase::Failed, "{st:?}");
    assert!(st.message.contains("Blueprint shop/broken-dump"), "{}", st.message);
    assert!(!backups_in(&url)?.contains(&"with-broken-blueprint".to_string()), "a failed backup is no snapshot");

    // Mended, the next backup completes.
    blueprints.delete("broken-dump", &DeleteParams::default()).await?;
    backup(&client, "shop", "after-the-fix", None, "shop").await?;
    let st = finished(&client, "shop", "after-the-fix").await?.status.unwrap_or_default();
    assert_eq!(st.phase, BackupPhase::Completed, "{st:?}");
    Ok(())
}
