//! The volume options of `arca backup create` and the volume table of
//! `arca backup describe --volumes`.

use anyhow::{Context as _, Result, anyhow};
use arca_kube::backup::BackupReport;
use arca_repo::backend::RepoUrl;
use arca_volumes::backup::VolumeBackupOptions;
use arca_volumes::method::Mode;
use arca_volumes::policy::{Policy, parse_quantity};
use arca_volumes::record::{self, VolumeRecord};
use clap::Args;
use serde::Serialize;
use serde_json::{Value, json};

use crate::output::{Render, bytes, table};

#[derive(Args, Debug, Clone)]
pub struct VolumeArgs {
    /// How claims' data is protected: auto (move where a VolumeSnapshotClass serves the driver, else fs where a running pod mounts it), move, snapshot, fs, none
    #[arg(long, default_value = "auto")]
    pub volumes: String,
    /// A volume policy file (YAML, `version: v1`, `volumePolicies: [...]`): per storage class, driver, size or volume type
    #[arg(long)]
    pub volume_policies: Option<std::path::PathBuf>,
    /// Keep the CSI snapshots `move` takes (they are deleted once the data is in the repository)
    #[arg(long)]
    pub keep_snapshots: bool,
    /// Namespace for Arca's mover pods, staged snapshots and the run's credentials Secret (created if missing)
    #[arg(long, default_value = arca_volumes::DEFAULT_NAMESPACE)]
    pub mover_namespace: String,
    /// Image of mover pods (it runs the `arca` binary)
    #[arg(long, default_value = arca_volumes::DEFAULT_MOVER_IMAGE)]
    pub mover_image: String,
    /// CPU of each mover pod (requests = limits), e.g. 500m
    #[arg(long)]
    pub mover_cpu: Option<String>,
    /// Memory of each mover pod (requests = limits), e.g. 512Mi
    #[arg(long)]
    pub mover_memory: Option<String>,
    /// Mover pods running at once in the whole cluster
    #[arg(long, default_value_t = 4)]
    pub mover_concurrency: usize,
    /// Mover pods running at once on one node (pods whose node is known before they start)
    #[arg(long, default_value_t = 2)]
    pub movers_per_node: usize,
    /// Time one volume may take (snapshot and mover), e.g. 90s, 10m, 1h
    #[arg(long, default_value = "30m")]
    pub volume_timeout: String,
    /// The kubelet's root directory on nodes (fs reads `<root>/pods/<uid>/volumes/...`)
    #[arg(long, default_value = "/var/lib/kubelet")]
    pub kubelet_root: String,
}

impl VolumeArgs {
    /// The volume phase's options (no hooks). Also for `--volumes none`:
    /// annotations and policies still choose per volume, and every volume
    /// gets its record.
    pub fn options(&self, repo_url: &str, password: &[u8]) -> Result<VolumeBackupOptions> {
        let mode: Mode = self.volumes.parse().map_err(|e: String| anyhow!(e))?;
        let policy = match &self.volume_policies {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading the volume policy file {}", path.display()))?;
                Some(Policy::parse(&text, &path.display().to_string()).map_err(|e| anyhow!(e))?)
            }
            None => None,
        };
        let timeout =
            arca_volumes::limits::parse_duration(&self.volume_timeout).map_err(|e| anyhow!("--volume-timeout: {e}"))?;
        let (repository, local_repository) = mover_repository(repo_url)?;
        let opts = VolumeBackupOptions {
            mode,
            policy,
            namespace: self.mover_namespace.clone(),
            image: self.mover_image.clone(),
            resources: resources(self.mover_cpu.as_deref(), self.mover_memory.as_deref())?,
            kubelet_root: self.kubelet_root.clone(),
            keep_snapshots: self.keep_snapshots,
            timeout,
            concurrency: self.mover_concurrency.max(1),
            per_node: self.movers_per_node.max(1),
            repository,
            local_repository,
            password: password.to_vec(),
            env: std::env::vars().collect(),
            freezer: None,
            consistency: Default::default(),
        };
        Ok(opts)
    }
}

