//! The Restore controller in-process against the test cluster over HTTP.

mod common;

use std::time::Duration;

use arca_api::{Restore, RestorePhase, RestoreSpec};
use common::*;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_object_brings_the_objects_back_into_another_namespace() -> anyhow::Result<()> {
    let (_cluster, client) = cluster().await?;
    let dir = tempfile::tempdir()?;
    let url = repository(dir.path())?;
    app(&client, "shop", 3).await?;
    location(&client, "shop", "main", &url, PASSWORD, true, None).await?;
    let (_stop, _server) = server(&client, "replica-a");
    backup(&client, "shop", "nightly", None, "shop").await?;
    finished(&client, "shop", "nightly").await?;

    let spec = RestoreSpec {
        backup: "nightly".into(),
        namespace_mapping: [("shop".to_string(), "shop-copy".to_string())].into(),
        ..Default::default()
    };
    let mut r = Restore::new("copy", spec);
    r.metadata.namespace = Some("shop".into());
    let restores: Api<Restore> = Api::namespaced(client.clone(), "shop");
    restores.create(&PostParams::default(), &r).await?;
    let done = until(Duration::from_secs(40), "restore copy to finish", || async {
        Ok(restores.get_opt("copy").await?.filter(|r| r.status.as_ref().is_some_and(|s| s.phase.is_final())))
    })
    .await?;
    let st = done.status.unwrap_or_default();
    assert_eq!(st.phase, RestorePhase::Completed, "{st:?}");
    let progress = st.progress.clone().unwrap_or_default();
    assert!(progress.restored >= 3, "{progress:?}");
    assert_eq!(progress.failed, 0);
    assert_eq!(st.report.as_deref(), Some("copy"));
    let copies: Api<ConfigMap> = Api::namespaced(client.clone(), "shop-copy");
    for i in 0..3 {
        let cm = copies.get(&format!("config-{i}")).await?;
        assert_eq!(cm.data.unwrap_or_default().get("key").map(String::as_str), Some(format!("value {i}").as_str()));
    }
    assert!(event_reasons(&client, "shop", "copy").await?.contains(&"Completed".into()));

    // A restore of a backup that does not exist fails, naming it.
    let mut missing = Restore::new("missing", RestoreSpec { backup: "nope".into(), ..Default::default() });
    missing.metadata.namespace = Some("shop".into());
    restores.create(&PostParams::default(), &missing).await?;
    let failed = until(Duration::from_secs(20), "restore missing to fail", || async {
        Ok(restores.get_opt("missing").await?.filter(|r| r.status.as_ref().is_some_and(|s| s.phase.is_final())))
    })
    .await?;
    let st = failed.status.unwrap_or_default();
    assert_eq!(st.phase, RestorePhase::Failed);
    assert!(st.message.contains("shop/nope"), "{}", st.message);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_restore_compares_and_cleans_up_and_its_result_is_a_metric() -> anyhow::Result<()> {
    let (_cluster, client) = cluster().await?;
    let dir = tempfile::tempdir()?;
    let url = repository(dir.path())?;
    app(&client, "shop", 3).await?;
    location(&client, "shop", "main", &url, PASSWORD, true, None).await?;
    let (_stop, _server) = server(&client, "replica-a");
    backup(&client, "shop", "nightly", None, "shop").await?;
    finished(&client, "shop", "nightly").await?;

    let mut r = Restore::new("drill", RestoreSpec { backup: "nightly".into(), drill: true, ..Default::default() });
    r.metadata.namespace = Some("shop".into());
    let restores: Api<Restore> = Api::namespaced(client.clone(), "shop");
    restores.create(&PostParams::default(), &r).await?;
    let done = until(Duration::from_secs(60), "drill to finish", || async {
        Ok(restores.get_opt("drill").await?.filter(|r| r.status.as_ref().is_some_and(|s| s.phase.is_final())))
    })
    .await;
    let done = match done {
        Ok(d) => d,
        Err(e) => {
            let ns: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
            let d = ns.get_opt("drill-shop").await?;
            let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "drill-shop");
            let names: Vec<String> =
                cms.list(&Default::default()).await?.items.into_iter().filter_map(|c| c.metadata.name).collect();
            anyhow::bail!(
                "{e}: {:?}\nns: {d:?}\ncms: {names:?}",
                restores.get_opt("drill").await?.and_then(|r| r.status)
            )
        }
    };
    let st = done.status.unwrap_or_default();
    assert_eq!(st.phase, RestorePhase::Completed, "{st:?}");
    let drill = st.drill.clone().unwrap_or_default();
    assert_eq!(drill.result, "Passed", "{drill:?}");
    assert_eq!(drill.namespaces, [("shop".to_string(), "drill-shop".to_string())].into());
    assert!(drill.objects_compared >= 4, "namespace and three ConfigMaps at least: {drill:?}");
    assert_eq!(drill.objects_equal, drill.objects_compared, "{drill:?}");
    assert_eq!(drill.cleanup, "deleted drill-shop");
    let ns: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    assert!(ns.get_opt("drill-shop").await?.is_none(), "the scratch namespace is gone");

    // Stored in the repository, where the catalog (and so the metric) reads it.
    let repo = open(&url)?;
    let catalog = arca_server::catalog::read::read(&repo)?;
    assert_eq!(catalog.drills.len(), 1);
    let metrics = arca_server::metrics::Metrics::new();
    metrics.update_location("shop", "main", arca_server::catalog::read::stats(&catalog, chrono::Utc::now()));
    let text = metrics.render();
    assert!(text.contains(r#"arca_drill_last_passed{namespace="shop",location="main",app="shop"} 1"#), "{text}");

    // A drill that names its own mapping is refused, saying why.
    let spec = RestoreSpec {
        backup: "nightly".into(),
        drill: true,
        namespace_mapping: [("shop".to_string(), "elsewhere".to_string())].into(),
        ..Default::default()
    };
    let mut bad = Restore::new("bad-drill", spec);
    bad.metadata.namespace = Some("shop".into());
    restores.create(&PostParams::default(), &bad).await?;
    let failed = until(Duration::from_secs(20), "bad drill to fail", || async {
        Ok(restores.get_opt("bad-drill").await?.filter(|r| r.status.as_ref().is_some_and(|s| s.phase.is_final())))
    })
    .await?;
    let st = failed.status.unwrap_or_default();
    assert_eq!(st.phase, RestorePhase::Failed);
    assert!(st.message.contains("namespaceMapping"), "{}", st.message);
    Ok(())
}
