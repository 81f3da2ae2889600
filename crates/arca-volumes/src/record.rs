//! What a backup keeps about each claim's data: stored in the backup's
//! report (`BackupReport::volumes`, one JSON object per claim, format in
//! `docs/FORMAT.md`), enough to restore the data after the namespace, the
//! VolumeSnapshot and its content are gone.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How a claim's data is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// CSI snapshot, then a mover pod copies its files into the repository.
    Move,
    /// CSI snapshot only (data stays with the storage system).
    Snapshot,
    /// File-level read of the running pod's volume on its node.
    Fs,
    /// Left out on purpose (annotation, policy or `--volumes none`).
    Skip,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Move => "move",
            Method::Snapshot => "snapshot",
            Method::Fs => "fs",
            Method::Skip => "skip",
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Method {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "move" => Ok(Method::Move),
            "snapshot" => Ok(Method::Snapshot),
            "fs" => Ok(Method::Fs),
            "skip" | "none" => Ok(Method::Skip),
            other => Err(format!("{other:?} is not one of move, snapshot, fs, skip")),
        }
    }
}

/// How one volume's backup (or restore) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum VolumeState {
    Completed,
    Failed,
    /// Left out on purpose (method `skip`).
    Skipped,
    /// No method could protect it (no snapshot class, no running pod): reported, never silent.
    NotProtected,
}

impl std::fmt::Display for VolumeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            VolumeState::Completed => "Completed",
            VolumeState::Failed => "Failed",
            VolumeState::Skipped => "Skipped",
            VolumeState::NotProtected => "NotProtected",
        })
    }
}

/// The CSI snapshot taken of a claim, as needed to re-create a
/// pre-provisioned VolumeSnapshotContent after the original is gone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SnapshotRecord {
    /// The VolumeSnapshot (in the claim's namespace) and its content.
    pub name: String,
    pub content: String,
    pub class: String,
    pub driver: String,
    /// `status.snapshotHandle` of the content: the storage system's id.
    pub handle: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_size: Option<String>,
    /// Whether Arca kept the snapshot after the backup (`snapshot` method, or by policy).
    #[serde(default)]
    pub kept: bool,
}

/// One claim's data in a backup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VolumeRecord {
    /// `NAMESPACE/NAME` of the claim.
    pub claim: String,
    /// The bound PersistentVolume (empty for a pod's inline `hostPath` volume).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub volume: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub storage_class: String,
    /// CSI driver of the volume (empty for hostPath/local volumes).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub driver: String,
    /// `spec.resources.requests.storage` of the claim.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub capacity: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access_modes: Vec<String>,
    /// `Filesystem` or `Block`.
    pub volume_mode: String,
    /// The PV's `spec.nodeAffinity` (local and WaitForFirstConsumer volumes), to place restore movers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_affinity: Option<Value>,
    pub method: Method,
    /// Where the method came from: `annotation …`, `policy …`, `--volumes …`, `auto: …`.
    pub chosen_by: String,
    pub state: VolumeState,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<SnapshotRecord>,
    /// The repository snapshot holding the files (`move`, `fs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository_snapshot: Option<String>,
    /// A `hostPath`/local path the data lives at (hostPath and local PVs,
    /// and pods' inline `hostPath` volumes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_path: Option<String>,
    /// A pod's inline volume rather than a claim: `claim` is then
    /// `NAMESPACE/POD/VOLUME`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub inline: bool,
    /// For `fs`: the pod whose volume was read (`NAMESPACE/NAME`) and its node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(default)]
    pub files: u64,
    #[serde(default)]
    pub bytes_read: u64,
    #[serde(default)]
    pub bytes_added: u64,
    /// What the repository grew by for this volume (after dedup, compression, encryption).
    #[serde(default)]
    pub bytes_stored: u64,
    #[serde(default)]
    pub duration_secs: f64,
    /// Free-form extras (mover pod name, freeze window, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub details: BTreeMap<String, Value>,
}

impl VolumeRecord {
    pub fn namespace(&self) -> &str {
        self.claim.split_once('/').map(|(ns, _)| ns).unwrap_or_default()
    }

    pub fn claim_name(&self) -> &str {
        self.claim.split_once('/').map(|(_, n)| n).unwrap_or(&self.claim)
    }

    pub fn is_block(&self) -> bool {
        self.volume_mode == "Block"
    }

    /// Whether a restore has data to put back.
    pub fn restorable(&self) -> bool {
        self.state == VolumeState::Completed && (self.repository_snapshot.is_some() || self.snapshot.is_some())
    }
}

/// The volume records of a backup report (`volumes` in its meta). Records
/// that don't parse are returned as errors naming the claim, never dropped.
pub fn from_report(volumes: &[Value]) -> Vec<Result<VolumeRecord, String>> {
    volumes
        .iter()
        .map(|v| {
            serde_json::from_value(v.clone()).map_err(|e| {
                format!("volume record {} does not parse: {e}", v.get("claim").and_then(Value::as_str).unwrap_or("?"))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_names_round_trip() {
        for m in [Method::Move, Method::Snapshot, Method::Fs, Method::Skip] {
            assert_eq!(m.as_str().parse::<Method>(), Ok(m));
        }
        assert!("copy".parse::<Method>().unwrap_err().contains("move, snapshot, fs, skip"));
    }

    #[test]
    fn record_round_trips_and_names_its_claim() {
        let r = VolumeRecord {
            claim: "shop/data-db-0".into(),
            volume: "pvc-1".into(),
            storage_class: "fast".into(),
            driver: "d".into(),
            capacity: "1Gi".into(),
            access_modes: vec!["ReadWriteOnce".into()],
            volume_mode: "Filesystem".into(),
            node_affinity: None,
            method: Method::Move,
            chosen_by: "auto: a VolumeSnapshotClass serves d".into(),
            state: VolumeState::Completed,
            reason: String::new(),
            snapshot: None,
            repository_snapshot: Some("ab".into()),
            host_path: None,
            inline: false,
            pod: None,
            node: None,
            files: 3,
            bytes_read: 10,
            bytes_added: 10,
            bytes_stored: 8,
            duration_secs: 1.0,
            details: BTreeMap::new(),
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["method"], "move");
        assert_eq!(from_report(&[v]).remove(0), Ok(r.clone()));
        assert_eq!((r.namespace(), r.claim_name()), ("shop", "data-db-0"));
        assert!(r.restorable());
        let bad = from_report(&[serde_json::json!({"claim": "a/b"})]);
        assert!(bad[0].as_ref().unwrap_err().contains("a/b"));
    }
}
