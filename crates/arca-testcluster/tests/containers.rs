//! Pods with several containers, init containers and native sidecars.

mod common;

use std::time::Duration;

use common::{cluster, eventually, obj, status_of};
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use kube::api::{Api, AttachParams, DeleteParams, LogParams, PostParams};
use serde_json::json;
use tokio::io::AsyncReadExt;

const WAIT: Duration = Duration::from_secs(15);

async fn pod_where(api: &Api<Pod>, name: &str, ok: fn(&Pod) -> bool) -> anyhow::Result<Pod> {
    eventually(WAIT, || async move {
        let pod = api.get(name).await?;
        Ok(ok(&pod).then_some(pod))
    })
    .await
}

fn phase(pod: &Pod) -> &str {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or_default()
}

fn statuses(pod: &Pod, init: bool) -> Vec<ContainerStatus> {
    let s = pod.status.clone().unwrap_or_default();
    (if init { s.init_container_statuses } else { s.container_statuses }).unwrap_or_default()
}

fn logs_of(container: &str) -> LogParams {
    LogParams { container: Some(container.to_string()), ..Default::default() }
}

async fn exec_out(pods: &Api<Pod>, pod: &str, container: Option<&str>, script: &str) -> anyhow::Result<String> {
    let params = AttachParams { container: container.map(String::from), ..Default::default() };
    let mut proc = pods.exec(pod, ["sh", "-c", script], &params).await?;
    let mut out = String::new();
    proc.stdout().expect("stdout").read_to_string(&mut out).await?;
    proc.join().await?;
    Ok(out)
}

#[tokio::test]
async fn every_container_runs_with_its_own_logs_and_exec() -> anyhow::Result<()> {
    let (_c, client) = cluster().await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pod: Pod = obj(json!({"metadata": {"name": "duo"}, "spec": {"restartPolicy": "Never",
    "volumes": [{"name": "shared", "emptyDir": {}}],
    "containers": [
        {"name": "a", "image": "busybox", "command": ["sh", "-c", "echo from-a > /out/a; echo log-a"],
         "volumeMounts": [{"name": "shared", "mountPath": "/out"}]},
        {"name": "b", "image": "busybox", "command": ["sh", "-c", "echo from-b > /scratch/b; echo log-b; sleep 60"],
         "volumeMounts": [{"name": "shared", "mountPath": "/scratch"}]}
    ]}}));
    pods.create(&PostParams::default(), &pod).await?;
    let running = pod_where(&pods, "duo", |p| {
        let s = statuses(p, false);
        phase(p) == "Running"
            && s.iter().any(|c| c.name == "a" && c.state.as_ref().is_some_and(|st| st.terminated.is_some()))
    })
    .await?;
    let b = statuses(&running, false).into_iter().find(|c| c.name == "b").expect("b's status");
    assert!(b.ready && b.started == Some(true) && b.restart_count == 0);
    assert!(b.state.and_then(|s| s.running).is_some());

    // Both wrote into the shared volume, each through its own mount path.
    let files = exec_out(&pods, "duo", Some("b"), "cat /scratch/a /scratch/b").await?;
    assert_eq!(files, "from-a\nfrom-b\n");
    assert_eq!(pods.logs("duo", &logs_of("a")).await?, "log-a\n");
    let b_log = eventually(WAIT, || {
        let pods = pods.clone();
        async move { Ok(Some(pods.logs("duo", &logs_of("b")).await?).filter(|l| !l.is_empty())) }
    })
    .await?;
    assert_eq!(b_log, "log-b\n");

    // Without a container the server refuses, as upstream's does (kubectl picks one itself).
    let st = status_of(pods.logs("duo", &LogParams::default()).await);
    assert_eq!(st.code, 400);
    assert_eq!(st.message, "a container name must be specified for pod duo, choose one of: [a b]");
    let st = status_of(pods.logs("duo", &logs_of("c")).await);
    assert_eq!(st.message, "container c is not valid for pod duo");
    let params = AttachParams { container: Some("nope".into()), ..Default::default() };
    let err = pods.exec("duo", ["true"], &params).await.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("container nope is not valid for pod duo"), "{err}");
    Ok(())
}

