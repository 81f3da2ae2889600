//! The storage object in-use protection controllers: `kubernetes.io/pvc-protection`
//! leaves a deleting claim once no unfinished pod uses it, and
//! `kubernetes.io/pv-protection` leaves a deleting volume once it is not `Bound`.

use serde_json::{Value, json};

use super::{log_err, objects, opts};
use crate::cluster::Cluster;
use crate::meta;
use crate::registry::ResourceType;
use crate::state::{Patch, State};
use crate::types::{PV_PROTECTION, PVC_PROTECTION};

const PVC_MANAGER: &str = "pvc-protection-controller";
const PV_MANAGER: &str = "pv-protection-controller";

pub fn reconcile(cluster: &Cluster) {
    let mut state = cluster.lock();
    unprotect_claims(&mut state);
    unprotect_volumes(&mut state);
}

fn holds(obj: &Value, finalizer: &str) -> bool {
    meta::is_deleting(obj) && meta::finalizers(obj).iter().any(|f| f == finalizer)
}

fn drop_finalizer(state: &mut State, rt: &ResourceType, obj: &Value, finalizer: &str, manager: &str) {
    let rest: Vec<String> = meta::finalizers(obj).into_iter().filter(|f| f != finalizer).collect();
    let p = Patch::Merge(json!({"metadata": {"finalizers": if rest.is_empty() { Value::Null } else { json!(rest) }}}));
    log_err("protection finalizer", state.patch(rt, meta::namespace(obj), meta::name(obj), p, "", &opts(manager)));
}

fn unprotect_claims(state: &mut State) {
    let Some(rt) = state.resource("", "v1", "persistentvolumeclaims") else {
        return;
    };
    let pods = objects(state, "", "pods");
    let in_use = |ns: &str, claim: &str| {
        pods.iter().any(|p| {
            meta::namespace(p) == ns
                && !matches!(meta::str_at(p, "/status/phase"), Some("Succeeded") | Some("Failed"))
                && p.pointer("/spec/volumes").and_then(Value::as_array).is_some_and(|vs| {
                    vs.iter().any(|v| meta::str_at(v, "/persistentVolumeClaim/claimName") == Some(claim))
                })
        })
    };
    for pvc in state.all(&rt, None) {
        if holds(&pvc, PVC_PROTECTION) && !in_use(meta::namespace(&pvc), meta::name(&pvc)) {
            drop_finalizer(state, &rt, &pvc, PVC_PROTECTION, PVC_MANAGER);
        }
    }
}

/// Upstream's `isBeingUsed` for volumes is exactly "the phase is Bound".
fn unprotect_volumes(state: &mut State) {
    let Some(rt) = state.resource("", "v1", "persistentvolumes") else {
        return;
    };
    for pv in state.all(&rt, None) {
        if holds(&pv, PV_PROTECTION) && meta::str_at(&pv, "/status/phase") != Some("Bound") {
            drop_finalizer(state, &rt, &pv, PV_PROTECTION, PV_MANAGER);
        }
    }
}
