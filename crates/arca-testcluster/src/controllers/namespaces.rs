//! The namespace controller: empties Terminating namespaces, then removes the
//! `kubernetes` finalizer; seeds `default` ServiceAccount and `kube-root-ca.crt`.

use serde_json::{Value, json};

use super::{log_err, opts};
use crate::cluster::Cluster;
use crate::meta;
use crate::state::DeleteOpts;
use crate::store::res_key;

const MANAGER: &str = "namespace-controller";
pub const ROOT_CA: &str = "-----BEGIN CERTIFICATE-----\nMIIBarcatestcluster\n-----END CERTIFICATE-----\n";

pub fn reconcile(cluster: &Cluster) {
    let mut state = cluster.lock();
    let Some(ns_rt) = state.resource("", "v1", "namespaces") else {
        return;
    };
    let namespaces = state.all(&ns_rt, None);
    let mut namespaced: Vec<_> = state.registry.types().iter().filter(|t| t.namespaced).cloned().collect();
    namespaced.dedup_by(|a, b| a.group == b.group && a.plural == b.plural);
    for ns in namespaces {
        let name = meta::name(&ns).to_string();
        if !meta::is_deleting(&ns) {
            seed(&mut state, &name);
            continue;
        }
        let mut remaining = 0;
        for rt in &namespaced {
            let objs: Vec<Value> =
                state.store.iter(&res_key(&rt.group, &rt.plural), Some(&name)).map(|(_, v)| v.clone()).collect();
            remaining += objs.len();
            for obj in objs.iter().filter(|o| !meta::is_deleting(o)) {
                let del = DeleteOpts { propagation: Some("Background".into()), ..Default::default() };
                log_err("namespace cleanup", state.delete(rt, &name, meta::name(obj), &del));
            }
        }
        let spec_fins: Vec<Value> =
            ns.pointer("/spec/finalizers").and_then(Value::as_array).cloned().unwrap_or_default();
        if remaining == 0 && spec_fins.iter().any(|f| f == "kubernetes") {
            let rest: Vec<Value> = spec_fins.into_iter().filter(|f| f != "kubernetes").collect();
            let body = json!({"spec": {"finalizers": rest}});
            log_err("namespace finalize", state.update(&ns_rt, "", &name, body, "finalize", &opts(MANAGER)));
        }
    }
}

fn seed(state: &mut crate::state::State, ns: &str) {
    let items = [
        ("serviceaccounts", "default", json!({"metadata": {"name": "default"}})),
        (
            "configmaps",
            "kube-root-ca.crt",
            json!({"metadata": {"name": "kube-root-ca.crt", "annotations": {"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."}}, "data": {"ca.crt": ROOT_CA}}),
        ),
    ];
    for (plural, name, obj) in items {
        let Some(rt) = state.resource("", "v1", plural) else {
            continue;
        };
        if state.get_raw(&rt, ns, name).is_none() {
            log_err("namespace seed", state.create(&rt, ns, obj, &opts(MANAGER)));
        }
    }
}