#[tokio::test]
async fn pod_phase_follows_all_containers() -> anyhow::Result<()> {
    let (_c, client) = cluster().await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let make = |name: &str, second: &str| -> Pod {
        obj(json!({"metadata": {"name": name}, "spec": {"restartPolicy": "Never", "containers": [
            {"name": "quick", "image": "busybox", "command": ["true"]},
            {"name": "slow", "image": "busybox", "command": ["sh", "-c", second]}
        ]}}))
    };
    pods.create(&PostParams::default(), &make("fine", "sleep 0.5")).await?;
    pods.create(&PostParams::default(), &make("broken", "sleep 0.5; exit 3")).await?;
    let running = pod_where(&pods, "fine", |p| phase(p) == "Running").await?;
    assert_eq!(statuses(&running, false).len(), 2);
    let fine = pod_where(&pods, "fine", |p| matches!(phase(p), "Succeeded" | "Failed")).await?;
    assert_eq!(phase(&fine), "Succeeded");
    let broken = pod_where(&pods, "broken", |p| matches!(phase(p), "Succeeded" | "Failed")).await?;
    assert_eq!(phase(&broken), "Failed");
    let slow = statuses(&broken, false).into_iter().find(|c| c.name == "slow").expect("slow");
    assert_eq!(slow.state.and_then(|s| s.terminated).map(|t| t.exit_code), Some(3));
    Ok(())
}

#[tokio::test]
async fn init_containers_run_first_and_a_failing_one_fails_the_pod() -> anyhow::Result<()> {
    let (_c, client) = cluster().await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pod: Pod = obj(json!({"metadata": {"name": "ordered"}, "spec": {"restartPolicy": "Never",
        "volumes": [{"name": "v", "emptyDir": {}}],
        "initContainers": [
            {"name": "first", "image": "busybox", "command": ["sh", "-c", "sleep 0.3; echo 1 >> /v/order"], "volumeMounts": [{"name": "v", "mountPath": "/v"}]},
            {"name": "second", "image": "busybox", "command": ["sh", "-c", "echo 2 >> /v/order"], "volumeMounts": [{"name": "v", "mountPath": "/v"}]}
        ],
        "containers": [{"name": "main", "image": "busybox", "command": ["sh", "-c", "echo 3 >> /v/order; cat /v/order"], "volumeMounts": [{"name": "v", "mountPath": "/v"}]}]}}));
    pods.create(&PostParams::default(), &pod).await?;
    let initializing = pod_where(&pods, "ordered", |p| !statuses(p, true).is_empty()).await?;
    if phase(&initializing) == "Pending" {
        let main = statuses(&initializing, false).into_iter().next().expect("main status");
        assert!(main.state.and_then(|s| s.waiting).is_some(), "main waits while init containers run");
    }
    let done = pod_where(&pods, "ordered", |p| phase(p) == "Succeeded").await?;
    assert_eq!(pods.logs("ordered", &logs_of("main")).await?, "1\n2\n3\n");
    let init = statuses(&done, true);
    assert_eq!(init.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["first", "second"]);
    assert!(
        init.iter().all(|c| c.state.as_ref().and_then(|s| s.terminated.as_ref()).is_some_and(|t| t.exit_code == 0))
    );

    let failing: Pod = obj(json!({"metadata": {"name": "blocked"}, "spec": {"restartPolicy": "Never",
        "initContainers": [{"name": "check", "image": "busybox", "command": ["sh", "-c", "exit 5"]}],
        "containers": [{"name": "main", "image": "busybox", "command": ["sh", "-c", "echo never"]}]}}));
    pods.create(&PostParams::default(), &failing).await?;
    let failed = pod_where(&pods, "blocked", |p| phase(p) == "Failed").await?;
    let check = statuses(&failed, true).into_iter().next().expect("init status");
    assert_eq!(
        check.state.and_then(|s| s.terminated).map(|t| (t.exit_code, t.reason)),
        Some((5, Some("Error".into())))
    );
    let main = statuses(&failed, false).into_iter().next().expect("main status");
    assert!(main.state.and_then(|s| s.waiting).is_some(), "main never started");
    let initialized =
        failed.status.and_then(|s| s.conditions).unwrap_or_default().into_iter().find(|c| c.type_ == "Initialized");
    assert_eq!(initialized.map(|c| c.status).as_deref(), Some("False"));
    Ok(())
}

