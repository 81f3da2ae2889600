//! The PV controller's decisions, as pure functions of a claim or a volume and
//! what the controller sees around it. They follow upstream's
//! `pkg/controller/volume/persistentvolume/pv_controller.go` (`syncUnboundClaim`,
//! `syncBoundClaim`, `syncVolume`, `checkVolumeSatisfyClaim`) and
//! `component-helpers/storage/volume` (`IsVolumeBoundToClaim`,
//! `FindMatchingVolume`); the event reasons and messages are upstream's.

use serde_json::Value;

use super::super::quantity;
use crate::meta;

pub const ANN_BIND_COMPLETED: &str = "pv.kubernetes.io/bind-completed";
pub const ANN_BOUND_BY_CONTROLLER: &str = "pv.kubernetes.io/bound-by-controller";
pub const ANN_PROVISIONED_BY: &str = "pv.kubernetes.io/provisioned-by";
pub const ANN_SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";
const ANN_STORAGE_CLASS: &str = "volume.beta.kubernetes.io/storage-class";

/// An event to record on the claim.
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    pub warning: bool,
    pub reason: &'static str,
    pub message: String,
}

fn warning(reason: &'static str, message: String) -> Note {
    Note { warning: true, reason, message }
}

/// What to do with a claim.
#[derive(Debug, Clone, PartialEq)]
pub enum ClaimAction {
    /// Bind the claim and this volume (both sides).
    Bind(String),
    /// Mark the claim `Pending`, recording the note if any.
    Pending(Option<Note>),
    /// Only record the note (upstream returns an error there, status untouched).
    NoteOnly(Note),
    /// Mark the claim `Lost`; the note is recorded when the phase changes.
    Lost(Note),
    /// No volume matches: a provisioner may create one.
    Provision,
}

/// What to do with a volume.
#[derive(Debug, Clone, PartialEq)]
pub enum VolumeAction {
    /// Set this phase (no-op when already set).
    Phase(&'static str),
    /// The claim is gone (or bound elsewhere): mark `Released` unless
    /// `Released`/`Failed` already, then carry out the reclaim policy.
    Release,
    /// Roll the binding back: `claimRef` dropped when the controller bound it,
    /// else only its uid; then `Available`.
    Unbind,
    /// Nothing to do (the claim's sync will finish the binding).
    Wait,
}

pub fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.pointer("/metadata/annotations").and_then(|a| a.get(key)).and_then(Value::as_str)
}

fn has_annotation(obj: &Value, key: &str) -> bool {
    annotation(obj, key).is_some()
}

fn claim_ref_field<'a>(pv: &'a Value, field: &str) -> Option<&'a str> {
    meta::str_at(pv, &format!("/spec/claimRef/{field}"))
}

fn has_claim_ref(pv: &Value) -> bool {
    pv.pointer("/spec/claimRef").is_some_and(|r| !r.is_null())
}

/// `IsVolumeBoundToClaim`: the volume's `claimRef` names the claim, and its uid
/// (when set) is the claim's.
pub fn bound_to_claim(pv: &Value, claim: &Value) -> bool {
    if !has_claim_ref(pv) {
        return false;
    }
    if claim_ref_field(pv, "name") != Some(meta::name(claim))
        || claim_ref_field(pv, "namespace") != Some(meta::namespace(claim))
    {
        return false;
    }
    let uid = claim_ref_field(pv, "uid").unwrap_or_default();
    uid.is_empty() || uid == meta::uid(claim)
}

/// `GetPersistentVolumeClaimClass` / `GetPersistentVolumeClass`: the beta
/// annotation wins over `spec.storageClassName`.
pub fn class_of(obj: &Value) -> &str {
    annotation(obj, ANN_STORAGE_CLASS).or_else(|| meta::str_at(obj, "/spec/storageClassName")).unwrap_or_default()
}

fn requested(claim: &Value) -> f64 {
    meta::str_at(claim, "/spec/resources/requests/storage").and_then(quantity::parse).unwrap_or(0.0)
}

fn capacity(pv: &Value) -> f64 {
    meta::str_at(pv, "/spec/capacity/storage").and_then(quantity::parse).unwrap_or(0.0)
}

fn volume_mode(obj: &Value) -> &str {
    meta::str_at(obj, "/spec/volumeMode").unwrap_or("Filesystem")
}

fn strings(obj: &Value, pointer: &str) -> Vec<String> {
    obj.pointer(pointer)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
        .unwrap_or_default()
}

/// `CheckAccessModes`: the volume offers every mode the claim asks for.
fn access_modes_fit(claim: &Value, pv: &Value) -> bool {
    let offered = strings(pv, "/spec/accessModes");
    strings(claim, "/spec/accessModes").iter().all(|m| offered.contains(m))
}

