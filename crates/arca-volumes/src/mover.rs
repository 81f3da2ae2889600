//! Mover pods: the spec of a short-lived pod that runs `arca mover backup`,
//! `arca mover restore` or `arca mover verify` against one volume, and the short-lived Secret
//! that carries the repository's credentials to it.
//!
//! The contract between Arca and the `arca` binary in the pod:
//! - repository: env `ARCA_REPO`, password env `ARCA_PASSWORD` (both from
//!   the Secret), object-store credentials (`AWS_*`, `GOOGLE_*`, `AZURE_*`)
//!   from the Secret as well;
//! - `arca -o json mover backup --source DIR | --block DEVICE --volume NS/CLAIM --backup NAME [--parent ID]`
//! - `arca -o json mover restore --snapshot ID --target DIR | --block DEVICE [--mirror]`
//! - `arca -o json mover verify --snapshot ID --target DIR | --block DEVICE`
//!   (the volume compared with the snapshot, re-hashed from disk);
//! - the last line of its stdout is one JSON object with `"mover": "backup"`,
//!   `"restore"` or `"verify"` ([`MoverResult`]); exit code 0 only on
//!   success. Exit code 3 is "finished, partly failed" (files skipped, a
//!   verify that found differences), with the result line still printed.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Where the volume is mounted in a mover pod (file system volumes).
pub const MOUNT_PATH: &str = "/arca/volume";
/// Where a block volume appears in a mover pod.
pub const DEVICE_PATH: &str = "/dev/arca-volume";
/// Where a local-directory repository is mounted in a mover pod.
pub const REPO_MOUNT_PATH: &str = "/arca/repository";
/// Name of the mover container.
pub const CONTAINER: &str = "mover";

/// What the mover reads or writes.
#[derive(Debug, Clone, PartialEq)]
pub enum VolumeSource {
    /// A claim in the pod's namespace.
    Claim { name: String, read_only: bool },
    /// A directory on the node (a running pod's volume under the kubelet's
    /// pods directory, or a `hostPath`/local volume).
    HostPath { path: String },
}

/// Where the mover pod may run.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Placement {
    #[default]
    Anywhere,
    /// Exactly this node (file-level reads of a running pod's volume).
    Node(String),
    /// A PV's `spec.nodeAffinity.required` (a `NodeSelector`): restore movers
    /// of local and WaitForFirstConsumer volumes go where the data may live.
    Affinity(Value),
}

/// Everything that makes one mover pod.
#[derive(Debug, Clone)]
pub struct MoverPod {
    pub name: String,
    pub namespace: String,
    pub image: String,
    /// Arguments after `arca` (e.g. `-o json mover backup …`).
    pub args: Vec<String>,
    pub source: VolumeSource,
    pub block: bool,
    pub placement: Placement,
    /// A `ResourceRequirements` object, if the user gave one.
    pub resources: Option<Value>,
    /// The credentials Secret (in the same namespace).
    pub secret: String,
    /// Host directory of a local-directory repository, mounted at [`REPO_MOUNT_PATH`].
    pub local_repository: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// More env entries (the object-store credentials: [`credential_env_entries`]).
    pub env: Vec<Value>,
}

/// A DNS-label name `PREFIX-<10 hex>` unique for `parts`.
pub fn pod_name(prefix: &str, parts: &[&str]) -> String {
    let mut h = blake3::Hasher::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update(&[0]);
    }
    let hex = h.finalize().to_hex();
    let prefix: String = prefix.chars().take(63 - 11).collect();
    format!("{}-{}", prefix.trim_end_matches('-'), &hex[..10])
}

