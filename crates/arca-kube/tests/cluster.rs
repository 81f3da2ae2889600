//! The library against the test cluster over HTTP: a backup and restore of a
//! realistic app, and faults during both.

mod common;

use std::sync::Arc;

use arca_kube::Phase;
use arca_kube::api::Kube;
use arca_kube::backup::{self, BackupOptions};
use arca_kube::filter::FilterSpec;
use arca_kube::restore::report::Outcome;
use arca_kube::restore::{self, RestoreOptions};
use arca_repo::{InitOptions, KdfParams, Repository};
use arca_testcluster::{Fault, FaultRule, TestCluster};
use common::app::{self, NS};
use serde_json::json;

fn new_repo(dir: &std::path::Path) -> anyhow::Result<Repository> {
    let backend = arca_repo::open_backend(&dir.display().to_string(), true)?;
    let repo = Repository::init(backend, b"pw", InitOptions { kdf: KdfParams::insecure_fast(), ..Default::default() })?;
    repo.load_index()?;
    Ok(repo)
}

async fn connect(cluster: &TestCluster) -> anyhow::Result<Kube> {
    app::connect(cluster.kubeconfig_path()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_round_trip_through_the_library() -> anyhow::Result<()> {
    let cluster = TestCluster::start().await?;
    let kube = connect(&cluster).await?;
    app::install(&kube).await?;
    let before = app::snapshot(&kube, NS).await?;
    let dir = tempfile::tempdir()?;
    let repo = new_repo(dir.path())?;

    let mut opts = BackupOptions::new("shop-1");
    opts.filter = FilterSpec { include_namespaces: vec![NS.into()], ..Default::default() };
    let (report, _) = backup::run(&kube, &cluster.url(), &repo, &opts, &backup::Quiet).await?;
    assert_eq!(report.phase, Phase::Completed, "{:?}", report.errors);
    assert_eq!(report.counts.get("widgets.example.com"), Some(&2));
    assert!(report.cluster.uid.is_some());
    let closure: Vec<&str> = report.included_by_closure.iter().map(|i| i.object.as_str()).collect();
    for want in [
        "customresourcedefinition/widgets.example.com",
        "clusterrolebinding/shop-web-viewer",
        "clusterrole/shop-viewer",
        "ingressclass/nginx",
        "storageclass/arca-test",
    ] {
        assert!(closure.contains(&want), "{want} missing from closure {closure:?}");
    }
    assert!(closure.iter().any(|c| c.starts_with("persistentvolume/pvc-")), "{closure:?}");
    assert!(!report.counts.contains_key("events"), "events are skipped by default");
    // The catalog records what the cluster served, skipped types included.
    let entry = backup::find_backup(&repo, "shop-1")?;
    let catalog = arca_kube::catalog::Catalog::open(&repo, &entry.snapshot.tree)?;
    let served = catalog.discovery()?.map(|d| d.types).unwrap_or_default();
    assert!(served.iter().any(|t| t.group.is_empty() && t.resource == "events"));
    assert!(served.len() > catalog.resources()?.len(), "{} served", served.len());

    // An unchanged cluster adds almost nothing to the repository.
    let (second, _) = backup::run(
        &kube,
        &cluster.url(),
        &repo,
        &BackupOptions { name: "shop-1b".into(), ..opts.clone() },
        &backup::Quiet,
    )
    .await?;
    assert_eq!(second.objects, report.objects);
    assert!(second.stored_bytes * 4 < report.stored_bytes, "{} vs {}", second.stored_bytes, report.stored_bytes);

    app::delete_app(&kube).await?;
    let ropts = RestoreOptions::new("shop-1-restore", "shop-1");
    let result = restore::run(&kube, &cluster.url(), &repo, &ropts).await?;
    let failures: Vec<_> = result.failures().collect();
    assert_eq!(result.phase, Phase::Completed, "{failures:?}");

    for (path, original) in &before {
        let now = kube.get(path, "check").await?;
        assert_eq!(app::comparable(&now), app::comparable(original), "{path} differs after restore");
    }
    let w1 = kube.get(&format!("/apis/example.com/v1/namespaces/{NS}/widgets/w1"), "w1").await?;
    let owned = kube.get(&format!("/api/v1/namespaces/{NS}/configmaps/w1-generated"), "owned").await?;
    assert_eq!(owned["metadata"]["ownerReferences"][0]["uid"], w1["metadata"]["uid"], "owner uid remapped");

    // A second restore changes nothing.
    let again = restore::run(&kube, &cluster.url(), &repo, &RestoreOptions::new("again", "shop-1")).await?;
    assert_eq!(again.phase, Phase::Completed);
    assert_eq!(again.counts.get("created"), None, "{:?}", again.counts);
    assert!(again.counts.get("unchanged").is_some_and(|&n| n > 0), "{:?}", again.counts);
    // Every result is stored, one line each, though only notable ones stay in memory.
    let entry = restore::report::find(&repo, "again")?;
    let (stored, _) = restore::report::load_full(&repo, &entry)?;
    let unchanged = stored.items.iter().filter(|i| i.outcome == Outcome::Unchanged).count() as u64;
    assert_eq!(Some(&unchanged), again.counts.get("unchanged"));
    tokio::task::spawn_blocking(move || drop(repo)).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_are_retried_and_permanent_failures_are_named() -> anyhow::Result<()> {
    let cluster = TestCluster::start().await?;
    let kube = connect(&cluster).await?;
    kube.create(
        "/api/v1/namespaces",
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "f"}}),
        "ns",
    )
    .await?;
    for i in 0..30 {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("cm-{i:02}"), "namespace": "f"}, "data": {"i": i.to_string()}});
        kube.create("/api/v1/namespaces/f/configmaps", &cm, "cm").await?;
    }
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "only", "namespace": "f"}, "data": {"k": "dg=="}});
    kube.create("/api/v1/namespaces/f/secrets", &secret, "secret").await?;
    let dir = tempfile::tempdir()?;
    let repo = new_repo(dir.path())?;
    let faults = cluster.faults();
    let throttle = faults.add(
        FaultRule::new(Fault::TooManyRequests { retry_after_secs: 1 })
            .method("GET")
            .path("^/api/v1/namespaces/f/configmaps$")?
            .times(2),
    );
    let broken =
        faults.add(FaultRule::new(Fault::InternalError).method("GET").path("^/api/v1/namespaces/f/secrets$")?.times(2));
    faults.expire_continue_tokens(1);

    let mut opts = BackupOptions::new("f-1");
    opts.filter = FilterSpec { include_namespaces: vec!["f".into()], ..Default::default() };
    opts.page_size = 7;
    let (report, _) = backup::run(&kube, &cluster.url(), &repo, &opts, &backup::Quiet).await?;
    assert_eq!(report.phase, Phase::Completed, "{:?}", report.errors);
    assert!(faults.fired(throttle) >= 1 && faults.fired(broken) == 2);
    // 30 of ours + kube-root-ca.crt, none twice despite the 410 restart.
    assert_eq!(report.counts.get("configmaps"), Some(&31));
    assert_eq!(report.counts.get("secrets"), Some(&1));

    // A permanent failure while listing one type: PartiallyFailed, naming it.
    faults.clear();
    faults.add(FaultRule::new(Fault::Status(500)).method("GET").path("^/api/v1/namespaces/f/secrets$")?);
    let fast = connect(&cluster).await?.with_retry(arca_kube::api::RetryPolicy { attempts: 3, ..Default::default() });
    let (partial, _) = backup::run(
        &fast,
        &cluster.url(),
        &repo,
        &BackupOptions { name: "f-2".into(), ..opts.clone() },
        &backup::Quiet,
    )
    .await?;
    assert_eq!(partial.phase, Phase::PartiallyFailed);
    assert!(partial.errors.iter().any(|e| e.object.contains("secrets")), "{:?}", partial.errors);
    faults.clear();

    // Restore with throttling (retried) and one object refused for good.
    kube.delete("/api/v1/namespaces/f", "delete").await?;
    app::wait_gone(&kube, "/api/v1/namespaces/f").await?;
    faults.add(
        FaultRule::new(Fault::TooManyRequests { retry_after_secs: 1 })
            .method("POST")
            .path("^/api/v1/namespaces/f/configmaps$")?
            .times(3),
    );
    faults.add(FaultRule::new(Fault::Status(422)).method("POST").path("^/api/v1/namespaces/f/secrets$")?);
    let r = restore::run(&kube, &cluster.url(), &repo, &RestoreOptions::new("f-r", "f-1")).await?;
    assert_eq!(r.phase, Phase::PartiallyFailed);
    let failed: Vec<_> = r.failures().map(|i| i.object.clone()).collect();
    assert_eq!(failed, ["secret/f/only"]);
    assert!(kube.get_opt("/api/v1/namespaces/f/configmaps/cm-29", "cm").await?.is_some());
    let stored = Arc::new(restore::report::list(&repo)?);
    assert!(stored.iter().any(|s| s.snapshot.paths == ["f-r"]), "the report is kept in the repository");
    assert!(r.counts.get("created").is_some_and(|&n| n >= 30), "{:?}", r.counts);
    assert!(
        r.items.iter().all(|i| matches!(i.outcome, Outcome::Failed | Outcome::Skipped)),
        "only notable results are kept in memory: {:?}",
        r.items
    );
    tokio::task::spawn_blocking(move || drop(repo)).await?;
    Ok(())
}

