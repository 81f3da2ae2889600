//! The simulated kubelets of the cluster's nodes: run every container of a
//! pod bound to one of them as a local process, each with its own mount
//! mapping (see `env`), once the pod's claims are bound. Init containers run first, one after the other; native
//! sidecars (init containers with `restartPolicy: Always`) start in order and
//! keep running beside the main containers until the pod ends.

pub mod env;
mod pods_dir;
mod status;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::events::{self, Event};
use super::{log_err, objects, opts};
use crate::cluster::Cluster;
use crate::meta;
pub use env::{EnvError, PodEnv, log_path, pod_env};
use status::{State, View};

const MANAGER: &str = "kubelet";
/// How long a failed image pull shows `ErrImagePull` before `ImagePullBackOff`.
const PULL_BACKOFF: Duration = Duration::from_secs(1);

/// One container of a running pod.
struct Container {
    spec: Value,
    init: bool,
    sidecar: bool,
    child: Option<Child>,
    state: State,
}

impl Container {
    fn name(&self) -> &str {
        meta::str_at(&self.spec, "/name").unwrap_or_default()
    }

    fn view(&self) -> View<'_> {
        View { spec: &self.spec, init: self.init, sidecar: self.sidecar, state: &self.state }
    }

    /// Notices the exit of its process; `true` when it exited.
    fn poll(&mut self) -> bool {
        let Some(child) = self.child.as_mut() else {
            return false;
        };
        let code = match child.try_wait() {
            Ok(Some(status)) => status.code().unwrap_or(137),
            Ok(None) => return false,
            Err(e) => {
                tracing::warn!("waiting for container {}: {e}", self.name());
                137
            }
        };
        self.child = None;
        self.terminate(code, if code == 0 { "Completed" } else { "Error" }, "");
        true
    }

    fn terminate(&mut self, code: i32, reason: &str, message: &str) {
        let started = match &self.state {
            State::Running { started } => started.clone(),
            _ => meta::now(),
        };
        self.state = State::Terminated {
            code,
            reason: reason.to_string(),
            message: message.to_string(),
            started,
            finished: meta::now(),
        };
    }

    /// Kills the process (the pod ended or was deleted); a pause container completes.
    fn stop(&mut self) {
        match self.child.take() {
            Some(mut child) => {
                kill(&mut child);
                self.terminate(137, "Error", "");
            }
            None if self.state.is_running() => self.terminate(0, "Completed", ""),
            None => {}
        }
    }
}

/// A pod admitted to its node.
struct PodRun {
    ns: String,
    name: String,
    node: String,
    /// The node's number (its pod CIDR).
    subnet: usize,
    /// A volume cannot be used as the spec says: nothing starts.
    blocked: bool,
    started: String,
    containers: Vec<Container>,
    /// The container states last written to the pod status.
    written: Option<Vec<State>>,
}

impl PodRun {
    fn new(pod: &Value, node: &str, subnet: usize) -> Self {
        let list =
            |key: &str| pod.pointer(&format!("/spec/{key}")).and_then(Value::as_array).cloned().unwrap_or_default();
        let mut containers = Vec::new();
        for spec in list("initContainers") {
            let sidecar = meta::str_at(&spec, "/restartPolicy") == Some("Always");
            containers.push(Container {
                spec,
                init: true,
                sidecar,
                child: None,
                state: State::Waiting("PodInitializing"),
            });
        }
        for spec in list("containers") {
            let waiting = if containers.is_empty() { "ContainerCreating" } else { "PodInitializing" };
            containers.push(Container {
                spec,
                init: false,
                sidecar: false,
                child: None,
                state: State::Waiting(waiting),
            });
        }
        PodRun {
            ns: meta::namespace(pod).to_string(),
            name: meta::name(pod).to_string(),
            node: node.to_string(),
            subnet,
            blocked: false,
            started: meta::now(),
            containers,
            written: None,
        }
    }

