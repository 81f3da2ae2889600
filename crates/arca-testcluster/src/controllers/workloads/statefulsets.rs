//! The StatefulSet controller: pods `<set>-<i>` for `i < replicas`, each with
//! its claims `<template>-<set>-<i>` (created when missing, kept on scale-down
//! as upstream's default retention `Retain`). `OrderedReady` creates one pod
//! at a time once the lower ones are ready and removes the highest first;
//! `Parallel` does all at once. Ended pods and pods of an older template are
//! deleted and created again.

use serde_json::{Value, json};

use super::replicasets::delete_pod;
use super::{generation, is_ready, owned_by, owner_ref, phase, replicas, set_label, template_hash};
use crate::cluster::Cluster;
use crate::controllers::{log_err, objects, opts};
use crate::meta;
use crate::state::State;

const MANAGER: &str = "statefulset-controller";
const REVISION_LABEL: &str = "controller-revision-hash";

/// What a pod slot (an ordinal) needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Create(usize),
    Delete(String),
}

/// The pods of a set as the plan sees them: `(ordinal, pod)`.
pub struct Observed<'a> {
    pub pods: Vec<(usize, &'a Value)>,
    pub revision: &'a str,
    pub replicas: usize,
    pub parallel: bool,
}

fn ordinal(set: &str, pod: &str) -> Option<usize> {
    pod.strip_prefix(set)?.strip_prefix('-')?.parse().ok()
}

fn stale(pod: &Value, revision: &str) -> bool {
    let labelled = pod.pointer(&format!("/metadata/labels/{REVISION_LABEL}")).and_then(Value::as_str);
    matches!(phase(pod), "Succeeded" | "Failed") || labelled != Some(revision)
}

/// The next steps for a set, as a pure decision. `OrderedReady` returns at
/// most one step and waits while a lower pod is not ready (or going).
pub fn plan(o: &Observed<'_>) -> Vec<Step> {
    let mut steps = Vec::new();
    let pod = |i: usize| o.pods.iter().find(|(n, _)| *n == i).map(|(_, p)| *p);
    for i in 0..o.replicas {
        let step = match pod(i) {
            None => Some(Step::Create(i)),
            Some(p) if meta::is_deleting(p) => None,
            Some(p) if stale(p, o.revision) => Some(Step::Delete(meta::name(p).to_string())),
            Some(_) => None,
        };
        let blocked = pod(i).is_none_or(|p| meta::is_deleting(p) || !is_ready(p));
        if let Some(step) = step {
            steps.push(step);
            if !o.parallel {
                return steps;
            }
        } else if blocked && !o.parallel {
            return steps;
        }
    }
    let mut extra: Vec<&(usize, &Value)> =
        o.pods.iter().filter(|(n, p)| *n >= o.replicas && !meta::is_deleting(p)).collect();
    extra.sort_by_key(|(n, _)| std::cmp::Reverse(*n));
    let going = o.pods.iter().any(|(n, p)| *n >= o.replicas && meta::is_deleting(p));
    for (_, p) in extra {
        if !o.parallel && (going || !steps.is_empty()) {
            break;
        }
        steps.push(Step::Delete(meta::name(p).to_string()));
    }
    steps
}

pub fn reconcile(cluster: &Cluster) {
    let mut state = cluster.lock();
    let pods = objects(&state, "", "pods");
    for set in objects(&state, "apps", "statefulsets") {
        if meta::is_deleting(&set) {
            continue;
        }
        let name = meta::name(&set);
        let template = set.pointer("/spec/template").cloned().unwrap_or(json!({}));
        let revision = format!("{name}-{}", template_hash(&template));
        let owned: Vec<(usize, &Value)> =
            owned_by(&set, &pods).into_iter().filter_map(|p| Some((ordinal(name, meta::name(p))?, p))).collect();
        let observed = Observed {
            pods: owned.clone(),
            revision: &revision,
            replicas: replicas(&set) as usize,
            parallel: meta::str_at(&set, "/spec/podManagementPolicy") == Some("Parallel"),
        };
        for step in plan(&observed) {
            match step {
                Step::Create(i) => create_pod(&mut state, &set, i, &revision),
                Step::Delete(pod) => delete_pod(&mut state, meta::namespace(&set), &pod),
            }
        }
        write_status(&mut state, &set, &owned, &revision);
    }
}

fn claim_name(template: &Value, set: &str, i: usize) -> String {
    format!("{}-{set}-{i}", meta::name(template))
}

fn claim_templates(set: &Value) -> Vec<Value> {
    set.pointer("/spec/volumeClaimTemplates").and_then(Value::as_array).cloned().unwrap_or_default()
}

/// Creates the claims of ordinal `i` that do not exist yet.
fn ensure_claims(state: &mut State, set: &Value, i: usize) {
    let Some(rt) = state.resource("", "v1", "persistentvolumeclaims") else {
        return;
    };
    let ns = meta::namespace(set);
    for template in claim_templates(set) {
        let name = claim_name(&template, meta::name(set), i);
        if state.get(&rt, ns, &name).is_ok() {
            continue;
        }
        let mut labels = template.pointer("/metadata/labels").cloned().unwrap_or(json!({}));
        if let Some(selector) = set.pointer("/spec/selector/matchLabels").and_then(Value::as_object) {
            meta::as_map(&mut labels).extend(selector.clone());
        }
        let claim = json!({
            "metadata": {"name": name, "namespace": ns, "labels": labels,
                         "annotations": template.pointer("/metadata/annotations").cloned().unwrap_or(json!({}))},
            "spec": template.get("spec").cloned().unwrap_or(json!({})),
        });
        log_err("statefulset claim", state.create(&rt, ns, claim, &opts(MANAGER)));
    }
}

