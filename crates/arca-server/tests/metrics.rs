//! `/metrics`, `/healthz`, `/readyz` over HTTP: after a catalog sync the
//! scraped text parses and its numbers are the repository's (backups and
//! restores by phase, per-schedule last status and last success, per-volume
//! mover records); a fresh `Metrics` after a "restart" gives the same
//! numbers because they come from the catalog, not from memory.

mod sync_support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arca_api::AccessMode;
use arca_kube::Phase;
use arca_kube::api::RetryPolicy;
use arca_kube::backup::{self, BackupOptions};
use arca_kube::filter::FilterSpec;
use arca_kube::restore::{self, RestoreOptions};
use arca_server::metrics::Metrics;
use arca_testcluster::{Fault, FaultRule, TestCluster};
use arca_volumes::backup::{VolumeBackup, VolumeBackupOptions};
use arca_volumes::method::Mode;
use serde_json::json;
use sync_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn get(addr: SocketAddr, path: &str) -> anyhow::Result<(u16, String)> {
    let mut stream = tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr)).await??;
    stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes()).await?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut raw)).await??;
    let text = String::from_utf8(raw)?;
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| anyhow::anyhow!("no HTTP header in {text}"))?;
    let code = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    Ok((code, body.to_string()))
}

/// Every sample as `name{k=v,…}` → value, parsed by a Prometheus text parser.
fn parse(text: &str) -> anyhow::Result<BTreeMap<String, f64>> {
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))?;
    let mut out = BTreeMap::new();
    for s in scrape.samples {
        let value = match s.value {
            prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v)
            | prometheus_parse::Value::Counter(v) => v,
            other => anyhow::bail!("unexpected sample {other:?}"),
        };
        let mut labels: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        labels.sort();
        out.insert(format!("{}{{{}}}", s.metric, labels.join(",")), value);
    }
    Ok(out)
}

fn sample(all: &BTreeMap<String, f64>, key: &str) -> f64 {
    *all.get(key).unwrap_or_else(|| panic!("no sample {key} in {:#?}", all.keys().collect::<Vec<_>>()))
}

/// A claim bound to a provisioned volume, for a backup with a volume record.
async fn claim(kube: &arca_kube::api::Kube, ns: &str, name: &str) -> anyhow::Result<()> {
    let pvc = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "namespace": ns},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "arca-test",
                 "resources": {"requests": {"storage": "1Gi"}}}});
    create(kube, &format!("/api/v1/namespaces/{ns}/persistentvolumeclaims"), pvc).await?;
    let path = format!("/api/v1/namespaces/{ns}/persistentvolumeclaims/{name}");
    wait_until("the claim is bound", Duration::from_secs(10), || async {
        Ok(kube.get(&path, "claim").await?.pointer("/status/phase").and_then(|p| p.as_str()) == Some("Bound"))
    })
    .await
}

