//! The default scheduler: binds pods without `spec.nodeName` to a node (see
//! `fit` for the decision). An unschedulable pod stays `Pending` with
//! condition `PodScheduled` `False` `Unschedulable` and a Warning
//! `FailedScheduling` event, and is tried again every pass. Claims of a
//! `WaitForFirstConsumer` class get `volume.kubernetes.io/selected-node`
//! when their pod is bound, for the provisioner.

pub mod fit;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::binder::rules;
use super::events::{self, Event};
use super::{log_err, objects, opts};
use crate::cluster::Cluster;
use crate::meta;
use crate::state::{Patch, State};
use fit::{ClaimView, Decision, NodeView};

const MANAGER: &str = "default-scheduler";
pub const ANN_SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";
const NO_PROVISIONER: &str = "kubernetes.io/no-provisioner";
/// How often a still unschedulable pod's event is repeated (upstream backs
/// off to `podMaxBackoffDuration`, 10 s).
const EVENT_PERIOD: Duration = Duration::from_secs(10);

/// What was last reported per unschedulable pod (uid): the message, and when.
#[derive(Default)]
pub struct Scheduler {
    reported: HashMap<String, (String, Instant)>,
}

fn unfinished(pod: &Value) -> bool {
    !meta::is_deleting(pod) && !matches!(meta::str_at(pod, "/status/phase"), Some("Succeeded" | "Failed"))
}

fn wants_scheduling(pod: &Value) -> bool {
    let scheduler = meta::str_at(pod, "/spec/schedulerName").unwrap_or(MANAGER);
    meta::str_at(pod, "/spec/nodeName").is_none_or(str::is_empty) && unfinished(pod) && scheduler == MANAGER
}

/// Whether claims of `class` wait for their first consumer.
pub fn delays_binding(classes: &[Value], class: &str) -> bool {
    classes
        .iter()
        .any(|c| meta::name(c) == class && meta::str_at(c, "/volumeBindingMode") == Some("WaitForFirstConsumer"))
}

impl Scheduler {
    pub fn reconcile(&mut self, cluster: &Cluster) {
        let mut state = cluster.lock();
        let pods = objects(&state, "", "pods");
        let nodes = objects(&state, "", "nodes");
        let claims = objects(&state, "", "persistentvolumeclaims");
        let pvs = objects(&state, "", "persistentvolumes");
        let classes = objects(&state, "storage.k8s.io", "storageclasses");
        let mut load: HashMap<String, usize> = HashMap::new();
        for pod in pods.iter().filter(|p| unfinished(p)) {
            if let Some(node) = meta::str_at(pod, "/spec/nodeName") {
                *load.entry(node.to_string()).or_default() += 1;
            }
        }
        let pending: Vec<&Value> = pods.iter().filter(|p| wants_scheduling(p)).collect();
        self.reported.retain(|uid, _| pending.iter().any(|p| meta::uid(p) == uid));
        for pod in pending {
            let views: Vec<NodeView<'_>> = nodes
                .iter()
                .map(|n| NodeView { node: n, pods: load.get(meta::name(n)).copied().unwrap_or(0) })
                .collect();
            let used = claims_of(pod, &claims, &pvs, &classes);
            match fit::decide(pod, &views, &used) {
                Decision::Bind { node, select, prebind } => {
                    if bind(&mut state, pod, &node, &select, &prebind) {
                        *load.entry(node).or_default() += 1;
                        self.reported.remove(meta::uid(pod));
                    }
                }
                Decision::Unschedulable(message) => self.report(&mut state, pod, &message),
            }
        }
    }

    fn report(&mut self, state: &mut State, pod: &Value, message: &str) {
        let condition = json!({"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message,
                               "lastProbeTime": null, "lastTransitionTime": meta::now()});
        let current = pod
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|cs| cs.iter().find(|c| meta::str_at(c, "/type") == Some("PodScheduled")).cloned());
        let same = current.as_ref().is_some_and(|c| meta::str_at(c, "/message") == Some(message));
        if !same {
            if let Some(rt) = state.resource("", "v1", "pods") {
                let body = json!({"status": {"phase": "Pending", "conditions": [condition]}});
                log_err(
                    "pod unschedulable",
                    state.update(&rt, meta::namespace(pod), meta::name(pod), body, "status", &opts(MANAGER)),
                );
            }
        }
        let uid = meta::uid(pod).to_string();
        let due = self.reported.get(&uid).is_none_or(|(m, at)| m != message || at.elapsed() >= EVENT_PERIOD);
        if due {
            let e = Event { involved: pod, warning: true, reason: "FailedScheduling", message, component: MANAGER };
            events::record(state, &e);
            self.reported.insert(uid, (message.to_string(), Instant::now()));
        }
    }
}

