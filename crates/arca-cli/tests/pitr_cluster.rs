//! Point-in-time recovery through the test cluster: a StatefulSet whose
//! container runs the real PostgreSQL (archive_command: the real `arca wal
//! push`, its WAL area named by the server's system identifier), annotated
//! for the PostgreSQL blueprint with PITR on. `arca backup
//! create` takes the base backup through `pods/exec`; rows go in at t1, t2,
//! t3; the namespace is deleted; `arca restore create --to-time` between t2
//! and t3 re-creates the app with its claim filled by `arca mover pitr`, and
//! the restarted PostgreSQL replays the archive to that time.

mod pitr_pg;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use arca_kube::api::Kube;
use arca_testcluster::TestCluster;
use pitr_pg::{BIN, Pg, PgHome, as_postgres, ok};
use serde_json::{Value, json};

const ARCA: &str = env!("CARGO_BIN_EXE_arca");
const NS: &str = "shop";
const DATA: &str = "/var/lib/postgresql/data";

fn arca_dir() -> PathBuf {
    PathBuf::from(ARCA).parent().map(PathBuf::from).unwrap_or_default()
}

struct Setup {
    home: PgHome,
    repo: String,
    password_file: String,
    sock: PathBuf,
    port: u16,
}

impl Setup {
    fn new() -> Setup {
        let home = PgHome::new();
        let password_file = home.path("password").to_string_lossy().into_owned();
        ok(as_postgres("sh", &["-c", &format!("umask 077; printf pw > {password_file}")]), "password file");
        let repo = home.path("repo").to_string_lossy().into_owned();
        ok(as_postgres(ARCA, &["--repo", &repo, "--password-file", &password_file, "repo", "init"]), "repo init");
        let sock = home.mkdir("sock");
        let port = 26000 + (std::process::id() % 5000) as u16;
        Setup { home, repo, password_file, sock, port }
    }

    fn arca_prefix(&self) -> String {
        format!("{ARCA} --repo {} --password-file {} -q", self.repo, self.password_file)
    }

    fn pg(&self) -> Pg {
        Pg::at(PathBuf::new(), self.sock.clone(), self.port)
    }

    /// Runs arca against the cluster as root, with the repository. With
    /// umask 0: the server's archive_command (user postgres) writes into the
    /// same local repository directories.
    fn arca(&self, cluster: &TestCluster, args: &[&str]) -> std::process::Output {
        std::process::Command::new("sh")
            .args(["-c", "umask 0; exec \"$@\"", "sh", ARCA])
            .args(["--repo", &self.repo, "--password-file", &self.password_file])
            .args(args)
            .arg("--kubeconfig")
            .arg(cluster.kubeconfig_path())
            .output()
            .unwrap_or_else(|e| panic!("run arca: {e}"))
    }

    fn statefulset(&self) -> Value {
        let start = format!(
            "chown -R postgres:postgres {DATA} && chmod 700 {DATA} && \
             if [ ! -s {DATA}/PG_VERSION ]; then runuser -u postgres -- {BIN}/initdb -D {DATA} -U postgres --auth=trust --no-sync >/dev/null; fi && \
             exec runuser -u postgres -- {BIN}/postgres -D {DATA} -p {port} -k {sock} -c listen_addresses='' \
             -c wal_level=replica -c archive_mode=on -c fsync=off \
             -c \"archive_command={arca} wal push %p\"",
            port = self.port,
            sock = self.sock.display(),
            arca = self.arca_prefix(),
        );
        json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "pg", "namespace": NS},
            "spec": {
                "serviceName": "pg", "replicas": 1,
                "selector": {"matchLabels": {"app": "pg"}},
                "template": {
                    "metadata": {"labels": {"app": "pg"}, "annotations": {
                        "blueprints.arca.io/name": "postgresql",
                        "blueprints.arca.io/pitr": "true"}},
                    "spec": {"containers": [{
                        "name": "postgres", "image": "postgres:15",
                        "command": ["sh", "-c", start],
                        "env": [
                            {"name": "PGDATA", "value": DATA},
                            {"name": "PGHOST", "value": self.sock.display().to_string()},
                            {"name": "PGPORT", "value": self.port.to_string()},
                            {"name": "PGUSER", "value": "postgres"}],
                        "volumeMounts": [{"name": "data", "mountPath": DATA}]}]}
                },
                "volumeClaimTemplates": [{
                    "metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": arca_testcluster::TEST_STORAGE_CLASS,
                             "resources": {"requests": {"storage": "1Gi"}}}}]
            }
        })
    }
}