/// Aggregated discovery finds what legacy discovery finds, in two requests:
/// a group version whose legacy document fails does not touch it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregated_discovery_matches_legacy_discovery() -> anyhow::Result<()> {
    let cluster = TestCluster::start().await?;
    let kube = connect(&cluster).await?.with_retry(arca_kube::api::RetryPolicy {
        attempts: 1,
        base: std::time::Duration::from_millis(1),
        max: std::time::Duration::from_millis(1),
    });
    let key = |d: &arca_kube::discover::Discovery| {
        let mut v: Vec<String> = d
            .types
            .iter()
            .map(|t| format!("{}/{}/{}/{}/{}", t.group, t.version, t.resource, t.kind, t.namespaced))
            .collect();
        v.sort();
        v
    };
    let aggregated = arca_kube::discover::discover(&kube).await?;
    let legacy = arca_kube::discover::discover_legacy(&kube).await?;
    assert!(aggregated.types.len() > 40, "{}", aggregated.types.len());
    assert_eq!(key(&aggregated), key(&legacy));
    cluster.faults().add(FaultRule::new(Fault::Status(503)).method("GET").path("^/apis/apps/v1$")?);
    let started = std::time::Instant::now();
    let legacy = arca_kube::discover::discover_legacy(&kube).await?;
    // One try (the policy above): an unavailable group version costs a request, not minutes.
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "{:?}", started.elapsed());
    assert_eq!(legacy.failed_groups, ["apps/v1"]);
    let aggregated = arca_kube::discover::discover(&kube).await?;
    assert!(aggregated.failed_groups.is_empty(), "{:?}", aggregated.failed_groups);
    assert!(aggregated.types.iter().any(|t| t.group == "apps" && t.resource == "deployments"));
    Ok(())
}
