//! The simulated kubelet and controllers: pods, logs, exec, Jobs, volumes, snapshots.

mod common;

use std::time::Duration;

use common::{cluster, eventually, namespace, obj};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod};
use kube::api::{Api, ApiResource, AttachParams, DynamicObject, GroupVersionKind, LogParams, PostParams};
use serde_json::json;
use tokio::io::AsyncReadExt;

const WAIT: Duration = Duration::from_secs(15);

async fn pod_phase(api: &Api<Pod>, name: &str, phase: &str) -> anyhow::Result<Pod> {
    eventually(WAIT, || async move {
        let pod = api.get(name).await?;
        let p = pod.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_default();
        Ok((p == phase).then_some(pod))
    })
    .await
}

#[tokio::test]
async fn pods_run_and_report_exit_codes_and_logs() -> anyhow::Result<()> {
    let (_c, client) = cluster().await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let ok: Pod = obj(json!({"metadata": {"name": "ok"}, "spec": {"restartPolicy": "Never", "containers": [
        {"name": "main", "image": "busybox", "command": ["sh", "-c", "echo hello; echo oops >&2"]}
    ]}}));
    pods.create(&PostParams::default(), &ok).await?;
    let done = pod_phase(&pods, "ok", "Succeeded").await?;
    let status = done.status.expect("status");
    let term =
        status.container_statuses.expect("statuses")[0].state.clone().and_then(|s| s.terminated).expect("terminated");
    assert_eq!(term.exit_code, 0);
    assert_eq!(done.spec.and_then(|s| s.node_name).as_deref(), Some("arca-node"));
    let logs = pods.logs("ok", &LogParams::default()).await?;
    assert!(logs.contains("hello") && logs.contains("oops"), "{logs}");

    let bad: Pod = obj(json!({"metadata": {"name": "bad"}, "spec": {"restartPolicy": "Never", "containers": [
        {"name": "main", "image": "busybox", "command": ["sh", "-c", "exit 3"]}
    ]}}));
    pods.create(&PostParams::default(), &bad).await?;
    let failed = pod_phase(&pods, "bad", "Failed").await?;
    let term = failed.status.and_then(|s| s.container_statuses).expect("statuses")[0]
        .state
        .clone()
        .and_then(|s| s.terminated)
        .expect("terminated");
    assert_eq!(term.exit_code, 3);
    Ok(())
}

