//! What the `arca server` tests share: the binary run with a kubeconfig, a
//! repository and its password; a server process stopped when dropped.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use arca_repo::{InitOptions, KdfParams, Repository};

pub const PASSWORD: &str = "server cli password";

pub struct Env {
    pub repo: PathBuf,
    pub kubeconfig: PathBuf,
}

impl Env {
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_arca"));
        c.args(args)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .env("ARCA_REPO", &self.repo)
            .env("ARCA_PASSWORD", PASSWORD)
            .env_remove("ARCA_PASSWORD_FILE")
            .stdin(Stdio::null());
        c
    }

    /// Runs `arca` (off the async workers: it blocks) and checks its exit code.
    pub async fn expect(&self, code: i32, args: &[&str]) -> anyhow::Result<Output> {
        let mut c = self.cmd(args);
        let out = tokio::task::spawn_blocking(move || c.output()).await??;
        let text = format!(
            "arca {args:?} exited {:?}, expected {code}\nstdout: {}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        anyhow::ensure!(out.status.code() == Some(code), text);
        Ok(out)
    }
}

/// An initialised repository `repo` under `dir`.
pub fn init_repo(dir: &Path) -> anyhow::Result<PathBuf> {
    let repo = dir.join("repo");
    let backend = arca_repo::open_backend(&repo.display().to_string(), true)?;
    Repository::init(
        backend,
        PASSWORD.as_bytes(),
        InitOptions { kdf: KdfParams::insecure_fast(), ..Default::default() },
    )?;
    Ok(repo)
}

/// A server process: SIGTERM (its graceful path) when dropped, or `kill`
/// (SIGKILL, no goodbye).
pub struct Server(pub Child);

impl Server {
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.0.try_wait() {
            return;
        }
        let _ = Command::new("kill").arg("-TERM").arg(self.0.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.kill();
    }
}
