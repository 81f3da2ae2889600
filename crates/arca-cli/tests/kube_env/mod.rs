//! Running the `arca` binary against test clusters, for the Kubernetes tests
//! (backup and restore, admission webhooks, retained volumes, migration).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use arca_kube::api::Kube;
use arca_repo::{InitOptions, KdfParams, Repository};
use arca_testcluster::TestCluster;
use serde_json::Value;

pub struct Env {
    repo: PathBuf,
}

impl Env {
    pub fn new(dir: &Path) -> anyhow::Result<Env> {
        let repo = dir.join("repo");
        // The backend owns a runtime: create and drop it off the async workers.
        let url = repo.display().to_string();
        std::thread::spawn(move || {
            let backend = arca_repo::open_backend(&url, true)?;
            let opts = InitOptions { kdf: KdfParams::insecure_fast(), ..Default::default() };
            Repository::init(backend, b"pw", opts).map(drop)
        })
        .join()
        .map_err(|_| anyhow::anyhow!("repository init panicked"))??;
        Ok(Env { repo })
    }

    /// The repository's directory (password `pw`).
    pub fn repo(&self) -> &Path {
        &self.repo
    }

    /// Runs `arca` against `cluster` (off the async workers: it blocks).
    pub async fn arca(&self, cluster: &TestCluster, args: &[&str]) -> anyhow::Result<Output> {
        self.arca_as(cluster.kubeconfig_path(), args).await
    }

    /// Runs `arca` with `kubeconfig` (another user's credentials).
    pub async fn arca_as(&self, kubeconfig: &Path, args: &[&str]) -> anyhow::Result<Output> {
        let (repo, kubeconfig) = (self.repo.clone(), kubeconfig.to_path_buf());
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        Ok(tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_arca"))
                .args(&args)
                .arg("--kubeconfig")
                .arg(&kubeconfig)
                .env("ARCA_REPO", &repo)
                .env("ARCA_PASSWORD", "pw")
                .env_remove("ARCA_PASSWORD_FILE")
                .output()
        })
        .await??)
    }

    /// Runs and expects exit code `code`; returns stdout.
    pub async fn expect(&self, cluster: &TestCluster, code: i32, args: &[&str]) -> anyhow::Result<String> {
        self.expect_as(cluster.kubeconfig_path(), code, args).await
    }

    /// [`Env::expect`] with `kubeconfig`.
    pub async fn expect_as(&self, kubeconfig: &Path, code: i32, args: &[&str]) -> anyhow::Result<String> {
        let out = self.arca_as(kubeconfig, args).await?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "arca {args:?}\nstdout:\n{stdout}\nstderr:\n{stderr}");
        Ok(stdout)
    }

    pub async fn json(&self, cluster: &TestCluster, code: i32, args: &[&str]) -> anyhow::Result<Value> {
        self.json_as(cluster.kubeconfig_path(), code, args).await
    }

    /// [`Env::json`] with `kubeconfig`.
    pub async fn json_as(&self, kubeconfig: &Path, code: i32, args: &[&str]) -> anyhow::Result<Value> {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        let out = self.expect_as(kubeconfig, code, &all).await?;
        Ok(serde_json::from_str(&out)?)
    }
}

/// The report item of `object` (`kind/namespace/name`).
pub fn item<'a>(report: &'a Value, object: &str) -> anyhow::Result<&'a Value> {
    report["items"]
        .as_array()
        .and_then(|items| items.iter().find(|i| i["object"] == object))
        .ok_or_else(|| anyhow::anyhow!("no item {object} in the report: {report}"))
}

/// The reason of `object`'s report item ("" when none).
pub fn reason<'a>(report: &'a Value, object: &str) -> anyhow::Result<&'a str> {
    Ok(item(report, object)?["reason"].as_str().unwrap_or_default())
}

/// Polls `path` until `ok` holds (10 s at most).
pub async fn wait_for(kube: &Kube, path: &str, ok: impl Fn(&Value) -> bool) -> anyhow::Result<Value> {
    let mut last = None;
    for _ in 0..200 {
        last = kube.get_opt(path, "waiting").await?;
        if last.as_ref().is_some_and(&ok) {
            return last.ok_or_else(|| anyhow::anyhow!("unreachable"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("timed out waiting for {path}; last seen: {last:?}")
}

pub async fn wait_gone(kube: &Kube, path: &str) -> anyhow::Result<()> {
    for _ in 0..400 {
        if kube.get_opt(path, "waiting").await?.is_none() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("timed out waiting for {path} to go")
}
