//! Disaster recovery through the server: backups made in one cluster; a
//! second, empty cluster gets Arca and a ReadOnly `BackupLocation` on the
//! same repository. Its server lists every backup as a `Backup` object, and
//! a `Restore` object brings one back — without writing a single file into
//! the repository (no lock, no stored report).

mod common;
mod sync_support;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use arca_api::{AccessMode, Backup, BackupPhase, Restore, RestorePhase, RestoreSpec};
use arca_server::ServerConfig;
use arca_testcluster::TestCluster;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::ResourceExt;
use kube::api::{Api, PostParams};
use sync_support::*;

/// Every file under `dir`, relative.
fn files(dir: &Path) -> anyhow::Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.insert(path.strip_prefix(dir)?.display().to_string());
            }
        }
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_cluster_restores_a_backup_of_a_read_only_location() -> anyhow::Result<()> {
    let source = TestCluster::start().await?;
    let kube = kube_of(&source).await?;
    app(&kube, "shop", 3).await?;
    app(&kube, "cart", 1).await?;
    let dir = tempfile::tempdir()?;
    let repo = new_repo(dir.path())?;
    backup(&kube, &source, &repo, "shop-1", "shop", &[]).await?;
    backup(&kube, &source, &repo, "cart-1", "cart", &[]).await?;
    tokio::task::spawn_blocking(move || drop(repo)).await?;
    drop(source);
    let before = files(dir.path())?;

    let target = TestCluster::start().await?;
    install_crds(&target).await?;
    let tk = kube_of(&target).await?;
    namespace(&tk, "arca-system").await?;
    namespace(&tk, "dr").await?;
    password_secret(&tk, "dr", "repo-password", PASSWORD).await?;
    location(&target, "dr", "main", dir.path(), "repo-password", AccessMode::ReadOnly).await?;
    let client = target.client().await?;
    let mut config = ServerConfig::new("arca-system", "dr-server");
    config.shutdown_grace = Duration::from_secs(5);
    let (stop, server) = common::server_with(&client, config);

    // Every backup of the repository appears.
    let backups: Api<Backup> = Api::namespaced(client.clone(), "dr");
    wait_until("both backups are listed as Completed Backups", Duration::from_secs(30), || async {
        let listed = backups.list(&Default::default()).await?.items;
        let done: BTreeSet<String> = listed
            .iter()
            .filter(|b| b.status.as_ref().is_some_and(|s| s.phase == BackupPhase::Completed))
            .map(|b| b.name_any())
            .collect();
        Ok(done == BTreeSet::from(["cart-1".to_string(), "shop-1".to_string()]))
    })
    .await?;

    // One is restored by a Restore object.
    let restores: Api<Restore> = Api::namespaced(client.clone(), "dr");
    let mut r = Restore::new("bring-back-shop", RestoreSpec { backup: "shop-1".into(), ..Default::default() });
    r.metadata.namespace = Some("dr".into());
    restores.create(&PostParams::default(), &r).await?;
    wait_until("the restore finishes", Duration::from_secs(40), || async {
        let r = restores.get_opt("bring-back-shop").await?;
        Ok(r.is_some_and(|r| r.status.as_ref().is_some_and(|s| s.phase.is_final())))
    })
    .await?;
    let done = restores.get_opt("bring-back-shop").await?;
    let status = done.and_then(|r| r.status).unwrap_or_default();
    assert_eq!(status.phase, RestorePhase::Completed, "{status:?}");
    assert!(status.progress.as_ref().is_some_and(|p| p.restored >= 4 && p.failed == 0), "{status:?}");
    assert_eq!(status.report, None, "no report stored in a ReadOnly location");
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), "shop");
    for i in 0..3 {
        let cm = configmaps.get(&format!("cm-{i}")).await?;
        assert_eq!(cm.data.unwrap_or_default().get("i"), Some(&i.to_string()));
    }
    let namespaces: Api<Namespace> = Api::all(client.clone());
    assert!(namespaces.get_opt("cart").await?.is_none(), "only the chosen backup is restored");

    // The repository is exactly as the source cluster left it.
    stop.send(()).ok();
    server.await??;
    assert_eq!(files(dir.path())?, before, "the ReadOnly location's repository was written to");
    Ok(())
}