fn create_pod(state: &mut State, set: &Value, i: usize, revision: &str) {
    ensure_claims(state, set, i);
    let Some(rt) = state.resource("", "v1", "pods") else {
        return;
    };
    let name = format!("{}-{i}", meta::name(set));
    let mut pod = set.pointer("/spec/template").cloned().unwrap_or(json!({}));
    let m = meta::metadata_mut(&mut pod);
    m.insert("name".into(), json!(name));
    m.remove("generateName");
    m.insert("ownerReferences".into(), json!([owner_ref(set, "StatefulSet")]));
    set_label(&mut pod, "statefulset.kubernetes.io/pod-name", &name);
    set_label(&mut pod, "apps.kubernetes.io/pod-index", &i.to_string());
    set_label(&mut pod, REVISION_LABEL, revision);
    let spec = meta::object_mut(&mut pod, "spec");
    spec.insert("hostname".into(), json!(name));
    if let Some(service) = meta::str_at(set, "/spec/serviceName").filter(|s| !s.is_empty()) {
        spec.insert("subdomain".into(), json!(service));
    }
    let templates = claim_templates(set);
    let claimed: Vec<&str> = templates.iter().map(meta::name).collect();
    let mut volumes: Vec<Value> = spec
        .get("volumes")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter().filter(|v| !claimed.contains(&meta::str_at(v, "/name").unwrap_or_default())).cloned().collect()
        })
        .unwrap_or_default();
    for t in &templates {
        let claim = claim_name(t, meta::name(set), i);
        volumes.push(json!({"name": meta::name(t), "persistentVolumeClaim": {"claimName": claim}}));
    }
    if !volumes.is_empty() {
        spec.insert("volumes".into(), json!(volumes));
    }
    log_err("statefulset pod", state.create(&rt, meta::namespace(set), pod, &opts(MANAGER)));
}

fn write_status(state: &mut State, set: &Value, owned: &[(usize, &Value)], revision: &str) {
    let Some(rt) = state.resource("apps", "v1", "statefulsets") else {
        return;
    };
    let live: Vec<&Value> = owned.iter().map(|(_, p)| *p).filter(|p| !meta::is_deleting(p)).collect();
    let ready = live.iter().filter(|p| is_ready(p)).count();
    let current = live.iter().filter(|p| !stale(p, revision)).count();
    let status = json!({"status": {
        "replicas": live.len(),
        "readyReplicas": ready,
        "availableReplicas": ready,
        "currentReplicas": current,
        "updatedReplicas": current,
        "currentRevision": revision,
        "updateRevision": revision,
        "observedGeneration": generation(set),
        "collisionCount": 0,
    }});
    if set.get("status") == status.get("status") {
        return;
    }
    log_err(
        "statefulset status",
        state.update(&rt, meta::namespace(set), meta::name(set), status, "status", &opts(MANAGER)),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(i: usize, ready: bool, revision: &str) -> Value {
        json!({"metadata": {"name": format!("db-{i}"), "labels": {REVISION_LABEL: revision}},
               "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}})
    }

    fn observed<'a>(pods: &'a [(usize, Value)], replicas: usize, parallel: bool) -> Observed<'a> {
        Observed { pods: pods.iter().map(|(i, p)| (*i, p)).collect(), revision: "r1", replicas, parallel }
    }

    #[test]
    fn ordered_ready_creates_one_at_a_time() {
        assert_eq!(plan(&observed(&[], 3, false)), vec![Step::Create(0)]);
        let one_unready = [(0, pod(0, false, "r1"))];
        assert_eq!(plan(&observed(&one_unready, 3, false)), vec![]);
        let one_ready = [(0, pod(0, true, "r1"))];
        assert_eq!(plan(&observed(&one_ready, 3, false)), vec![Step::Create(1)]);
        assert_eq!(plan(&observed(&[], 3, true)), vec![Step::Create(0), Step::Create(1), Step::Create(2)]);
    }

    #[test]
    fn scale_down_removes_the_highest_first_and_stale_pods_are_replaced() {
        let pods = [(0, pod(0, true, "r1")), (1, pod(1, true, "r1")), (2, pod(2, true, "r1"))];
        assert_eq!(plan(&observed(&pods, 1, false)), vec![Step::Delete("db-2".into())]);
        assert_eq!(plan(&observed(&pods, 1, true)), vec![Step::Delete("db-2".into()), Step::Delete("db-1".into())]);
        let old = [(0, pod(0, true, "r0"))];
        assert_eq!(plan(&observed(&old, 1, false)), vec![Step::Delete("db-0".into())]);
        assert_eq!(ordinal("db", "db-12"), Some(12));
        assert_eq!(ordinal("db", "dbx-1"), None);
    }
}
