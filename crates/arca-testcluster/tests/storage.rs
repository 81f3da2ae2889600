//! Volume work across nodes: WaitForFirstConsumer and node-local volumes,
//! the kubelet's pods directory, block-mode claims, unpullable images.

mod common;

use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use arca_testcluster::{TEST_LOCAL_PROVISIONER, TEST_LOCAL_STORAGE_CLASS, TEST_WFFC_STORAGE_CLASS, TestCluster};
use common::{eventually, obj};
use k8s_openapi::api::core::v1::{Event, PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, DeleteParams, ListParams, LogParams, PostParams};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(15);

async fn start(nodes: usize) -> anyhow::Result<(TestCluster, kube::Client)> {
    let cluster =
        TestCluster::builder().nodes(nodes).snapshot_crds(true).unpullable_image("registry.invalid/").start().await?;
    let client = cluster.client().await?;
    Ok((cluster, client))
}

fn claim(name: &str, class: &str, mode: &str) -> PersistentVolumeClaim {
    obj(json!({"metadata": {"name": name}, "spec": {"storageClassName": class, "volumeMode": mode,
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Mi"}}}}))
}

fn pod(name: &str, command: Option<&str>, container: Value, volumes: Value, extra: Value) -> Pod {
    let mut c = json!({"name": "c", "image": "busybox"});
    if let Some(cmd) = command {
        c["command"] = json!(["sh", "-c", cmd]);
    }
    c.as_object_mut().expect("container").extend(container.as_object().cloned().unwrap_or_default());
    let mut spec = json!({"restartPolicy": "Never", "containers": [c], "volumes": volumes});
    spec.as_object_mut().expect("spec").extend(extra.as_object().cloned().unwrap_or_default());
    obj(json!({"metadata": {"name": name}, "spec": spec}))
}

fn claim_volume(name: &str, claim: &str) -> Value {
    json!({"name": name, "persistentVolumeClaim": {"claimName": claim}})
}

async fn phase(api: &Api<Pod>, name: &str, wanted: &str) -> anyhow::Result<Pod> {
    eventually(WAIT, || async move {
        let p = api.get(name).await?;
        Ok((p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some(wanted)).then_some(p))
    })
    .await
}

async fn bound(api: &Api<PersistentVolumeClaim>, name: &str) -> anyhow::Result<PersistentVolumeClaim> {
    eventually(WAIT, || async move {
        let c = api.get(name).await?;
        Ok((c.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound")).then_some(c))
    })
    .await
}

async fn event(client: &kube::Client, object: &str, reason: &str) -> anyhow::Result<Event> {
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    eventually(WAIT, || async {
        let list = events.list(&ListParams::default()).await?.items;
        Ok(list
            .into_iter()
            .find(|e| e.reason.as_deref() == Some(reason) && e.involved_object.name.as_deref() == Some(object)))
    })
    .await
}

#[tokio::test]
async fn the_extra_storage_classes_wait_for_the_first_consumer() -> anyhow::Result<()> {
    let (_c, client) = start(1).await?;
    let classes: Api<StorageClass> = Api::all(client);
    let local = classes.get(TEST_LOCAL_STORAGE_CLASS).await?;
    assert_eq!(local.provisioner, TEST_LOCAL_PROVISIONER);
    assert_eq!(local.volume_binding_mode.as_deref(), Some("WaitForFirstConsumer"));
    assert_eq!(local.reclaim_policy.as_deref(), Some("Delete"));
    let wffc = classes.get(TEST_WFFC_STORAGE_CLASS).await?;
    assert_eq!(wffc.volume_binding_mode.as_deref(), Some("WaitForFirstConsumer"));
    assert_eq!(classes.list(&ListParams::default()).await?.items.len(), 3);
    Ok(())
}

#[tokio::test]
async fn a_delayed_claim_binds_on_the_node_of_its_first_pod() -> anyhow::Result<()> {
    let (_c, client) = start(3).await?;
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pvs: Api<PersistentVolume> = Api::all(client.clone());
    claims.create(&PostParams::default(), &claim("local", TEST_LOCAL_STORAGE_CLASS, "Filesystem")).await?;
    let waiting = event(&client, "local", "WaitForFirstConsumer").await?;
    assert_eq!(waiting.type_.as_deref(), Some("Normal"));
    assert_eq!(waiting.message.as_deref(), Some("waiting for first consumer to be created before binding"));
    let c = claims.get("local").await?;
    assert_eq!(c.status.and_then(|s| s.phase).as_deref(), Some("Pending"));
    assert!(c.spec.and_then(|s| s.volume_name).is_none());

    let zone_b = json!({"nodeSelector": {"topology.kubernetes.io/zone": "zone-b"}});
    let writer = pod(
        "writer",
        None,
        json!({"volumeMounts": [{"name": "d", "mountPath": "/d"}]}),
        json!([claim_volume("d", "local")]),
        zone_b,
    );
    pods.create(&PostParams::default(), &writer).await?;
    let c = bound(&claims, "local").await?;
    let annotations = c.metadata.annotations.unwrap_or_default();
    assert_eq!(annotations.get("volume.kubernetes.io/selected-node").map(String::as_str), Some("arca-node-2"));
    let pv = pvs.get(&c.spec.and_then(|s| s.volume_name).unwrap_or_default()).await?;
    let affinity = serde_json::to_value(pv.spec.and_then(|s| s.node_affinity))?;
    assert_eq!(
        affinity,
        json!({"required": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["arca-node-2"]}]}]}})
    );
    let running = phase(&pods, "writer", "Running").await?;
    assert_eq!(running.spec.and_then(|s| s.node_name).as_deref(), Some("arca-node-2"));

    // The volume is pinned: a pod of the claim that must run elsewhere cannot be placed.
    let elsewhere = json!({"nodeSelector": {"kubernetes.io/hostname": "arca-node-1"}});
    let reader = pod(
        "reader",
        None,
        json!({"volumeMounts": [{"name": "d", "mountPath": "/d"}]}),
        json!([claim_volume("d", "local")]),
        elsewhere,
    );
    pods.create(&PostParams::default(), &reader).await?;
    let failed = event(&client, "reader", "FailedScheduling").await?;
    assert_eq!(
        failed.message.as_deref(),
        Some(
            "0/3 nodes are available: 1 node(s) had volume node affinity conflict, 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
        )
    );
    Ok(())
}

#[tokio::test]
async fn a_pod_with_an_unbound_immediate_claim_is_unschedulable() -> anyhow::Result<()> {
    let (_c, client) = start(1).await?;
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    claims.create(&PostParams::default(), &claim("manual", "no-such-class", "Filesystem")).await?;
    pods.create(&PostParams::default(), &pod("p", None, json!({}), json!([claim_volume("d", "manual")]), json!({})))
        .await?;
    let failed = event(&client, "p", "FailedScheduling").await?;
    assert_eq!(
        failed.message.as_deref(),
        Some(
            "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
        )
    );
    assert!(pods.get("p").await?.spec.and_then(|s| s.node_name).is_none());
    Ok(())
}

#[tokio::test]
async fn the_kubelet_pods_directory_shows_running_pods_volumes() -> anyhow::Result<()> {
    let (c, client) = start(2).await?;
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    claims.create(&PostParams::default(), &claim("data", "arca-test", "Filesystem")).await?;
    let mounts =
        json!({"volumeMounts": [{"name": "data", "mountPath": "/data"}, {"name": "scratch", "mountPath": "/scratch"}]});
    let volumes = json!([claim_volume("data", "data"), {"name": "scratch", "emptyDir": {}}]);
    let app =
        pod("app", Some("echo claim > /data/f; echo scratch > /scratch/g; exec sleep 60"), mounts, volumes, json!({}));
    pods.create(&PostParams::default(), &app).await?;
    let running = phase(&pods, "app", "Running").await?;
    let uid = running.metadata.uid.clone().unwrap_or_default();
    let node = running.spec.and_then(|s| s.node_name).unwrap_or_default();
    let pv = bound(&claims, "data").await?.spec.and_then(|s| s.volume_name).unwrap_or_default();
    let dir = c.kubelet_dir(&node).join("pods").join(&uid);
    eventually(WAIT, || async { Ok(dir.join("volumes/kubernetes.io~empty-dir/scratch/g").exists().then_some(())) })
        .await?;

    let script = format!(
        "cat /host/{uid}/volumes/kubernetes.io~csi/{pv}/mount/f /host/{uid}/volumes/kubernetes.io~empty-dir/scratch/g"
    );
    let host = json!([{"name": "pods", "hostPath": {"path": "/var/lib/kubelet/pods"}}]);
    let mover = pod(
        "mover",
        Some(&script),
        json!({"volumeMounts": [{"name": "pods", "mountPath": "/host"}]}),
        host,
        json!({"nodeName": node}),
    );
    pods.create(&PostParams::default(), &mover).await?;
    phase(&pods, "mover", "Succeeded").await?;
    let logs = pods.logs("mover", &LogParams::default()).await?;
    assert_eq!(logs, "claim\nscratch\n");

    pods.delete("app", &DeleteParams::default()).await?;
    eventually(WAIT, || async { Ok((!dir.exists()).then_some(())) }).await?;
    Ok(())
}

#[tokio::test]
async fn block_claims_are_sparse_files_mapped_by_volume_devices() -> anyhow::Result<()> {
    let (c, client) = start(1).await?;
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pvs: Api<PersistentVolume> = Api::all(client.clone());
    claims.create(&PostParams::default(), &claim("disk", "arca-test", "Block")).await?;
    let volume = bound(&claims, "disk").await?.spec.and_then(|s| s.volume_name).unwrap_or_default();
    let pv = pvs.get(&volume).await?;
    assert_eq!(pv.spec.as_ref().and_then(|s| s.volume_mode.as_deref()), Some("Block"));
    let file = c.data_dir().join("volumes").join(&volume);
    let meta = std::fs::metadata(&file)?;
    assert!(meta.is_file());
    assert_eq!(meta.len(), 1024 * 1024);
    assert!(meta.blocks() * 512 < 64 * 1024, "nothing written yet: {} blocks", meta.blocks());

    let write =
        "test -n \"$ARCA_DEVICE_DISK\" && printf abc | dd of=/dev/xvda bs=1 seek=300000 conv=notrunc 2>/dev/null";
    let devices = json!({"volumeDevices": [{"name": "disk", "devicePath": "/dev/xvda"}]});
    pods.create(
        &PostParams::default(),
        &pod("writer", Some(write), devices.clone(), json!([claim_volume("disk", "disk")]), json!({})),
    )
    .await?;
    phase(&pods, "writer", "Succeeded").await?;
    let data = std::fs::read(&file)?;
    // While a pod using it runs, its node's kubelet directory links the device.
    let reader = pod("reader", None, devices.clone(), json!([claim_volume("disk", "disk")]), json!({}));
    pods.create(&PostParams::default(), &reader).await?;
    let running = phase(&pods, "reader", "Running").await?;
    let uid = running.metadata.uid.clone().unwrap_or_default();
    let link = c.kubelet_dir("arca-node").join("pods").join(uid).join("volumeDevices/kubernetes.io~csi").join(&volume);
    eventually(WAIT, || async { Ok(link.exists().then_some(())) }).await?;
    assert_eq!(std::fs::read_link(&link)?, file);
    assert_eq!((data.len(), &data[300000..300003]), (1024 * 1024, &b"abc"[..]));

    // A snapshot and a restore of it copy the file, holes included.
    let snapshots = kube::api::ApiResource::from_gvk_with_plural(
        &kube::api::GroupVersionKind::gvk("snapshot.storage.k8s.io", "v1", "VolumeSnapshot"),
        "volumesnapshots",
    );
    let vs: Api<kube::api::DynamicObject> = Api::namespaced_with(client.clone(), "default", &snapshots);
    let snap: kube::api::DynamicObject =
        serde_json::from_value(json!({"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
        "metadata": {"name": "snap"}, "spec": {"source": {"persistentVolumeClaimName": "disk"}}}))?;
    vs.create(&PostParams::default(), &snap).await?;
    let mut restored = claim("restored", "arca-test", "Block");
    restored.spec.as_mut().expect("spec").data_source = Some(serde_json::from_value(
        json!({"apiGroup": "snapshot.storage.k8s.io", "kind": "VolumeSnapshot", "name": "snap"}),
    )?);
    claims.create(&PostParams::default(), &restored).await?;
    let copy = bound(&claims, "restored").await?.spec.and_then(|s| s.volume_name).unwrap_or_default();
    let copy_file = c.data_dir().join("volumes").join(&copy);
    assert_eq!(std::fs::read(&copy_file)?, data);
    assert!(std::fs::metadata(&copy_file)?.blocks() * 512 < 256 * 1024, "the copy keeps holes");

    // Used the wrong way round, a claim keeps the pod from starting.
    let mounts = json!({"volumeMounts": [{"name": "disk", "mountPath": "/disk"}]});
    pods.create(
        &PostParams::default(),
        &pod("mounter", Some("true"), mounts, json!([claim_volume("disk", "disk")]), json!({})),
    )
    .await?;
    let failed = event(&client, "mounter", "FailedMount").await?;
    assert!(
        failed
            .message
            .unwrap_or_default()
            .ends_with("volume disk has volumeMode Block, but is specified in volumeMounts")
    );
    let fs_claim = claim("files", "arca-test", "Filesystem");
    claims.create(&PostParams::default(), &fs_claim).await?;
    pods.create(
        &PostParams::default(),
        &pod("mapper", Some("true"), devices, json!([claim_volume("disk", "files")]), json!({})),
    )
    .await?;
    let failed = event(&client, "mapper", "FailedMount").await?;
    assert!(
        failed
            .message
            .unwrap_or_default()
            .ends_with("volume disk has volumeMode Filesystem, but is specified in volumeDevices")
    );
    let stuck = pods.get("mounter").await?;
    assert_eq!(stuck.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Pending"));
    Ok(())
}

#[tokio::test]
async fn an_unpullable_image_never_starts() -> anyhow::Result<()> {
    let (_c, client) = start(1).await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let image = "registry.invalid/app:1";
    pods.create(&PostParams::default(), &pod("p", Some("true"), json!({"image": image}), json!([]), json!({}))).await?;
    let waiting = |reason: &'static str| {
        let pods = pods.clone();
        async move {
            eventually(WAIT, || async {
                let p = pods.get("p").await?;
                let status = p.status.unwrap_or_default();
                let w = status
                    .container_statuses
                    .unwrap_or_default()
                    .first()
                    .and_then(|s| s.state.clone())
                    .and_then(|s| s.waiting);
                Ok(w.filter(|w| w.reason.as_deref() == Some(reason)).map(|w| (status.phase, w.message)))
            })
            .await
        }
    };
    let (phase, message) = waiting("ErrImagePull").await?;
    assert_eq!(phase.as_deref(), Some("Pending"));
    let message = message.unwrap_or_default();
    assert!(
        message.contains(&format!("failed to pull and unpack image \"{image}\"")) && message.ends_with("not found"),
        "{message}"
    );
    let (phase, message) = waiting("ImagePullBackOff").await?;
    assert_eq!(phase.as_deref(), Some("Pending"));
    assert_eq!(message.as_deref(), Some(format!("Back-off pulling image \"{image}\"").as_str()));
    Ok(())
}

#[tokio::test]
async fn a_missing_host_path_directory_waits_with_failed_mount_until_it_exists() -> anyhow::Result<()> {
    let (c, client) = start(1).await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let dir = c.data_dir().join("later");
    let path = dir.to_string_lossy().to_string();
    let volumes = json!([{"name": "repo", "hostPath": {"path": path, "type": "Directory"}}]);
    let mounts = json!({"volumeMounts": [{"name": "repo", "mountPath": "/repo"}]});
    pods.create(&PostParams::default(), &pod("p", Some("ls /repo"), mounts, volumes, json!({}))).await?;
    let failed = event(&client, "p", "FailedMount").await?;
    let expected =
        format!("MountVolume.SetUp failed for volume \"repo\" : hostPath type check failed: {path} is not a directory");
    assert_eq!(failed.message.as_deref(), Some(expected.as_str()));
    assert_eq!(pods.get("p").await?.status.and_then(|s| s.phase).as_deref(), Some("Pending"));
    std::fs::create_dir_all(&dir)?;
    phase(&pods, "p", "Succeeded").await?;
    Ok(())
}

#[tokio::test]
async fn a_delayed_claim_of_static_local_volumes_binds_one_on_the_pods_node() -> anyhow::Result<()> {
    let (c, client) = start(3).await?;
    let classes: Api<StorageClass> = Api::all(client.clone());
    let pvs: Api<PersistentVolume> = Api::all(client.clone());
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let class: StorageClass =
        obj(json!({"metadata": {"name": "local-storage"}, "provisioner": "kubernetes.io/no-provisioner",
        "volumeBindingMode": "WaitForFirstConsumer"}));
    classes.create(&PostParams::default(), &class).await?;
    for node in ["arca-node-2", "arca-node-3"] {
        let dir = c.data_dir().join(format!("disk-{node}"));
        std::fs::create_dir_all(&dir)?;
        let pv: PersistentVolume = obj(json!({"metadata": {"name": format!("local-{node}")}, "spec": {
            "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "storageClassName": "local-storage",
            "persistentVolumeReclaimPolicy": "Retain", "local": {"path": dir.to_string_lossy()},
            "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}}}}));
        pvs.create(&PostParams::default(), &pv).await?;
    }
    claims.create(&PostParams::default(), &claim("data", "local-storage", "Filesystem")).await?;
    // Node 3 holds a volume but is the only choice left: node 1 has none, node 2 is taken by a selector.
    let not_2 = json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "NotIn", "values": ["arca-node-2"]}]}]}}}});
    let user = pod(
        "user",
        Some("echo hi > /d/f"),
        json!({"volumeMounts": [{"name": "d", "mountPath": "/d"}]}),
        json!([claim_volume("d", "data")]),
        not_2,
    );
    pods.create(&PostParams::default(), &user).await?;
    let done = phase(&pods, "user", "Succeeded").await?;
    assert_eq!(done.spec.and_then(|s| s.node_name).as_deref(), Some("arca-node-3"));
    let bound_to = bound(&claims, "data").await?.spec.and_then(|s| s.volume_name);
    assert_eq!(bound_to.as_deref(), Some("local-arca-node-3"));
    assert_eq!(std::fs::read_to_string(c.data_dir().join("disk-arca-node-3/f"))?, "hi\n");

    // No free volume left on a fitting node, and nothing provisions this class.
    claims.create(&PostParams::default(), &claim("more", "local-storage", "Filesystem")).await?;
    let only_1 = json!({"nodeSelector": {"kubernetes.io/hostname": "arca-node-1"}});
    pods.create(&PostParams::default(), &pod("stuck", None, json!({}), json!([claim_volume("d", "more")]), only_1))
        .await?;
    let failed = event(&client, "stuck", "FailedScheduling").await?;
    assert_eq!(
        failed.message.as_deref(),
        Some(
            "0/3 nodes are available: 1 node(s) didn't find available persistent volumes to bind, 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
        )
    );
    Ok(())
}
