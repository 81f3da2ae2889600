//! The PV controller's writes: binding both sides, rolling a binding back,
//! phases (with `lastPhaseTransitionTime`).

use serde_json::{Value, json};

use super::rules::{ANN_BIND_COMPLETED, ANN_BOUND_BY_CONTROLLER, annotation, bound_to_claim};
use super::{MANAGER, pvc_rt, pv_rt};
use crate::controllers::{log_err, opts};
use crate::meta;
use crate::state::{Patch, State};

/// The object reference client-go's `GetReference` builds for a claim.
fn claim_reference(claim: &Value) -> Value {
    json!({
        "kind": "PersistentVolumeClaim",
        "namespace": meta::namespace(claim),
        "name": meta::name(claim),
        "uid": meta::uid(claim),
        "apiVersion": "v1",
        "resourceVersion": meta::str_at(claim, "/metadata/resourceVersion"),
    })
}

fn claim_ref_matches(pv: &Value, claim: &Value) -> bool {
    let field = |f: &str| meta::str_at(pv, &format!("/spec/claimRef/{f}"));
    field("name") == Some(meta::name(claim))
        && field("namespace") == Some(meta::namespace(claim))
        && field("uid") == Some(meta::uid(claim))
}

/// `updateVolumePhase`: writes the phase only when it changes.
pub fn set_pv_phase(state: &mut State, pv: &str, phase: &str) -> Option<Value> {
    let rt = pv_rt(state)?;
    let current = state.get(&rt, "", pv).ok()?;
    if meta::str_at(&current, "/status/phase") == Some(phase) {
        return Some(current);
    }
    let body = json!({"status": {"phase": phase, "message": null, "lastPhaseTransitionTime": meta::now()}});
    log_err("pv phase", state.patch(&rt, "", pv, Patch::Merge(body), "status", &opts(MANAGER)))
}

/// `updateClaimStatus`: the phase, with the volume's modes and capacity when
/// binding, without them otherwise. `true` when the phase changed.
pub fn set_claim_phase(state: &mut State, claim: &Value, phase: &str, pv: Option<&Value>) -> bool {
    let Some(rt) = pvc_rt(state) else {
        return false;
    };
    let (ns, name) = (meta::namespace(claim), meta::name(claim));
    let Ok(current) = state.get(&rt, ns, name) else {
        return false;
    };
    let changed = meta::str_at(&current, "/status/phase") != Some(phase);
    let mut status = current.get("status").cloned().unwrap_or_else(|| json!({}));
    status["phase"] = json!(phase);
    match pv {
        None => {
            meta::as_map(&mut status).remove("accessModes");
            meta::as_map(&mut status).remove("capacity");
        }
        Some(pv) => {
            status["accessModes"] = pv.pointer("/spec/accessModes").cloned().unwrap_or(json!([]));
            if changed {
                status["capacity"] = pv.pointer("/spec/capacity").cloned().unwrap_or(json!({}));
            }
        }
    }
    log_err("pvc status", state.update(&rt, ns, name, json!({"status": status}), "status", &opts(MANAGER)));
    changed
}

/// `bind`: the volume's `claimRef` first, its phase, then the claim's
/// `volumeName` and annotations, then the claim's phase.
pub fn bind(state: &mut State, pv_name: &str, claim: &Value) {
    let (Some(pv_rt), Some(pvc_rt)) = (pv_rt(state), pvc_rt(state)) else {
        return;
    };
    let Ok(pv) = state.get(&pv_rt, "", pv_name) else {
        return;
    };
    if !claim_ref_matches(&pv, claim) {
        let mut patch = json!({"spec": {"claimRef": claim_reference(claim)}});
        if !bound_to_claim(&pv, claim) && annotation(&pv, ANN_BOUND_BY_CONTROLLER).is_none() {
            patch["metadata"] = json!({"annotations": {ANN_BOUND_BY_CONTROLLER: "yes"}});
        }
        if log_err("bind pv", state.patch(&pv_rt, "", pv_name, Patch::Merge(patch), "", &opts(MANAGER))).is_none() {
            return;
        }
    }
    let Some(pv) = set_pv_phase(state, pv_name, "Bound") else {
        return;
    };
    let mut annotations = json!({});
    if meta::str_at(claim, "/spec/volumeName") != Some(pv_name) && annotation(claim, ANN_BOUND_BY_CONTROLLER).is_none() {
        annotations[ANN_BOUND_BY_CONTROLLER] = json!("yes");
    }
    if annotation(claim, ANN_BIND_COMPLETED).is_none() {
        annotations[ANN_BIND_COMPLETED] = json!("yes");
    }
    let (ns, name) = (meta::namespace(claim), meta::name(claim));
    let patch = json!({"metadata": {"annotations": annotations}, "spec": {"volumeName": pv_name}});
    let Some(claim) = log_err("bind pvc", state.patch(&pvc_rt, ns, name, Patch::Merge(patch), "", &opts(MANAGER)))
    else {
        return;
    };
    set_claim_phase(state, &claim, "Bound", Some(&pv));
}

/// `unbindVolume`: drops a `claimRef` the controller set (and its annotation),
/// or only the uid of one the user set, then `Available`.
pub fn unbind(state: &mut State, pv: &Value) {
    let Some(rt) = pv_rt(state) else {
        return;
    };
    let patch = if annotation(pv, ANN_BOUND_BY_CONTROLLER).is_some() {
        json!({"metadata": {"annotations": {ANN_BOUND_BY_CONTROLLER: null}}, "spec": {"claimRef": null}})
    } else {
        json!({"spec": {"claimRef": {"uid": null}}})
    };
    let name = meta::name(pv);
    if log_err("unbind pv", state.patch(&rt, "", name, Patch::Merge(patch), "", &opts(MANAGER))).is_some() {
        set_pv_phase(state, name, "Available");
    }
}