fn snapshot_volumes(dir: &std::path::Path) -> VolumeBackupOptions {
    VolumeBackupOptions {
        mode: Mode::Snapshot,
        policy: None,
        namespace: "arca-system".into(),
        image: arca_volumes::DEFAULT_MOVER_IMAGE.into(),
        resources: None,
        kubelet_root: "/var/lib/kubelet".into(),
        keep_snapshots: false,
        timeout: Duration::from_secs(30),
        concurrency: 1,
        per_node: 1,
        repository: dir.display().to_string(),
        local_repository: None,
        password: PASSWORD.as_bytes().to_vec(),
        env: vec![],
        freezer: None,
        consistency: Default::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_come_from_the_catalog_and_survive_a_restart() -> anyhow::Result<()> {
    let cluster = TestCluster::builder().snapshot_crds(true).start().await?;
    let kube = kube_of(&cluster).await?;
    app(&kube, "shop", 2).await?;
    claim(&kube, "shop", "data").await?;
    let dir = tempfile::tempdir()?;
    let repo = new_repo(dir.path())?;

    // A scheduled backup with a volume record, then a partly failed one.
    let mut opts = BackupOptions::new("nightly-20260101020000");
    opts.filter = FilterSpec { include_namespaces: vec!["shop".into()], ..Default::default() };
    opts.tags = vec!["schedule=nightly".into()];
    opts.data = Some(arca_kube::data::DataPhase(Arc::new(VolumeBackup(Arc::new(snapshot_volumes(dir.path()))))));
    let (good, _) = backup::run(&kube, &cluster.url(), &repo, &opts, &backup::Quiet).await?;
    assert_eq!(good.phase, Phase::Completed, "{:?}", good.errors);
    let volumes: Vec<_> = arca_volumes::record::from_report(&good.volumes).into_iter().flatten().collect();
    assert_eq!(volumes.len(), 1, "{:?}", good.volumes);
    let faults = cluster.faults();
    faults.add(FaultRule::new(Fault::Status(500)).method("GET").path("^/api/v1/namespaces/shop/configmaps$")?);
    let fast = kube.clone().with_retry(RetryPolicy { attempts: 2, ..Default::default() });
    let (partial, _) = backup(&fast, &cluster, &repo, "nightly-20260102020000", "shop", &["schedule=nightly"]).await?;
    assert_eq!(partial.phase, Phase::PartiallyFailed);
    faults.clear();
    let (manual, _) = backup(&kube, &cluster, &repo, "manual", "shop", &[]).await?;
    let restored = restore::run(&kube, &cluster.url(), &repo, &RestoreOptions::new("again", "manual")).await?;
    assert_eq!(restored.phase, Phase::Completed);

    install_crds(&cluster).await?;
    password_secret(&kube, "shop", "repo-password", PASSWORD).await?;
    location(&cluster, "shop", "main", dir.path(), "repo-password", AccessMode::ReadWrite).await?;

    let metrics = Arc::new(Metrics::new());
    let (ready_tx, ready_rx) = tokio::sync::watch::channel(false);
    let listener = arca_server::http::bind("127.0.0.1:0".parse()?).await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(arca_server::http::serve_on(listener, metrics.clone(), ready_rx, None));
    assert_eq!(get(addr, "/healthz").await?.0, 200);
    let (code, reason) = get(addr, "/readyz").await?;
    assert_eq!(code, 503);
    assert!(reason.contains("not ready"), "{reason}");
    ready_tx.send(true)?;
    assert_eq!(get(addr, "/readyz").await?.0, 200);

    let sync = start_sync(&cluster, metrics.clone()).await?;
    let key = "arca_location_available{location=main,namespace=shop}";
    wait_until("a sync shows in /metrics", Duration::from_secs(20), || async {
        Ok(parse(&get(addr, "/metrics").await?.1)?.get(key) == Some(&1.0))
    })
    .await?;
    let scraped = parse(&get(addr, "/metrics").await?.1)?;
    let at = |rest: &str| format!("location=main,namespace=shop{rest}");
    assert_eq!(sample(&scraped, &format!("arca_backups{{{}}}", at(",phase=Completed"))), 2.0);
    assert_eq!(sample(&scraped, &format!("arca_backups{{{}}}", at(",phase=PartiallyFailed"))), 1.0);
    assert_eq!(sample(&scraped, &format!("arca_backups{{{}}}", at(",phase=Failed"))), 0.0);
    assert_eq!(sample(&scraped, &format!("arca_restores{{{}}}", at(",phase=Completed"))), 1.0);
    assert!(sample(&scraped, &format!("arca_repository_bytes{{{}}}", at(""))) > 0.0);
    assert_eq!(sample(&scraped, &format!("arca_backup_objects{{backup=manual,{}}}", at(""))), manual.objects as f64);
    let nightly = "namespace=shop,phase";
    assert_eq!(
        sample(&scraped, &format!("arca_schedule_last_status{{{nightly}=PartiallyFailed,schedule=nightly}}")),
        1.0
    );
    assert_eq!(sample(&scraped, &format!("arca_schedule_last_status{{{nightly}=Completed,schedule=nightly}}")), 0.0);
    let success = sample(&scraped, "arca_schedule_last_success_timestamp_seconds{namespace=shop,schedule=nightly}");
    assert!((success - good.finished.timestamp_millis() as f64 / 1000.0).abs() < 0.01, "{success}");
    let volume = format!("backup=nightly-20260101020000,claim=shop/data,{}", at(""));
    assert_eq!(sample(&scraped, &format!("arca_volume_bytes{{{volume}}}")), volumes[0].bytes_read as f64);
    let took = sample(&scraped, &format!("arca_volume_duration_seconds{{{volume}}}"));
    assert!((took - volumes[0].duration_secs).abs() < 1e-6, "{took} vs {}", volumes[0].duration_secs);

    // A "restart": a fresh Metrics and sync compute the same numbers.
    drop(sync);
    let fresh = Arc::new(Metrics::new());
    let _sync = start_sync(&cluster, fresh.clone()).await?;
    wait_until("the restarted sync has read the location", Duration::from_secs(20), || async {
        Ok(fresh.location("shop", "main").is_some_and(|l| l.available))
    })
    .await?;
    let without_time = |m: BTreeMap<String, f64>| -> BTreeMap<String, f64> {
        m.into_iter().filter(|(k, _)| !k.starts_with("arca_catalog_sync_timestamp_seconds")).collect()
    };
    assert_eq!(without_time(parse(&fresh.render())?), without_time(scraped));
    server.abort();
    tokio::task::spawn_blocking(move || drop(repo)).await?;
    Ok(())
}
