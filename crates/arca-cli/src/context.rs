//! What every command needs: the global options, and a way to open the
//! repository they name.

use anyhow::{Context as _, Result, anyhow};
use std::sync::Arc;

use arca_repo::backend::RepoUrl;
use arca_repo::cache::{CacheSettings, MetadataCache};
use arca_repo::{Backend, Repository};

use crate::cli::{GlobalOpts, OutputFormat};

pub struct Context {
    pub global: GlobalOpts,
    /// Storage requests of every backend this command opened.
    pub requests: Arc<arca_repo::backend::RequestCounter>,
}

impl Context {
    pub fn new(global: GlobalOpts) -> Self {
        Context { global, requests: Default::default() }
    }

    /// The requests counted so far.
    pub fn requests(&self) -> arca_repo::backend::Requests {
        self.requests.snapshot()
    }

    /// `backend` with its requests counted into this command's total.
    pub fn counted(&self, backend: Arc<dyn Backend>) -> Arc<dyn Backend> {
        Arc::new(arca_repo::backend::Counting::new(backend, Arc::clone(&self.requests)))
    }

    pub fn repo_url(&self) -> Result<&str> {
        self.global.repo.as_deref().ok_or_else(|| anyhow!("no repository given: pass --repo URL or set ARCA_REPO"))
    }

    pub fn output(&self) -> OutputFormat {
        self.global.output
    }

    /// Progress bars only for people at a terminal.
    pub fn show_progress(&self) -> bool {
        use std::io::IsTerminal;
        !self.global.quiet && self.global.output == OutputFormat::Table && std::io::stderr().is_terminal()
    }

    pub fn password(&self) -> Result<Vec<u8>> {
        crate::password::repository_password(self.global.password_file.as_deref())
    }

    /// Opens the repository without loading its index.
    pub fn open_repo(&self) -> Result<Repository> {
        let url = self.repo_url()?;
        let backend = self.backend(url)?;
        let password = self.password()?;
        Ok(Repository::open(backend, &password)?)
    }

    /// Opens the repository around the metadata cache: for commands that
    /// judge what is stored (`repo check`, `repo repair`, `verify`).
    pub fn open_repo_uncached(&self) -> Result<Repository> {
        let url = self.repo_url()?;
        let backend = self.backend_uncached(url)?;
        let password = self.password()?;
        Ok(Repository::open(backend, &password)?)
    }

    /// [`Self::backend`] around the metadata cache.
    pub fn backend_uncached(&self, url: &str) -> Result<Arc<dyn Backend>> {
        self.storage(url, false)
    }

    /// The storage behind `url`, append-only when asked, its requests
    /// counted, read through the metadata cache when remote.
    pub fn backend(&self, url: &str) -> Result<Arc<dyn Backend>> {
        self.storage(url, !self.global.no_cache)
    }

    fn storage(&self, url: &str, cache: bool) -> Result<Arc<dyn Backend>> {
        let mut backend = self.counted(arca_repo::open_backend(url, false)?);
        let remote = !matches!(RepoUrl::parse(url)?, RepoUrl::Local { .. });
        if cache && remote {
            backend = self.cached(backend);
        }
        Ok(if self.global.append_only { Arc::new(arca_repo::backend::AppendOnly(backend)) } else { backend })
    }

    /// `backend` behind its metadata cache; as it is when the cache cannot
    /// be opened (a read-only home in a pod): a cache only saves requests.
    fn cached(&self, backend: Arc<dyn Backend>) -> Arc<dyn Backend> {
        let Some(root) = self.global.cache_dir.clone().or_else(CacheSettings::default_root) else {
            tracing::debug!("no metadata cache: neither --cache-dir, XDG_CACHE_HOME nor HOME is set");
            return backend;
        };
        let settings = CacheSettings { root, limit_bytes: arca_repo::cache::DEFAULT_LIMIT_BYTES };
        match MetadataCache::open(&settings, backend.location()) {
            Ok(cache) => Arc::new(arca_repo::backend::Cached::new(backend, cache)),
            Err(e) => {
                tracing::debug!("{e}; reading the repository without a cache");
                backend
            }
        }
    }

    /// Opens the repository and loads its index (for reading or writing blobs).
    pub fn open_repo_with_index(&self) -> Result<Repository> {
        let repo = self.open_repo()?;
        repo.load_index().with_context(|| format!("loading the index of {}", repo.location()))?;
        Ok(repo)
    }
}
