//! Helpers of the blueprint tests: the database servers that
//! `scripts/db-servers.sh start` runs (their env), a test cluster whose
//! pods' exec reaches them, and bound application pods.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use arca_kube::api::Kube;
use arca_testcluster::TestCluster;
use serde_json::{Value, json};

/// `ARCA_TEST_<name>`; `None` (with the reason printed) outside CI when
/// unset, a failure under `CI=true`.
pub fn server_env(names: &[&str]) -> Option<Vec<String>> {
    let mut out = Vec::new();
    for n in names {
        match std::env::var(format!("ARCA_TEST_{n}")) {
            Ok(v) if !v.is_empty() => out.push(v),
            _ => {
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "CI=true but ARCA_TEST_{n} is not set (scripts/db-servers.sh start prints it)"
                );
                eprintln!("skipping: ARCA_TEST_{n} not set (run `eval \"$(scripts/db-servers.sh start)\"`)");
                return None;
            }
        }
    }
    Some(out)
}

pub async fn cluster() -> anyhow::Result<TestCluster> {
    let bin = Path::new(env!("CARGO_BIN_EXE_arca")).parent().map(Path::to_path_buf).unwrap_or_default();
    Ok(TestCluster::builder().container_path(bin).start().await?)
}

pub async fn kube(cluster: &TestCluster) -> anyhow::Result<Kube> {
    let options =
        arca_kube::connect::ClusterOptions { kubeconfig: Some(cluster.kubeconfig_path().to_path_buf()), context: None };
    Ok(Kube::new(arca_kube::connect::connect(&options).await?.client, 16))
}

pub async fn namespace(k: &Kube, ns: &str) -> anyhow::Result<()> {
    let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
    k.create("/api/v1/namespaces", &body, "namespace").await?;
    Ok(())
}

pub async fn secret(k: &Kube, ns: &str, name: &str, data: &[(&str, &str)]) -> anyhow::Result<()> {
    let data: serde_json::Map<String, Value> = data.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
    let body =
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns}, "stringData": data});
    k.create(&format!("/api/v1/namespaces/{ns}/secrets"), &body, "secret").await?;
    Ok(())
}

/// A pod bound to `blueprint` whose container (`image`, env `env`) sleeps,
/// to be exec'ed into; waits until it is Ready.
pub async fn app_pod(
    k: &Kube,
    ns: &str,
    name: &str,
    blueprint: &str,
    image: &str,
    env: Value,
) -> anyhow::Result<Value> {
    let pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "annotations": {"blueprints.arca.io/name": blueprint}},
        "spec": {"containers": [{"name": "db", "image": image, "command": ["sleep", "3600"], "env": env}]}});
    k.create(&format!("/api/v1/namespaces/{ns}/pods"), &pod, "pod").await?;
    wait_ready(k, ns, name).await
}

/// A StatefulSet of one replica bound to `blueprint` (on the workload and
/// its pod template); waits until its pod `NAME-0` is Ready.
pub async fn app_statefulset(
    k: &Kube,
    ns: &str,
    name: &str,
    blueprint: &str,
    image: &str,
    env: Value,
) -> anyhow::Result<Value> {
    let annotations = json!({"blueprints.arca.io/name": blueprint});
    let sts = json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": ns, "annotations": annotations},
        "spec": {"replicas": 1, "serviceName": name, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}, "annotations": annotations},
                              "spec": {"containers": [{"name": "db", "image": image, "command": ["sleep", "3600"], "env": env}]}}}});
    k.create(&format!("/apis/apps/v1/namespaces/{ns}/statefulsets"), &sts, "statefulset").await?;
    wait_ready(k, ns, &format!("{name}-0")).await
}

pub async fn delete_statefulset(k: &Kube, ns: &str, name: &str) -> anyhow::Result<()> {
    let path = format!("/apis/apps/v1/namespaces/{ns}/statefulsets/{name}");
    k.delete(&path, "statefulset").await?;
    let pod = format!("/api/v1/namespaces/{ns}/pods/{name}-0");
    for _ in 0..400 {
        if k.get_opt(&path, "statefulset").await?.is_none() && k.get_opt(&pod, "pod").await?.is_none() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("statefulset {ns}/{name} and its pod not gone in 20 s")
}

pub async fn wait_ready(k: &Kube, ns: &str, name: &str) -> anyhow::Result<Value> {
    let path = format!("/api/v1/namespaces/{ns}/pods/{name}");
    for _ in 0..400 {
        if let Some(p) = k.get_opt(&path, "pod").await? {
            let ready = p["status"]["conditions"]
                .as_array()
                .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"));
            if ready {
                return Ok(p);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("pod {ns}/{name} not Ready in 20 s")
}

pub async fn delete_pod(k: &Kube, ns: &str, name: &str) -> anyhow::Result<()> {
    let path = format!("/api/v1/namespaces/{ns}/pods/{name}");
    k.delete(&path, "pod").await?;
    for _ in 0..400 {
        if k.get_opt(&path, "pod").await?.is_none() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("pod {ns}/{name} not gone in 20 s")
}

/// The dump records of `report` for `object`, by stream.
pub fn dumps<'a>(report: &'a Value, object: &str) -> Vec<&'a Value> {
    report["dumps"].as_array().into_iter().flatten().filter(|d| d["object"] == object).collect()
}

pub fn dump<'a>(report: &'a Value, stream: &str) -> anyhow::Result<&'a Value> {
    report["dumps"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["stream"] == stream))
        .ok_or_else(|| anyhow::anyhow!("no dump {stream} in {}", report["dumps"]))
}

/// Runs a host command with `env`, returns its stdout; fails on a non-zero exit.
pub fn host(argv: &[&str], env: &[(&str, &str)], stdin: Option<&[u8]>) -> anyhow::Result<String> {
    use std::io::Write as _;
    let mut c = std::process::Command::new(argv[0]);
    c.args(&argv[1..]).envs(env.iter().copied());
    c.stdin(if stdin.is_some() { std::process::Stdio::piped() } else { std::process::Stdio::null() });
    c.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = c.spawn()?;
    if let (Some(data), Some(mut w)) = (stdin, child.stdin.take()) {
        w.write_all(data)?;
    }
    let out = child.wait_with_output()?;
    anyhow::ensure!(out.status.success(), "{argv:?} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
