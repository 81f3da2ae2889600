//! The MariaDB blueprint for real: a database of more than 100k rows over
//! several tables (utf8mb4 text, BLOBs) on the server
//! `scripts/db-servers.sh` runs; mysqldump's stdout streamed through a
//! StatefulSet's pod's exec into the repository, the database dropped, the
//! StatefulSet re-created by the restore and the dump fed into `mariadb`;
//! per-table checksums over every row compared.

mod blueprint_env;
mod kube_env;

use blueprint_env::{app_statefulset, cluster, delete_statefulset, dump, host, kube, namespace, secret, server_env};
use kube_env::Env;
use serde_json::json;

const NS: &str = "db";

const DATASET: &str = "
SET SESSION max_recursive_iterations = 1000000;
CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(200) NOT NULL, city VARCHAR(50)) DEFAULT CHARSET=utf8mb4;
INSERT INTO customers WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 20000)
  SELECT i, CONCAT('Zoë Ångström-Łukasz 東京 🐘 ', i), ELT(1 + i % 4, 'Zürich', 'São Paulo', 'Kraków', 'Москва') FROM s;
CREATE TABLE orders (id INT PRIMARY KEY, customer INT, amount DECIMAL(12,2), note TEXT) DEFAULT CHARSET=utf8mb4;
INSERT INTO orders WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 100000)
  SELECT i, 1 + i % 20000, (i * 7919 % 100000) / 100.0, CONCAT(MD5(i), ' ½ €') FROM s;
CREATE TABLE files (id INT PRIMARY KEY, body LONGBLOB);
INSERT INTO files WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 2000)
  SELECT i, CONCAT(UNHEX(REPEAT(MD5(i), 64)), X'00FF00') FROM s;
";

const CHECKSUMS: &str = "
SELECT 'customers', COUNT(*), SUM(CRC32(CONCAT_WS('|', id, name, city))), BIT_XOR(CRC32(CONCAT_WS('|', id, name, city))) FROM customers
UNION ALL SELECT 'orders', COUNT(*), SUM(CRC32(CONCAT_WS('|', id, customer, amount, note))), BIT_XOR(CRC32(CONCAT_WS('|', id, customer, amount, note))) FROM orders
UNION ALL SELECT 'files', COUNT(*), SUM(CRC32(CONCAT_WS('|', id, HEX(body)))), BIT_XOR(CRC32(body)) FROM files;
";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_comes_back_row_by_row() -> anyhow::Result<()> {
    let Some(v) = server_env(&["MYSQL_HOST", "MYSQL_PORT", "MYSQL_PASSWORD"]) else { return Ok(()) };
    let (mhost, mport, password) = (v[0].clone(), v[1].clone(), v[2].clone());
    let mysql = |db: &str, sql: &str| {
        let env = [("MYSQL_PWD", password.as_str())];
        let mut argv = vec!["mariadb", "-h", mhost.as_str(), "-P", mport.as_str(), "-uroot", "-N", "-B"];
        argv.extend(["--default-character-set=utf8mb4", "-e", sql]);
        if !db.is_empty() {
            argv.push(db);
        }
        host(&argv, &env, None)
    };
    for old in mysql("", "SHOW DATABASES LIKE 'arca\\_shop\\_%'")?.lines() {
        mysql("", &format!("DROP DATABASE `{old}`"))?;
    }
    let db = format!("arca_shop_{}", std::process::id());
    mysql("", &format!("CREATE DATABASE {db} DEFAULT CHARSET utf8mb4"))?;
    mysql(&db, DATASET)?;
    let before = mysql(&db, CHECKSUMS)?;
    assert!(before.contains("orders\t100000"), "{before}");

    let dir = tempfile::tempdir()?;
    let env = Env::new(dir.path())?;
    let cluster = cluster().await?;
    let k = kube(&cluster).await?;
    namespace(&k, NS).await?;
    secret(&k, NS, "mariadb-auth", &[("root-password", &password)]).await?;
    let pod_env = json!([
        {"name": "MYSQL_HOST", "value": mhost}, {"name": "MYSQL_TCP_PORT", "value": mport},
        {"name": "MARIADB_ROOT_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "mariadb-auth", "key": "root-password"}}}
    ]);
    app_statefulset(&k, NS, "mariadb", "mariadb", "mariadb:10.11", pod_env).await?;

    let b =
        env.json(&cluster, 0, &["backup", "create", "m-1", "--include-namespaces", NS, "--volumes", "none"]).await?;
    let stream = format!("db-{db}");
    let record = dump(&b, &stream)?;
    assert_eq!(record["state"], "Completed", "{}", b["dumps"]);
    assert_eq!(record["object"], "StatefulSet/db/mariadb", "the workload is bound, not its pod");
    assert_eq!(record["pod"], "db/mariadb-0");
    assert!(!b.to_string().contains(&password));

    mysql("", &format!("DROP DATABASE {db}"))?;
    delete_statefulset(&k, NS, "mariadb").await?;
    let r =
        env.json(&cluster, 0, &["restore", "create", "r1", "--from-backup", "m-1", "--dump-timeout", "60s"]).await?;
    let restored: Vec<_> =
        r["dumps"].as_array().into_iter().flatten().filter(|d| d["stream"] == stream.as_str()).collect();
    assert_eq!(restored.len(), 1, "{}", r["dumps"]);
    assert_eq!(restored[0]["state"], "Restored", "{}", restored[0]);
    assert_eq!(mysql(&db, CHECKSUMS)?, before, "every table comes back row by row");
    mysql("", &format!("DROP DATABASE {db}"))?;
    Ok(())
}
