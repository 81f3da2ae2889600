//! `arca server`, `arca location create` and `--server` mode through the
//! real binary against the test cluster, with a real repository on disk.

mod server_env;

use std::process::Stdio;

use arca_testcluster::TestCluster;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, PostParams};
use serde_json::json;
use server_env::{Env, PASSWORD, Server, init_repo};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_and_restores_through_the_server_exit_as_the_direct_mode() -> anyhow::Result<()> {
    let cluster = TestCluster::start().await?;
    let client = cluster.client().await?;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in arca_api::crds() {
        crds.create(&PostParams::default(), &crd).await?;
    }
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces.create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": "shop"}}))?).await?;
    // The server's own namespace (its Lease), as `arca install` creates it.
    namespaces
        .create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": "arca-system"}}))?)
        .await?;
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), "shop");
    for i in 0..2 {
        let cm = json!({"metadata": {"name": format!("config-{i}")}, "data": {"k": format!("v{i}")}});
        configmaps.create(&PostParams::default(), &serde_json::from_value(cm)?).await?;
    }
    let dir = tempfile::tempdir()?;
    let env = Env { repo: init_repo(dir.path())?, kubeconfig: cluster.kubeconfig_path().to_path_buf() };

    // Locations from the current repository and password; the password is never printed.
    let made = env.expect(0, &["location", "create", "main", "-n", "shop", "--default"]).await?;
    let made = String::from_utf8_lossy(&made.stdout).into_owned();
    assert!(made.contains("shop/main") && !made.contains(PASSWORD), "{made}");
    env.expect(0, &["location", "create", "archive", "-n", "shop", "--read-only"]).await?;
    let mut wrong = env.cmd(&["location", "create", "bad", "-n", "shop"]);
    wrong.env("ARCA_PASSWORD", "wrong");
    let out = tokio::task::spawn_blocking(move || wrong.output()).await??;
    assert!(!out.status.success(), "a wrong password is refused before anything is created");
    let listed = env.expect(0, &["location", "list", "-n", "shop", "-o", "json"]).await?;
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout)?;
    assert_eq!(listed.as_array().map(Vec::len), Some(2), "{listed}");

    let server = env
        .cmd(&["server", "--identity", "cli-server", "--metrics-address", "none", "--shutdown-grace", "5s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let _server = Server(server);

    let created = env
        .expect(
            0,
            &[
                "backup",
                "create",
                "nightly",
                "--server",
                "-n",
                "shop",
                "--include-namespaces",
                "shop",
                "--volumes",
                "none",
                "--wait",
                "-o",
                "json",
            ],
        )
        .await?;
    let created: serde_json::Value = serde_json::from_slice(&created.stdout)?;
    assert_eq!(created["phase"], "Completed", "{created}");
    assert_eq!(created["status"]["worker"], "cli-server");
    let list = env.expect(0, &["backup", "list", "-o", "json"]).await?;
    let list: serde_json::Value = serde_json::from_slice(&list.stdout)?;
    assert_eq!(list[0]["name"], "nightly", "the server's backup is in the repository: {list}");

    // A backup the server fails (a read-only location) fails the pipeline.
    let failed = env
        .expect(1, &["backup", "create", "into-archive", "--server", "-n", "shop", "--location", "archive", "--wait"])
        .await?;
    let text = String::from_utf8_lossy(&failed.stdout).into_owned();
    assert!(text.contains("Failed") && text.contains("ReadOnly"), "{text}");

    // Flags the server cannot carry out are refused, naming them.
    let refused = env.expect(1, &["backup", "create", "x", "--server", "-n", "shop", "--keep-snapshots"]).await?;
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--keep-snapshots"));

    let restored = env
        .expect(
            0,
            &[
                "restore",
                "create",
                "copy",
                "--from-backup",
                "nightly",
                "--server",
                "-n",
                "shop",
                "--namespace-mappings",
                "shop:shop-copy",
                "--wait",
                "-o",
                "json",
            ],
        )
        .await?;
    let restored: serde_json::Value = serde_json::from_slice(&restored.stdout)?;
    assert_eq!(restored["phase"], "Completed", "{restored}");
    let copies: Api<ConfigMap> = Api::namespaced(client.clone(), "shop-copy");
    assert_eq!(copies.get("config-1").await?.data.unwrap_or_default()["k"], "v1");
    Ok(())
}
