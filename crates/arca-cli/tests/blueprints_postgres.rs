//! The PostgreSQL blueprint for real: a database of more than 100k rows
//! over several tables (non-ASCII text, bytea, large objects) on the server
//! `scripts/db-servers.sh` runs, backed up through a test-cluster pod's
//! exec (pg_dump's stdout straight into the repository), dropped, restored
//! by re-creating the pod (psql fed from the repository), compared table by
//! table. Then a second dump with 1 % of the rows changed, and its added
//! bytes against the first's.

mod blueprint_env;
mod kube_env;

use blueprint_env::{app_pod, cluster, delete_pod, dump, host, kube, namespace, secret, server_env};
use kube_env::Env;
use serde_json::json;

const NS: &str = "db";

struct Pg {
    host: String,
    port: String,
    user: String,
    password: String,
}

impl Pg {
    fn psql(&self, db: &str, sql: &str) -> anyhow::Result<String> {
        let env = [
            ("PGHOST", self.host.as_str()),
            ("PGPORT", &self.port),
            ("PGUSER", &self.user),
            ("PGPASSWORD", &self.password),
        ];
        host(&["psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql], &env, None)
    }

    /// One checksum per table (rows in key order) and one over the large objects.
    fn checksums(&self, db: &str) -> anyhow::Result<String> {
        self.psql(
            db,
            "SELECT 'customers ' || md5(string_agg(c::text, '|' ORDER BY id)) FROM customers c \
             UNION ALL SELECT 'orders ' || md5(string_agg(o::text, '|' ORDER BY id)) FROM orders o \
             UNION ALL SELECT 'files ' || md5(string_agg(f::text, '|' ORDER BY id)) FROM files f \
             UNION ALL SELECT 'large objects ' || count(*) || ' ' || md5(string_agg(oid::text || md5(lo_get(oid)), '|' ORDER BY oid)) \
               FROM pg_largeobject_metadata \
             UNION ALL SELECT 'rows ' || ((SELECT count(*) FROM customers) + (SELECT count(*) FROM orders) + (SELECT count(*) FROM files))",
        )
    }
}

/// customers (20k, non-ASCII names), orders (100k), files (bytea) and 30 large objects.
const DATASET: &str = "
CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, city text);
INSERT INTO customers SELECT i, 'Zoë Ångström-Łukasz 東京 ' || i, (ARRAY['Zürich','São Paulo','Kraków','Москва'])[1 + i % 4]
  FROM generate_series(1, 20000) i;
CREATE TABLE orders (id int PRIMARY KEY, customer int REFERENCES customers, amount numeric(12,2), note text, placed timestamptz);
INSERT INTO orders SELECT i, 1 + i % 20000, (i * 7919 % 100000) / 100.0, md5(i::text) || ' ½ €', '2026-01-01'::timestamptz + i * interval '1 minute'
  FROM generate_series(1, 100000) i;
CREATE TABLE files (id int PRIMARY KEY, body bytea, doc oid);
INSERT INTO files SELECT i, decode(repeat(md5(i::text), 64), 'hex') || '\\x00ff00'::bytea, NULL FROM generate_series(1, 2000) i;
UPDATE files SET doc = lo_from_bytea(0, convert_to(repeat('large object ' || id || ' ø ', 5000), 'UTF8')) WHERE id <= 30;
";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_comes_back_row_by_row_and_a_second_dump_dedups() -> anyhow::Result<()> {
    let Some(v) = server_env(&["PGHOST", "PGPORT", "PGUSER", "PGPASSWORD"]) else { return Ok(()) };
    let pg = Pg { host: v[0].clone(), port: v[1].clone(), user: v[2].clone(), password: v[3].clone() };
    let db = format!("arca_shop_{}", std::process::id());
    // Leftovers of an interrupted run would be dumped too (and share this one's chunks).
    for old in pg.psql("postgres", "SELECT datname FROM pg_database WHERE datname LIKE 'arca_shop_%'")?.lines() {
        pg.psql("postgres", &format!("DROP DATABASE IF EXISTS {old}"))?;
    }
    pg.psql("postgres", &format!("CREATE DATABASE {db}"))?;
    pg.psql(&db, DATASET)?;
    let before = pg.checksums(&db)?;
    assert!(before.contains("rows 122000") && before.contains("large objects 30"), "{before}");

    let dir = tempfile::tempdir()?;
    let env = Env::new(dir.path())?;
    let cluster = cluster().await?;
    let k = kube(&cluster).await?;
    namespace(&k, NS).await?;
    secret(&k, NS, "pg-auth", &[("password", &pg.password)]).await?;
    let pod_env = json!([
        {"name": "PGHOST", "value": pg.host}, {"name": "PGPORT", "value": pg.port}, {"name": "PGUSER", "value": pg.user},
        {"name": "PGPASSWORD", "valueFrom": {"secretKeyRef": {"name": "pg-auth", "key": "password"}}}
    ]);
    app_pod(&k, NS, "pg-0", "postgresql", "postgres:15", pod_env).await?;

    let b1 =
        env.json(&cluster, 0, &["backup", "create", "pg-1", "--include-namespaces", NS, "--volumes", "none"]).await?;
    let stream = format!("db-{db}");
    let first = dump(&b1, &stream)?;
    assert_eq!(first["state"], "Completed", "{first}");
    assert_eq!(first["object"], "Pod/db/pg-0");
    assert_eq!(first["container"], "db");
    assert_eq!(first["item"], db.as_str());
    assert_eq!(dump(&b1, "globals")?["state"], "Completed");
    let report_text = b1.to_string();
    assert!(!report_text.contains(&pg.password), "the password must not appear in the report");

    pg.psql("postgres", &format!("DROP DATABASE {db}"))?;
    delete_pod(&k, NS, "pg-0").await?;
    let r =
        env.json(&cluster, 0, &["restore", "create", "r1", "--from-backup", "pg-1", "--dump-timeout", "60s"]).await?;
    let restored: Vec<_> =
        r["dumps"].as_array().into_iter().flatten().filter(|d| d["stream"] == stream.as_str()).collect();
    assert_eq!(restored.len(), 1, "{}", r["dumps"]);
    assert_eq!(restored[0]["state"], "Restored", "{}", restored[0]);
    assert_eq!(restored[0]["bytes"], first["bytes"]);
    assert_eq!(pg.checksums(&db)?, before, "every table comes back row by row");

    // 1 % of the rows changed, in one stretch of keys (as recent orders are).
    pg.psql(&db, "UPDATE orders SET note = note || ' paid' WHERE id BETWEEN 60001 AND 61000")?;
    let b2 =
        env.json(&cluster, 0, &["backup", "create", "pg-2", "--include-namespaces", NS, "--volumes", "none"]).await?;
    let second = dump(&b2, &stream)?;
    let (stored1, stored2) =
        (first["stored_bytes"].as_f64().unwrap_or(0.0), second["stored_bytes"].as_f64().unwrap_or(0.0));
    let ratio = stored2 / stored1.max(1.0);
    eprintln!(
        "postgres dump: {} bytes, first stored {stored1} bytes, second (1% of rows changed) added {stored2} bytes: {:.1} %",
        first["bytes"],
        ratio * 100.0
    );
    assert!(stored1 > 0.0 && ratio < 0.6, "a second dump shares most chunks with the first: ratio {ratio}");
    pg.psql("postgres", &format!("DROP DATABASE {db}"))?;
    Ok(())
}
