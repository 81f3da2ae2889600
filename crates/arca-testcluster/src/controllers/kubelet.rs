//! The simulated kubelet: schedules pods to the single node and runs the first
//! container's command as a local process.
//!
//! Mount mapping: each pod gets a directory `pods/<uid>` under the data dir with
//! `rootfs/` (the working directory), `log` (stdout and stderr) and `volumes/`.
//! Every volume mount is resolved to a host directory (a PVC to its PV directory,
//! `emptyDir` to `volumes/<name>`, ConfigMaps/Secrets to files written there,
//! `hostPath` to itself); the process sees it as `ARCA_MOUNT_<VOLUME_NAME>`
//! (upper-cased, `-` and `.` as `_`), and every occurrence of the mount path in
//! the command, args, env values and workingDir is rewritten to the host path.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use base64::Engine;
use serde_json::{Value, json};

use super::volumes::claim_path;
use super::{log_err, objects, opts};
use crate::cluster::{Cluster, NODE_NAME};
use crate::meta;
use crate::state::State;

const MANAGER: &str = "kubelet";

pub fn pod_dir(data_dir: &Path, uid: &str) -> PathBuf {
    data_dir.join("pods").join(uid)
}

pub fn log_path(data_dir: &Path, uid: &str) -> PathBuf {
    pod_dir(data_dir, uid).join("log")
}

/// How a pod's container sees the local machine.
#[derive(Debug, Clone, Default)]
pub struct PodEnv {
    /// `(mountPath, host path)`, longest mount path first.
    pub mounts: Vec<(String, PathBuf)>,
    pub env: Vec<(String, String)>,
    pub working_dir: PathBuf,
}

impl PodEnv {
    /// Rewrites container paths in `s` to host paths.
    pub fn rewrite(&self, s: &str) -> String {
        let mut out = s.to_string();
        for (mount, host) in &self.mounts {
            out = replace_path(&out, mount.trim_end_matches('/'), &host.to_string_lossy());
        }
        out
    }

    /// The argv of a container command with paths rewritten.
    pub fn argv(&self, args: &[String]) -> Vec<String> {
        args.iter().map(|a| self.rewrite(a)).collect()
    }
}

fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/')
}

/// Replaces `from` where it stands as a whole path prefix.
fn replace_path(s: &str, from: &str, to: &str) -> String {
    if from.is_empty() {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(from) {
        let before = rest[..i].chars().next_back();
        let after = rest[i + from.len()..].chars().next();
        let starts = before.is_none_or(|c| !is_path_char(c));
        let ends = after.is_none_or(|c| c == '/' || !is_path_char(c));
        out.push_str(&rest[..i]);
        out.push_str(if starts && ends { to } else { from });
        rest = &rest[i + from.len()..];
    }
    out.push_str(rest);
    out
}

fn env_name(volume: &str) -> String {
    let upper: String =
        volume.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
    format!("ARCA_MOUNT_{upper}")
}

fn write_items(dir: &Path, data: Option<&Value>, decode: bool) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let Some(map) = data.and_then(Value::as_object) else {
        return Ok(());
    };
    for (k, v) in map {
        let raw = v.as_str().unwrap_or_default();
        let bytes = if decode {
            base64::engine::general_purpose::STANDARD.decode(raw).unwrap_or_default()
        } else {
            raw.as_bytes().to_vec()
        };
        std::fs::write(dir.join(k), bytes)?;
    }
    Ok(())
}

fn lookup(state: &State, plural: &str, ns: &str, name: &str) -> Option<Value> {
    let rt = state.resource("", "v1", plural)?;
    state.get(&rt, ns, name).ok()
}

