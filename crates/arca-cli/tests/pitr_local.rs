//! Point-in-time recovery with a real PostgreSQL and the real `arca`
//! binary: `archive_command = 'arca wal push %p'`, a base backup streamed
//! from pg_basebackup, rows written at t1, t2, t3 with the WAL switched after
//! each, then `arca wal restore --to-time` between t2 and t3 and the server
//! replaying the archive through `arca wal fetch`: the rows of t1 and t2 are
//! back, those of t3 are not.

mod pitr_pg;

use std::process::Output;
use std::time::Duration;

use pitr_pg::{Pg, PgHome, as_postgres, ok};

const ARCA: &str = env!("CARGO_BIN_EXE_arca");
const CLUSTER: &str = "orders";

struct Archive {
    repo: String,
    password_file: String,
}

impl Archive {
    /// Runs arca as the postgres user (the archive is shared with the server).
    fn run(&self, args: &[&str]) -> Output {
        let mut all = vec!["--repo", &self.repo, "--password-file", &self.password_file];
        all.extend_from_slice(args);
        as_postgres(ARCA, &all)
    }

    fn ok(&self, args: &[&str]) -> String {
        ok(self.run(args), &format!("arca {args:?}"))
    }

    fn fails_with(&self, args: &[&str], code: i32, needle: &str) {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "arca {args:?}: {stderr}");
        assert!(stderr.contains(needle), "arca {args:?}: expected {needle:?} in: {stderr}");
    }

    fn command(&self, sub: &str) -> String {
        format!("{ARCA} --repo {} --password-file {} -q wal {sub} --cluster {CLUSTER}", self.repo, self.password_file)
    }
}

fn setup(home: &PgHome) -> Archive {
    let password_file = home.path("password");
    ok(
        as_postgres("sh", &["-c", &format!("umask 077; printf 'pitr secret' > {}", password_file.display())]),
        "password file",
    );
    let archive = Archive {
        repo: home.path("repo").to_string_lossy().into_owned(),
        password_file: password_file.to_string_lossy().into_owned(),
    };
    archive.ok(&["repo", "init"]);
    archive
}

