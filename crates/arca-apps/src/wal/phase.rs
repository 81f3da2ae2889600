//! Base backups inside a Kubernetes backup: for every selected, running pod
//! bound to the PostgreSQL blueprint with PITR on
//! (`blueprints.arca.io/name: postgresql`, `blueprints.arca.io/pitr: "true"`),
//! pg_basebackup runs in its database container through `pods/exec` and its
//! tar stream goes straight into the repository. Each run is a record of
//! kind `base-backup` in the backup report's `dumps`.

use std::io::Read;
use std::time::Duration;

use arca_kube::api::Kube;
use arca_kube::backup::ItemError;
use arca_kube::data::{BackupData, BackupDataPhase, DataOutcome};
use arca_kube::exec::{self, Target};
use arca_repo::Repository;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::io::AsyncReadExt;

use super::base_backup::{self, BaseBackupRecord, tail};
use super::error::{Result, WalError};

pub const BLUEPRINT_ANNOTATION: &str = "blueprints.arca.io/name";
pub const PITR_ANNOTATION: &str = "blueprints.arca.io/pitr";
/// The WAL area name, when `archive_command` passes `--cluster`.
pub const CLUSTER_ANNOTATION: &str = "blueprints.arca.io/wal-cluster";
/// The database container, when it is not the one mounting the data.
pub const CONTAINER_ANNOTATION: &str = "blueprints.arca.io/container";
/// The kind of these records in `dumps`.
pub const KIND: &str = "base-backup";
/// PostgreSQL's data directory when the container sets no `PGDATA`.
const DEFAULT_PGDATA: &str = "/var/lib/postgresql/data";

/// A base backup taken in a pod, as the backup report keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PodBaseBackup {
    pub kind: String,
    /// `NAMESPACE/POD`.
    pub pod: String,
    pub container: String,
    /// `NAMESPACE/CLAIM` holding the data directory (restores fill it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<String>,
    /// The data directory inside the claim (`""`: its root).
    #[serde(default)]
    pub sub_path: String,
    /// `Completed` or `Failed` (with `reason`); only a completed one is restorable.
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_backup: Option<BaseBackupRecord>,
    pub duration_secs: f64,
}

/// The backup data phase.
pub struct PitrBackupPhase {
    /// Bound on each pg_basebackup run.
    pub timeout: Duration,
}

impl BackupDataPhase for PitrBackupPhase {
    fn run<'a>(&'a self, ctx: BackupData<'a>) -> BoxFuture<'a, DataOutcome> {
        Box::pin(async move {
            let mut out = DataOutcome::default();
            let pods = match bound_pods(ctx.kube, &ctx).await {
                Ok(p) => p,
                Err(e) => {
                    // Without the right to list pods there is nothing to
                    // find; said, not failed: most backups have no PITR pod.
                    out.warnings.push(format!("PITR base backups: cannot list pods ({e}); none taken"));
                    return out;
                }
            };
            for pod in pods {
                let record = backup_pod(ctx.kube, ctx.repo, ctx.backup, &pod, self.timeout).await;
                out.log.push(match &record.reason {
                    None => format!("base backup of {} ({}) stored", record.pod, record.container),
                    Some(r) => format!("base backup of {} failed: {r}", record.pod),
                });
                if let Some(reason) = &record.reason {
                    out.errors.push(ItemError { object: format!("pods/{}", record.pod), reason: reason.clone() });
                }
                out.dumps.push(serde_json::to_value(&record).unwrap_or(Value::Null));
            }
            out
        })
    }
}

/// Whether a pod asks for base backups (pure).
pub fn wants_pitr(pod: &Value) -> bool {
    let ann = |k: &str| pod.pointer("/metadata/annotations").and_then(|a| a.get(k)).and_then(Value::as_str);
    ann(BLUEPRINT_ANNOTATION) == Some("postgresql") && ann(PITR_ANNOTATION) == Some("true")
}

async fn bound_pods(kube: &Kube, ctx: &BackupData<'_>) -> arca_kube::Result<Vec<Value>> {
    let namespaces = ctx.filter.literal_namespaces();
    let pods = kube.list_all_in("/api/v1", "pods", namespaces.as_deref(), "listing pods").await?;
    let running = |pod: &Value| pod.pointer("/status/phase").and_then(Value::as_str) == Some("Running");
    Ok(pods.into_iter().filter(|pod| running(pod) && wants_pitr(pod) && ctx.filter.object_selected(pod)).collect())
}

