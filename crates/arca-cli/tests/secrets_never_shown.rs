//! Proof: no Secret value a backup holds is ever shown. A namespace of
//! Secrets with random values (`data`, `stringData`, a docker config, a TLS
//! key, one used by a Deployment's env, values in the last-applied
//! annotation) goes through a full run of the `arca` binary with debug logs:
//! backup, list, describe, logs, volumes, snapshots, repository check and
//! info, dry-run restore, diff (backup, live cluster and manifest
//! directories, with a changed value), export, restore (one failing, one
//! repairing, one updating) and its reports and logs, in table, JSON and
//! YAML. Every stdout and stderr, every exported file and every byte of the
//! repository is searched for each value, plain and base64-encoded (once and
//! twice, at every alignment). `export --include-secret-values` must show
//! them, so the search is seen to find them; the restored Secrets must hold
//! them.
//!
//! Metrics are not part of a CLI run (only `arca server` serves them).

mod kube_env;

use std::collections::BTreeMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::path::Path;

use arca_kube::api::Kube;
use arca_testcluster::{Fault, FaultRule, TestCluster};
use serde_json::{Value, json};

use kube_env::{Env, wait_for, wait_gone};

const NS: &str = "vault";
const SECRETS: &[&str] = &["db", "api", "registry", "tls", "app-env"];

/// 32 random letters and digits.
fn token() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let state = RandomState::new();
    (0..32u64)
        .map(|i| {
            let mut h = state.build_hasher();
            h.write_u64(i);
            ALPHABET[(h.finish() % ALPHABET.len() as u64) as usize] as char
        })
        .collect()
}

/// Standard base64 with padding, as Kubernetes encodes Secret data.
fn b64(data: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            out.push(if i <= chunk.len() { A[((n >> (18 - 6 * i)) & 63) as usize] as char } else { '=' });
        }
    }
    out
}

/// What the base64 form of any text holding `s` contains, wherever `s`
/// starts: the encoding of `s` from each of its first three bytes on, cut
/// to whole 3-byte groups.
fn b64_fragments(s: &str) -> Vec<String> {
    let b = s.as_bytes();
    (0..3).filter_map(|i| b.get(i..).map(|rest| b64(&rest[..rest.len() / 3 * 3]))).filter(|f| f.len() >= 16).collect()
}

/// Each secret value, plain, base64 once and twice (a docker config's
/// `auth` is base64 inside a base64 data value): (what it is, the text).
fn needles(values: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (name, v) in values {
        out.push((name.to_string(), v.to_string()));
        for f in b64_fragments(v) {
            for g in b64_fragments(&f) {
                out.push((format!("base64(base64({name}))"), g));
            }
            out.push((format!("base64({name})"), f));
        }
    }
    out
}

fn find<'a>(needles: &'a [(String, String)], hay: &[u8]) -> Vec<&'a str> {
    needles
        .iter()
        .filter(|(_, n)| hay.windows(n.len()).any(|w| w == n.as_bytes()))
        .map(|(what, _)| what.as_str())
        .collect()
}

fn files(dir: &Path, out: &mut Vec<(String, Vec<u8>)>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            files(&path, out)?;
        } else {
            out.push((path.display().to_string(), std::fs::read(&path)?));
        }
    }
    Ok(())
}

/// Every stdout and stderr of the run.
struct Transcript<'a> {
    env: &'a Env,
    cluster: &'a TestCluster,
    outputs: Vec<(String, Vec<u8>)>,
}

impl Transcript<'_> {
    /// Runs `arca -vv ARGS`, expects exit `code`, keeps both streams; returns stdout.
    async fn run(&mut self, code: i32, args: &[&str]) -> anyhow::Result<String> {
        let mut all = vec!["-vv"];
        all.extend(args);
        let out = self.env.arca(self.cluster, &all).await?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(code), "arca {all:?}\nstdout:\n{stdout}\nstderr:\n{stderr}");
        self.outputs.push((format!("stdout of arca {all:?}"), out.stdout));
        self.outputs.push((format!("stderr of arca {all:?}"), out.stderr));
        Ok(stdout)
    }

    /// Runs as table, YAML and JSON; returns the JSON.
    async fn formats(&mut self, code: i32, args: &[&str]) -> anyhow::Result<Value> {
        self.run(code, args).await?;
        self.run(code, &[args, &["-o", "yaml"][..]].concat()).await?;
        let json = self.run(code, &[args, &["-o", "json"][..]].concat()).await?;
        Ok(serde_json::from_str(&json)?)
    }
}

