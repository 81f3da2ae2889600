//! Several nodes and the scheduler: labels, spreading, node selectors and
//! affinity, unschedulable pods with upstream's condition and event.

mod common;

use std::time::Duration;

use arca_testcluster::TestCluster;
use common::{eventually, obj};
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(15);

async fn three_nodes() -> anyhow::Result<(TestCluster, kube::Client)> {
    let cluster = TestCluster::builder().nodes(3).start().await?;
    let client = cluster.client().await?;
    Ok((cluster, client))
}

fn pause_pod(name: &str, spec: Value) -> Pod {
    let mut pod = json!({"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "pause"}]}});
    if let (Some(p), Some(extra)) = (pod["spec"].as_object_mut(), spec.as_object()) {
        p.extend(extra.clone());
    }
    obj(pod)
}

async fn node_of(api: &Api<Pod>, name: &str) -> anyhow::Result<String> {
    eventually(WAIT, || async move {
        let pod = api.get(name).await?;
        let running = pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
        Ok(pod.spec.and_then(|s| s.node_name).filter(|_| running))
    })
    .await
}

#[tokio::test]
async fn nodes_carry_hostname_os_arch_and_zone_labels() -> anyhow::Result<()> {
    let (c, client) = three_nodes().await?;
    let nodes: Api<Node> = Api::all(client);
    let mut names: Vec<(String, String)> = Vec::new();
    for node in nodes.list(&ListParams::default()).await?.items {
        let labels = node.metadata.labels.unwrap_or_default();
        let name = node.metadata.name.unwrap_or_default();
        assert_eq!(labels.get("kubernetes.io/hostname"), Some(&name));
        assert_eq!(labels.get("kubernetes.io/os").map(String::as_str), Some("linux"));
        assert!(labels.contains_key("kubernetes.io/arch"));
        names.push((name, labels.get("topology.kubernetes.io/zone").cloned().unwrap_or_default()));
    }
    names.sort();
    let expected = [("arca-node-1", "zone-a"), ("arca-node-2", "zone-b"), ("arca-node-3", "zone-a")];
    assert_eq!(names, expected.map(|(n, z)| (n.to_string(), z.to_string())));
    assert_eq!(c.nodes(), ["arca-node-1", "arca-node-2", "arca-node-3"]);
    Ok(())
}

#[tokio::test]
async fn pods_spread_over_the_nodes_with_the_fewest_pods() -> anyhow::Result<()> {
    let (_c, client) = three_nodes().await?;
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let mut placed = Vec::new();
    for i in 0..3 {
        pods.create(&PostParams::default(), &pause_pod(&format!("p{i}"), json!({}))).await?;
        placed.push(node_of(&pods, &format!("p{i}")).await?);
    }
    placed.sort();
    assert_eq!(placed, ["arca-node-1", "arca-node-2", "arca-node-3"]);
    Ok(())
}

#[tokio::test]
async fn node_selectors_and_required_affinity_choose_the_node() -> anyhow::Result<()> {
    let (_c, client) = three_nodes().await?;
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let zone_b = json!({"nodeSelector": {"topology.kubernetes.io/zone": "zone-b"}});
    pods.create(&PostParams::default(), &pause_pod("in-b", zone_b)).await?;
    assert_eq!(node_of(&pods, "in-b").await?, "arca-node-2");
    let by_name = json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["arca-node-3"]}]}]}}}});
    pods.create(&PostParams::default(), &pause_pod("by-name", by_name)).await?;
    assert_eq!(node_of(&pods, "by-name").await?, "arca-node-3");
    let not_a = json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "NotIn", "values": ["zone-a"]}]}]}}}});
    pods.create(&PostParams::default(), &pause_pod("not-a", not_a)).await?;
    assert_eq!(node_of(&pods, "not-a").await?, "arca-node-2");
    // A nodeName set by the user is not scheduled; a node without kubelet never runs the pod.
    pods.create(&PostParams::default(), &pause_pod("pinned", json!({"nodeName": "arca-node-1"}))).await?;
    assert_eq!(node_of(&pods, "pinned").await?, "arca-node-1");
    pods.create(&PostParams::default(), &pause_pod("ghost", json!({"nodeName": "no-such-node"}))).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ghost = pods.get("ghost").await?;
    assert_eq!(ghost.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Pending"));
    assert!(ghost.status.and_then(|s| s.container_statuses).is_none());
    Ok(())
}

#[tokio::test]
async fn an_unschedulable_pod_waits_with_upstreams_condition_and_event_and_is_retried() -> anyhow::Result<()> {
    let (_c, client) = three_nodes().await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    pods.create(&PostParams::default(), &pause_pod("picky", json!({"nodeSelector": {"disk": "ssd"}}))).await?;
    let expected = "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.";
    let condition = eventually(WAIT, || async {
        let pod = pods.get("picky").await?;
        let conditions = pod.status.and_then(|s| s.conditions).unwrap_or_default();
        Ok(conditions.into_iter().find(|c| c.type_ == "PodScheduled"))
    })
    .await?;
    assert_eq!((condition.status.as_str(), condition.reason.as_deref()), ("False", Some("Unschedulable")));
    assert_eq!(condition.message.as_deref(), Some(expected));
    let event = eventually(WAIT, || async {
        let list = events.list(&ListParams::default()).await?.items;
        Ok(list.into_iter().find(|e| e.reason.as_deref() == Some("FailedScheduling")))
    })
    .await?;
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    assert_eq!(event.message.as_deref(), Some(expected));
    assert_eq!(event.source.and_then(|s| s.component).as_deref(), Some("default-scheduler"));
    assert_eq!(event.involved_object.name.as_deref(), Some("picky"));

    let nodes: Api<Node> = Api::all(client);
    nodes
        .patch("arca-node-3", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"labels": {"disk": "ssd"}}})))
        .await?;
    assert_eq!(node_of(&pods, "picky").await?, "arca-node-3");
    Ok(())
}
