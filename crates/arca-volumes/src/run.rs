//! Running one mover pod to its end: create it, follow its status, and
//! turn whatever happens into a result or a reason a person can act on
//! (unschedulable, image not pulled, killed, exit code with the log's last
//! lines, timed out while …). Every wait has a timeout; the pod is deleted
//! afterwards whatever happened.

use std::time::{Duration, Instant};

use arca_kube::api::Kube;
use serde_json::Value;

use crate::mover::{self, MoverResult};

/// How a mover pod ended.
#[derive(Debug, Clone, PartialEq)]
pub enum PodOutcome {
    Succeeded {
        result: MoverResult,
        node: Option<String>,
    },
    Failed {
        reason: String,
        node: Option<String>,
        /// The result line a mover that exited non-zero still printed (a
        /// verify that found differences exits 3 with its result).
        result: Option<MoverResult>,
    },
}

impl PodOutcome {
    pub fn node(&self) -> Option<&str> {
        match self {
            PodOutcome::Succeeded { node, .. } | PodOutcome::Failed { node, .. } => node.as_deref(),
        }
    }
}

/// How long an image may fail to pull before the mover is given up: a
/// registry hiccup clears within it, a wrong or missing image never does
/// (and should not hold each volume for the whole `--volume-timeout`).
pub const IMAGE_PULL_GRACE: Duration = Duration::from_secs(120);

/// Waiting reasons that will not go away by themselves.
const PERMANENT_WAITING: &[&str] = &["InvalidImageName", "CreateContainerConfigError", "CreateContainerError"];

fn pods_path(ns: &str) -> String {
    format!("/api/v1/namespaces/{ns}/pods")
}

/// Creates `pod`, waits until it ends or `timeout` passes, reads its result
/// from its log, and deletes it.
pub async fn run_pod(kube: &Kube, pod: &Value, timeout: Duration) -> PodOutcome {
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or_default().to_string();
    let name = pod["metadata"]["name"].as_str().unwrap_or_default().to_string();
    let path = format!("{}/{name}", pods_path(&ns));
    let what = format!("mover pod {ns}/{name}");
    // A pod of the same name is a leftover of a killed run: replace it.
    if let Ok(Some(_)) = kube.get_opt(&path, &what).await {
        let _ = kube.delete(&path, &what).await;
        wait_gone(kube, &path, &what, Duration::from_secs(60)).await;
    }
    if let Err(e) = kube.create(&pods_path(&ns), pod, &what).await {
        return PodOutcome::Failed { reason: format!("could not create {what}: {e}"), node: None, result: None };
    }
    let outcome = follow(kube, &path, &what, timeout).await;
    if let Err(e) = kube.delete(&path, &what).await
        && e.api_code() != Some(404)
    {
        tracing::warn!("{what}: could not delete it: {e}");
    }
    outcome
}

async fn follow(kube: &Kube, path: &str, what: &str, timeout: Duration) -> PodOutcome {
    let start = Instant::now();
    let mut last: Option<Value> = None;
    let mut pull_failing_since: Option<Instant> = None;
    loop {
        match kube.get_opt(path, what).await {
            Ok(Some(live)) => {
                let node = live["spec"]["nodeName"].as_str().map(String::from);
                match live["status"]["phase"].as_str() {
                    Some("Succeeded") => return succeeded(kube, path, what, node).await,
                    Some("Failed") => {
                        let log = log_end(kube, path, what).await;
                        let reason = failed_reason(&live, &tail(&log, 5));
                        return PodOutcome::Failed { reason, node, result: mover::parse_result(&log) };
                    }
                    _ => {}
                }
                if let Some(reason) = permanent_waiting(&live) {
                    return PodOutcome::Failed { reason: format!("{what} cannot start: {reason}"), node, result: None };
                }
                pull_failing_since =
                    if pulling_fails(&live) { pull_failing_since.or(Some(Instant::now())) } else { None };
                if pull_failing_since.is_some_and(|t| t.elapsed() >= IMAGE_PULL_GRACE) {
                    let reason = format!("{what} cannot start: {}", stuck_reason(&live));
                    return PodOutcome::Failed { reason, node, result: None };
                }
                last = Some(live);
            }
            Ok(None) => {
                return PodOutcome::Failed {
                    reason: format!("{what} was deleted before it finished"),
                    node: None,
                    result: None,
                };
            }
            Err(e) => tracing::info!("{what}: reading its status: {e}"),
        }
        if start.elapsed() >= timeout {
            let node = last.as_ref().and_then(|l| l["spec"]["nodeName"].as_str()).map(String::from);
            let state = last.as_ref().map(stuck_reason).unwrap_or_else(|| "its status could not be read".into());
            return PodOutcome::Failed {
                reason: format!("{what} did not finish within {}: {state}", human(timeout)),
                node,
                result: None,
            };
        }
        tokio::time::sleep(poll_interval(start.elapsed())).await;
    }
}