async fn secret_data(kube: &Kube, name: &str) -> anyhow::Result<Value> {
    let s = kube.get(&format!("/api/v1/namespaces/{NS}/secrets/{name}"), "secret").await?;
    Ok(json!({"type": s["type"], "data": s["data"],
        "last-applied": s["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_value_in_any_output_export_or_repository_byte() -> anyhow::Result<()> {
    let cluster = TestCluster::start().await?;
    let kube = kube_env_connect(&cluster).await?;
    let dir = tempfile::tempdir()?;
    let env = Env::new(dir.path())?;

    let (password, api_token, registry_password, tls_key, api_key, new_password) =
        (token(), token(), token(), token(), token(), token());
    let visible = token(); // a ConfigMap value: exports show it
    let values = [
        ("db password (data)", password.as_str()),
        ("api token (stringData)", api_token.as_str()),
        ("registry password (docker config)", registry_password.as_str()),
        ("TLS key", tls_key.as_str()),
        ("API key (used by a Deployment's env)", api_key.as_str()),
        ("db password changed before diff", new_password.as_str()),
    ];
    let needles = needles(&values);

    // The namespace, as `kubectl apply` leaves it.
    kube.create(
        "/api/v1/namespaces",
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}),
        "ns",
    )
    .await?;
    let last_applied = |body: &Value| json!({"kubectl.kubernetes.io/last-applied-configuration": body.to_string()});
    let db = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": NS},
        "type": "Opaque", "data": {"username": b64(b"app"), "password": b64(password.as_bytes())}});
    let api = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "api", "namespace": NS},
        "type": "Opaque", "stringData": {"token": api_token}});
    let auth = b64(format!("robot:{registry_password}").as_bytes());
    let docker =
        json!({"auths": {"registry.example.com": {"username": "robot", "password": registry_password, "auth": auth}}});
    let registry = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "registry", "namespace": NS},
        "type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": b64(docker.to_string().as_bytes())}});
    let key = format!("-----BEGIN PRIVATE KEY-----\n{tls_key}\n-----END PRIVATE KEY-----\n");
    let tls = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "tls", "namespace": NS},
        "type": "kubernetes.io/tls",
        "data": {"tls.crt": b64(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"), "tls.key": b64(key.as_bytes())}});
    let app_env = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "app-env", "namespace": NS},
        "type": "Opaque", "data": {"API_KEY": b64(api_key.as_bytes())}});
    for mut secret in [db, api, registry, tls, app_env] {
        secret["metadata"]["annotations"] = last_applied(&secret);
        secret["metadata"]["labels"] = json!({"app": "web"});
        kube.create(&format!("/api/v1/namespaces/{NS}/secrets"), &secret, "secret").await?;
    }
    let settings = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": NS},
        "data": {"LOG_LEVEL": "info", "marker": visible}});
    kube.create(&format!("/api/v1/namespaces/{NS}/configmaps"), &settings, "configmap").await?;
    let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": NS},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx",
                "env": [{"name": "API_KEY", "valueFrom": {"secretKeyRef": {"name": "app-env", "key": "API_KEY"}}}],
                "envFrom": [{"secretRef": {"name": "db"}}, {"configMapRef": {"name": "settings"}}]}]}}}});
    kube.create(&format!("/apis/apps/v1/namespaces/{NS}/deployments"), &deployment, "deployment").await?;
    wait_for(&kube, &format!("/apis/apps/v1/namespaces/{NS}/deployments/web"), |d| {
        d.pointer("/status/readyReplicas").and_then(Value::as_i64) == Some(1)
    })
    .await?;
    let mut original = BTreeMap::new();
    for name in SECRETS {
        original.insert(*name, secret_data(&kube, name).await?);
    }

    let mut t = Transcript { env: &env, cluster: &cluster, outputs: Vec::new() };
    let created =
        t.run(0, &["backup", "create", "b1", "--include-namespaces", NS, "--wait", "--volumes", "none"]).await?;
    assert!(created.contains("Completed"), "{created}");
    let list = t.formats(0, &["backup", "list"]).await?;
    assert_eq!(list[0]["name"], "b1");
    let details = t.formats(0, &["backup", "describe", "b1", "--details"]).await?;
    assert!(details.to_string().contains("secrets/db"), "describe names the Secrets: {details}");
    t.formats(0, &["backup", "describe", "b1", "--volumes"]).await?;
    t.formats(0, &["backup", "logs", "b1"]).await?;
    t.formats(0, &["volume", "list", "b1"]).await?;
    t.formats(0, &["snapshots"]).await?;
    t.formats(0, &["repo", "info"]).await?;
    t.formats(0, &["repo", "check"]).await?;
    t.run(0, &["repo", "check", "--read-data"]).await?;
    t.formats(0, &["restore", "create", "dry", "--from-backup", "b1", "--dry-run"]).await?;

    // A value changed in the cluster: diff shows that it changed, not what to.
    let db_path = format!("/api/v1/namespaces/{NS}/secrets/db");
    kube.merge_patch(&db_path, &json!({"data": {"password": b64(new_password.as_bytes())}}), "change").await?;
    let db_key = format!("core/Secret/{NS}/db");
    let to_live = t.formats(0, &["diff", "b1", "live"]).await?;
    assert_eq!(
        to_live["changed"][&db_key],
        json!([{"change": "changed", "path": "/data/password", "old": "<redacted>", "new": "<redacted>"}]),
        "{to_live}"
    );
    t.formats(0, &["diff", "live", "b1"]).await?;
    let b2 =
        t.run(0, &["backup", "create", "b2", "--include-namespaces", NS, "--volumes", "none", "-o", "json"]).await?;
    assert!(b2.contains("Completed"), "{b2}");
    let between = t.formats(0, &["diff", "b1", "b2"]).await?;
    assert!(between["changed"][&db_key].is_array(), "{between}");
    t.run(3, &["diff", "b1", "b2", "--exit-code"]).await?;

    // Exports: redacted in every output format; in clear only when asked.
    let exports = dir.path().join("exports");
    for format in ["table", "yaml", "json"] {
        let to = exports.join(format).display().to_string();
        let summary = t.run(0, &["export", "b1", "--to", &to, "-o", format]).await?;
        assert!(summary.contains("redacted") || summary.contains("secrets_redacted"), "{summary}");
    }
    let redacted_dir = exports.join("table");
    let exported_db = std::fs::read_to_string(redacted_dir.join(NS).join("secret").join("db.yaml"))?;
    assert!(exported_db.contains("redacted") && exported_db.contains("password"), "{exported_db}");
    let exported_cm = std::fs::read_to_string(redacted_dir.join(NS).join("configmap").join("settings.yaml"))?;
    assert!(exported_cm.contains(&visible), "ConfigMap values are exported: {exported_cm}");
    let clear = dir.path().join("clear");
    t.run(0, &["export", "b1", "--to", &clear.display().to_string(), "--include-secret-values"]).await?;
    let redacted = redacted_dir.display().to_string();
    t.formats(0, &["diff", "b2", &redacted]).await?;
    t.formats(0, &["diff", &redacted, "b1"]).await?;
    // The clear export holds the old password, b2 the new one: both hidden.
    let clear_diff = t.formats(0, &["diff", "b2", &clear.display().to_string()]).await?;
    assert_eq!(
        clear_diff["changed"][&db_key],
        json!([{"change": "changed", "path": "/data/password", "old": "<redacted>", "new": "<redacted>"}]),
        "{clear_diff}"
    );

    // Restore after deleting the namespace: one Secret refused (the error
    // path), then repaired; then an update over a changed value.
    kube.delete(&format!("/api/v1/namespaces/{NS}"), "delete").await?;
    wait_gone(&kube, &format!("/api/v1/namespaces/{NS}")).await?;
    let refuse = cluster.faults().add(
        FaultRule::new(Fault::Status(403)).method("POST").path(&format!("^/api/v1/namespaces/{NS}/secrets$"))?.times(1),
    );
    let r1 = t.run(3, &["restore", "create", "r1", "--from-backup", "b1"]).await?;
    assert!(r1.contains("PartiallyFailed") && cluster.faults().fired(refuse) == 1, "{r1}");
    cluster.faults().clear();
    let r2 = t.run(0, &["restore", "create", "r2", "--from-backup", "b1", "-o", "json"]).await?;
    let r2: Value = serde_json::from_str(&r2)?;
    assert_eq!(r2["counts"]["created"], 1, "the refused Secret: {r2}");
    for name in SECRETS {
        assert_eq!(secret_data(&kube, name).await?, original[name], "restored Secret {name}");
    }
    kube.merge_patch(&db_path, &json!({"data": {"password": b64(new_password.as_bytes())}}), "change").await?;
    let update = ["--existing-resource-policy", "update", "-o", "yaml"];
    let r3 = t
        .run(
            0,
            &[&["restore", "create", "r3", "--from-backup", "b1", "--include-namespaces", NS], &update[..]].concat(),
        )
        .await?;
    assert!(r3.contains("updated"), "{r3}");
    assert_eq!(secret_data(&kube, "db").await?, original["db"], "the update brought the value back");
    for name in ["r1", "r2", "r3"] {
        t.formats(0, &["restore", "describe", name, "--details"]).await?;
        t.formats(0, &["restore", "logs", name]).await?;
    }
    t.formats(0, &["restore", "list"]).await?;
    t.run(0, &["backup", "create", "b3", "--include-namespaces", NS, "--volumes", "none", "-o", "yaml"]).await?;
    t.formats(0, &["backup", "describe", "b3", "--details"]).await?;

    // The search finds the values where they are meant to be.
    let mut clear_files = Vec::new();
    files(&clear, &mut clear_files)?;
    let clear_bytes: Vec<u8> = clear_files.iter().flat_map(|(_, b)| b.clone()).collect();
    let found = find(&needles, &clear_bytes);
    for (what, _) in &values[..5] {
        assert!(found.iter().any(|f| f.contains(what)), "--include-secret-values exports {what}: found only {found:?}");
    }

    // ... and nowhere else.
    let mut leaks = Vec::new();
    let (mut output_bytes, mut file_count, mut file_bytes) = (0, 0, 0);
    for (place, bytes) in &t.outputs {
        output_bytes += bytes.len();
        for what in find(&needles, bytes) {
            leaks.push(format!("{what} in {place}"));
        }
    }
    let mut stored = Vec::new();
    files(&exports, &mut stored)?;
    files(env.repo(), &mut stored)?;
    for (place, bytes) in &stored {
        file_count += 1;
        file_bytes += bytes.len();
        for what in find(&needles, bytes) {
            leaks.push(format!("{what} in {place}"));
        }
    }
    eprintln!(
        "searched {} outputs of {} commands ({output_bytes} bytes) and {file_count} files ({file_bytes} bytes) for {} needles",
        t.outputs.len(),
        t.outputs.len() / 2,
        needles.len()
    );
    assert!(leaks.is_empty(), "secret values shown:\n{}", leaks.join("\n"));
    Ok(())
}

async fn kube_env_connect(cluster: &TestCluster) -> anyhow::Result<Kube> {
    let options =
        arca_kube::connect::ClusterOptions { kubeconfig: Some(cluster.kubeconfig_path().to_path_buf()), context: None };
    Ok(Kube::new(arca_kube::connect::connect(&options).await?.client, 8))
}
