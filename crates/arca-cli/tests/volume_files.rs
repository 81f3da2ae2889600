//! `arca volume list|files` over a real backup: the test cluster's objects
//! plus volume records from a data phase that runs `arca mover backup` as
//! local processes. Restores go to local directories, no cluster needed.

mod common;
mod movers;

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use arca_kube::api::Kube;
use arca_kube::backup::{BackupOptions, Quiet};
use arca_kube::data::DataPhase;
use arca_repo::Repository;
use arca_testcluster::TestCluster;
use arca_volumes::record::{Method, SnapshotRecord, VolumeState};
use common::{Arca, stderr};
use movers::local_phase::{LocalMovers, LocalVolume, record};
use movers::*;

async fn kube(cluster: &TestCluster) -> anyhow::Result<Kube> {
    let options =
        arca_kube::connect::ClusterOptions { kubeconfig: Some(cluster.kubeconfig_path().to_path_buf()), context: None };
    Ok(Kube::new(arca_kube::connect::connect(&options).await?.client, 16))
}

fn volumes(arca: &Arca) -> Vec<LocalVolume> {
    let src = arca.path("claim-data");
    volume_tree(&src);
    let image = arca.path("raw.img");
    let file = File::create(&image).unwrap();
    file.set_len(32 * 1024 * 1024).unwrap();
    file.write_all_at(&pseudo_random(300 * 1024, 3), 5 * 1024 * 1024).unwrap();
    let mut snapshot_only = record("shop/cache", Method::Snapshot, VolumeState::Completed, "Filesystem");
    snapshot_only.snapshot = Some(SnapshotRecord {
        name: "arca-cache-1".into(),
        content: "snapcontent-1".into(),
        class: "csi-snap".into(),
        driver: "test.csi.arca.io".into(),
        handle: "snap-123".into(),
        kept: true,
        ..SnapshotRecord::default()
    });
    let mut failed = record("shop/logs", Method::Move, VolumeState::Failed, "Filesystem");
    failed.reason = "mover pod unschedulable: 0/1 nodes available".into();
    vec![
        LocalVolume::Dir { claim: "shop/data".into(), dir: src },
        LocalVolume::Block { claim: "shop/raw".into(), image },
        LocalVolume::Record(Box::new(snapshot_only)),
        LocalVolume::Record(Box::new(failed)),
    ]
}

/// Backs up the cluster with the local data phase.
async fn backup_with_volumes(cluster: &TestCluster, arca: &Arca, name: &str) -> anyhow::Result<()> {
    let k = kube(cluster).await?;
    let (url, password) = (arca.repo.clone(), arca.password.clone());
    let repo = tokio::task::spawn_blocking(move || -> anyhow::Result<Repository> {
        let backend = arca_repo::open_backend(&url, false)?;
        Ok(Repository::open(backend, password.as_bytes())?)
    })
    .await??;
    let movers = LocalMovers { repo: arca.repo.clone(), password: arca.password.clone(), volumes: volumes(arca) };
    let mut opts = BackupOptions::new(name);
    opts.data = Some(DataPhase(Arc::new(movers)));
    let result = arca_kube::backup::run(&k, &cluster.url(), &repo, &opts, &Quiet).await;
    // The backend owns a runtime: drop it off the async workers.
    tokio::task::spawn_blocking(move || drop(repo)).await?;
    result?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volume_files_restores_a_backups_volumes_locally() -> anyhow::Result<()> {
    let cluster = TestCluster::start().await?;
    let arca = tokio::task::block_in_place(Arca::new_local);
    backup_with_volumes(&cluster, &arca, "shop-1").await?;
    tokio::task::block_in_place(|| check_list_and_files(&arca));
    Ok(())
}

fn check_list_and_files(arca: &Arca) {
    let list = arca.json(&["volume", "list", "shop-1"]);
    let claims: Vec<&str> = list.as_array().unwrap().iter().map(|r| r["claim"].as_str().unwrap()).collect();
    assert_eq!(claims, ["shop/data", "shop/raw", "shop/cache", "shop/logs"]);
    assert_eq!(list[0]["state"], "Completed");
    assert_eq!(list[0]["files"], 6);
    let table = arca.ok(&["volume", "list", "shop-1"]);
    assert!(table.contains("CLAIM") && table.contains("SIZE READ") && table.contains("unschedulable"), "{table}");

    let target = arca.path("local-data");
    let out = arca.json(&["volume", "files", "shop-1", "shop/data", "--target", &target.to_string_lossy()]);
    assert_eq!(out["files"], 6, "{out}");
    assert_same_tree(&arca.path("claim-data"), &target);

    let some = arca.path("only-conf");
    arca.ok(&["volume", "files", "shop-1", "shop/data", "--target", &some.to_string_lossy(), "--include", "conf"]);
    assert!(some.join("conf/app.conf").exists() && !some.join("data").exists());

    let raw = arca.path("local-raw");
    arca.ok(&["volume", "files", "shop-1", "shop/raw", "--target", &raw.to_string_lossy()]);
    assert_eq!(std::fs::read(raw.join("volume.img")).unwrap(), std::fs::read(arca.path("raw.img")).unwrap());

    let fails = |claim: &str, expect: &[&str]| {
        let out = arca.run(&["volume", "files", "shop-1", claim, "--target", &arca.path("x").to_string_lossy()]);
        assert!(!out.status.success(), "{claim} must fail");
        let err = stderr(&out);
        for e in expect {
            assert!(err.contains(e), "{claim}: {e:?} not in {err}");
        }
    };
    fails("shop/nope", &["no volume shop/nope", "shop/data, shop/raw, shop/cache, shop/logs"]);
    fails("shop/cache", &["CSI snapshot only", "no copy in the repository"]);
    fails("shop/logs", &["failed", "unschedulable"]);
    let out = arca.run(&["volume", "list", "no-such-backup"]);
    assert!(!out.status.success() && stderr(&out).contains("no-such-backup"), "{}", stderr(&out));
}
