//! What every command needs: the global options, and a way to open the
//! repository they name.

use anyhow::{Context as _, Result, anyhow};
use arca_repo::Repository;

use crate::cli::{GlobalOpts, OutputFormat};

pub struct Context {
    pub global: GlobalOpts,
    /// Storage requests of every backend this command opened.
    pub requests: std::sync::Arc<arca_repo::backend::RequestCounter>,
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
    pub fn counted(&self, backend: std::sync::Arc<dyn arca_repo::Backend>) -> std::sync::Arc<dyn arca_repo::Backend> {
        std::sync::Arc::new(arca_repo::backend::Counting::new(backend, std::sync::Arc::clone(&self.requests)))
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

    /// The storage behind `url`, append-only when asked, its requests counted.
    pub fn backend(&self, url: &str) -> Result<std::sync::Arc<dyn arca_repo::Backend>> {
        let backend = self.counted(arca_repo::open_backend(url, false)?);
        Ok(if self.global.append_only { std::sync::Arc::new(arca_repo::backend::AppendOnly(backend)) } else { backend })
    }

    /// Opens the repository and loads its index (for reading or writing blobs).
    pub fn open_repo_with_index(&self) -> Result<Repository> {
        let repo = self.open_repo()?;
        repo.load_index().with_context(|| format!("loading the index of {}", repo.location()))?;
        Ok(repo)
    }
}