    fn views(&self) -> Vec<View<'_>> {
        self.containers.iter().map(Container::view).collect()
    }

    fn stop_all(&mut self) {
        self.containers.iter_mut().for_each(Container::stop);
    }

    /// Turns failed pulls shown long enough into `ImagePullBackOff`; `true` if any changed.
    fn back_off_pulls(&mut self) -> bool {
        let mut changed = false;
        for c in &mut self.containers {
            if let State::Blocked { reason: "ErrImagePull", since, .. } = &c.state {
                if since.elapsed() >= PULL_BACKOFF {
                    let image = meta::str_at(&c.spec, "/image").unwrap_or_default();
                    let message = format!("Back-off pulling image \"{image}\"");
                    c.state = State::Blocked { reason: "ImagePullBackOff", message, since: Instant::now() };
                    changed = true;
                }
            }
        }
        changed
    }

    /// Which containers may start now: init containers one at a time (a
    /// sidecar lets the next start once it runs), the main ones after all.
    fn startable(&self) -> Vec<usize> {
        let mut out = Vec::new();
        if self.blocked {
            return out;
        }
        for (i, c) in self.containers.iter().enumerate().filter(|(_, c)| c.init) {
            let waiting = matches!(c.state, State::Waiting(_));
            if waiting {
                out.push(i);
            }
            let blocks = !c.sidecar && (waiting || c.state.exit_code() != Some(0));
            if blocks {
                return out;
            }
        }
        out.extend(
            self.containers
                .iter()
                .enumerate()
                .filter(|(_, c)| !c.init && matches!(c.state, State::Waiting(_)))
                .map(|(i, _)| i),
        );
        out
    }
}

/// How often a pod's volume setup failure is reported again (a real kubelet
/// retries with a growing back-off).
const MOUNT_EVENT_PERIOD: Duration = Duration::from_secs(10);

/// Running pods by uid.
#[derive(Default)]
pub struct Kubelet {
    pods: HashMap<String, PodRun>,
    /// Pods (by uid) waiting for a volume setup: what was last reported, and when.
    mount_noted: HashMap<String, (String, Instant)>,
}

fn kill(child: &mut Child) {
    // Kill the whole process group (the command runs in its own group).
    let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", child.id())]).stderr(Stdio::null()).status();
    let _ = child.kill();
    let _ = child.wait();
}

impl Kubelet {
    /// Whether processes are running (their exits must be noticed).
    pub fn busy(&self) -> bool {
        self.pods.values().any(|p| p.containers.iter().any(|c| c.child.is_some()))
    }

    pub fn shutdown(&mut self) {
        self.pods.values_mut().for_each(PodRun::stop_all);
        self.pods.clear();
    }

    pub fn reconcile(&mut self, cluster: &Cluster) {
        let pods = objects(&cluster.lock(), "", "pods");
        let live: HashMap<&str, &Value> = pods.iter().map(|p| (meta::uid(p), p)).collect();
        self.pods.retain(|uid, run| {
            let keep = live.get(uid.as_str()).is_some_and(|pod| !meta::is_deleting(pod));
            if !keep {
                run.stop_all();
                pods_dir::unpublish(cluster, &run.node, uid);
            }
            keep
        });
        self.mount_noted.retain(|uid, _| live.contains_key(uid.as_str()));
        for pod in &pods {
            let uid = meta::uid(pod).to_string();
            let pending = meta::str_at(pod, "/status/phase") == Some("Pending");
            if pending && !meta::is_deleting(pod) && !self.pods.contains_key(&uid) {
                self.admit(cluster, pod);
            }
        }
        self.reap(cluster);
    }

    /// Admits a pod bound to one of the nodes once its volumes are ready (a
    /// pod bound to a node without a kubelet stays `Pending`, as upstream).
    fn admit(&mut self, cluster: &Cluster, pod: &Value) {
        let node = meta::str_at(pod, "/spec/nodeName").unwrap_or_default();
        let Some(subnet) = cluster.nodes.iter().position(|n| n == node) else {
            return;
        };
        let mut state = cluster.lock();
        let mut run = PodRun::new(pod, node, subnet);
        let errors: Vec<EnvError> =
            run.containers.iter().filter_map(|c| pod_env(&state, cluster, pod, &c.spec).err()).collect();
        if let Some(why) = errors.iter().find(|e| matches!(e, EnvError::NotReady(_))) {
            tracing::debug!("pod {} waits: {why}", meta::name(pod));
            return;
        }
        if let Some(EnvError::Mount { message, .. }) = errors.iter().find(|e| matches!(e, EnvError::Mount { .. })) {
            let uid = meta::uid(pod).to_string();
            let due =
                self.mount_noted.get(&uid).is_none_or(|(m, at)| m != message || at.elapsed() >= MOUNT_EVENT_PERIOD);
            if due {
                let e = Event { involved: pod, warning: true, reason: "FailedMount", message, component: MANAGER };
                events::record(&mut state, &e);
                self.mount_noted.insert(uid, (message.clone(), Instant::now()));
            }
            return;
        }
        self.mount_noted.remove(meta::uid(pod));
        if let Some(EnvError::Invalid { volume, message }) = errors.first() {
            run.blocked = true;
            let message = format!(
                "Unable to attach or mount volumes: unmounted volumes=[{volume}], unattached volumes=[], failed to process volumes=[{volume}]: {message}"
            );
            let e =
                Event { involved: pod, warning: true, reason: "FailedMount", message: &message, component: MANAGER };
            events::record(&mut state, &e);
        }
        pods_dir::publish(cluster, &state, pod, node);
        self.pods.insert(meta::uid(pod).to_string(), run);
    }