/// Quick polls first (small volumes end in a second), then every 0.5 s for
/// the first minutes (a late poll adds to every volume's time), then every 2 s.
fn poll_interval(elapsed: Duration) -> Duration {
    match elapsed.as_secs() {
        0..5 => Duration::from_millis(200),
        5..300 => Duration::from_millis(500),
        _ => Duration::from_secs(2),
    }
}

async fn succeeded(kube: &Kube, path: &str, what: &str, node: Option<String>) -> PodOutcome {
    match kube.get_text(&format!("{path}/log?container={}", mover::CONTAINER), what).await {
        Ok(log) => match mover::parse_result(&log) {
            Some(result) => PodOutcome::Succeeded { result, node },
            None => PodOutcome::Failed {
                reason: format!("{what} exited 0 without a result line; its log ends: {}", tail(&log, 5)),
                node,
                result: None,
            },
        },
        Err(e) => PodOutcome::Failed {
            reason: format!("{what} succeeded but its log could not be read: {e}"),
            node,
            result: None,
        },
    }
}

/// The last lines of the mover's log (empty when it cannot be read).
async fn log_end(kube: &Kube, path: &str, what: &str) -> String {
    kube.get_text(&format!("{path}/log?container={}&tailLines=20", mover::CONTAINER), what).await.unwrap_or_default()
}