/// Resolves volumes and env of container `index` of `pod`; `Err` while a volume is
/// not ready (an unbound claim).
pub fn pod_env(state: &State, data_dir: &Path, pod: &Value, index: usize) -> Result<PodEnv, String> {
    let ns = meta::namespace(pod);
    let root = pod_dir(data_dir, meta::uid(pod));
    let rootfs = root.join("rootfs");
    std::fs::create_dir_all(&rootfs).map_err(|e| e.to_string())?;
    let volumes = pod.pointer("/spec/volumes").and_then(Value::as_array).cloned().unwrap_or_default();
    let container = pod.pointer(&format!("/spec/containers/{index}")).cloned().unwrap_or(json!({}));
    let mut env = PodEnv { working_dir: rootfs.clone(), ..Default::default() };
    let mut by_name: HashMap<String, PathBuf> = HashMap::new();
    for v in &volumes {
        let name = meta::str_at(v, "/name").unwrap_or_default().to_string();
        let local = root.join("volumes").join(&name);
        let io = |r: std::io::Result<()>| r.map_err(|e| e.to_string());
        let path = if let Some(claim) = meta::str_at(v, "/persistentVolumeClaim/claimName") {
            claim_path(state, ns, claim).ok_or_else(|| format!("claim {claim} is not bound"))?
        } else if let Some(p) = meta::str_at(v, "/hostPath/path") {
            PathBuf::from(p)
        } else if let Some(cm) = meta::str_at(v, "/configMap/name") {
            let obj = lookup(state, "configmaps", ns, cm);
            io(write_items(&local, obj.as_ref().and_then(|o| o.get("data")), false))?;
            local
        } else if let Some(secret) = meta::str_at(v, "/secret/secretName") {
            let obj = lookup(state, "secrets", ns, secret);
            io(write_items(&local, obj.as_ref().and_then(|o| o.get("data")), true))?;
            local
        } else {
            io(std::fs::create_dir_all(&local))?;
            local
        };
        by_name.insert(name, path);
    }
    let mounts = container.get("volumeMounts").and_then(Value::as_array).cloned().unwrap_or_default();
    for m in &mounts {
        let name = meta::str_at(m, "/name").unwrap_or_default();
        let mount_path = meta::str_at(m, "/mountPath").unwrap_or_default();
        let Some(base) = by_name.get(name) else {
            continue;
        };
        let host = match meta::str_at(m, "/subPath").filter(|s| !s.is_empty()) {
            Some(sub) => base.join(sub),
            None => base.clone(),
        };
        env.env.push((env_name(name), host.to_string_lossy().to_string()));
        env.mounts.push((mount_path.to_string(), host));
    }
    env.mounts.sort_by_key(|m| std::cmp::Reverse(m.0.len()));
    env.env.push(("ARCA_POD_ROOT".into(), root.to_string_lossy().to_string()));
    env.env.push(("HOSTNAME".into(), meta::name(pod).to_string()));
    for e in container.get("env").and_then(Value::as_array).cloned().unwrap_or_default() {
        let name = meta::str_at(&e, "/name").unwrap_or_default().to_string();
        let value = if let Some(v) = e.get("value").and_then(Value::as_str) {
            Some(v.to_string())
        } else if let Some(field) = meta::str_at(&e, "/valueFrom/fieldRef/fieldPath") {
            meta::str_at(pod, &format!("/{}", field.replace('.', "/"))).map(String::from)
        } else if let Some(r) = e.pointer("/valueFrom/secretKeyRef") {
            let obj = lookup(state, "secrets", ns, meta::str_at(r, "/name").unwrap_or_default());
            obj.and_then(|o| o.pointer(&format!("/data/{}", meta::str_at(r, "/key").unwrap_or_default())).cloned())
                .and_then(|v| v.as_str().map(String::from))
                .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                .map(|b| String::from_utf8_lossy(&b).to_string())
        } else if let Some(r) = e.pointer("/valueFrom/configMapKeyRef") {
            let obj = lookup(state, "configmaps", ns, meta::str_at(r, "/name").unwrap_or_default());
            obj.and_then(|o| o.pointer(&format!("/data/{}", meta::str_at(r, "/key").unwrap_or_default())).cloned())
                .and_then(|v| v.as_str().map(String::from))
        } else {
            None
        };
        if let Some(v) = value {
            let rewritten = env.rewrite(&v);
            env.env.push((name, rewritten));
        }
    }
    if let Some(wd) = meta::str_at(&container, "/workingDir") {
        let rewritten = PathBuf::from(env.rewrite(wd));
        if rewritten.is_dir() {
            env.working_dir = rewritten;
        }
    }
    Ok(env)
}

