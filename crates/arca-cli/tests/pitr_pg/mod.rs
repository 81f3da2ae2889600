//! A throwaway PostgreSQL server for the PITR tests: its own data
//! directory, socket directory and port under a temporary directory owned by
//! the `postgres` user (PostgreSQL refuses to run as root).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub const BIN: &str = "/usr/lib/postgresql/15/bin";

/// Runs a command as the postgres user, keeping the environment.
pub fn as_postgres(program: &str, args: &[&str]) -> Output {
    Command::new("runuser")
        .args(["-u", "postgres", "--", program])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} as postgres: {e}"))
}

pub fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A directory the postgres user owns (mode 0700), removed on drop.
pub struct PgHome {
    pub dir: tempfile::TempDir,
}

impl PgHome {
    pub fn new() -> PgHome {
        let dir = tempfile::Builder::new().prefix("arca-pitr-").tempdir().expect("tempdir");
        ok(
            Command::new("chown").args(["postgres:postgres", &dir.path().to_string_lossy()]).output().expect("chown"),
            "chown",
        );
        PgHome { dir }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn mkdir(&self, rel: &str) -> PathBuf {
        let p = self.path(rel);
        ok(as_postgres("mkdir", &["-p", &p.to_string_lossy()]), "mkdir");
        p
    }
}

/// One server: data directory, socket directory, port.
pub struct Pg {
    pub data: PathBuf,
    pub sock: PathBuf,
    pub port: u16,
}

impl Pg {
    /// `initdb` with trust authentication for local connections.
    pub fn init(home: &PgHome, name: &str, port: u16) -> Pg {
        let data = home.path(name);
        let sock = home.mkdir(&format!("{name}-sock"));
        let initdb = format!("{BIN}/initdb");
        ok(
            as_postgres(
                &initdb,
                &["-D", &data.to_string_lossy(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"],
            ),
            "initdb",
        );
        Pg { data, sock, port }
    }

    /// The same server settings for a data directory made otherwise (a restore).
    pub fn at(data: PathBuf, sock: PathBuf, port: u16) -> Pg {
        Pg { data, sock, port }
    }

    pub fn append_conf(&self, lines: &str) {
        let conf = self.data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).expect("read postgresql.conf");
        text.push_str(lines);
        std::fs::write(&conf, text).expect("write postgresql.conf");
    }

    pub fn start(&self) {
        let pg_ctl = format!("{BIN}/pg_ctl");
        let log = self.data.with_extension("log");
        let opts = format!("-p {} -k {} -c listen_addresses=''", self.port, self.sock.display());
        let out = as_postgres(
            &pg_ctl,
            &["-D", &self.data.to_string_lossy(), "-l", &log.to_string_lossy(), "-o", &opts, "-w", "-t", "60", "start"],
        );
        if !out.status.success() {
            let log_text = std::fs::read_to_string(&log).unwrap_or_default();
            panic!("pg_ctl start failed: {}\nserver log:\n{log_text}", String::from_utf8_lossy(&out.stderr));
        }
    }

    pub fn stop(&self) {
        let pg_ctl = format!("{BIN}/pg_ctl");
        let _ = as_postgres(&pg_ctl, &["-D", &self.data.to_string_lossy(), "-m", "fast", "-w", "-t", "60", "stop"]);
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data.with_extension("log")).unwrap_or_default()
    }

    /// Runs SQL through psql; returns the unaligned, tuples-only output.
    pub fn sql(&self, sql: &str) -> String {
        let out = self.try_sql(sql);
        ok(out, &format!("psql {sql:?}")).trim().to_string()
    }

    pub fn try_sql(&self, sql: &str) -> Output {
        Command::new("psql")
            .args([
                "-h",
                &self.sock.to_string_lossy(),
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
            ])
            .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .output()
            .expect("run psql")
    }

    /// Switches to a new WAL segment and waits until the old one is archived.
    pub fn switch_and_wait_archived(&self) -> String {
        let segment = self.sql("SELECT pg_walfile_name(pg_switch_wal())");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let last = self.sql("SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver");
            if last.as_str() >= segment.as_str() {
                return segment;
            }
            let failed = self.sql("SELECT coalesce(last_failed_wal, '') FROM pg_stat_archiver");
            assert!(
                Instant::now() < deadline,
                "segment {segment} not archived within 60 s (last failed: {failed})\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits until a recovering server has promoted itself.
    pub fn wait_promoted(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let out = self.try_sql("SELECT pg_is_in_recovery()");
            if out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "f" {
                return;
            }
            assert!(Instant::now() < deadline, "server did not finish recovery within 60 s:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

pub fn chown_postgres(path: &Path) {
    ok(
        Command::new("chown").args(["-R", "postgres:postgres", &path.to_string_lossy()]).output().expect("chown"),
        "chown -R",
    );
}