impl MoverPod {
    /// The Pod object.
    pub fn to_pod(&self) -> Value {
        let mut env = vec![secret_env("ARCA_PASSWORD", &self.secret, "ARCA_PASSWORD")];
        match &self.local_repository {
            Some(_) => env.push(json!({"name": "ARCA_REPO", "value": REPO_MOUNT_PATH})),
            None => env.push(secret_env("ARCA_REPO", &self.secret, "ARCA_REPO")),
        }
        // A mover pod lives once: a metadata cache would only fill its
        // ephemeral storage (and get the pod evicted).
        env.push(json!({"name": "ARCA_NO_CACHE", "value": "true"}));
        env.extend(self.env.iter().cloned());
        env.push(json!({"name": "ARCA_MOVER_POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}));
        let mut volumes = vec![self.volume_json()];
        let mut mounts = Vec::new();
        let mut devices = Vec::new();
        let read_only = matches!(self.source, VolumeSource::HostPath { .. })
            || matches!(self.source, VolumeSource::Claim { read_only: true, .. });
        if self.block {
            devices.push(json!({"name": "volume", "devicePath": DEVICE_PATH}));
        } else {
            mounts.push(json!({"name": "volume", "mountPath": MOUNT_PATH, "readOnly": read_only}));
        }
        if let Some(dir) = &self.local_repository {
            volumes.push(json!({"name": "repository", "hostPath": {"path": dir, "type": "Directory"}}));
            mounts.push(json!({"name": "repository", "mountPath": REPO_MOUNT_PATH}));
        }
        let mut container = json!({
            "name": CONTAINER,
            "image": self.image,
            "imagePullPolicy": "IfNotPresent",
            "command": ["arca"],
            "args": self.args,
            "env": env,
            "volumeMounts": mounts,
            // Restores set owners and modes; backups read every file whatever its mode.
            "securityContext": {"runAsUser": 0, "runAsGroup": 0, "allowPrivilegeEscalation": false},
        });
        if !devices.is_empty() {
            container["volumeDevices"] = Value::Array(devices);
        }
        if let Some(r) = &self.resources {
            container["resources"] = r.clone();
        }
        let mut spec = json!({
            "restartPolicy": "Never",
            "automountServiceAccountToken": false,
            "containers": [container],
            "volumes": volumes,
        });
        match &self.placement {
            Placement::Anywhere => {}
            Placement::Node(node) => spec["nodeName"] = json!(node),
            Placement::Affinity(selector) => {
                spec["affinity"] = json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": selector}})
            }
        }
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": self.name, "namespace": self.namespace, "labels": self.labels},
            "spec": spec,
        })
    }

    fn volume_json(&self) -> Value {
        match &self.source {
            VolumeSource::Claim { name, read_only } => {
                json!({"name": "volume", "persistentVolumeClaim": {"claimName": name, "readOnly": read_only}})
            }
            VolumeSource::HostPath { path } => {
                json!({"name": "volume", "hostPath": {"path": path, "type": "Directory"}})
            }
        }
    }
}

/// `-o json mover COMMAND --snapshot ID` and the volume as the pod has it
/// (`--block` device or `--target` directory): the arguments of a mover
/// that reads a snapshot (`restore`, `verify`).
pub fn snapshot_args(command: &str, snapshot: &str, block: bool) -> Vec<String> {
    let mut a: Vec<String> = ["-o", "json", "mover", command, "--snapshot", snapshot].map(String::from).to_vec();
    if block {
        a.extend(["--block".to_string(), DEVICE_PATH.to_string()]);
    } else {
        a.extend(["--target".to_string(), MOUNT_PATH.to_string()]);
    }
    a
}

fn secret_env(name: &str, secret: &str, key: &str) -> Value {
    json!({"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}})
}

/// Environment variables of Arca's own process that object stores read
/// credentials and endpoints from; the ones set are passed to movers.
pub const CREDENTIAL_ENV_PREFIXES: &[&str] = &["AWS_", "GOOGLE_", "AZURE_"];

/// The short-lived credentials Secret for the movers of one run: the
/// repository URL and password, and the object-store variables set in
/// Arca's environment. Deleted when the run ends.
pub fn credentials_secret(
    name: &str,
    namespace: &str,
    repository: &str,
    password: &[u8],
    env: impl IntoIterator<Item = (String, String)>,
    labels: &BTreeMap<String, String>,
) -> Value {
    let encode = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let mut data = BTreeMap::new();
    data.insert("ARCA_REPO".to_string(), encode(repository.as_bytes()));
    data.insert("ARCA_PASSWORD".to_string(), encode(password));
    for (k, v) in env {
        if CREDENTIAL_ENV_PREFIXES.iter().any(|p| k.starts_with(p)) {
            data.insert(k, encode(v.as_bytes()));
        }
    }
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "data": data,
    })
}

/// Env entries for each object-store variable in the Secret (so the pod sees them).
pub fn credential_env_entries(secret: &Value, secret_name: &str) -> Vec<Value> {
    secret["data"]
        .as_object()
        .map(|d| {
            d.keys()
                .filter(|k| CREDENTIAL_ENV_PREFIXES.iter().any(|p| k.starts_with(p)))
                .map(|k| secret_env(k, secret_name, k))
                .collect()
        })
        .unwrap_or_default()
}

/// What a mover printed as its last stdout line.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MoverResult {
    /// `backup`, `restore` or `verify`.
    pub mover: String,
    /// The repository snapshot written (backup), read (restore) or compared with (verify).
    pub snapshot: String,
    #[serde(default)]
    pub files: u64,
    #[serde(default)]
    pub bytes_read: u64,
    #[serde(default)]
    pub bytes_added: u64,
    /// Bytes uploaded for them (compressed, encrypted).
    #[serde(default)]
    pub bytes_stored: u64,
    #[serde(default)]
    pub bytes_written: u64,
    /// Entries a `--mirror` restore removed (not in the snapshot).
    #[serde(default)]
    pub removed: u64,
    #[serde(default)]
    pub warnings: u64,
    #[serde(default)]
    pub duration_secs: f64,
    /// `verify`: what the comparison found (absent from older movers and
    /// from backups and restores).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<arca_fs::DirCheck>,
}