/// `checkVolumeSatisfyClaim`, checked when a claim names a free volume.
fn satisfy_error(pv: &Value, claim: &Value) -> Option<String> {
    if meta::is_deleting(pv) {
        return Some(format!("the volume is marked for deletion {:?}", meta::name(pv)));
    }
    if capacity(pv) < requested(claim) {
        return Some("requested PV is too small".into());
    }
    if class_of(pv) != class_of(claim) {
        return Some("storageClassName does not match".into());
    }
    if volume_mode(pv) != volume_mode(claim) {
        return Some("incompatible volumeMode".into());
    }
    if !access_modes_fit(claim, pv) {
        return Some("incompatible accessMode".into());
    }
    None
}

/// A claim's `spec.selector` (`matchLabels`, `matchExpressions`) against labels.
fn selector_matches(claim: &Value, pv: &Value) -> bool {
    let Some(sel) = claim.pointer("/spec/selector").filter(|s| !s.is_null()) else {
        return true;
    };
    let labels = crate::selectors::labels_of(pv);
    let match_labels = sel.get("matchLabels").and_then(Value::as_object);
    let labels_ok = match_labels.is_none_or(|m| m.iter().all(|(k, v)| labels.get(k).map(String::as_str) == v.as_str()));
    let exprs = sel.get("matchExpressions").and_then(Value::as_array).cloned().unwrap_or_default();
    labels_ok
        && exprs.iter().all(|e| {
            let key = meta::str_at(e, "/key").unwrap_or_default();
            let values = strings(e, "/values");
            let value = labels.get(key);
            match meta::str_at(e, "/operator").unwrap_or_default() {
                "In" => value.is_some_and(|v| values.contains(v)),
                "NotIn" => value.is_none_or(|v| !values.contains(v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                _ => false,
            }
        })
}

/// `FindMatchingVolume` for the PV controller: a volume pre-bound to the claim
/// (big enough), else the smallest `Available`, unclaimed volume of the claim's
/// class, modes and selector.
pub fn best_match<'a>(claim: &Value, pvs: &'a [Value]) -> Option<&'a Value> {
    let wanted = requested(claim);
    let candidates = pvs
        .iter()
        .filter(|pv| volume_mode(pv) == volume_mode(claim) && !meta::is_deleting(pv) && access_modes_fit(claim, pv));
    let mut smallest: Option<&Value> = None;
    for pv in candidates {
        if bound_to_claim(pv, claim) {
            if capacity(pv) < wanted {
                continue;
            }
            return Some(pv);
        }
        let free = meta::str_at(pv, "/status/phase") == Some("Available") && !has_claim_ref(pv);
        if !free || !selector_matches(claim, pv) || class_of(pv) != class_of(claim) || capacity(pv) < wanted {
            continue;
        }
        if smallest.is_none_or(|s| capacity(s) > capacity(pv)) {
            smallest = Some(pv);
        }
    }
    smallest
}

/// The free (`Available`, unclaimed) volumes that satisfy a claim, smallest
/// first: what the scheduler may bind a `WaitForFirstConsumer` claim to.
pub fn free_matches<'a>(claim: &Value, pvs: &'a [Value]) -> Vec<&'a Value> {
    let wanted = requested(claim);
    let mut out: Vec<&Value> = pvs
        .iter()
        .filter(|pv| {
            meta::str_at(pv, "/status/phase") == Some("Available")
                && !has_claim_ref(pv)
                && !meta::is_deleting(pv)
                && volume_mode(pv) == volume_mode(claim)
                && access_modes_fit(claim, pv)
                && selector_matches(claim, pv)
                && class_of(pv) == class_of(claim)
                && capacity(pv) >= wanted
        })
        .collect();
    out.sort_by(|a, b| capacity(a).total_cmp(&capacity(b)).then_with(|| meta::name(a).cmp(meta::name(b))));
    out
}

