//! Arca's Kubernetes side: discovery-driven backup of every served API object
//! into an Arca repository, and planned, rule-driven restores.
//!
//! The pure core (discovery parsing, filters, the closure of cluster-scoped
//! dependencies, the catalog layout, restore planning, sanitizing, mapping and
//! modifiers) is free of IO and unit-tested without a server. The thin IO edge
//! is [`api::Kube`] (HTTP to the API server, retries, paging) and the
//! repository calls made from [`backup`], [`catalog`] and [`restore`].

pub mod admission;
pub mod api;
pub mod backup;
pub mod catalog;
pub mod closure;
pub mod connect;
pub mod data;
pub mod diff;
pub mod discover;
pub mod error;
pub mod exec;
pub mod export;
pub mod filter;
pub mod objects;
pub mod redact;
pub mod restore;
pub mod selector;
pub mod sources;

pub use error::{Error, Result};

/// Snapshot kind of a Kubernetes backup.
pub const KIND_BACKUP: &str = "kubernetes";
/// Snapshot kind of a stored restore report.
pub const KIND_RESTORE: &str = "kubernetes-restore";
/// Snapshot kind of a stored restore drill report.
pub const KIND_DRILL: &str = "kubernetes-drill";
/// Field manager name used for server-side apply.
pub const FIELD_MANAGER: &str = "arca";
/// Label that keeps an object out of every backup.
pub const EXCLUDE_LABEL: &str = "arca.io/exclude";

/// How a backup or restore ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Phase {
    Completed,
    PartiallyFailed,
    Failed,
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Phase::Completed => "Completed",
            Phase::PartiallyFailed => "PartiallyFailed",
            Phase::Failed => "Failed",
        })
    }
}

/// A fresh local repository for unit tests.
#[cfg(test)]
pub(crate) mod test_repo {
    use arca_repo::{InitOptions, KdfParams, Repository};

    pub fn repo(dir: &std::path::Path) -> anyhow::Result<Repository> {
        let backend = arca_repo::open_backend(&dir.display().to_string(), true)?;
        let repo =
            Repository::init(backend, b"pw", InitOptions { kdf: KdfParams::insecure_fast(), ..Default::default() })?;
        repo.load_index()?;
        Ok(repo)
    }
}
