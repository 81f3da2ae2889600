//! The Deployment controller: one ReplicaSet per pod template, named
//! `<deployment>-<pod-template-hash>`; the current one gets `spec.replicas`,
//! older ones are scaled to 0 (a template change replaces the pods at once).

use serde_json::{Value, json};

use super::{condition, generation, owned_by, owner_ref, replicas, set_label, template_hash};
use crate::cluster::Cluster;
use crate::controllers::{log_err, objects, opts};
use crate::meta;
use crate::state::State;

const MANAGER: &str = "deployment-controller";
const HASH_LABEL: &str = "pod-template-hash";
const REVISION: &str = "deployment.kubernetes.io/revision";

pub fn reconcile(cluster: &Cluster) {
    let mut state = cluster.lock();
    let sets = objects(&state, "apps", "replicasets");
    for deploy in objects(&state, "apps", "deployments") {
        if meta::is_deleting(&deploy) {
            continue;
        }
        let template = deploy.pointer("/spec/template").cloned().unwrap_or(json!({}));
        let hash = template_hash(&template);
        let current_name = format!("{}-{hash}", meta::name(&deploy));
        let owned = owned_by(&deploy, &sets);
        let wanted = if deploy.pointer("/spec/paused").and_then(Value::as_bool) == Some(true) {
            None
        } else {
            Some(replicas(&deploy))
        };
        match owned.iter().find(|rs| meta::name(rs) == current_name) {
            Some(rs) => {
                if let Some(n) = wanted {
                    set_replicas(&mut state, rs, n);
                }
            }
            None => create_set(&mut state, &deploy, &current_name, &hash, next_revision(&owned)),
        }
        for rs in owned.iter().filter(|rs| meta::name(rs) != current_name) {
            set_replicas(&mut state, rs, 0);
        }
        write_status(&mut state, &deploy, &owned, &current_name);
    }
}

fn next_revision(owned: &[&Value]) -> u64 {
    let revision = |rs: &&Value| {
        rs.pointer(&format!("/metadata/annotations/{}", REVISION.replace('/', "~1")))
            .and_then(Value::as_str)
            .and_then(|r| r.parse::<u64>().ok())
            .unwrap_or(0)
    };
    owned.iter().map(revision).max().unwrap_or(0) + 1
}

fn create_set(state: &mut State, deploy: &Value, name: &str, hash: &str, revision: u64) {
    let Some(rt) = state.resource("apps", "v1", "replicasets") else {
        return;
    };
    let mut template = deploy.pointer("/spec/template").cloned().unwrap_or(json!({}));
    set_label(&mut template, HASH_LABEL, hash);
    let mut selector = deploy.pointer("/spec/selector").cloned().unwrap_or(json!({}));
    meta::object_mut(&mut selector, "matchLabels").insert(HASH_LABEL.into(), json!(hash));
    let mut labels = deploy.pointer("/spec/template/metadata/labels").cloned().unwrap_or(json!({}));
    meta::as_map(&mut labels).insert(HASH_LABEL.into(), json!(hash));
    let rs = json!({
        "metadata": {"name": name, "labels": labels, "annotations": {REVISION: revision.to_string()},
                     "ownerReferences": [owner_ref(deploy, "Deployment")]},
        "spec": {"replicas": replicas(deploy), "selector": selector, "template": template,
                 "minReadySeconds": deploy.pointer("/spec/minReadySeconds").cloned().unwrap_or(json!(0))},
    });
    log_err("deployment replicaset", state.create(&rt, meta::namespace(deploy), rs, &opts(MANAGER)));
}

fn set_replicas(state: &mut State, rs: &Value, n: i64) {
    if rs.pointer("/spec/replicas").and_then(Value::as_i64) == Some(n) {
        return;
    }
    let Some(rt) = state.resource("apps", "v1", "replicasets") else {
        return;
    };
    let p = crate::state::Patch::Merge(json!({"spec": {"replicas": n}}));
    log_err("scale replicaset", state.patch(&rt, meta::namespace(rs), meta::name(rs), p, "", &opts(MANAGER)));
}

fn write_status(state: &mut State, deploy: &Value, owned: &[&Value], current: &str) {
    let Some(rt) = state.resource("apps", "v1", "deployments") else {
        return;
    };
    let count = |rs: &Value, key: &str| rs.pointer(&format!("/status/{key}")).and_then(Value::as_i64).unwrap_or(0);
    let sum = |key: &str| owned.iter().map(|rs| count(rs, key)).sum::<i64>();
    let updated = owned.iter().find(|rs| meta::name(rs) == current).map(|rs| count(rs, "replicas")).unwrap_or(0);
    let (total, available) = (sum("replicas"), sum("availableReplicas"));
    let wanted = replicas(deploy);
    let available_ok = available >= wanted;
    let done = available_ok && updated == wanted && total == wanted;
    let conditions = json!([
        if available_ok {
            condition(deploy, "Available", true, "MinimumReplicasAvailable", "Deployment has minimum availability.")
        } else {
            condition(
                deploy,
                "Available",
                false,
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            )
        },
        if done {
            condition(
                deploy,
                "Progressing",
                true,
                "NewReplicaSetAvailable",
                &format!("ReplicaSet \"{current}\" has successfully progressed."),
            )
        } else {
            condition(
                deploy,
                "Progressing",
                true,
                "ReplicaSetUpdated",
                &format!("ReplicaSet \"{current}\" is progressing."),
            )
        },
    ]);
    let mut status = json!({
        "replicas": total,
        "updatedReplicas": updated,
        "readyReplicas": sum("readyReplicas"),
        "availableReplicas": available,
        "observedGeneration": generation(deploy),
        "conditions": conditions,
    });
    if total > available {
        status["unavailableReplicas"] = json!(total - available);
    }
    if deploy.get("status") == Some(&status) {
        return;
    }
    let body = json!({"status": status});
    log_err(
        "deployment status",
        state.update(&rt, meta::namespace(deploy), meta::name(deploy), body, "status", &opts(MANAGER)),
    );
}