/// The command line of a container (`command` + `args`); empty means "pause".
pub fn container_argv(pod: &Value, index: usize) -> Vec<String> {
    let list = |k: &str| -> Vec<String> {
        pod.pointer(&format!("/spec/containers/{index}/{k}"))
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
            .unwrap_or_default()
    };
    let mut argv = list("command");
    argv.extend(list("args"));
    argv
}

struct Proc {
    child: Option<Child>,
    ns: String,
    name: String,
    started: String,
}

/// Running pod processes by pod uid.
#[derive(Default)]
pub struct Kubelet {
    procs: HashMap<String, Proc>,
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
        self.procs.values().any(|p| p.child.is_some())
    }

    pub fn shutdown(&mut self) {
        for p in self.procs.values_mut() {
            if let Some(c) = p.child.as_mut() {
                kill(c);
            }
        }
        self.procs.clear();
    }

    pub fn reconcile(&mut self, cluster: &Cluster) {
        let pods = objects(&cluster.lock(), "", "pods");
        let live: HashMap<&str, &Value> = pods.iter().map(|p| (meta::uid(p), p)).collect();
        self.procs.retain(|uid, p| {
            let keep = live.get(uid.as_str()).is_some_and(|pod| !meta::is_deleting(pod));
            if !keep {
                if let Some(c) = p.child.as_mut() {
                    kill(c);
                }
            }
            keep
        });
        for pod in &pods {
            let uid = meta::uid(pod).to_string();
            let pending = meta::str_at(pod, "/status/phase") == Some("Pending");
            if pending && !meta::is_deleting(pod) && !self.procs.contains_key(&uid) {
                self.start(cluster, pod);
            }
        }
        self.reap(cluster);
    }

    fn start(&mut self, cluster: &Cluster, pod: &Value) {
        let node = meta::str_at(pod, "/spec/nodeName").unwrap_or_default();
        if !node.is_empty() && node != NODE_NAME {
            return;
        }
        let mut state = cluster.lock();
        let env = match pod_env(&state, &cluster.data_dir, pod, 0) {
            Ok(env) => env,
            Err(why) => {
                tracing::debug!("pod {} waits: {why}", meta::name(pod));
                return;
            }
        };
        let (ns, name, uid) =
            (meta::namespace(pod).to_string(), meta::name(pod).to_string(), meta::uid(pod).to_string());
        let Some(rt) = state.resource("", "v1", "pods") else {
            return;
        };
        let mut bound = pod.clone();
        meta::object_mut(&mut bound, "spec").insert("nodeName".into(), json!(NODE_NAME));
        if log_err("bind pod", state.update(&rt, &ns, &name, bound, "", &opts("default-scheduler"))).is_none() {
            return;
        }
        let argv = env.argv(&container_argv(pod, 0));
        let started = meta::now();
        let spawned =
            if argv.is_empty() { Ok(None) } else { spawn(&env, &argv, &log_path(&cluster.data_dir, &uid)).map(Some) };
        let status = match &spawned {
            Ok(child) => running_status(pod, &started, child.as_ref().map(Child::id)),
            Err(e) => terminated_status(pod, &started, 128, "StartError", &e.to_string()),
        };
        log_err("pod status", state.update(&rt, &ns, &name, json!({"status": status}), "status", &opts(MANAGER)));
        self.procs.insert(uid, Proc { child: spawned.ok().flatten(), ns, name, started });
    }

    /// Reports the exit of finished processes.
    pub fn reap(&mut self, cluster: &Cluster) {
        for p in self.procs.values_mut() {
            let Some(child) = p.child.as_mut() else {
                continue;
            };
            let code = match child.try_wait() {
                Ok(Some(status)) => status.code().unwrap_or(137),
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!("waiting for pod {}: {e}", p.name);
                    137
                }
            };
            p.child = None;
            let mut state = cluster.lock();
            let Some(rt) = state.resource("", "v1", "pods") else {
                continue;
            };
            let Ok(pod) = state.get(&rt, &p.ns, &p.name) else {
                continue;
            };
            let reason = if code == 0 { "Completed" } else { "Error" };
            let status = terminated_status(&pod, &p.started, code, reason, "");
            log_err("pod exit", state.update(&rt, &p.ns, &p.name, json!({"status": status}), "status", &opts(MANAGER)));
        }
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

