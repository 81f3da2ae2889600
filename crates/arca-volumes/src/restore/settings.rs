//! How restore movers run: image, concurrency, timeout, and the repository
//! they read (its URL and password reach them through a Secret only).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

/// Settings of a restore's movers.
#[derive(Clone)]
pub struct MoverSettings {
    pub image: String,
    /// Movers at once (`--mover-concurrency`).
    pub concurrency: usize,
    /// Bound on each mover, and on each wait of a volume (`--volume-timeout`).
    pub timeout: Duration,
    /// The repository URL, as movers open it.
    pub repository: String,
    /// Never logged or shown: it goes into the movers' Secret.
    pub password: Vec<u8>,
    /// Host directory of a local-directory repository (mounted into movers).
    pub local_repository: Option<String>,
    /// Arca's own environment: the object-store variables are passed on.
    pub env: Vec<(String, String)>,
    /// A `ResourceRequirements` object for movers.
    pub resources: Option<Value>,
    /// `--data-only --no-scale`: fill claims beside the pods using them.
    pub no_scale: bool,
    /// Each restore mover re-reads what it wrote and compares it with the
    /// snapshot before any pod mounts the claim (restore drills).
    pub verify: bool,
}

impl std::fmt::Debug for MoverSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MoverSettings")
            .field("image", &self.image)
            .field("concurrency", &self.concurrency)
            .field("timeout", &self.timeout)
            .field("repository", &self.repository)
            .field("password", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl MoverSettings {
    /// Defaults for `repository`: the local directory is mounted when the
    /// URL is a path (`file:///dir` or `/dir`).
    pub fn new(repository: &str, password: Vec<u8>) -> Self {
        MoverSettings {
            image: crate::DEFAULT_MOVER_IMAGE.to_string(),
            concurrency: 4,
            timeout: Duration::from_secs(30 * 60),
            repository: repository.to_string(),
            password,
            local_repository: local_directory(repository),
            env: Vec::new(),
            resources: None,
            no_scale: false,
            verify: false,
        }
    }

    /// The labels on everything a restore creates for its volumes.
    pub fn labels(&self) -> BTreeMap<String, String> {
        let mut l = BTreeMap::new();
        l.insert(crate::CREATED_BY_LABEL.to_string(), crate::CREATED_BY.to_string());
        l.insert("app.kubernetes.io/component".to_string(), "restore-mover".to_string());
        l
    }
}

/// The directory of a local repository URL, absolute (movers mount it as a `hostPath`).
pub fn local_directory(url: &str) -> Option<String> {
    match arca_repo::backend::RepoUrl::parse(url).ok()? {
        arca_repo::backend::RepoUrl::Local { path } => {
            let abs = if path.is_absolute() { path } else { std::env::current_dir().ok()?.join(path) };
            Some(abs.to_string_lossy().into_owned())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_repositories_are_mounted_and_passwords_never_shown() {
        let s = MoverSettings::new("file:///srv/repo", b"hunter2".to_vec());
        assert_eq!(s.local_repository.as_deref(), Some("/srv/repo"));
        assert!(!format!("{s:?}").contains("hunter2"));
        assert_eq!(MoverSettings::new("s3://b/p", Vec::new()).local_repository, None);
        assert!(local_directory("relative/repo").is_some_and(|d| d.starts_with('/')));
    }
}
