//! Helpers shared by the CLI's end-to-end tests: run the real `arca` binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub struct Arca {
    pub repo: String,
    pub password: String,
    pub dir: tempfile::TempDir,
}

impl Arca {
    /// A fresh local repository (initialized).
    pub fn new_local() -> Arca {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = dir.path().join("repo").to_string_lossy().into_owned();
        let arca = Arca { repo, password: "test password".into(), dir };
        arca.ok(&["repo", "init"]);
        arca
    }

    /// A fresh repository on the real S3 server, if the test environment has one.
    pub fn new_s3(name: &str) -> Option<Arca> {
        let bucket = s3_bucket()?;
        let dir = tempfile::tempdir().expect("tempdir");
        let prefix = format!("{name}-{}-{}", std::process::id(), nanos());
        let arca = Arca { repo: format!("s3://{bucket}/{prefix}"), password: "s3 password".into(), dir };
        arca.ok(&["repo", "init"]);
        Some(arca)
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_arca"));
        c.env("ARCA_REPO", &self.repo).env("ARCA_PASSWORD", &self.password).env_remove("ARCA_PASSWORD_FILE");
        // Each test's own metadata cache, gone with its directory.
        c.env("ARCA_CACHE_DIR", self.dir.path().join("cache")).env_remove("ARCA_NO_CACHE");
        c.stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run arca")
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "arca {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs with `-o json` and parses the single JSON document on stdout.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        let out = self.ok(&all);
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("arca {args:?}: stdout is not one JSON document ({e}):\n{out}"))
    }
}

/// The bucket of the test S3 server. In CI its absence is a failure, so the
/// real-S3 path can't be skipped silently.
pub fn s3_bucket() -> Option<String> {
    match std::env::var("ARCA_TEST_S3_BUCKET") {
        Ok(b) if !b.is_empty() => Some(b),
        _ => {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true but ARCA_TEST_S3_BUCKET is not set");
            eprintln!("skipping: ARCA_TEST_S3_BUCKET not set (scripts/test.sh starts a local S3 server)");
            None
        }
    }
}

fn nanos() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn write_file(path: &Path, data: &[u8]) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(path, data).expect("write");
}