/// The claim holding `pgdata` in `container` of `pod`, and the data
/// directory's path inside it (pure).
pub fn data_claim(pod: &Value, container: &str, pgdata: &str) -> Option<(String, String)> {
    let c = pod.pointer("/spec/containers")?.as_array()?.iter().find(|c| c["name"] == container)?;
    let (mount, rest) = c["volumeMounts"].as_array()?.iter().find_map(|m| {
        let path = m["mountPath"].as_str()?.trim_end_matches('/');
        let rest = pgdata.strip_prefix(path)?;
        (rest.is_empty() || rest.starts_with('/')).then(|| (m, rest.trim_start_matches('/')))
    })?;
    let volume = mount["name"].as_str()?;
    let claim = pod.pointer("/spec/volumes")?.as_array()?.iter().find(|v| v["name"] == volume)?;
    let claim = claim.pointer("/persistentVolumeClaim/claimName")?.as_str()?;
    let sub =
        [mount["subPath"].as_str().unwrap_or(""), rest].iter().filter(|p| !p.is_empty()).cloned().collect::<Vec<_>>();
    Some((claim.to_string(), sub.join("/")))
}

fn container_env(pod: &Value, container: &str, key: &str) -> Option<String> {
    let c = pod.pointer("/spec/containers")?.as_array()?.iter().find(|c| c["name"] == container)?;
    c["env"].as_array()?.iter().find(|e| e["name"] == key)?.get("value")?.as_str().map(String::from)
}

async fn backup_pod(kube: &Kube, repo: &Repository, backup: &str, pod: &Value, timeout: Duration) -> PodBaseBackup {
    let ns = pod.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or_default().to_string();
    let name = pod.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
    let named = pod.pointer("/metadata/annotations").and_then(|a| a.get(CONTAINER_ANNOTATION)).and_then(Value::as_str);
    let started = std::time::Instant::now();
    let mut record = PodBaseBackup {
        kind: KIND.into(),
        pod: format!("{ns}/{name}"),
        container: String::new(),
        claim: None,
        sub_path: String::new(),
        state: "Completed".into(),
        reason: None,
        base_backup: None,
        duration_secs: 0.0,
    };
    let container = match crate::hooks::choose_container(pod, named, &[]) {
        Ok(c) => c,
        Err(e) => return failed(record, e, started),
    };
    record.container = container.clone();
    let pgdata = container_env(pod, &container, "PGDATA").unwrap_or_else(|| DEFAULT_PGDATA.to_string());
    if let Some((claim, sub)) = data_claim(pod, &container, &pgdata) {
        record.claim = Some(format!("{ns}/{claim}"));
        record.sub_path = sub;
    }
    let target = Target { namespace: ns, pod: name, container };
    let explicit = pod.pointer("/metadata/annotations").and_then(|a| a.get(CLUSTER_ANNOTATION)).and_then(Value::as_str);
    let cluster = match explicit {
        Some(c) => c.to_string(),
        None => match system_identifier(kube, &target).await {
            Ok(c) => c,
            Err(e) => return failed(record, e.to_string(), started),
        },
    };
    match tokio::time::timeout(timeout, stream_base_backup(kube, repo, &target, &cluster, &format!("arca {backup}")))
        .await
    {
        Ok(Ok(b)) => record.base_backup = Some(b),
        Ok(Err(e)) => return failed(record, e.to_string(), started),
        Err(_) => {
            return failed(record, format!("pg_basebackup did not end within {timeout:?}; nothing stored"), started);
        }
    }
    record.duration_secs = started.elapsed().as_secs_f64();
    record
}

fn failed(mut record: PodBaseBackup, reason: String, started: std::time::Instant) -> PodBaseBackup {
    record.state = "Failed".into();
    record.reason = Some(reason);
    record.duration_secs = started.elapsed().as_secs_f64();
    record
}

/// The server's system identifier, the default WAL area name.
async fn system_identifier(kube: &Kube, target: &Target) -> Result<String> {
    let argv: Vec<String> =
        ["psql", "-XAtc", "SELECT system_identifier FROM pg_control_system()"].map(String::from).to_vec();
    let done = exec::run(kube, target, &argv, None, Duration::from_secs(60))
        .await
        .map_err(|e| WalError::Command { command: "psql".into(), detail: e.to_string() })?;
    let id = done.stdout.text.trim().to_string();
    if !done.success() || id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(WalError::Command {
            command: "psql (reading the system identifier)".into(),
            detail: format!(
                "exit {:?}: {}; set the annotation {CLUSTER_ANNOTATION} to the --cluster of archive_command",
                done.exit_code,
                tail(&done.stderr.text, 1000)
            ),
        });
    }
    Ok(id)
}