fn container_statuses(pod: &Value, state: impl Fn(usize) -> (Value, bool)) -> Value {
    let containers = pod.pointer("/spec/containers").and_then(Value::as_array).cloned().unwrap_or_default();
    let list: Vec<Value> = containers
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let (st, ready) = state(i);
            json!({
                "name": c.get("name").cloned().unwrap_or(Value::Null),
                "image": c.get("image").cloned().unwrap_or(Value::Null),
                "imageID": "",
                "containerID": format!("arca://{}-{i}", meta::uid(pod)),
                "ready": ready,
                "started": ready,
                "restartCount": 0,
                "state": st,
            })
        })
        .collect();
    Value::Array(list)
}

fn conditions(ready: bool, now: &str) -> Value {
    let s = if ready { "True" } else { "False" };
    json!([
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
        {"type": "Initialized", "status": "True", "lastTransitionTime": now},
        {"type": "ContainersReady", "status": s, "lastTransitionTime": now},
        {"type": "Ready", "status": s, "lastTransitionTime": now},
    ])
}

fn pod_ip(pod: &Value) -> String {
    let uid = meta::uid(pod);
    let n = uid.bytes().fold(0u32, |a, b| a.wrapping_mul(31).wrapping_add(b as u32));
    format!("10.244.0.{}", n % 250 + 2)
}

fn running_status(pod: &Value, started: &str, pid: Option<u32>) -> Value {
    let ip = pod_ip(pod);
    let _ = pid;
    json!({
        "phase": "Running",
        "conditions": conditions(true, started),
        "hostIP": "127.0.0.1",
        "hostIPs": [{"ip": "127.0.0.1"}],
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "startTime": started,
        "qosClass": "BestEffort",
        "containerStatuses": container_statuses(pod, |_| (json!({"running": {"startedAt": started}}), true)),
    })
}

fn terminated_status(pod: &Value, started: &str, code: i32, reason: &str, message: &str) -> Value {
    let now = meta::now();
    let phase = if code == 0 { "Succeeded" } else { "Failed" };
    let mut term = json!({"exitCode": code, "reason": reason, "startedAt": started, "finishedAt": now, "containerID": format!("arca://{}-0", meta::uid(pod))});
    if !message.is_empty() {
        term["message"] = json!(message);
    }
    let ip = pod_ip(pod);
    json!({
        "phase": phase,
        "conditions": conditions(false, &now),
        "hostIP": "127.0.0.1",
        "hostIPs": [{"ip": "127.0.0.1"}],
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "startTime": started,
        "qosClass": "BestEffort",
        "containerStatuses": container_statuses(pod, |i| {
            if i == 0 {
                (json!({"terminated": term}), false)
            } else {
                (json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": started, "finishedAt": now}}), false)
            }
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_whole_paths_only() {
        let env = PodEnv { mounts: vec![("/data".into(), PathBuf::from("/tmp/v1"))], ..Default::default() };
        assert_eq!(env.rewrite("echo hi > /data/f"), "echo hi > /tmp/v1/f");
        assert_eq!(env.rewrite("/data"), "/tmp/v1");
        assert_eq!(env.rewrite("--dir=/data/x"), "--dir=/tmp/v1/x");
        assert_eq!(env.rewrite("/database /x/data"), "/database /x/data");
        assert_eq!(env_name("my-vol.1"), "ARCA_MOUNT_MY_VOL_1");
    }
}