fn now_rfc3339(pg: &Pg) -> String {
    pg.sql("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
}

fn phases(pg: &Pg) -> String {
    pg.sql("SELECT string_agg(phase || ':' || n, ',' ORDER BY phase) FROM (SELECT phase, count(*) AS n FROM orders GROUP BY phase) p")
}

#[test]
fn push_is_idempotent_and_fetch_says_what_is_missing() {
    let home = PgHome::new();
    let archive = setup(&home);
    let dir = home.mkdir("files");
    let segment = dir.join("000000010000000000000042");
    let write = |content: &str| {
        ok(as_postgres("sh", &["-c", &format!("printf '{content}' > {}", segment.display())]), "write segment");
    };
    write("first content");
    let seg = segment.to_string_lossy().into_owned();
    archive.ok(&["wal", "push", "--cluster", CLUSTER, &seg]);
    // PostgreSQL re-runs archive_command after a crash: the same file succeeds again.
    archive.ok(&["wal", "push", "--cluster", CLUSTER, &seg]);
    write("other content");
    archive.fails_with(
        &["wal", "push", "--cluster", CLUSTER, &seg],
        1,
        "archived already for cluster orders with different content",
    );
    archive.fails_with(
        &["wal", "push", "--cluster", CLUSTER, &dir.join("notes.txt").to_string_lossy()],
        1,
        "not a file PostgreSQL archives",
    );

    let dest = dir.join("RECOVERYXLOG").to_string_lossy().into_owned();
    archive.ok(&["wal", "fetch", "--cluster", CLUSTER, "000000010000000000000042", &dest]);
    assert_eq!(std::fs::read_to_string(&dest).unwrap_or_default(), "first content");
    // The end of the archive: exit 1, as restore_command must.
    archive.fails_with(
        &["wal", "fetch", "--cluster", CLUSTER, "000000010000000000000043", &dest],
        1,
        "not in the WAL archive",
    );
    // A broken repository is not the end of the archive: PostgreSQL must stop, not promote.
    let out = as_postgres(
        ARCA,
        &[
            "--repo",
            &archive.repo,
            "--password-file",
            "/nonexistent",
            "wal",
            "fetch",
            "--cluster",
            CLUSTER,
            "000000010000000000000042",
            &dest,
        ],
    );
    assert_eq!(out.status.code(), Some(126), "{}", String::from_utf8_lossy(&out.stderr));

    // PostgreSQL may push while another push still runs (a retry, a second
    // archiver after a restart): concurrent pushes share the lock.
    let names: Vec<String> = (0x50..0x54).map(|n| format!("0000000100000000000000{n:02X}")).collect();
    for name in &names {
        ok(
            as_postgres("sh", &["-c", &format!("head -c 3000000 /dev/urandom > {}", dir.join(name).display())]),
            "write",
        );
    }
    let children: Vec<std::process::Child> = names
        .iter()
        .chain(names.first())
        .map(|name| {
            let path = dir.join(name).to_string_lossy().into_owned();
            std::process::Command::new("runuser")
                .args([
                    "-u",
                    "postgres",
                    "--",
                    ARCA,
                    "--repo",
                    &archive.repo,
                    "--password-file",
                    &archive.password_file,
                ])
                .args(["-q", "wal", "push", "--cluster", CLUSTER, &path])
                .spawn()
                .unwrap_or_else(|e| panic!("spawn push: {e}"))
        })
        .collect();
    for mut child in children {
        assert!(child.wait().map(|s| s.success()).unwrap_or(false), "a concurrent push failed");
    }
    for name in &names {
        let back = dir.join(format!("{name}.back")).to_string_lossy().into_owned();
        archive.ok(&["wal", "fetch", "--cluster", CLUSTER, name, &back]);
        assert_eq!(std::fs::read(&back).ok(), std::fs::read(dir.join(name)).ok(), "{name}");
    }

    // A base backup whose pg_basebackup fails stores nothing restorable.
    let missing = home.mkdir("no-server").to_string_lossy().into_owned();
    let out = archive.run(&["wal", "base-backup", "--cluster", CLUSTER, "--", "-h", &missing, "-p", "1"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing stored"), "{out:?}");
    let snapshots = archive.ok(&["snapshots", "-o", "json"]);
    assert!(!snapshots.contains("base-backup"), "{snapshots}");
    // Without a base backup, retention keeps every archived file.
    let kept = archive.ok(&["wal", "forget", "--cluster", CLUSTER, "--keep-within", "0s", "-o", "json"]);
    assert!(kept.contains("\"removed\": []"), "{kept}");

    let listing = archive.ok(&["wal", "list", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&listing).unwrap_or_default();
    assert_eq!(v[0]["cluster"], CLUSTER, "{listing}");
    assert_eq!(v[0]["runs"][0]["first"], "000000010000000000000042", "{listing}");
    assert_eq!(v[0]["runs"][1]["first"], "000000010000000000000050", "{listing}");
    assert_eq!(v[0]["runs"][1]["segments"], 4, "{listing}");
    // The WAL area is part of the repository: check accepts it, prune keeps its data.
    archive.ok(&["repo", "check"]);
    archive.ok(&["repo", "prune"]);
    archive.ok(&["wal", "fetch", "--cluster", CLUSTER, "000000010000000000000042", &dest]);
    assert_eq!(std::fs::read_to_string(&dest).unwrap_or_default(), "first content");
}

#[test]
fn restores_to_a_time_between_two_inserts() {
    let home = PgHome::new();
    let archive = setup(&home);
    let port = 21000 + (std::process::id() % 5000) as u16;
    let pg = Pg::init(&home, "data", port);
    pg.append_conf(&format!(
        "\nwal_level = replica\narchive_mode = on\narchive_command = '{}'\nfsync = off\n",
        archive.command("push %p")
    ));
    pg.start();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| scenario(&home, &archive, &pg)));
    pg.stop();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

fn scenario(home: &PgHome, archive: &Archive, pg: &Pg) {
    pg.sql("CREATE TABLE orders (id serial PRIMARY KEY, phase text NOT NULL, note text, at timestamptz DEFAULT clock_timestamp())");
    let sock = pg.sock.to_string_lossy().into_owned();
    let port = pg.port.to_string();
    let base = archive.ok(&[
        "wal",
        "base-backup",
        "--cluster",
        CLUSTER,
        "-o",
        "json",
        "--",
        "-h",
        &sock,
        "-p",
        &port,
        "-U",
        "postgres",
    ]);
    let base: serde_json::Value = serde_json::from_str(&base).unwrap_or_default();
    assert_eq!(base["timeline"], 1, "{base}");
    let base_end = base["stop_time"].as_str().unwrap_or_default().to_string();

    pg.sql("INSERT INTO orders (phase, note) SELECT 't1', 'first ' || g FROM generate_series(1, 100) g");
    pg.switch_and_wait_archived();
    std::thread::sleep(Duration::from_millis(300));
    pg.sql("INSERT INTO orders (phase, note) SELECT 't2', 'zweite Größe ' || g FROM generate_series(1, 200) g");
    pg.switch_and_wait_archived();
    std::thread::sleep(Duration::from_millis(500));
    let target = now_rfc3339(pg);
    std::thread::sleep(Duration::from_millis(500));
    pg.sql("INSERT INTO orders (phase, note) SELECT 't3', 'third ' || g FROM generate_series(1, 300) g");
    pg.switch_and_wait_archived();
    assert_eq!(phases(pg), "t1:100,t2:200,t3:300");
    let listing = archive.ok(&["wal", "list"]);
    assert!(listing.contains("cluster orders"), "{listing}");

    // Targets the archive cannot reach are refused with the reason.
    let restored = home.path("restored").to_string_lossy().into_owned();
    let out = archive.run(&[
        "wal",
        "restore",
        "--cluster",
        CLUSTER,
        "--to-time",
        "2001-01-01T00:00:00Z",
        "--target-dir",
        &restored,
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("before the end of the oldest base backup"), "{out:?}");
    let out = archive.run(&[
        "wal",
        "restore",
        "--cluster",
        CLUSTER,
        "--to-time",
        "2999-01-01T00:00:00Z",
        "--target-dir",
        &restored,
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("after the newest archived WAL"), "{out:?}");
    assert!(base_end.as_str() < target.as_str(), "base backup ended {base_end}, target {target}");

    pg.stop();
    archive.ok(&["wal", "restore", "--cluster", CLUSTER, "--to-time", &target, "--target-dir", &restored]);
    assert!(std::path::Path::new(&restored).join("recovery.signal").exists());
    let again = Pg::at(restored.clone().into(), pg.sock.clone(), pg.port);
    again.start();
    let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        again.wait_promoted();
        assert_eq!(phases(&again), "t1:100,t2:200", "server log:\n{}", again.log());
        let umlaut = again.sql("SELECT count(*) FROM orders WHERE note LIKE 'zweite Größe %'");
        assert_eq!(umlaut, "200");
    }));
    again.stop();
    if let Err(e) = checked {
        std::panic::resume_unwind(e);
    }
    let log = again.log();
    assert!(log.contains("recovery stopping before commit"), "server log:\n{log}");

    // Retention: only what lies before the base backup's start segment goes.
    let start = base["start_segment"].as_str().unwrap_or_default().to_string();
    let forgot = archive.ok(&["wal", "forget", "--cluster", CLUSTER, "--keep-within", "0s", "-o", "json"]);
    let forgot: serde_json::Value = serde_json::from_str(&forgot).unwrap_or_default();
    let removed: Vec<&str> = forgot["removed"].as_array().into_iter().flatten().filter_map(|v| v.as_str()).collect();
    assert!(!removed.is_empty(), "{forgot}");
    assert!(removed.iter().all(|n| n.get(8..24) < start.get(8..24)), "{forgot}");
    let listing = archive.ok(&["wal", "list", "-o", "json"]);
    assert!(listing.contains(&start), "{listing}");
    archive.ok(&["repo", "prune"]);
    archive.ok(&["repo", "check"]);
}