/// Whether a class's claims can get a new volume (upstream's marker for
/// classes without a dynamic provisioner is `kubernetes.io/no-provisioner`).
fn provisionable(classes: &[Value], class: &str) -> bool {
    classes.iter().any(|c| meta::name(c) == class && meta::str_at(c, "/provisioner") != Some(NO_PROVISIONER))
}

/// The claims a pod's volumes name, as the scheduler sees them.
fn claims_of<'a>(pod: &Value, claims: &[Value], pvs: &'a [Value], classes: &[Value]) -> Vec<(String, ClaimView<'a>)> {
    let volumes = pod.pointer("/spec/volumes").and_then(Value::as_array).cloned().unwrap_or_default();
    let ns = meta::namespace(pod);
    volumes
        .iter()
        .filter_map(|v| meta::str_at(v, "/persistentVolumeClaim/claimName").map(String::from))
        .map(|name| {
            let claim = claims.iter().find(|c| meta::namespace(c) == ns && meta::name(c) == name);
            let view = match claim {
                None => ClaimView::Missing,
                Some(c) if meta::is_deleting(c) => ClaimView::Deleting,
                Some(c) => {
                    let volume = meta::str_at(c, "/spec/volumeName").filter(|v| !v.is_empty());
                    match volume.and_then(|v| pvs.iter().find(|pv| meta::name(pv) == v)) {
                        Some(pv) => ClaimView::Bound(pv),
                        None if delays_binding(classes, rules::class_of(c)) => ClaimView::UnboundDelayed {
                            free: rules::free_matches(c, pvs),
                            provisionable: provisionable(classes, rules::class_of(c)),
                        },
                        None => ClaimView::UnboundImmediate,
                    }
                }
            };
            (name, view)
        })
        .collect()
}

/// Binds delayed claims' chosen free volumes (the PV controller completes
/// the binding), annotates the others with the node, then binds the pod.
fn bind(state: &mut State, pod: &Value, node: &str, select: &[String], prebind: &[(String, String)]) -> bool {
    let (Some(pod_rt), Some(pvc_rt), Some(pv_rt)) = (
        state.resource("", "v1", "pods"),
        state.resource("", "v1", "persistentvolumeclaims"),
        state.resource("", "v1", "persistentvolumes"),
    ) else {
        return false;
    };
    let ns = meta::namespace(pod);
    for (claim, pv) in prebind {
        let Ok(c) = state.get(&pvc_rt, ns, claim) else {
            return false;
        };
        let claim_ref = json!({"kind": "PersistentVolumeClaim", "apiVersion": "v1", "namespace": ns, "name": claim,
                               "uid": meta::uid(&c), "resourceVersion": meta::str_at(&c, "/metadata/resourceVersion")});
        let p = Patch::Merge(
            json!({"metadata": {"annotations": {rules::ANN_BOUND_BY_CONTROLLER: "yes"}}, "spec": {"claimRef": claim_ref}}),
        );
        if log_err("prebind volume", state.patch(&pv_rt, "", pv, p, "", &opts(MANAGER))).is_none() {
            return false;
        }
    }
    for claim in select {
        let p = Patch::Merge(json!({"metadata": {"annotations": {ANN_SELECTED_NODE: node}}}));
        if log_err("select node", state.patch(&pvc_rt, ns, claim, p, "", &opts(MANAGER))).is_none() {
            return false;
        }
    }
    let mut bound = pod.clone();
    meta::object_mut(&mut bound, "spec").insert("nodeName".into(), json!(node));
    log_err("bind pod", state.update(&pod_rt, ns, meta::name(pod), bound, "", &opts(MANAGER))).is_some()
}
