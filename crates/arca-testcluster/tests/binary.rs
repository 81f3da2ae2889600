//! The `arca-testcluster` binary: writes a kubeconfig, prints `ready`, serves.

use std::process::Stdio;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ListParams};
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::test]
async fn binary_prints_ready_and_serves() -> anyhow::Result<()> {
    arca_testcluster::install_crypto_provider();
    let dir = tempfile::tempdir()?;
    let kubeconfig = dir.path().join("kubeconfig");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_arca-testcluster"))
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .arg("--snapshot-crds")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::time::timeout(std::time::Duration::from_secs(20), lines.next_line()).await??;
    assert_eq!(first.as_deref(), Some("ready"));
    let kc = kube::config::Kubeconfig::read_from(&kubeconfig)?;
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    let client = kube::Client::try_from(config)?;
    let nss: Api<Namespace> = Api::all(client.clone());
    let names: Vec<String> =
        nss.list(&ListParams::default()).await?.items.into_iter().filter_map(|n| n.metadata.name).collect();
    assert!(names.contains(&"default".to_string()));
    let discovery = kube::discovery::Discovery::new(client).run().await?;
    assert!(discovery.has_group("snapshot.storage.k8s.io"));
    child.kill().await?;
    Ok(())
}

#[tokio::test]
async fn binary_imitates_the_chosen_release() -> anyhow::Result<()> {
    arca_testcluster::install_crypto_provider();
    let dir = tempfile::tempdir()?;
    let kubeconfig = dir.path().join("kubeconfig");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_arca-testcluster"))
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["--kubernetes-version", "1.25"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::time::timeout(std::time::Duration::from_secs(20), lines.next_line()).await??;
    assert_eq!(first.as_deref(), Some("ready"));
    let kc = kube::config::Kubeconfig::read_from(&kubeconfig)?;
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    let client = kube::Client::try_from(config)?;
    assert_eq!(client.apiserver_version().await?.git_version, "v1.25.0");
    child.kill().await?;

    let refused = tokio::process::Command::new(env!("CARGO_BIN_EXE_arca-testcluster"))
        .arg("--kubeconfig")
        .arg(dir.path().join("other"))
        .args(["--kubernetes-version", "1.20"])
        .output()
        .await?;
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("1.25, 1.29, 1.33"));
    Ok(())
}

#[tokio::test]
async fn binary_runs_the_chosen_number_of_nodes() -> anyhow::Result<()> {
    arca_testcluster::install_crypto_provider();
    let dir = tempfile::tempdir()?;
    let kubeconfig = dir.path().join("kubeconfig");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_arca-testcluster"))
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["--nodes", "2", "--unpullable-image", "registry.invalid/"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::time::timeout(std::time::Duration::from_secs(20), lines.next_line()).await??;
    assert_eq!(first.as_deref(), Some("ready"));
    let kc = kube::config::Kubeconfig::read_from(&kubeconfig)?;
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    let client = kube::Client::try_from(config)?;
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(client);
    let mut names: Vec<String> =
        nodes.list(&ListParams::default()).await?.items.into_iter().filter_map(|n| n.metadata.name).collect();
    names.sort();
    assert_eq!(names, ["arca-node-1", "arca-node-2"]);
    child.kill().await?;
    Ok(())
}