    /// Notices exits, starts what may start, ends finished pods, reports status.
    pub fn reap(&mut self, cluster: &Cluster) {
        for run in self.pods.values_mut() {
            // Poll every container (no short circuit): each must notice its own exit.
            let exited = run.containers.iter_mut().map(Container::poll).filter(|e| *e).count() > 0;
            let backed_off = run.back_off_pulls();
            if !exited && !backed_off && run.written.is_some() && run.startable().is_empty() {
                continue;
            }
            let mut state = cluster.lock();
            let Some(rt) = state.resource("", "v1", "pods") else {
                continue;
            };
            let Ok(pod) = state.get(&rt, &run.ns, &run.name) else {
                continue;
            };
            for i in run.startable() {
                if let Some(message) = unpullable(cluster, &run.containers[i].spec) {
                    pull_failed(&mut state, &pod, &mut run.containers[i], message);
                    continue;
                }
                let env = pod_env(&state, cluster, &pod, &run.containers[i].spec);
                start(&mut run.containers[i], env, &cluster.data_dir, meta::uid(&pod));
            }
            if matches!(status::phase(&run.views()), "Succeeded" | "Failed") {
                run.stop_all();
                pods_dir::unpublish(cluster, &run.node, meta::uid(&pod));
            }
            let states: Vec<State> = run.containers.iter().map(|c| c.state.clone()).collect();
            if run.written.as_ref() == Some(&states) {
                continue;
            }
            let status = status::pod_status(&pod, &run.started, &run.views(), run.subnet);
            let written = state.update(&rt, &run.ns, &run.name, json!({"status": status}), "status", &opts(MANAGER));
            if log_err("pod status", written).is_some() {
                run.written = Some(states);
            }
        }
    }
}

/// The runtime's error for a container whose image no registry has.
fn unpullable(cluster: &Cluster, spec: &Value) -> Option<String> {
    let image = meta::str_at(spec, "/image").unwrap_or_default();
    cluster.unpullable_images.iter().any(|prefix| image.starts_with(prefix.as_str())).then(|| {
        format!("rpc error: code = NotFound desc = failed to pull and unpack image \"{image}\": failed to resolve reference \"{image}\": {image}: not found")
    })
}

fn pull_failed(state: &mut crate::state::State, pod: &Value, c: &mut Container, message: String) {
    let image = meta::str_at(&c.spec, "/image").unwrap_or_default();
    let text = format!("Failed to pull image \"{image}\": {message}");
    let e = Event { involved: pod, warning: true, reason: "Failed", message: &text, component: MANAGER };
    events::record(state, &e);
    c.state = State::Blocked { reason: "ErrImagePull", message, since: Instant::now() };
}

/// Starts a container's process; one without a command runs as a pause container.
fn start(c: &mut Container, env: Result<PodEnv, EnvError>, data_dir: &Path, pod_uid: &str) {
    let env = match env {
        Ok(env) => env,
        Err(why) => return c.terminate(128, "StartError", &why.to_string()),
    };
    let argv = env.argv(&env::container_argv(&c.spec));
    c.state = State::Running { started: meta::now() };
    if argv.is_empty() {
        return;
    }
    match spawn(&env, &argv, &log_path(data_dir, pod_uid, c.name())) {
        Ok(child) => c.child = Some(child),
        Err(e) => c.terminate(128, "StartError", &e.to_string()),
    }
}

fn spawn(env: &PodEnv, argv: &[String], log: &Path) -> std::io::Result<Child> {
    use std::os::unix::process::CommandExt;
    let out = std::fs::OpenOptions::new().create(true).append(true).open(log)?;
    let err = out.try_clone()?;
    let (program, args) =
        argv.split_first().ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty command"))?;
    Command::new(program)
        .args(args)
        .current_dir(&env.working_dir)
        .envs(env.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .process_group(0)
        .spawn()
}