async fn wait_sql_ready(pg: &Pg, what: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let out = pg.try_sql("SELECT pg_is_in_recovery()");
        if out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "f" {
            return Ok(());
        }
        if Instant::now() > deadline {
            anyhow::bail!("{what}: PostgreSQL not up and out of recovery within 90 s: {out:?}");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn wait_gone(k: &Kube, path: &str) -> anyhow::Result<()> {
    for _ in 0..600 {
        if k.get_opt(path, "waiting").await?.is_none() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("{path} still there after 60 s")
}

fn phases(pg: &Pg) -> String {
    pg.sql("SELECT string_agg(phase || ':' || n, ',' ORDER BY phase) FROM (SELECT phase, count(*) AS n FROM orders GROUP BY phase) p")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_create_to_time_recovers_the_statefulset_between_two_inserts() -> anyhow::Result<()> {
    let s = Setup::new();
    let cluster = TestCluster::builder().data_dir(s.home.path("cluster")).container_path(arca_dir()).start().await?;
    let k = Kube::new(cluster.client().await?, 8);
    k.create("/api/v1/namespaces", &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}), "ns")
        .await?;
    k.create(&format!("/apis/apps/v1/namespaces/{NS}/statefulsets"), &s.statefulset(), "statefulset").await?;
    let pg = s.pg();
    wait_sql_ready(&pg, "first start").await?;
    pg.sql("CREATE TABLE orders (id serial PRIMARY KEY, phase text NOT NULL, note text)");

    let backup = tokio::task::block_in_place(|| {
        s.arca(
            &cluster,
            &["backup", "create", "nightly", "--include-namespaces", NS, "--volumes", "none", "-o", "json"],
        )
    });
    let stdout = String::from_utf8_lossy(&backup.stdout).into_owned();
    assert!(backup.status.success(), "backup: {stdout}\n{}", String::from_utf8_lossy(&backup.stderr));
    let report: Value = serde_json::from_str(&stdout).unwrap_or_default();
    let dumps = report.pointer("/dumps").or_else(|| report.pointer("/report/dumps")).cloned().unwrap_or_default();
    let base = dumps.as_array().and_then(|d| d.iter().find(|d| d["kind"] == "base-backup")).cloned();
    let base = base.ok_or_else(|| anyhow::anyhow!("no base-backup record in the report: {stdout}"))?;
    assert_eq!(base["state"], "Completed", "{base}");
    assert_eq!(base["claim"], format!("{NS}/data-pg-0"), "{base}");
    // No cluster name given anywhere: archive_command (in the data
    // directory) and the backup (asking the server) agree on the system identifier.
    let system_id = pg.sql("SELECT system_identifier FROM pg_control_system()");
    assert_eq!(base["base_backup"]["cluster"], system_id.as_str(), "{base}");

    tokio::task::block_in_place(|| {
        pg.sql("INSERT INTO orders (phase, note) SELECT 't1', 'eins ' || g FROM generate_series(1, 100) g");
        pg.switch_and_wait_archived();
        pg.sql("INSERT INTO orders (phase, note) SELECT 't2', 'zwei ' || g FROM generate_series(1, 200) g");
        pg.switch_and_wait_archived();
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let target = pg.sql("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')");
    tokio::time::sleep(Duration::from_millis(500)).await;
    tokio::task::block_in_place(|| {
        pg.sql("INSERT INTO orders (phase, note) SELECT 't3', 'drei ' || g FROM generate_series(1, 300) g");
        pg.switch_and_wait_archived();
    });
    assert_eq!(phases(&pg), "t1:100,t2:200,t3:300");

    k.delete(&format!("/api/v1/namespaces/{NS}"), "delete namespace").await?;
    wait_gone(&k, &format!("/api/v1/namespaces/{NS}")).await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while pg.try_sql("SELECT 1").status.success() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A time the archive does not reach is refused before anything is created.
    let late = tokio::task::block_in_place(|| {
        s.arca(
            &cluster,
            &["restore", "create", "late", "--from-backup", "nightly", "--to-time", "2999-01-01T00:00:00Z"],
        )
    });
    assert!(!late.status.success());
    assert!(String::from_utf8_lossy(&late.stderr).contains("after the newest archived WAL"), "{late:?}");

    let fetch = format!("{} wal fetch --cluster {{cluster}} %f %p", s.arca_prefix());
    let restored = tokio::task::block_in_place(|| {
        s.arca(
            &cluster,
            &[
                "restore",
                "create",
                "back",
                "--from-backup",
                "nightly",
                "--to-time",
                &target,
                "--pitr-restore-command",
                &fetch,
                "-o",
                "json",
            ],
        )
    });
    let out = String::from_utf8_lossy(&restored.stdout).into_owned();
    assert!(restored.status.success(), "restore: {out}\n{}", String::from_utf8_lossy(&restored.stderr));
    assert!(out.contains("point-in-time-recovery"), "{out}");
    wait_sql_ready(&pg, "recovered start").await?;
    assert_eq!(phases(&pg), "t1:100,t2:200", "restore report: {out}");
    k.delete(&format!("/api/v1/namespaces/{NS}"), "delete namespace").await?;
    wait_gone(&k, &format!("/api/v1/namespaces/{NS}")).await?;
    drop(cluster);
    Ok(())
}