/// The repository as movers reach it, and the host directory to mount for a local one.
fn mover_repository(url: &str) -> Result<(String, Option<String>)> {
    match RepoUrl::parse(url)? {
        RepoUrl::Local { path } => {
            let abs =
                std::fs::canonicalize(&path).with_context(|| format!("the repository directory {}", path.display()))?;
            let abs = abs.display().to_string();
            Ok((abs.clone(), Some(abs)))
        }
        _ => Ok((url.to_string(), None)),
    }
}

/// `requests` = `limits` from `--mover-cpu` / `--mover-memory`.
fn resources(cpu: Option<&str>, memory: Option<&str>) -> Result<Option<Value>> {
    let mut amounts = serde_json::Map::new();
    for (flag, key, value) in [("--mover-cpu", "cpu", cpu), ("--mover-memory", "memory", memory)] {
        if let Some(v) = value {
            parse_quantity(v).map_err(|e| anyhow!("{flag}: {e}"))?;
            amounts.insert(key.into(), json!(v));
        }
    }
    Ok((!amounts.is_empty()).then(|| json!({"requests": amounts, "limits": amounts})))
}

/// `arca backup describe NAME --volumes`.
#[derive(Serialize)]
pub struct VolumesDescribed {
    pub name: String,
    pub snapshot: String,
    pub volumes: Vec<Value>,
}

impl VolumesDescribed {
    pub fn new(report: &BackupReport, snapshot: String) -> Self {
        VolumesDescribed { name: report.name.clone(), snapshot, volumes: report.volumes.clone() }
    }
}

impl Render for VolumesDescribed {
    fn human(&self) -> String {
        if self.volumes.is_empty() {
            return format!("backup {} has no volume records", self.name);
        }
        let mut problems = Vec::new();
        let rows: Vec<Vec<String>> = record::from_report(&self.volumes)
            .into_iter()
            .filter_map(|r| r.map_err(|e| problems.push(e)).ok())
            .map(|r| row(&r))
            .collect();
        let mut s = table(&["claim", "method", "state", "files", "read", "added", "duration", "reason"], rows);
        for p in problems {
            s.push_str(&format!("\nwarning: {p}"));
        }
        s
    }
}

/// `3 volume(s): 2 Completed, 1 NotProtected`.
pub fn states_line(volumes: &[Value]) -> String {
    let mut counts = std::collections::BTreeMap::new();
    for v in volumes {
        *counts.entry(v["state"].as_str().unwrap_or("unreadable")).or_insert(0) += 1;
    }
    let parts: Vec<String> = counts.iter().map(|(state, n)| format!("{n} {state}")).collect();
    format!("{} volume(s): {}", volumes.len(), parts.join(", "))
}

fn row(r: &VolumeRecord) -> Vec<String> {
    let moved = matches!(r.method, record::Method::Move | record::Method::Fs);
    let amount = |v: String| if moved { v } else { "-".into() };
    vec![
        r.claim.clone(),
        if r.state == record::VolumeState::NotProtected { "-".into() } else { r.method.to_string() },
        r.state.to_string(),
        amount(r.files.to_string()),
        amount(bytes(r.bytes_read)),
        amount(bytes(r.bytes_added)),
        format!("{:.1}s", r.duration_secs),
        r.reason.clone(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mover_resources_are_requests_and_limits() {
        let r = resources(Some("500m"), Some("512Mi")).unwrap().unwrap();
        assert_eq!(r["requests"], r["limits"]);
        assert_eq!(r["limits"]["memory"], "512Mi");
        assert!(resources(None, None).unwrap().is_none());
        assert!(resources(Some("lots"), None).unwrap_err().to_string().contains("--mover-cpu"));
    }

    #[test]
    fn volume_states_are_counted() {
        let v = [json!({"state": "Completed"}), json!({"state": "Failed"}), json!({"state": "Completed"})];
        assert_eq!(states_line(&v), "3 volume(s): 2 Completed, 1 Failed");
    }
}
