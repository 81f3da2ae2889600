//! Watch streams, raw and through `kube::runtime::watcher`.

mod common;

use std::time::Duration;

use common::{cluster, eventually, namespace, obj};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;

#[tokio::test]
async fn watch_from_resource_version() -> anyhow::Result<()> {
    let (_c, client) = cluster().await?;
    namespace(&client, "w").await?;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "w");
    let before: ConfigMap = obj(json!({"metadata": {"name": "before", "labels": {"w": "1"}}}));
    api.create(&PostParams::default(), &before).await?;
    let rv = api.list(&ListParams::default()).await?.metadata.resource_version.unwrap_or_default();
    let mut stream = api.watch(&WatchParams::default().labels("w").timeout(10), &rv).await?.boxed();
    let cm: ConfigMap = obj(json!({"metadata": {"name": "a", "labels": {"w": "1"}}}));
    api.create(&PostParams::default(), &cm).await?;
    api.patch("a", &PatchParams::default(), &Patch::Merge(json!({"data": {"k": "v"}}))).await?;
    // Leaving the selector is seen as a deletion.
    api.patch("a", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"labels": {"w": null}}}))).await?;
    api.delete("before", &DeleteParams::default()).await?;
    let mut seen = Vec::new();
    while seen.len() < 4 {
        let ev = tokio::time::timeout(Duration::from_secs(5), stream.try_next()).await??;
        match ev {
            Some(WatchEvent::Added(o)) => seen.push(format!("ADDED {}", o.metadata.name.unwrap_or_default())),
            Some(WatchEvent::Modified(o)) => seen.push(format!("MODIFIED {}", o.metadata.name.unwrap_or_default())),
            Some(WatchEvent::Deleted(o)) => seen.push(format!("DELETED {}", o.metadata.name.unwrap_or_default())),
            Some(WatchEvent::Bookmark(_)) => {}
            Some(WatchEvent::Error(e)) => anyhow::bail!("watch error {e:?}"),
            None => anyhow::bail!("watch ended early"),
        }
    }
    assert_eq!(seen, ["ADDED a", "MODIFIED a", "DELETED a", "DELETED before"]);
    Ok(())
}

#[tokio::test]
async fn watch_after_compaction_is_gone() -> anyhow::Result<()> {
    let (c, client) = cluster().await?;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let rv = api.list(&ListParams::default()).await?.metadata.resource_version.unwrap_or_default();
    let cm: ConfigMap = obj(json!({"metadata": {"name": "x"}}));
    api.create(&PostParams::default(), &cm).await?;
    c.compact();
    let mut stream = api.watch(&WatchParams::default(), &rv).await?.boxed();
    let ev = tokio::time::timeout(Duration::from_secs(5), stream.try_next()).await??;
    match ev {
        Some(WatchEvent::Error(e)) => assert_eq!((e.code, e.reason.as_str()), (410, "Expired")),
        other => anyhow::bail!("expected 410, got {other:?}"),
    }
    // Paging across a compaction: the continue token has expired.
    let page = api.list(&ListParams::default().limit(1)).await?;
    api.create(&PostParams::default(), &obj(json!({"metadata": {"name": "y"}}))).await?;
    c.compact();
    let token = page.metadata.continue_.expect("continue");
    let st = common::status_of(api.list(&ListParams::default().limit(1).continue_token(&token)).await);
    assert_eq!(st.code, 410);
    Ok(())
}

#[tokio::test]
async fn runtime_watcher_sees_changes() -> anyhow::Result<()> {
    let (_c, client) = cluster().await?;
    namespace(&client, "rw").await?;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "rw");
    for i in 0..3 {
        let cm: ConfigMap = obj(json!({"metadata": {"name": format!("pre{i}")}}));
        api.create(&PostParams::default(), &cm).await?;
    }
    let (reader, writer) = kube::runtime::reflector::store();
    let stream = kube::runtime::reflector(writer, watcher(api.clone(), watcher::Config::default().page_size(2)))
        .applied_objects()
        .boxed();
    let task = tokio::spawn(async move {
        let mut s = stream;
        while let Some(r) = s.next().await {
            if r.is_err() {
                break;
            }
        }
    });
    let cm: ConfigMap = obj(json!({"metadata": {"name": "late"}}));
    api.create(&PostParams::default(), &cm).await?;
    let n = eventually(Duration::from_secs(10), || {
        let reader = reader.clone();
        async move {
            let n = reader.state().len();
            // 3 + late + kube-root-ca.crt
            Ok((n == 5).then_some(n))
        }
    })
    .await?;
    assert_eq!(n, 5);
    api.delete("pre0", &DeleteParams::default()).await?;
    eventually(Duration::from_secs(10), || {
        let reader = reader.clone();
        async move { Ok((reader.state().len() == 4).then_some(())) }
    })
    .await?;
    task.abort();
    Ok(())
}

#[tokio::test]
async fn streaming_list_watcher() -> anyhow::Result<()> {
    let (_c, client) = cluster().await?;
    namespace(&client, "sl").await?;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "sl");
    for i in 0..3 {
        api.create(&PostParams::default(), &obj(json!({"metadata": {"name": format!("s{i}")}}))).await?;
    }
    let (reader, writer) = kube::runtime::reflector::store();
    let stream = kube::runtime::reflector(writer, watcher(api.clone(), watcher::Config::default().streaming_lists()))
        .applied_objects()
        .boxed();
    let task = tokio::spawn(async move {
        let mut s = stream;
        while let Some(r) = s.next().await {
            if r.is_err() {
                break;
            }
        }
    });
    reader.wait_until_ready().await?;
    let names = |r: &kube::runtime::reflector::Store<ConfigMap>| -> Vec<String> {
        r.state().iter().filter_map(|c| c.metadata.name.clone()).filter(|n| n.starts_with('s')).collect()
    };
    let mut initial = names(&reader);
    initial.sort();
    assert_eq!(initial, ["s0", "s1", "s2"]);
    api.create(&PostParams::default(), &obj(json!({"metadata": {"name": "s9"}}))).await?;
    eventually(Duration::from_secs(10), || {
        let reader = reader.clone();
        async move { Ok((names(&reader).len() == 4).then_some(())) }
    })
    .await?;
    task.abort();
    Ok(())
}
