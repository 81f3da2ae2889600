//! How a container sees the local machine (the mount mapping).
//!
//! Each pod gets a directory `pods/<uid>` under the data dir with `volumes/`
//! (shared by its containers) and, per container, `containers/<name>/rootfs`
//! (its working directory) and `containers/<name>/log` (stdout and stderr).
//! Every volume mount is resolved to a host directory (a PVC to its PV directory,
//! `emptyDir` to `volumes/<name>`, ConfigMaps/Secrets to files written there,
//! `hostPath` to itself); the process sees it as `ARCA_MOUNT_<VOLUME_NAME>`
//! (upper-cased, `-` and `.` as `_`), and every occurrence of the mount path in
//! the command, args, env values and workingDir is rewritten to the host path.
//! A `hostPath` under `/var/lib/kubelet` is the node's kubelet directory
//! (`DATA_DIR/nodes/<node>/kubelet`). A `volumeDevices` entry maps its
//! `devicePath` to the block volume's file (`ARCA_DEVICE_<NAME>`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::Value;

use crate::cluster::Cluster;
use crate::controllers::volumes::{claim_volume, pv_path};
use crate::meta;
use crate::state::State;

pub fn pod_dir(data_dir: &Path, uid: &str) -> PathBuf {
    data_dir.join("pods").join(uid)
}

fn container_dir(data_dir: &Path, uid: &str, container: &str) -> PathBuf {
    pod_dir(data_dir, uid).join("containers").join(container)
}

/// The log (stdout and stderr) of one container of a pod.
pub fn log_path(data_dir: &Path, uid: &str, container: &str) -> PathBuf {
    container_dir(data_dir, uid, container).join("log")
}

/// The kubelet's directory on a node, as pods name it.
const KUBELET_DIR: &str = "/var/lib/kubelet";

/// Why a container's view cannot be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EnvError {
    /// A volume is not ready yet (an unbound claim): the pod waits.
    #[error("{0}")]
    NotReady(String),
    /// A volume cannot be set up now (a `hostPath` type check): the pod
    /// waits, and the kubelet reports it.
    #[error("{message}")]
    Mount { volume: String, message: String },
    /// The pod cannot start as specified (the kubelet's volume errors).
    #[error("{message}")]
    Invalid { volume: String, message: String },
}

/// The kubelet's `hostPath` type check, on the resolved `host` path;
/// `DirectoryOrCreate` and `FileOrCreate` create what is missing.
fn check_host_path(volume: &str, path: &str, host: &Path, kind: Option<&str>) -> Result<(), EnvError> {
    let fail = |what: &str| {
        Err(EnvError::Mount {
            volume: volume.to_string(),
            message: format!(
                "MountVolume.SetUp failed for volume \"{volume}\" : hostPath type check failed: {path} is not a {what}"
            ),
        })
    };
    let io = |r: std::io::Result<()>| r.map_err(|e| EnvError::NotReady(format!("hostPath {path}: {e}")));
    match kind.unwrap_or_default() {
        "Directory" if !host.is_dir() => fail("directory"),
        "File" if !host.is_file() => fail("file"),
        "DirectoryOrCreate" if !host.exists() => io(std::fs::create_dir_all(host)),
        "FileOrCreate" if !host.exists() => io(std::fs::write(host, b"")),
        _ => Ok(()),
    }
}

