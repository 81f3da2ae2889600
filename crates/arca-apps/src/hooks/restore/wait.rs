//! Waiting, bounded, for a restored object's pods and for each to be ready
//! for its hook (the container running, or the pod Ready with `wait-for-ready`).

use std::time::Duration;

use arca_kube::api::{Kube, encode_query};
use arca_kube::objects;
use serde_json::Value;
use tokio::time::Instant;

use super::spec::PostHook;

const POLL: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodName {
    pub namespace: String,
    pub name: String,
}

/// A label selector object as a `labelSelector` query value.
pub fn selector_query(selector: &Value) -> Option<String> {
    let mut parts = Vec::new();
    for (k, v) in selector.get("matchLabels").and_then(Value::as_object).into_iter().flatten() {
        parts.push(format!("{k}={}", v.as_str()?));
    }
    for e in selector.get("matchExpressions").and_then(Value::as_array).into_iter().flatten() {
        let key = e.get("key")?.as_str()?;
        let values: Vec<&str> =
            e.get("values").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
        parts.push(match e.get("operator")?.as_str()? {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_string(),
            "DoesNotExist" => format!("!{key}"),
            _ => return None,
        });
    }
    (!parts.is_empty()).then(|| parts.join(","))
}

/// How many pods a workload is to have.
fn wanted(obj: &Value) -> usize {
    match objects::kind(obj) {
        "Job" => obj.pointer("/spec/parallelism").and_then(Value::as_u64).unwrap_or(1) as usize,
        "DaemonSet" => 1,
        _ => obj.pointer("/spec/replicas").and_then(Value::as_u64).unwrap_or(1) as usize,
    }
}

/// The pods of a restored object: itself for a Pod; for a workload, those
/// its selector matches, waited for until it has as many as it wants.
pub async fn pods_of(kube: &Kube, obj: &Value, deadline: Instant) -> Result<Vec<PodName>, String> {
    let namespace = objects::namespace(obj).unwrap_or_default().to_string();
    if objects::kind(obj) == "Pod" {
        return Ok(vec![PodName { namespace, name: objects::name(obj).to_string() }]);
    }
    let what = objects::describe(objects::kind(obj), Some(&namespace), objects::name(obj));
    let Some(query) = obj.pointer("/spec/selector").and_then(selector_query) else {
        return Err(format!("{what} has no label selector to find its pods by"));
    };
    let path = format!("/api/v1/namespaces/{namespace}/pods?labelSelector={}", encode_query(&query));
    let want = wanted(obj);
    if want == 0 {
        return Ok(Vec::new());
    }
    let mut seen = 0;
    loop {
        match kube.get(&path, "listing a restored workload's pods").await {
            Ok(list) => {
                let pods: Vec<PodName> = list
                    .get("items")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter(|p| p.pointer("/metadata/deletionTimestamp").is_none())
                    .map(|p| PodName { namespace: namespace.clone(), name: objects::name(p).to_string() })
                    .collect();
                seen = pods.len();
                if pods.len() >= want {
                    return Ok(pods);
                }
            }
            Err(e) if Instant::now() >= deadline => return Err(format!("{what}: its pods could not be listed: {e}")),
            Err(_) => {}
        }
        if Instant::now() >= deadline {
            return Err(format!("{what} had {seen} of its {want} pod(s) when the hook's wait-timeout ran out"));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Whether the pod is ready for the hook, or why not.
fn ready_for(pod: &Value, hook: &PostHook) -> Result<(), String> {
    let phase = objects::str_at(pod, "/status/phase").unwrap_or("Pending");
    if matches!(phase, "Succeeded" | "Failed") {
        return Err(format!("the pod ended ({phase}) before its restore hook could run"));
    }
    if hook.wait_for_ready {
        let ready = pod
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"));
        return if ready { Ok(()) } else { Err(format!("the pod is {phase}, not Ready")) };
    }
    let running = |c: &Value| c.pointer("/state/running").is_some();
    let statuses = pod.pointer("/status/containerStatuses").and_then(Value::as_array);
    let wanted = hook.container.as_deref();
    let ok = statuses.into_iter().flatten().any(|s| running(s) && wanted.is_none_or(|w| s["name"] == w))
        || pod
            .pointer("/status/initContainerStatuses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|s| running(s) && wanted.is_some_and(|w| s["name"] == w));
    if ok { Ok(()) } else { Err(format!("its container is not running (the pod is {phase})")) }
}

/// Waits until the pod can run the hook; returns the live pod.
pub async fn ready(kube: &Kube, pod: &PodName, hook: &PostHook, deadline: Instant) -> Result<Value, String> {
    let path = format!("/api/v1/namespaces/{}/pods/{}", pod.namespace, pod.name);
    let mut why;
    loop {
        match kube.get_opt(&path, "reading a restored pod").await {
            // A container the pod does not have will never run: say so now.
            Ok(Some(live)) if let Err(why) = crate::hooks::choose_container(&live, hook.container.as_deref(), &[]) => {
                return Err(why);
            }
            Ok(Some(live)) => match ready_for(&live, hook) {
                Ok(()) => return Ok(live),
                Err(w) if w.contains("ended") => return Err(w),
                Err(w) => why = w,
            },
            Ok(None) => why = "it was not found".into(),
            Err(e) => why = e.to_string(),
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "pod {}/{} was not ready for its restore hook within the wait-timeout ({:?}): {why}",
                pod.namespace, pod.name, hook.wait_timeout
            ));
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selectors_become_queries() {
        let s = json!({"matchLabels": {"app": "db"}, "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["a", "b"]},
            {"key": "canary", "operator": "DoesNotExist"}
        ]});
        assert_eq!(selector_query(&s).as_deref(), Some("app=db,tier in (a,b),!canary"));
        assert_eq!(selector_query(&json!({})), None);
    }

    fn hook(ready: bool, container: Option<&str>) -> PostHook {
        PostHook {
            container: container.map(str::to_string),
            command: vec!["true".into()],
            on_error: crate::hooks::OnError::Fail,
            exec_timeout: Duration::from_secs(1),
            wait_timeout: Duration::from_secs(1),
            wait_for_ready: ready,
            source: "annotation".into(),
        }
    }

    #[test]
    fn readiness_for_a_hook() {
        let running =
            json!({"status": {"phase": "Running", "containerStatuses": [{"name": "app", "state": {"running": {}}}]}});
        assert!(ready_for(&running, &hook(false, None)).is_ok());
        assert!(ready_for(&running, &hook(false, Some("app"))).is_ok());
        assert!(ready_for(&running, &hook(false, Some("other"))).is_err());
        assert!(ready_for(&running, &hook(true, None)).unwrap_err().contains("not Ready"));
        let done = json!({"status": {"phase": "Succeeded"}});
        assert!(ready_for(&done, &hook(false, None)).unwrap_err().contains("ended"));
    }
}
