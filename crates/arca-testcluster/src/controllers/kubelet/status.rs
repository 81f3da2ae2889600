//! Pod status as the kubelet reports it, from the state of each container.

use serde_json::{Value, json};

use crate::meta;

/// The state of one container.
#[derive(Debug, Clone, PartialEq)]
pub enum State {
    Waiting(&'static str),
    /// Waiting for a reason that does not resolve by itself (an image that
    /// cannot be pulled, a volume that cannot be used): it never starts.
    Blocked {
        reason: &'static str,
        message: String,
        since: std::time::Instant,
    },
    Running {
        started: String,
    },
    Terminated {
        code: i32,
        reason: String,
        message: String,
        started: String,
        finished: String,
    },
}

impl State {
    pub fn is_running(&self) -> bool {
        matches!(self, State::Running { .. })
    }

    /// Not started yet (waiting, or blocked).
    pub fn is_waiting(&self) -> bool {
        matches!(self, State::Waiting(_) | State::Blocked { .. })
    }

    pub fn exit_code(&self) -> Option<i32> {
        match self {
            State::Terminated { code, .. } => Some(*code),
            _ => None,
        }
    }

    fn to_json(&self, container_id: &str) -> Value {
        match self {
            State::Waiting(reason) => json!({"waiting": {"reason": reason}}),
            State::Blocked { reason, message, .. } => json!({"waiting": {"reason": reason, "message": message}}),
            State::Running { started } => json!({"running": {"startedAt": started}}),
            State::Terminated { code, reason, message, started, finished } => {
                let mut t = json!({"exitCode": code, "reason": reason, "startedAt": started, "finishedAt": finished, "containerID": container_id});
                if !message.is_empty() {
                    t["message"] = json!(message);
                }
                json!({"terminated": t})
            }
        }
    }
}

/// What the status needs to know of a container.
pub struct View<'a> {
    pub spec: &'a Value,
    pub init: bool,
    pub sidecar: bool,
    pub state: &'a State,
}

impl View<'_> {
    fn name(&self) -> &str {
        meta::str_at(self.spec, "/name").unwrap_or_default()
    }

    /// Init containers are ready once completed (sidecars while running), others while running.
    fn ready(&self) -> bool {
        match self.state {
            State::Running { .. } => true,
            State::Terminated { code: 0, .. } => self.init && !self.sidecar,
            _ => false,
        }
    }

    fn to_json(&self, pod_uid: &str) -> Value {
        let id = format!("arca://{pod_uid}/{}", self.name());
        json!({
            "name": self.name(),
            "image": self.spec.get("image").cloned().unwrap_or(Value::Null),
            "imageID": "",
            "containerID": id,
            "ready": self.ready(),
            "started": self.state.is_running(),
            "restartCount": 0,
            "state": self.state.to_json(&id),
        })
    }
}

/// The pod phase from its containers: `Pending` until the init containers
/// completed (`Failed` if one failed), then `Running` while a container runs,
/// `Succeeded` when all exited 0, else `Failed`. Sidecars don't count.
pub fn phase(views: &[View<'_>]) -> &'static str {
    let init_failed = views.iter().any(|v| v.init && !v.sidecar && v.state.exit_code().is_some_and(|c| c != 0));
    if init_failed {
        return "Failed";
    }
    let main: Vec<&View<'_>> = views.iter().filter(|v| !v.init).collect();
    if main.iter().all(|v| v.state.is_waiting()) {
        return "Pending";
    }
    if main.iter().any(|v| v.state.exit_code().is_none()) {
        return "Running";
    }
    if main.iter().all(|v| v.state.exit_code() == Some(0)) { "Succeeded" } else { "Failed" }
}

fn condition(kind: &str, ok: bool, now: &str, reason: &str, unready: &[&str]) -> Value {
    let mut c = json!({"type": kind, "status": if ok { "True" } else { "False" }, "lastProbeTime": null, "lastTransitionTime": now});
    if !ok && !reason.is_empty() {
        c["reason"] = json!(reason);
        c["message"] = json!(format!(
            "containers with {} status: [{}]",
            if kind == "Initialized" { "incomplete" } else { "unready" },
            unready.join(" ")
        ));
    }
    c
}

fn conditions(views: &[View<'_>], now: &str) -> Value {
    let incomplete: Vec<&str> =
        views.iter().filter(|v| v.init && !v.sidecar && v.state.exit_code() != Some(0)).map(View::name).collect();
    let unready: Vec<&str> = views.iter().filter(|v| !v.init && !v.ready()).map(View::name).collect();
    let initialized = incomplete.is_empty();
    json!([
        condition("PodScheduled", true, now, "", &[]),
        condition("Initialized", initialized, now, "ContainersNotInitialized", &incomplete),
        condition("ContainersReady", unready.is_empty(), now, "ContainersNotReady", &unready),
        condition("Ready", unready.is_empty(), now, "ContainersNotReady", &unready),
    ])
}

/// An address from the pod CIDR of node number `subnet` (`10.244.<subnet>.0/24`).
fn pod_ip(pod: &Value, subnet: usize) -> String {
    let uid = meta::uid(pod);
    let n = uid.bytes().fold(0u32, |a, b| a.wrapping_mul(31).wrapping_add(b as u32));
    format!("10.244.{subnet}.{}", n % 250 + 2)
}

/// The whole `status` of a pod started at `started` on node number `subnet`.
pub fn pod_status(pod: &Value, started: &str, views: &[View<'_>], subnet: usize) -> Value {
    let ip = pod_ip(pod, subnet);
    let uid = meta::uid(pod);
    let list = |init: bool| -> Vec<Value> { views.iter().filter(|v| v.init == init).map(|v| v.to_json(uid)).collect() };
    let mut status = json!({
        "phase": phase(views),
        "conditions": conditions(views, &meta::now()),
        "hostIP": "127.0.0.1",
        "hostIPs": [{"ip": "127.0.0.1"}],
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "startTime": started,
        "qosClass": "BestEffort",
        "containerStatuses": list(false),
    });
    let init = list(true);
    if !init.is_empty() {
        status["initContainerStatuses"] = json!(init);
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(code: i32) -> State {
        State::Terminated {
            code,
            reason: String::new(),
            message: String::new(),
            started: String::new(),
            finished: String::new(),
        }
    }

    #[test]
    fn phase_from_containers() {
        let spec = json!({"name": "c"});
        let running = State::Running { started: String::new() };
        let waiting = State::Waiting("PodInitializing");
        let (ok, failed, killed, two) = (done(0), done(1), done(137), done(2));
        let v = |init, sidecar, state| View { spec: &spec, init, sidecar, state };
        assert_eq!(phase(&[v(true, false, &running), v(false, false, &waiting)]), "Pending");
        assert_eq!(phase(&[v(true, false, &failed), v(false, false, &waiting)]), "Failed");
        assert_eq!(phase(&[v(true, true, &running), v(false, false, &ok), v(false, false, &running)]), "Running");
        assert_eq!(phase(&[v(true, true, &killed), v(false, false, &ok), v(false, false, &ok)]), "Succeeded");
        assert_eq!(phase(&[v(false, false, &ok), v(false, false, &two)]), "Failed");
    }
}
