//! Many clusters in one process: fast start, isolation, shutdown on drop.

use std::time::{Duration, Instant};

use arca_testcluster::TestCluster;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_clusters_start_fast_and_are_isolated() -> anyhow::Result<()> {
    let t = Instant::now();
    let clusters = futures::future::try_join_all((0..8).map(|_| TestCluster::start())).await?;
    assert!(t.elapsed() < Duration::from_secs(5), "8 clusters took {:?}", t.elapsed());
    let mut urls: Vec<String> = clusters.iter().map(|c| c.url()).collect();
    urls.dedup();
    assert_eq!(urls.len(), 8);
    for (i, c) in clusters.iter().enumerate() {
        let api: Api<ConfigMap> = Api::namespaced(c.client().await?, "default");
        let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": format!("only-{i}")}}))?;
        api.create(&PostParams::default(), &cm).await?;
    }
    for (i, c) in clusters.iter().enumerate() {
        assert!(c.object("", "configmaps", "default", &format!("only-{i}")).is_some());
        assert!(c.object("", "configmaps", "default", &format!("only-{}", (i + 1) % 8)).is_none());
    }
    let first = clusters[0].url();
    let dir = clusters[0].data_dir().to_path_buf();
    drop(clusters);
    assert!(!dir.exists(), "data dir removed on drop");
    let addr = first.trim_start_matches("http://").to_string();
    let deadline = Instant::now() + Duration::from_secs(2);
    while tokio::net::TcpStream::connect(&addr).await.is_ok() {
        assert!(Instant::now() < deadline, "server still accepting after drop");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}