#[tokio::test]
async fn native_sidecar_runs_beside_the_main_container_until_the_pod_ends() -> anyhow::Result<()> {
    let (c, client) = cluster().await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let marker = c.data_dir().join("sidecar-alive");
    let pod: Pod = obj(json!({"metadata": {"name": "with-sidecar"}, "spec": {"restartPolicy": "Never",
        "volumes": [{"name": "v", "emptyDir": {}}],
        "initContainers": [
            {"name": "sidecar", "image": "busybox", "restartPolicy": "Always",
             "command": ["sh", "-c", format!("while true; do date +%s%N > {}; sleep 0.05; done", marker.display())]},
            {"name": "setup", "image": "busybox", "command": ["sh", "-c", "echo ready > /v/setup"], "volumeMounts": [{"name": "v", "mountPath": "/v"}]}
        ],
        "containers": [{"name": "main", "image": "busybox", "command": ["sh", "-c", "cat /v/setup; sleep 60"], "volumeMounts": [{"name": "v", "mountPath": "/v"}]}]}}));
    pods.create(&PostParams::default(), &pod).await?;
    let running = pod_where(&pods, "with-sidecar", |p| {
        phase(p) == "Running"
            && statuses(p, true)
                .iter()
                .any(|c| c.name == "sidecar" && c.state.as_ref().is_some_and(|s| s.running.is_some()))
    })
    .await?;
    let sidecar = statuses(&running, true).into_iter().find(|c| c.name == "sidecar").expect("sidecar");
    assert!(sidecar.ready && sidecar.started == Some(true));
    assert_eq!(exec_out(&pods, "with-sidecar", Some("sidecar"), "echo inside").await?, "inside\n");
    let main_log = eventually(WAIT, || {
        let pods = pods.clone();
        async move { Ok(Some(pods.logs("with-sidecar", &logs_of("main")).await?).filter(|l| !l.is_empty())) }
    })
    .await?;
    assert_eq!(main_log, "ready\n");

    pods.delete("with-sidecar", &DeleteParams::default()).await?;
    eventually(WAIT, || {
        let pods = pods.clone();
        async move { Ok(pods.get_opt("with-sidecar").await?.is_none().then_some(())) }
    })
    .await?;
    // Once killed, the sidecar stops touching its marker.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = std::fs::read_to_string(&marker)?;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(std::fs::read_to_string(&marker)?, before, "the sidecar still runs after the pod was deleted");
    Ok(())
}

#[tokio::test]
async fn sidecar_is_stopped_when_the_main_containers_finish() -> anyhow::Result<()> {
    let (_c, client) = cluster().await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pod: Pod = obj(json!({"metadata": {"name": "job-like"}, "spec": {"restartPolicy": "Never",
        "initContainers": [{"name": "proxy", "image": "busybox", "restartPolicy": "Always", "command": ["sleep", "60"]}],
        "containers": [{"name": "work", "image": "busybox", "command": ["sh", "-c", "sleep 0.3"]}]}}));
    pods.create(&PostParams::default(), &pod).await?;
    let done = pod_where(&pods, "job-like", |p| matches!(phase(p), "Succeeded" | "Failed")).await?;
    assert_eq!(phase(&done), "Succeeded", "a sidecar's exit code does not count");
    let proxy = statuses(&done, true).into_iter().next().expect("proxy");
    assert!(proxy.state.and_then(|s| s.terminated).is_some());
    Ok(())
}
