//! When a restored object counts as ready (`restore create --wait`): one
//! rule per kind whose readiness the API tells, as kubectl's `rollout
//! status` and `wait` read it. Kinds without a rule are not waited for.

use serde_json::Value;

use crate::objects;

/// What the live object says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// Not yet, and why (shown when the wait runs out).
    NotYet(String),
    /// No rule for this kind: not waited for.
    NotWatched,
}

type Rule = fn(&Value) -> Readiness;

/// `(group, kind, rule)`.
const RULES: &[(&str, &str, Rule)] = &[
    ("", "PersistentVolumeClaim", claim),
    ("", "Pod", pod),
    ("apps", "Deployment", deployment),
    ("apps", "StatefulSet", stateful_set),
    ("apps", "DaemonSet", daemon_set),
];

pub fn readiness(group: &str, kind: &str, live: &Value) -> Readiness {
    RULES.iter().find(|(g, k, _)| *g == group && *k == kind).map_or(Readiness::NotWatched, |(_, _, rule)| rule(live))
}

/// Whether objects of this kind are waited for.
pub fn watched(group: &str, kind: &str) -> bool {
    RULES.iter().any(|(g, k, _)| *g == group && *k == kind)
}

fn int(obj: &Value, pointer: &str) -> Option<i64> {
    obj.pointer(pointer).and_then(Value::as_i64)
}

fn ready_if(ok: bool, why: impl FnOnce() -> String) -> Readiness {
    if ok { Readiness::Ready } else { Readiness::NotYet(why()) }
}

/// The controller has seen the current spec.
fn observed(obj: &Value) -> bool {
    match (int(obj, "/metadata/generation"), int(obj, "/status/observedGeneration")) {
        (Some(g), Some(o)) => o >= g,
        (Some(_), None) => false,
        _ => true,
    }
}

fn claim(obj: &Value) -> Readiness {
    let phase = objects::str_at(obj, "/status/phase").unwrap_or("Pending");
    ready_if(phase == "Bound", || format!("claim is {phase}"))
}

fn pod(obj: &Value) -> Readiness {
    let phase = objects::str_at(obj, "/status/phase").unwrap_or("Pending");
    let ready = obj
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"));
    ready_if(ready || phase == "Succeeded", || format!("pod is {phase}, not Ready"))
}

fn replicas_ready(obj: &Value, ready_field: &str) -> Readiness {
    let want = int(obj, "/spec/replicas").unwrap_or(1);
    let have = int(obj, &format!("/status/{ready_field}")).unwrap_or(0);
    let updated = int(obj, "/status/updatedReplicas").unwrap_or(want);
    ready_if(observed(obj) && have >= want && updated >= want, || {
        format!("{have}/{want} replicas {}", if ready_field == "availableReplicas" { "available" } else { "ready" })
    })
}

fn deployment(obj: &Value) -> Readiness {
    replicas_ready(obj, "availableReplicas")
}

fn stateful_set(obj: &Value) -> Readiness {
    replicas_ready(obj, "readyReplicas")
}

fn daemon_set(obj: &Value) -> Readiness {
    let want = int(obj, "/status/desiredNumberScheduled").unwrap_or(0);
    let have = int(obj, "/status/numberReady").unwrap_or(0);
    ready_if(observed(obj) && obj.pointer("/status").is_some() && have >= want, || format!("{have}/{want} pods ready"))
}

/// The message of the newest event in an event list (`v1` Events of one
/// object), which says why a claim is still Pending (the binder's
/// `volume "X" already bound to a different claim.`, a provisioning error).
pub fn latest_event_message(events: &Value) -> Option<String> {
    let items = events.pointer("/items")?.as_array()?;
    let when = |e: &Value| {
        ["/lastTimestamp", "/eventTime", "/firstTimestamp", "/metadata/creationTimestamp"]
            .iter()
            .find_map(|p| objects::str_at(e, p))
            .unwrap_or_default()
            .to_string()
    };
    items.iter().filter(|e| objects::str_at(e, "/message").is_some()).max_by_key(|e| when(e)).and_then(|e| {
        let message = objects::str_at(e, "/message")?.trim();
        let reason = objects::str_at(e, "/reason").unwrap_or_default();
        Some(if reason.is_empty() { message.to_string() } else { format!("{reason}: {message}") })
    })
}

/// The field selector that lists one object's events.
pub fn events_path(namespace: &str, kind: &str, name: &str) -> String {
    let selector = format!("involvedObject.kind={kind},involvedObject.name={name}");
    format!("/api/v1/namespaces/{namespace}/events?fieldSelector={}", crate::api::encode_query(&selector))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn claims_and_pods() {
        assert_eq!(readiness("", "PersistentVolumeClaim", &json!({"status": {"phase": "Bound"}})), Readiness::Ready);
        assert_eq!(readiness("", "PersistentVolumeClaim", &json!({})), Readiness::NotYet("claim is Pending".into()));
        let ready = json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}});
        assert_eq!(readiness("", "Pod", &ready), Readiness::Ready);
        let running = json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}]}});
        assert!(matches!(readiness("", "Pod", &running), Readiness::NotYet(_)));
        assert_eq!(readiness("", "Pod", &json!({"status": {"phase": "Succeeded"}})), Readiness::Ready);
    }

    #[test]
    fn the_newest_event_explains_a_pending_claim() {
        let events = json!({"items": [
            {"reason": "ProvisioningFailed", "message": "old", "lastTimestamp": "2026-01-01T00:00:01Z"},
            {"reason": "FailedBinding", "message": "volume \"pv-x\" already bound to a different claim.",
             "lastTimestamp": "2026-01-01T00:00:09Z"},
            {"reason": "Other", "lastTimestamp": "2026-01-01T00:00:10Z"},
        ]});
        assert_eq!(
            latest_event_message(&events).as_deref(),
            Some("FailedBinding: volume \"pv-x\" already bound to a different claim.")
        );
        assert_eq!(latest_event_message(&json!({"items": []})), None);
        assert!(events_path("shop", "PersistentVolumeClaim", "data").contains("involvedObject.name%3Ddata"));
    }

    #[test]
    fn workloads_need_the_current_generation_and_enough_replicas() {
        let dep = |generation: i64, seen: i64, avail: i64| {
            json!({"metadata": {"generation": generation}, "spec": {"replicas": 3},
                   "status": {"observedGeneration": seen, "availableReplicas": avail, "updatedReplicas": 3}})
        };
        assert_eq!(readiness("apps", "Deployment", &dep(2, 2, 3)), Readiness::Ready);
        assert_eq!(readiness("apps", "Deployment", &dep(2, 2, 1)), Readiness::NotYet("1/3 replicas available".into()));
        assert!(matches!(readiness("apps", "Deployment", &dep(3, 2, 3)), Readiness::NotYet(_)), "old generation");
        let fresh = json!({"metadata": {"generation": 1}, "spec": {"replicas": 1}});
        assert!(matches!(readiness("apps", "StatefulSet", &fresh), Readiness::NotYet(_)), "no status yet");
        let ds = json!({"metadata": {"generation": 1}, "status": {"observedGeneration": 1, "desiredNumberScheduled": 2, "numberReady": 2}});
        assert_eq!(readiness("apps", "DaemonSet", &ds), Readiness::Ready);
        assert_eq!(readiness("", "ConfigMap", &json!({})), Readiness::NotWatched);
        assert!(!watched("batch", "Job"));
    }
}
