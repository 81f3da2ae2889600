//! Catalog sync over HTTP against the test cluster, with a real repository
//! on disk: a second, empty cluster pointed at a repository (a ReadOnly
//! location) sees every backup as a `Backup` object; a snapshot forgotten
//! in the repository marks its object; a location with a wrong password is
//! Unavailable (naming its Secret, never the password) while a good one
//! beside it syncs on.

mod sync_support;

use std::sync::Arc;
use std::time::Duration;

use arca_api::{AccessMode, Backup, BackupLocation, BackupPhase, BackupSpec, labels};
use arca_server::metrics::Metrics;
use arca_testcluster::TestCluster;
use kube::ResourceExt;
use kube::api::{Api, PostParams};
use sync_support::*;

const WRONG: &str = "not-the-password-4711";

fn condition<'a>(b: &'a Backup, type_: &str) -> Option<&'a arca_api::Condition> {
    b.status.as_ref()?.conditions.iter().find(|c| c.type_ == type_)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]

async fn an_empty_cluster_sees_every_backup_of_a_read_only_location() -> anyhow::Result<()> {
    // Backups made in one cluster…
    let source = TestCluster::start().await?;
    let kube = kube_of(&source).await?;
    app(&kube, "shop", 3).await?;
    let dir = tempfile::tempdir()?;
    let repo = new_repo(dir.path())?;
    let (first, first_id) = backup(&kube, &source, &repo, "shop-1", "shop", &[]).await?;
    let (nightly, _) = backup(&kube, &source, &repo, "nightly-20260101020000", "shop", &["schedule=nightly"]).await?;
    let (_, doomed_id) = backup(&kube, &source, &repo, "shop-2", "shop", &[]).await?;

    // …and a fresh cluster that only knows the repository.
    let target = TestCluster::start().await?;
    install_crds(&target).await?;
    let tk = kube_of(&target).await?;
    namespace(&tk, "dr").await?;
    password_secret(&tk, "dr", "repo-password", PASSWORD).await?;
    password_secret(&tk, "dr", "old-password", WRONG).await?;
    location(&target, "dr", "main", dir.path(), "repo-password", AccessMode::ReadOnly).await?;
    location(&target, "dr", "stale", dir.path(), "old-password", AccessMode::ReadOnly).await?;
    // An unrelated object already holds one backup's name.
    let backups: Api<Backup> = Api::namespaced(target.client().await?, "dr");
    let squatter = Backup::new("shop-1", BackupSpec { location: Some("elsewhere".into()), ..Default::default() });
    backups.create(&PostParams::default(), &squatter).await?;

    let _sync = start_sync(&target, Arc::new(Metrics::new())).await?;
    wait_until("three synced Backups are there with their status", Duration::from_secs(20), || async {
        let synced = backups.list(&Default::default()).await?.items;
        Ok(synced.iter().filter(|b| b.status.as_ref().is_some_and(|s| s.phase == BackupPhase::Completed)).count() == 3)
    })
    .await?;

    let all = backups.list(&Default::default()).await?.items;
    let by_snapshot =
        |id: &arca_repo::Id| all.iter().find(|b| b.spec.snapshot.as_deref() == Some(id.to_hex().as_str())).cloned();
    let one = by_snapshot(&first_id).ok_or_else(|| anyhow::anyhow!("no Backup for shop-1: {all:#?}"))?;
    assert_eq!(one.name_any(), format!("shop-1-{}", &first_id.to_hex()[..8]), "the taken name gets the short id");
    assert_eq!(one.labels().get(labels::SYNCED).map(String::as_str), Some("true"));
    assert_eq!(one.labels().get(labels::LOCATION).map(String::as_str), Some("main"));
    assert_eq!(one.spec.location.as_deref(), Some("main"));
    let status = one.status.clone().unwrap_or_default();
    assert_eq!(status.snapshot, Some(first_id.to_hex()));
    assert_eq!(status.start_time, Some(first.started));
    assert_eq!(status.completion_time, Some(first.finished));
    let progress = status.progress.unwrap_or_default();
    assert_eq!(progress.objects, first.objects);
    assert_eq!(progress.resource_types, first.counts.len() as u64);
    assert_eq!(status.error_count, 0);
    assert_eq!(condition(&one, "SnapshotPresent").map(|c| c.status.as_str()), Some("True"));
    let n = all.iter().find(|b| b.name_any() == "nightly-20260101020000").expect("nightly synced under its own name");
    assert_eq!(n.spec.tags, vec!["schedule=nightly"]);
    assert_eq!(n.status.as_ref().and_then(|s| s.progress.as_ref()).map(|p| p.objects), Some(nightly.objects));
    assert!(
        condition(&all.iter().find(|b| b.name_any() == "shop-1").cloned().unwrap_or(squatter), "SnapshotPresent")
            .is_none(),
        "an object of another location is left alone"
    );

    // The good location's status; the wrong password marks only its own location.
    let locations: Api<BackupLocation> = Api::namespaced(target.client().await?, "dr");
    let main = locations.get("main").await?.status.unwrap_or_default();
    assert_eq!(main.phase.as_deref(), Some("Available"));
    assert_eq!(main.backups, Some(3));
    assert!(main.repository_bytes.is_some_and(|b| b > 0), "{main:?}");
    assert!(main.last_sync_time.is_some());
    wait_until("the stale location is Unavailable", Duration::from_secs(10), || async {
        Ok(locations.get("stale").await?.status.is_some_and(|s| s.phase.as_deref() == Some("Unavailable")))
    })
    .await?;
    let stale = locations.get("stale").await?.status.unwrap_or_default();
    let available = stale.conditions.iter().find(|c| c.type_ == "Available").expect("Available condition");
    assert_eq!(available.status, "False");
    assert!(available.message.contains("old-password"), "names the Secret: {}", available.message);
    let text = serde_json::to_string(&locations.get("stale").await?)?;
    assert!(!text.contains(WRONG) && !text.contains(PASSWORD), "no password in {text}");

    // Nothing changed: the Backups are not written again at every sync.
    let versions = |items: &[Backup]| items.iter().map(|b| (b.name_any(), b.resource_version())).collect::<Vec<_>>();
    let before = versions(&backups.list(&Default::default()).await?.items);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(versions(&backups.list(&Default::default()).await?.items), before, "no status churn");

    // A snapshot forgotten in the repository: its object is marked, not deleted.
    let r = repo.clone();
    tokio::task::spawn_blocking(move || arca_repo::forget_snapshots(&r, &[doomed_id], false)).await??;
    let doomed = by_snapshot(&doomed_id).expect("Backup of shop-2").name_any();
    wait_until("the forgotten backup's object is marked SnapshotPresent=False", Duration::from_secs(20), || async {
        let b = backups.get(&doomed).await?;
        Ok(condition(&b, "SnapshotPresent").is_some_and(|c| c.status == "False" && c.reason == "SnapshotMissing"))
    })
    .await?;
    let marked = backups.get(&doomed).await?;
    let message = &condition(&marked, "SnapshotPresent").expect("condition").message;
    assert!(message.contains("delete this Backup"), "says what to do: {message}");
    assert_eq!(
        condition(&backups.get(&one.name_any()).await?, "SnapshotPresent").map(|c| c.status.as_str()),
        Some("True")
    );
    wait_until("the location counts two backups", Duration::from_secs(10), || async {
        Ok(locations.get("main").await?.status.and_then(|s| s.backups) == Some(2))
    })
    .await?;
    tokio::task::spawn_blocking(move || drop(repo)).await?;
    Ok(())
}