fn tail(log: &str, n: usize) -> String {
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

fn mover_status(pod: &Value) -> Option<&Value> {
    pod["status"]["containerStatuses"].as_array()?.iter().find(|c| c["name"] == mover::CONTAINER)
}

/// Why a pod that ended `Failed` failed: exit code, signal, reason, log.
pub fn failed_reason(pod: &Value, log_tail: &str) -> String {
    let mut reason = match mover_status(pod).map(|c| &c["state"]["terminated"]) {
        Some(t) if t.is_object() => {
            let code = t["exitCode"].as_i64().unwrap_or(-1);
            let mut s = match code {
                137 => "the mover was killed (exit code 137)".to_string(),
                143 => "the mover was terminated (exit code 143)".to_string(),
                c => format!("the mover exited with code {c}"),
            };
            for key in ["reason", "message"] {
                if let Some(v) = t[key].as_str().filter(|v| !v.is_empty() && *v != "Error") {
                    s.push_str(&format!(" ({v})"));
                }
            }
            s
        }
        _ => match pod["status"]["reason"].as_str() {
            Some(r) => format!("the mover pod failed: {r} {}", pod["status"]["message"].as_str().unwrap_or_default()),
            None => "the mover pod failed".to_string(),
        },
    };
    if !log_tail.is_empty() {
        reason.push_str(&format!("; its log ends: {log_tail}"));
    }
    reason
}

/// A waiting reason that will never clear by itself.
pub fn permanent_waiting(pod: &Value) -> Option<String> {
    let waiting = &mover_status(pod)?["state"]["waiting"];
    let reason = waiting["reason"].as_str()?;
    PERMANENT_WAITING.contains(&reason).then(|| join_reason(reason, waiting["message"].as_str()))
}

/// Whether the mover's image is failing to pull right now.
pub fn pulling_fails(pod: &Value) -> bool {
    let reason = mover_status(pod).and_then(|c| c["state"]["waiting"]["reason"].as_str());
    matches!(reason, Some("ErrImagePull" | "ImagePullBackOff"))
}

/// What a pod that never ended is stuck on.
pub fn stuck_reason(pod: &Value) -> String {
    let conditions = pod["status"]["conditions"].as_array().cloned().unwrap_or_default();
    if let Some(c) = conditions.iter().find(|c| c["type"] == "PodScheduled" && c["status"] == "False") {
        let reason = c["reason"].as_str().unwrap_or("Unschedulable");
        return format!("not scheduled: {}", join_reason(reason, c["message"].as_str()));
    }
    if let Some(w) = mover_status(pod).map(|c| &c["state"]["waiting"]).filter(|w| w.is_object()) {
        let reason = w["reason"].as_str().unwrap_or("Waiting");
        return match reason {
            "ErrImagePull" | "ImagePullBackOff" => format!(
                "its image {} cannot be pulled: {}",
                pod["spec"]["containers"][0]["image"].as_str().unwrap_or("?"),
                join_reason(reason, w["message"].as_str())
            ),
            _ => format!("waiting: {}", join_reason(reason, w["message"].as_str())),
        };
    }
    match pod["status"]["phase"].as_str() {
        Some("Running") => "still running".into(),
        Some(p) => format!("still {p}"),
        None => "no status yet (not scheduled)".into(),
    }
}

fn join_reason(reason: &str, message: Option<&str>) -> String {
    match message.filter(|m| !m.is_empty()) {
        Some(m) => format!("{reason}: {m}"),
        None => reason.to_string(),
    }
}

async fn wait_gone(kube: &Kube, path: &str, what: &str, timeout: Duration) {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if let Ok(None) = kube.get_opt(path, what).await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `90s`, `5m`, `1h30m`.
pub fn human(d: Duration) -> String {
    // Rounded up: a budget of 2s less a few milliseconds still reads "2s".
    let s = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    match s {
        s if s < 120 => format!("{s}s"),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s < 3600 => format!("{}m", s / 60),
        s => format!("{}h{}m", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unschedulable_and_unpullable_pods_are_named() {
        let pod = json!({"status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
            "reason": "Unschedulable", "message": "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."}]}});
        assert!(stuck_reason(&pod).contains("not scheduled: Unschedulable: 0/3 nodes"), "{}", stuck_reason(&pod));
        let pod = json!({"spec": {"containers": [{"image": "nope:1"}]}, "status": {"phase": "Pending", "containerStatuses": [
            {"name": "mover", "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"nope:1\""}}}]}});
        assert!(stuck_reason(&pod).contains("image nope:1 cannot be pulled"), "{}", stuck_reason(&pod));
        assert_eq!(permanent_waiting(&pod), None);
        assert!(pulling_fails(&pod));
        let running = json!({"status": {"containerStatuses": [{"name": "mover", "state": {"running": {}}}]}});
        assert!(!pulling_fails(&running));
    }

    #[test]
    fn killed_and_failing_movers_say_so() {
        let pod = json!({"status": {"phase": "Failed", "containerStatuses": [
            {"name": "mover", "state": {"terminated": {"exitCode": 137, "reason": "Error"}}}]}});
        assert_eq!(failed_reason(&pod, "reading /x"), "the mover was killed (exit code 137); its log ends: reading /x");
        let pod = json!({"status": {"phase": "Failed", "containerStatuses": [
            {"name": "mover", "state": {"terminated": {"exitCode": 2}}}]}});
        assert_eq!(failed_reason(&pod, ""), "the mover exited with code 2");
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(human(Duration::from_secs(30)), "30s");
        assert_eq!(human(Duration::from_secs(1800)), "30m");
        assert_eq!(human(Duration::from_secs(5400)), "1h30m");
        assert_eq!(human(Duration::from_millis(1950)), "2s");
    }
}
