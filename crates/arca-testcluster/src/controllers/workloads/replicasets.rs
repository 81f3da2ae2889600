//! The ReplicaSet controller: `spec.replicas` active pods from the template
//! (named `<set>-<5 chars>` by `generateName`), surplus pods deleted in
//! upstream's order, status counted from the pods.

use std::cmp::Reverse;

use serde_json::{Value, json};

use super::{generation, is_active, is_ready, owned_by, owner_ref, phase, replicas};
use crate::cluster::Cluster;
use crate::controllers::{log_err, objects, opts};
use crate::meta;
use crate::state::{DeleteOpts, State};

const MANAGER: &str = "replicaset-controller";

pub fn reconcile(cluster: &Cluster) {
    let mut state = cluster.lock();
    let pods = objects(&state, "", "pods");
    for rs in objects(&state, "apps", "replicasets") {
        if meta::is_deleting(&rs) {
            continue;
        }
        let active: Vec<&Value> = owned_by(&rs, &pods).into_iter().filter(|p| is_active(p)).collect();
        let wanted = replicas(&rs) as usize;
        if active.len() < wanted {
            create_pods(&mut state, &rs, wanted - active.len());
        } else if active.len() > wanted {
            for name in surplus(&active, active.len() - wanted) {
                delete_pod(&mut state, meta::namespace(&rs), &name);
            }
        }
        write_status(&mut state, &rs, &active);
    }
}

fn create_pods(state: &mut State, rs: &Value, count: usize) {
    let Some(rt) = state.resource("", "v1", "pods") else {
        return;
    };
    let template = rs.pointer("/spec/template").cloned().unwrap_or(json!({}));
    let mut metadata = template.get("metadata").cloned().unwrap_or(json!({}));
    let m = meta::as_map(&mut metadata);
    m.remove("name");
    m.insert("generateName".into(), json!(format!("{}-", meta::name(rs))));
    m.insert("ownerReferences".into(), json!([owner_ref(rs, "ReplicaSet")]));
    let pod = json!({"metadata": metadata, "spec": template.get("spec").cloned().unwrap_or(json!({}))});
    for _ in 0..count {
        log_err("replicaset pod", state.create(&rt, meta::namespace(rs), pod.clone(), &opts(MANAGER)));
    }
}

pub(super) fn delete_pod(state: &mut State, ns: &str, name: &str) {
    if let Some(rt) = state.resource("", "v1", "pods") {
        log_err("delete pod", state.delete(&rt, ns, name, &DeleteOpts::default()));
    }
}

/// Which `count` pods go on scale-down, as upstream's `ActivePodsWithRanks`:
/// unscheduled before scheduled, Pending before Running, not ready before
/// ready, newer before older.
pub fn surplus(pods: &[&Value], count: usize) -> Vec<String> {
    let mut ranked: Vec<&Value> = pods.to_vec();
    ranked.sort_by_key(|p| {
        let scheduled = meta::str_at(p, "/spec/nodeName").is_some_and(|n| !n.is_empty());
        let running = phase(p) == "Running";
        let created = meta::str_at(p, "/metadata/creationTimestamp").unwrap_or_default().to_string();
        (scheduled, running, is_ready(p), Reverse(created), meta::name(p).to_string())
    });
    ranked.into_iter().take(count).map(|p| meta::name(p).to_string()).collect()
}

fn write_status(state: &mut State, rs: &Value, active: &[&Value]) {
    let Some(rt) = state.resource("apps", "v1", "replicasets") else {
        return;
    };
    let ready = active.iter().filter(|p| is_ready(p)).count();
    let status = json!({"status": {
        "replicas": active.len(),
        "fullyLabeledReplicas": active.len(),
        "readyReplicas": ready,
        "availableReplicas": ready,
        "observedGeneration": generation(rs),
    }});
    if rs.get("status") == status.get("status") {
        return;
    }
    log_err(
        "replicaset status",
        state.update(&rt, meta::namespace(rs), meta::name(rs), status, "status", &opts(MANAGER)),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, node: Option<&str>, phase: &str, ready: bool, created: &str) -> Value {
        json!({"metadata": {"name": name, "creationTimestamp": created}, "spec": {"nodeName": node},
               "status": {"phase": phase, "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}})
    }

    #[test]
    fn scale_down_removes_the_least_useful_pods_first() {
        let old_ready = pod("a", Some("n"), "Running", true, "2024-01-01T00:00:00Z");
        let new_ready = pod("b", Some("n"), "Running", true, "2024-01-02T00:00:00Z");
        let unready = pod("c", Some("n"), "Running", false, "2024-01-01T00:00:00Z");
        let unscheduled = pod("d", None, "Pending", false, "2023-01-01T00:00:00Z");
        let all = [&old_ready, &new_ready, &unready, &unscheduled];
        assert_eq!(surplus(&all, 1), vec!["d"]);
        assert_eq!(surplus(&all, 3), vec!["d", "c", "b"]);
    }
}