/// The mover's result from its log: the last line that is a JSON object with a `mover` field.
pub fn parse_result(log: &str) -> Option<MoverResult> {
    log.lines()
        .rev()
        .filter(|l| l.trim_start().starts_with('{'))
        .find_map(|l| serde_json::from_str::<MoverResult>(l.trim()).ok().filter(|r| !r.mover.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(source: VolumeSource, block: bool, placement: Placement) -> MoverPod {
        MoverPod {
            name: pod_name("arca-mover-b1", &["shop/data"]),
            namespace: "arca-system".into(),
            image: "arca:test".into(),
            args: vec!["mover".into(), "backup".into()],
            source,
            block,
            placement,
            resources: None,
            secret: "arca-mover-creds".into(),
            local_repository: Some("/srv/repo".into()),
            labels: BTreeMap::new(),
            env: Vec::new(),
        }
    }

    #[test]
    fn names_are_dns_labels_and_stable() {
        let a = pod_name(&"x".repeat(80), &["a", "b"]);
        assert!(a.len() <= 63, "{a}");
        assert_eq!(a, pod_name(&"x".repeat(80), &["a", "b"]));
        assert_ne!(pod_name("p", &["ab", "c"]), pod_name("p", &["a", "bc"]));
    }

    #[test]
    fn claim_mover_mounts_the_claim_and_a_local_repository() {
        let p = pod(VolumeSource::Claim { name: "tmp".into(), read_only: true }, false, Placement::Anywhere).to_pod();
        assert_eq!(p["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"], "tmp");
        assert_eq!(p["spec"]["containers"][0]["volumeMounts"][0]["readOnly"], true);
        assert_eq!(p["spec"]["volumes"][1]["hostPath"]["path"], "/srv/repo");
        let env = p["spec"]["containers"][0]["env"].as_array().unwrap();
        assert!(env.iter().any(|e| e["name"] == "ARCA_REPO" && e["value"] == REPO_MOUNT_PATH));
        assert!(env.iter().any(|e| e["name"] == "ARCA_NO_CACHE" && e["value"] == "true"));
        assert!(
            env.iter()
                .any(|e| e["name"] == "ARCA_PASSWORD" && e["valueFrom"]["secretKeyRef"]["key"] == "ARCA_PASSWORD")
        );
        assert_eq!(p["spec"]["restartPolicy"], "Never");
    }

    #[test]
    fn block_movers_get_a_device_and_placement() {
        let sel = json!({"nodeSelectorTerms": [{"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["n1"]}]}]});
        let p = pod(VolumeSource::Claim { name: "c".into(), read_only: false }, true, Placement::Affinity(sel.clone()))
            .to_pod();
        assert_eq!(p["spec"]["containers"][0]["volumeDevices"][0]["devicePath"], DEVICE_PATH);
        assert_eq!(p["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"], sel);
        let p = pod(
            VolumeSource::HostPath { path: "/var/lib/kubelet/pods/u/volumes/x".into() },
            false,
            Placement::Node("n2".into()),
        )
        .to_pod();
        assert_eq!(p["spec"]["nodeName"], "n2");
        assert_eq!(p["spec"]["containers"][0]["volumeMounts"][0]["readOnly"], true);
    }

    #[test]
    fn secret_carries_only_repository_and_store_credentials() {
        let env =
            vec![("AWS_SECRET_ACCESS_KEY".to_string(), "k".to_string()), ("HOME".to_string(), "/root".to_string())];
        let s = credentials_secret("c", "arca-system", "s3://b/p", b"pw", env, &BTreeMap::new());
        assert_eq!(s["data"]["ARCA_PASSWORD"], "cHc=");
        assert_eq!(s["data"]["AWS_SECRET_ACCESS_KEY"], "aw==");
        assert!(s["data"].get("HOME").is_none());
        assert_eq!(credential_env_entries(&s, "c").len(), 1);
    }

    #[test]
    fn result_is_the_last_json_line() {
        let log = "starting\n{\"mover\":\"backup\",\"snapshot\":\"aa\",\"files\":2}\n{\"mover\":\"backup\",\"snapshot\":\"bb\",\"files\":3}\n";
        assert_eq!(parse_result(log).unwrap().snapshot, "bb");
        assert!(parse_result("{\"other\": 1}\nno json").is_none());
        assert_eq!(parse_result(log).unwrap().check, None, "results without a check still read");
        let verify = r#"{"mover":"verify","snapshot":"cc","check":{"files":1,"missing":1,"mismatches":[{"path":"a","what":"missing"}]}}"#;
        let check = parse_result(verify).unwrap().check.unwrap();
        assert!(!check.passed());
        assert_eq!(check.mismatches[0].to_string(), "a: missing");
    }
}
