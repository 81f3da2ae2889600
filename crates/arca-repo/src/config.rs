//! The repository `config` object: plaintext, written once at `init`.

use serde::{Deserialize, Serialize};

use crate::id::Id;

/// Newest repository format this code reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// Parameters fixed for the life of a repository.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Config {
    pub version: u32,
    /// Random repository id; names the repository in caches and listings.
    pub id: Id,
    pub chunker: ChunkerParams,
    /// Target size of a pack file in bytes.
    pub pack_size: u64,
    /// Default zstd level for new blobs (0 disables compression).
    pub compression: i32,
    /// S3 Object Lock (format 1.1): every object but locks is written with
    /// a retain-until date `retention_secs` ahead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_lock: Option<ObjectLock>,
}

/// How objects are locked on a bucket with S3 Object Lock enabled.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct ObjectLock {
    pub mode: LockMode,
    /// How long each object is kept from deletion and overwrite after it is written.
    pub retention_secs: u64,
}

/// S3's retention modes: `governance` may be lifted by a user holding
/// `s3:BypassGovernanceRetention`, `compliance` by no one, the account's
/// root included, until the date passes.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LockMode {
    Governance,
    Compliance,
}

impl LockMode {
    /// The `x-amz-object-lock-mode` value.
    pub fn header_value(self) -> &'static str {
        match self {
            LockMode::Governance => "GOVERNANCE",
            LockMode::Compliance => "COMPLIANCE",
        }
    }
}

impl std::str::FromStr for LockMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "governance" => Ok(LockMode::Governance),
            "compliance" => Ok(LockMode::Compliance),
            other => Err(format!("unknown Object Lock mode {other:?}: governance or compliance")),
        }
    }
}

/// FastCDC (2020) minimum, average and maximum chunk sizes in bytes.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct ChunkerParams {
    pub min: u32,
    pub avg: u32,
    pub max: u32,
}

impl Default for ChunkerParams {
    fn default() -> Self {
        ChunkerParams { min: 512 * 1024, avg: 1024 * 1024, max: 8 * 1024 * 1024 }
    }
}

impl Config {
    pub fn new() -> Self {
        Config {
            version: FORMAT_VERSION,
            id: Id::random(),
            chunker: ChunkerParams::default(),
            pack_size: 16 * 1024 * 1024,
            compression: 3,
            object_lock: None,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self::new()
    }
}