/// `syncClaim`: unbound claims (no `bind-completed`) get bound, bound ones
/// checked. `delayed`: the claim's class binds `WaitForFirstConsumer`, so
/// only a volume pre-bound to it binds (the scheduler pre-binds one that
/// fits the pod's node), else it waits for a consumer, then for provisioning.
pub fn decide_claim(claim: &Value, pvs: &[Value], delayed: bool) -> ClaimAction {
    let volume_name = meta::str_at(claim, "/spec/volumeName").unwrap_or_default();
    let pv = pvs.iter().find(|pv| !volume_name.is_empty() && meta::name(pv) == volume_name);
    if has_annotation(claim, ANN_BIND_COMPLETED) {
        return decide_bound_claim(claim, volume_name, pv);
    }
    if volume_name.is_empty() {
        let waiting = delayed && annotation(claim, ANN_SELECTED_NODE).is_none();
        return match best_match(claim, pvs) {
            Some(pv) if !delayed || bound_to_claim(pv, claim) => ClaimAction::Bind(meta::name(pv).to_string()),
            _ if waiting => ClaimAction::Pending(Some(Note {
                warning: false,
                reason: "WaitForFirstConsumer",
                message: "waiting for first consumer to be created before binding".into(),
            })),
            None if class_of(claim).is_empty() => ClaimAction::Pending(Some(Note {
                warning: false,
                reason: "FailedBinding",
                message: "no persistent volumes available for this claim and no storage class is set".into(),
            })),
            _ => ClaimAction::Provision,
        };
    }
    // The claim asks for a specific volume; a missing one is waited for, without an event.
    let Some(pv) = pv else {
        return ClaimAction::Pending(None);
    };
    if !has_claim_ref(pv) {
        return match satisfy_error(pv, claim) {
            Some(why) => ClaimAction::Pending(Some(warning(
                "VolumeMismatch",
                format!("Cannot bind to requested volume {:?}: {why}", meta::name(pv)),
            ))),
            None => ClaimAction::Bind(volume_name.to_string()),
        };
    }
    if bound_to_claim(pv, claim) {
        return ClaimAction::Bind(volume_name.to_string());
    }
    let note = warning("FailedBinding", format!("volume {:?} already bound to a different claim.", meta::name(pv)));
    if has_annotation(claim, ANN_BOUND_BY_CONTROLLER) {
        ClaimAction::NoteOnly(note)
    } else {
        ClaimAction::Pending(Some(note))
    }
}

fn decide_bound_claim(claim: &Value, volume_name: &str, pv: Option<&Value>) -> ClaimAction {
    if volume_name.is_empty() {
        return ClaimAction::Lost(warning(
            "ClaimLost",
            "Bound claim has lost reference to PersistentVolume. Data on the volume is lost!".into(),
        ));
    }
    let Some(pv) = pv else {
        return ClaimAction::Lost(warning(
            "ClaimLost",
            "Bound claim has lost its PersistentVolume. Data on the volume is lost!".into(),
        ));
    };
    if !has_claim_ref(pv) || claim_ref_field(pv, "uid") == Some(meta::uid(claim)) {
        return ClaimAction::Bind(volume_name.to_string());
    }
    ClaimAction::Lost(warning(
        "ClaimMisbound",
        "Two claims are bound to the same volume, this one is bound incorrectly".into(),
    ))
}