#[tokio::test]
async fn exec_a_command_in_a_running_pod() -> anyhow::Result<()> {
    let (_c, client) = cluster().await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    // No command: the pod stays Running (like a pause container).
    let p: Pod = obj(json!({"metadata": {"name": "sleeper"}, "spec": {
        "containers": [{"name": "main", "image": "busybox", "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}]}],
        "volumes": [{"name": "scratch", "emptyDir": {}}]
    }}));
    pods.create(&PostParams::default(), &p).await?;
    pod_phase(&pods, "sleeper", "Running").await?;

    let mut proc = pods
        .exec(
            "sleeper",
            ["sh", "-c", "echo out; echo err >&2; echo data > /scratch/f; cat /scratch/f"],
            &AttachParams::default().stderr(true),
        )
        .await?;
    let mut out = String::new();
    let mut err = String::new();
    let mut stdout = proc.stdout().expect("stdout");
    let mut stderr = proc.stderr().expect("stderr");
    let (a, b) = tokio::join!(stdout.read_to_string(&mut out), stderr.read_to_string(&mut err));
    a?;
    b?;
    let status = proc.take_status().expect("status").await.expect("a status");
    assert_eq!(status.status.as_deref(), Some("Success"));
    assert_eq!(out, "out\ndata\n");
    assert_eq!(err, "err\n");
    proc.join().await?;

    let mut proc = pods.exec("sleeper", ["sh", "-c", "exit 4"], &AttachParams::default()).await?;
    let status = proc.take_status().expect("status").await.expect("a status");
    assert_eq!(status.status.as_deref(), Some("Failure"));
    assert_eq!(status.reason.as_deref(), Some("NonZeroExitCode"));
    let code = status.details.and_then(|d| d.causes).and_then(|c| c.into_iter().next()).and_then(|c| c.message);
    assert_eq!(code.as_deref(), Some("4"));
    Ok(())
}

#[tokio::test]
async fn job_writes_pvc_then_snapshot_then_restore() -> anyhow::Result<()> {
    let (c, client) = cluster().await?;
    c.install_snapshot_crds()?;
    namespace(&client, "app").await?;
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "app");
    let claim: PersistentVolumeClaim = obj(json!({"metadata": {"name": "data"}, "spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}
    }}));
    pvcs.create(&PostParams::default(), &claim).await?;
    let bound = eventually(WAIT, || {
        let pvcs = pvcs.clone();
        async move {
            let p = pvcs.get("data").await?;
            Ok((p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound")).then_some(p))
        }
    })
    .await?;
    let spec = bound.spec.clone().expect("spec");
    assert_eq!(spec.storage_class_name.as_deref(), Some(arca_testcluster::TEST_STORAGE_CLASS));
    let pv_name = spec.volume_name.expect("volumeName");
    let pvs: Api<PersistentVolume> = Api::all(client.clone());
    let pv = pvs.get(&pv_name).await?;
    let handle = pv.spec.and_then(|s| s.csi).map(|c| c.volume_handle).expect("csi volume");
    assert!(std::path::Path::new(&handle).starts_with(c.data_dir()));

    // Bound claims are immutable except for requests.
    let p = kube::api::Patch::Merge(json!({"spec": {"accessModes": ["ReadWriteMany"]}}));
    let st = common::status_of(pvcs.patch("data", &Default::default(), &p).await);
    assert_eq!(st.code, 422);

    let jobs: Api<Job> = Api::namespaced(client.clone(), "app");
    let job: Job = obj(json!({"metadata": {"name": "writer"}, "spec": {"backoffLimit": 0, "template": {"spec": {
        "restartPolicy": "Never",
        "containers": [{"name": "w", "image": "busybox", "command": ["sh", "-c", "mkdir -p /data/sub && echo payload > /data/sub/file && head -c 4096 /dev/urandom > /data/blob"],
                        "volumeMounts": [{"name": "d", "mountPath": "/data"}]}],
        "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]
    }}}}));
    jobs.create(&PostParams::default(), &job).await?;
    eventually(WAIT, || {
        let jobs = jobs.clone();
        async move {
            let j = jobs.get("writer").await?;
            let st = j.status.unwrap_or_default();
            if st.failed.unwrap_or(0) > 0 {
                anyhow::bail!("job failed");
            }
            Ok((st.succeeded == Some(1) && st.conditions.unwrap_or_default().iter().any(|c| c.type_ == "Complete"))
                .then_some(()))
        }
    })
    .await?;
    let original = std::fs::read(std::path::Path::new(&handle).join("blob"))?;
    assert_eq!(original.len(), 4096);

    let vs_ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("snapshot.storage.k8s.io", "v1", "VolumeSnapshot"),
        "volumesnapshots",
    );
    let snaps: Api<DynamicObject> = Api::namespaced_with(client.clone(), "app", &vs_ar);
    let vs: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
        "metadata": {"name": "snap"},
        "spec": {"volumeSnapshotClassName": arca_testcluster::TEST_SNAPSHOT_CLASS, "source": {"persistentVolumeClaimName": "data"}}
    }))?;
    snaps.create(&PostParams::default(), &vs).await?;
    let ready = eventually(WAIT, || {
        let snaps = snaps.clone();
        async move {
            let s = snaps.get("snap").await?;
            Ok((s.data["status"]["readyToUse"] == true).then_some(s))
        }
    })
    .await?;
    let content_name = ready.data["status"]["boundVolumeSnapshotContentName"].as_str().unwrap_or_default().to_string();
    let vsc_ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("snapshot.storage.k8s.io", "v1", "VolumeSnapshotContent"),
        "volumesnapshotcontents",
    );
    let contents: Api<DynamicObject> = Api::all_with(client.clone(), &vsc_ar);
    let content = contents.get(&content_name).await?;
    assert_eq!(content.data["status"]["readyToUse"], true);
    assert_eq!(content.data["spec"]["driver"], arca_testcluster::TEST_PROVISIONER);

    // Changing the source after the snapshot does not change the snapshot.
    std::fs::write(std::path::Path::new(&handle).join("sub/file"), "changed")?;

    let restore: PersistentVolumeClaim = obj(json!({"metadata": {"name": "restored"}, "spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
        "dataSource": {"apiGroup": "snapshot.storage.k8s.io", "kind": "VolumeSnapshot", "name": "snap"}
    }}));
    pvcs.create(&PostParams::default(), &restore).await?;
    let restored = eventually(WAIT, || {
        let pvcs = pvcs.clone();
        async move {
            let p = pvcs.get("restored").await?;
            Ok(p.spec.and_then(|s| s.volume_name).filter(|v| !v.is_empty()))
        }
    })
    .await?;
    let pv = pvs.get(&restored).await?;
    let dir = pv.spec.and_then(|s| s.csi).map(|c| c.volume_handle).expect("csi");

    // Read the restored data back through a pod, as an application would.
    let pods: Api<Pod> = Api::namespaced(client.clone(), "app");
    let reader: Pod = obj(json!({"metadata": {"name": "reader"}, "spec": {"restartPolicy": "Never", "containers": [
        {"name": "r", "image": "busybox", "command": ["cat", "/restore/sub/file"], "volumeMounts": [{"name": "v", "mountPath": "/restore"}]}
    ], "volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": "restored"}}]}}));
    pods.create(&PostParams::default(), &reader).await?;
    pod_phase(&pods, "reader", "Succeeded").await?;
    assert_eq!(pods.logs("reader", &LogParams::default()).await?, "payload\n");
    assert_eq!(std::fs::read(std::path::Path::new(&dir).join("blob"))?, original);
    Ok(())
}