/// pg_basebackup's stdout, through the exec connection, into the repository.
async fn stream_base_backup(
    kube: &Kube,
    repo: &Repository,
    target: &Target,
    cluster: &str,
    label: &str,
) -> Result<BaseBackupRecord> {
    let start_time: DateTime<Utc> = Utc::now();
    let mut argv = vec!["pg_basebackup".to_string()];
    argv.extend(base_backup::pg_basebackup_args(label));
    let mut running = exec::spawn(kube, target, &argv, false)
        .await
        .map_err(|e| WalError::Command { command: "pg_basebackup".into(), detail: e.to_string() })?;
    let mut stdout = running
        .stdout()
        .ok_or_else(|| WalError::Command { command: "pg_basebackup".into(), detail: "no stdout stream".into() })?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(8);
    let saver = {
        let repo = repo.clone();
        tokio::task::spawn_blocking(move || base_backup::save_tar(&repo, ChannelReader { rx, buf: Vec::new(), pos: 0 }))
    };
    let mut buf = vec![0u8; 256 * 1024];
    let pumped: std::io::Result<()> = async {
        loop {
            let n = stdout.read(&mut buf).await?;
            if n == 0 || tx.send(buf[..n].to_vec()).await.is_err() {
                return Ok(());
            }
        }
    }
    .await;
    drop(tx);
    let saved = saver.await.map_err(|e| WalError::Invalid(format!("base backup writer stopped: {e}")))??;
    drop(stdout);
    let finished = running
        .finish()
        .await
        .map_err(|e| WalError::Command { command: "pg_basebackup".into(), detail: e.to_string() })?;
    if let Err(e) = pumped {
        return Err(WalError::Command {
            command: "pg_basebackup".into(),
            detail: format!("stream cut: {e}; nothing stored"),
        });
    }
    if !finished.success() {
        return Err(WalError::Command {
            command: "pg_basebackup".into(),
            detail: format!(
                "exited with {:?}; nothing stored. Log: {}",
                finished.exit_code.map_or("no status".into(), |c| c.to_string()),
                tail(&finished.stderr.text, 2000)
            ),
        });
    }
    let (repo, cluster, label, log) = (repo.clone(), cluster.to_string(), label.to_string(), finished.stderr.text);
    tokio::task::spawn_blocking(move || base_backup::commit(&repo, &cluster, &label, saved, &log, start_time))
        .await
        .map_err(|e| WalError::Invalid(format!("base backup writer stopped: {e}")))?
        .map(|(_, r)| r)
}

/// The blocking end of a channel fed from an async stream.
struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<Vec<u8>>,
    buf: Vec<u8>,
    pos: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.buf.len() {
            match self.rx.blocking_recv() {
                Some(next) => {
                    self.buf = next;
                    self.pos = 0;
                }
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Value {
        json!({
            "metadata": {"namespace": "db", "name": "pg-0",
                         "annotations": {"blueprints.arca.io/name": "postgresql", "blueprints.arca.io/pitr": "true"}},
            "spec": {
                "containers": [{"name": "postgres", "volumeMounts": [
                    {"name": "run", "mountPath": "/var/run/postgresql"},
                    {"name": "data", "mountPath": "/var/lib/postgresql/data"}]}],
                "volumes": [{"name": "run", "emptyDir": {}},
                            {"name": "data", "persistentVolumeClaim": {"claimName": "data-pg-0"}}]
            }
        })
    }

    #[test]
    fn finds_the_claim_holding_the_data_directory() {
        let p = pod();
        assert!(wants_pitr(&p));
        assert_eq!(data_claim(&p, "postgres", "/var/lib/postgresql/data"), Some(("data-pg-0".into(), "".into())));
        assert_eq!(
            data_claim(&p, "postgres", "/var/lib/postgresql/data/pgdata"),
            Some(("data-pg-0".into(), "pgdata".into()))
        );
        assert_eq!(data_claim(&p, "postgres", "/var/lib/postgresql/database"), None);
        assert_eq!(data_claim(&p, "other", "/var/lib/postgresql/data"), None);
        let mut off = pod();
        off["metadata"]["annotations"]["blueprints.arca.io/pitr"] = json!("false");
        assert!(!wants_pitr(&off));
    }
}
