//! The CRD finalizer: deletes the custom resources of a terminating CRD, then
//! removes `customresourcecleanup.apiextensions.k8s.io` so the CRD goes away.

use serde_json::{Value, json};

use super::{log_err, opts};
use crate::cluster::Cluster;
use crate::meta;
use crate::state::{DeleteOpts, Patch};
use crate::store::res_key;
use crate::types::crd::CLEANUP_FINALIZER;

const MANAGER: &str = "apiextensions-apiserver";

pub fn reconcile(cluster: &Cluster) {
    let mut state = cluster.lock();
    let Some(crd_rt) = state.resource("apiextensions.k8s.io", "v1", "customresourcedefinitions") else {
        return;
    };
    for crd in state.all(&crd_rt, None) {
        let fins = meta::finalizers(&crd);
        if !meta::is_deleting(&crd) || !fins.iter().any(|f| f == CLEANUP_FINALIZER) {
            continue;
        }
        let group = meta::str_at(&crd, "/spec/group").unwrap_or_default().to_string();
        let plural = meta::str_at(&crd, "/spec/names/plural").unwrap_or_default().to_string();
        let objs: Vec<Value> = state.store.iter(&res_key(&group, &plural), None).map(|(_, v)| v.clone()).collect();
        if let Some(rt) = state.resource_any(&group, &plural) {
            for obj in objs.iter().filter(|o| !meta::is_deleting(o)) {
                let del = DeleteOpts { propagation: Some("Background".into()), ..Default::default() };
                log_err("crd cleanup", state.delete(&rt, meta::namespace(obj), meta::name(obj), &del));
            }
        }
        if objs.is_empty() {
            let rest: Vec<String> = fins.into_iter().filter(|f| f != CLEANUP_FINALIZER).collect();
            let value = if rest.is_empty() { Value::Null } else { json!(rest) };
            let p = Patch::Merge(json!({"metadata": {"finalizers": value}}));
            log_err("crd finalizer", state.patch(&crd_rt, "", meta::name(&crd), p, "", &opts(MANAGER)));
        }
    }
}