/// A path of a pod's `hostPath` on the host: the node's kubelet directory
/// stands for `/var/lib/kubelet`, anything else is itself.
fn host_path(cluster: &Cluster, node: &str, path: &str) -> PathBuf {
    match Path::new(path).strip_prefix(KUBELET_DIR) {
        Ok(rest) if !node.is_empty() => cluster.kubelet_dir(node).join(rest),
        _ => PathBuf::from(path),
    }
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

/// Resolves volumes and env of `container` (an item of `spec.containers` or
/// `spec.initContainers`); `Err` while a volume is not ready (an unbound claim).
pub fn pod_env(state: &State, cluster: &Cluster, pod: &Value, container: &Value) -> Result<PodEnv, EnvError> {
    let mut env = pod_env_in(state, cluster, pod, container)?;
    // The "image": programs the test put on the node come first on PATH.
    if !cluster.container_path.is_empty() && !env.env.iter().any(|(k, _)| k == "PATH") {
        let mut dirs = cluster.container_path.clone();
        dirs.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
        if let Ok(path) = std::env::join_paths(dirs) {
            env.env.push(("PATH".into(), path.to_string_lossy().into_owned()));
        }
    }
    Ok(env)
}

/// A volume of a pod resolved to the host: a directory, or a block volume's file.
struct Resolved {
    path: PathBuf,
    block: bool,
}

fn device_env_name(volume: &str) -> String {
    env_name(volume).replacen("ARCA_MOUNT_", "ARCA_DEVICE_", 1)
}

/// The kubelet's check of claims against how containers use them.
fn mode_error(volume: &str, block: bool, as_device: bool) -> Option<EnvError> {
    let (mode, field) = match (block, as_device) {
        (true, false) => ("Block", "volumeMounts"),
        (false, true) => ("Filesystem", "volumeDevices"),
        _ => return None,
    };
    Some(EnvError::Invalid {
        volume: volume.to_string(),
        message: format!("volume {volume} has volumeMode {mode}, but is specified in {field}"),
    })
}

fn pod_env_in(state: &State, cluster: &Cluster, pod: &Value, container: &Value) -> Result<PodEnv, EnvError> {
    let data_dir = cluster.data_dir.as_path();
    let node = meta::str_at(pod, "/spec/nodeName").unwrap_or_default();
    let ns = meta::namespace(pod);
    let root = pod_dir(data_dir, meta::uid(pod));
    let name = meta::str_at(container, "/name").unwrap_or_default();
    let rootfs = container_dir(data_dir, meta::uid(pod), name).join("rootfs");
    std::fs::create_dir_all(&rootfs).map_err(|e| EnvError::NotReady(e.to_string()))?;
    let volumes = pod.pointer("/spec/volumes").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut env = PodEnv { working_dir: rootfs.clone(), ..Default::default() };
    let mut by_name: HashMap<String, Resolved> = HashMap::new();
    for v in &volumes {
        let name = meta::str_at(v, "/name").unwrap_or_default().to_string();
        let local = root.join("volumes").join(&name);
        let io = |r: std::io::Result<()>| r.map_err(|e| EnvError::NotReady(e.to_string()));
        if let Some(claim) = meta::str_at(v, "/persistentVolumeClaim/claimName") {
            let not_bound = || EnvError::NotReady(format!("claim {claim} is not bound"));
            let pv = claim_volume(state, ns, claim).ok_or_else(not_bound)?;
            let path = pv_path(&pv).ok_or_else(not_bound)?;
            let block = meta::str_at(&pv, "/spec/volumeMode") == Some("Block");
            by_name.insert(name, Resolved { path, block });
            continue;
        }
        let path = if let Some(p) = meta::str_at(v, "/hostPath/path") {
            let host = host_path(cluster, node, p);
            check_host_path(&name, p, &host, meta::str_at(v, "/hostPath/type"))?;
            host
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
        by_name.insert(name, Resolved { path, block: false });
    }
    let list = |key: &str| container.get(key).and_then(Value::as_array).cloned().unwrap_or_default();
    for d in &list("volumeDevices") {
        let name = meta::str_at(d, "/name").unwrap_or_default();
        let device_path = meta::str_at(d, "/devicePath").unwrap_or_default();
        let Some(volume) = by_name.get(name) else {
            continue;
        };
        if let Some(e) = mode_error(name, volume.block, true) {
            return Err(e);
        }
        env.env.push((device_env_name(name), volume.path.to_string_lossy().to_string()));
        env.mounts.push((device_path.to_string(), volume.path.clone()));
    }
    for m in &list("volumeMounts") {
        let name = meta::str_at(m, "/name").unwrap_or_default();
        let mount_path = meta::str_at(m, "/mountPath").unwrap_or_default();
        let Some(volume) = by_name.get(name) else {
            continue;
        };
        if let Some(e) = mode_error(name, volume.block, false) {
            return Err(e);
        }
        let base = &volume.path;
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
    if let Some(wd) = meta::str_at(container, "/workingDir") {
        let rewritten = PathBuf::from(env.rewrite(wd));
        if rewritten.is_dir() {
            env.working_dir = rewritten;
        }
    }
    Ok(env)
}

/// The command line of a container (`command` + `args`); empty means "pause".
pub fn container_argv(container: &Value) -> Vec<String> {
    let list = |k: &str| -> Vec<String> {
        container
            .get(k)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
            .unwrap_or_default()
    };
    let mut argv = list("command");
    argv.extend(list("args"));
    argv
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
        assert_eq!(device_env_name("raw-disk"), "ARCA_DEVICE_RAW_DISK");
    }

    #[test]
    fn host_paths_are_type_checked() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let missing = tmp.path().join("missing");
        let e = check_host_path("repo", "/srv/repo", &missing, Some("Directory")).map_err(|e| e.to_string());
        assert_eq!(
            e,
            Err("MountVolume.SetUp failed for volume \"repo\" : hostPath type check failed: /srv/repo is not a directory".into())
        );
        assert_eq!(check_host_path("repo", "/srv/repo", &missing, None), Ok(()));
        assert_eq!(check_host_path("repo", "/srv/repo", &missing, Some("DirectoryOrCreate")), Ok(()));
        assert!(missing.is_dir());
        assert!(check_host_path("repo", "/srv/repo", &missing, Some("File")).is_err());
    }

    #[test]
    fn claims_are_used_by_their_volume_mode() {
        assert_eq!(mode_error("d", true, true), None);
        assert_eq!(mode_error("d", false, false), None);
        let e = mode_error("d", true, false).map(|e| e.to_string());
        assert_eq!(e.as_deref(), Some("volume d has volumeMode Block, but is specified in volumeMounts"));
        let e = mode_error("d", false, true).map(|e| e.to_string());
        assert_eq!(e.as_deref(), Some("volume d has volumeMode Filesystem, but is specified in volumeDevices"));
    }
}