/// `syncVolume`; `claim` is the claim named by `claimRef` (by namespace and
/// name), if it exists.
pub fn decide_volume(pv: &Value, claim: Option<&Value>) -> VolumeAction {
    if !has_claim_ref(pv) {
        return VolumeAction::Phase("Available");
    }
    let uid = claim_ref_field(pv, "uid").unwrap_or_default();
    if uid.is_empty() {
        // Pre-bound: reserved for the claim of that name, whose sync binds it.
        return VolumeAction::Phase("Available");
    }
    // A claim of the same name but another uid is a new claim: the old one is gone.
    let Some(claim) = claim.filter(|c| meta::uid(c) == uid) else {
        return VolumeAction::Release;
    };
    let claimed = meta::str_at(claim, "/spec/volumeName").unwrap_or_default();
    if claimed.is_empty() {
        return VolumeAction::Wait;
    }
    if claimed == meta::name(pv) {
        return VolumeAction::Phase("Bound");
    }
    let dynamic = has_annotation(pv, ANN_PROVISIONED_BY);
    if dynamic && meta::str_at(pv, "/spec/persistentVolumeReclaimPolicy") == Some("Delete") {
        VolumeAction::Release
    } else {
        VolumeAction::Unbind
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claim(uid: &str, volume: Option<&str>, annotations: Value) -> Value {
        json!({"metadata": {"name": "data", "namespace": "app", "uid": uid, "annotations": annotations},
               "spec": {"volumeName": volume, "storageClassName": "sc", "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "1Gi"}}}})
    }

    fn pv(name: &str, claim_ref: Value, phase: &str) -> Value {
        json!({"metadata": {"name": name}, "status": {"phase": phase},
               "spec": {"claimRef": claim_ref, "storageClassName": "sc", "accessModes": ["ReadWriteOnce"],
                        "capacity": {"storage": "2Gi"}, "persistentVolumeReclaimPolicy": "Retain"}})
    }

    #[test]
    fn requested_volume_rules() {
        let new = claim("new", Some("pv1"), json!({}));
        let stale = pv("pv1", json!({"namespace": "app", "name": "data", "uid": "old"}), "Released");
        let note = warning("FailedBinding", "volume \"pv1\" already bound to a different claim.".into());
        assert_eq!(decide_claim(&new, std::slice::from_ref(&stale), false), ClaimAction::Pending(Some(note.clone())));
        let by_controller = claim("new", Some("pv1"), json!({ANN_BOUND_BY_CONTROLLER: "yes"}));
        assert_eq!(decide_claim(&by_controller, std::slice::from_ref(&stale), false), ClaimAction::NoteOnly(note));
        let cleared = pv("pv1", json!({"namespace": "app", "name": "data"}), "Available");
        assert_eq!(decide_claim(&new, &[cleared], false), ClaimAction::Bind("pv1".into()));
        let free = pv("pv1", Value::Null, "Available");
        assert_eq!(decide_claim(&new, std::slice::from_ref(&free), false), ClaimAction::Bind("pv1".into()));
        assert_eq!(decide_claim(&new, &[], false), ClaimAction::Pending(None));
        let mut small = free.clone();
        small["spec"]["capacity"]["storage"] = json!("500Mi");
        let ClaimAction::Pending(Some(n)) = decide_claim(&new, &[small], false) else { panic!("expected a mismatch") };
        assert_eq!(n.message, "Cannot bind to requested volume \"pv1\": requested PV is too small");
    }

    #[test]
    fn bound_claim_rules() {
        let bound = claim("u1", Some("pv1"), json!({ANN_BIND_COMPLETED: "yes"}));
        let other = pv("pv1", json!({"namespace": "app", "name": "data", "uid": "u0"}), "Bound");
        assert!(matches!(decide_claim(&bound, &[other], false), ClaimAction::Lost(n) if n.reason == "ClaimMisbound"));
        assert!(matches!(decide_claim(&bound, &[], false), ClaimAction::Lost(n) if n.reason == "ClaimLost"));
    }

    #[test]
    fn dynamic_claims_prefer_prebound_then_smallest() {
        let c = claim("u1", None, json!({}));
        let big = pv("big", Value::Null, "Available");
        let mut small = pv("small", Value::Null, "Available");
        small["spec"]["capacity"]["storage"] = json!("1Gi");
        let mut other_class = small.clone();
        other_class["spec"]["storageClassName"] = json!("other");
        assert_eq!(
            decide_claim(&c, &[big.clone(), small.clone(), other_class], false),
            ClaimAction::Bind("small".into())
        );
        let reserved = pv("reserved", json!({"namespace": "app", "name": "data"}), "Available");
        assert_eq!(
            decide_claim(&c, &[big.clone(), small, reserved.clone()], false),
            ClaimAction::Bind("reserved".into())
        );
        assert_eq!(decide_claim(&c, &[], false), ClaimAction::Provision);
        // WaitForFirstConsumer: only the pre-bound volume until a node is selected.
        assert_eq!(decide_claim(&c, &[big.clone(), reserved], true), ClaimAction::Bind("reserved".into()));
        let ClaimAction::Pending(Some(n)) = decide_claim(&c, std::slice::from_ref(&big), true) else {
            panic!("expected to wait for a consumer")
        };
        assert_eq!(
            (n.reason, n.message.as_str()),
            ("WaitForFirstConsumer", "waiting for first consumer to be created before binding")
        );
        let selected = claim("u1", None, json!({ANN_SELECTED_NODE: "n1"}));
        assert_eq!(decide_claim(&selected, &[big], true), ClaimAction::Provision);
        assert_eq!(decide_claim(&selected, &[], true), ClaimAction::Provision);
    }

    #[test]
    fn volume_rules() {
        let c = claim("u1", Some("pv1"), json!({}));
        let bound = pv("pv1", json!({"namespace": "app", "name": "data", "uid": "u1"}), "Available");
        assert_eq!(decide_volume(&bound, Some(&c)), VolumeAction::Phase("Bound"));
        assert_eq!(decide_volume(&bound, None), VolumeAction::Release);
        let newer = claim("u2", Some("pv1"), json!({}));
        assert_eq!(decide_volume(&bound, Some(&newer)), VolumeAction::Release);
        let prebound = pv("pv1", json!({"namespace": "app", "name": "data"}), "Pending");
        assert_eq!(decide_volume(&prebound, None), VolumeAction::Phase("Available"));
        let elsewhere = claim("u1", Some("pv2"), json!({}));
        assert_eq!(decide_volume(&bound, Some(&elsewhere)), VolumeAction::Unbind);
    }
}
