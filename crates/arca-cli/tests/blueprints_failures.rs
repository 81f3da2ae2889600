//! Dumps that do not end well: a command that exits non-zero after writing
//! part of its stream, and one killed mid-way. Each is a failed item (the
//! backup ends PartiallyFailed, exit 3) with the stderr's tail as its
//! reason, and leaves no restorable snapshot; the repository stays valid.
//! Also the `arca blueprint` commands. Needs no database server.

mod blueprint_env;
mod kube_env;

use blueprint_env::{app_pod, cluster, dump, kube, namespace};
use kube_env::Env;
use serde_json::json;

const BROKEN: &str = r#"
name: broken
description: Streams that fail.
backup:
  streams:
    - name: exits
      command: [sh, -c, "head -c 3000000 /dev/zero; echo 'disk on fire' >&2; exit 4"]
    - name: killed
      command: [sh, -c, "head -c 2000000 /dev/urandom; kill -9 $$"]
    - name: fine
      command: [sh, -c, "echo all good"]
restore:
  streams:
    - match: "*"
      command: [sh, -c, "cat > /dev/null"]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_and_killed_dumps_are_failed_items_without_snapshots() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let env = Env::new(dir.path())?;
    let bp_dir = dir.path().join("blueprints");
    std::fs::create_dir_all(&bp_dir)?;
    std::fs::write(bp_dir.join("broken.yaml"), BROKEN)?;
    let bp = bp_dir.display().to_string();
    let cluster = cluster().await?;
    let k = kube(&cluster).await?;
    namespace(&k, "app").await?;
    app_pod(&k, "app", "tool", "broken", "busybox", json!([])).await?;

    let report = env
        .json(
            &cluster,
            3,
            &["backup", "create", "b", "--include-namespaces", "app", "--volumes", "none", "--blueprints", &bp],
        )
        .await?;
    assert_eq!(report["phase"], "PartiallyFailed");
    let exits = dump(&report, "exits")?;
    assert_eq!(exits["state"], "Failed");
    let reason = exits["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("exit code 4") && reason.contains("disk on fire"), "{reason}");
    assert!(exits.get("snapshot").is_none(), "{exits}");
    let killed = dump(&report, "killed")?;
    assert_eq!(killed["state"], "Failed", "{killed}");
    assert!(killed.get("snapshot").is_none());
    let fine = dump(&report, "fine")?;
    assert_eq!(fine["state"], "Completed", "{fine}");
    assert_eq!(fine["bytes"], 9, "`all good` and its newline");
    let errors = report["errors"].to_string();
    assert!(errors.contains("disk on fire"), "{errors}");

    // Only the good stream is a snapshot; the repository checks out.
    let snaps = env.json(&cluster, 0, &["snapshots"]).await?;
    let names: Vec<String> = snaps
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["kind"] == "stream")
        .flat_map(|s| s["paths"].as_array().cloned().unwrap_or_default())
        .map(|p| p.as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(names, ["dump-app-tool-fine"], "{snaps}");
    env.expect(&cluster, 0, &["repo", "check"]).await?;
    Ok(())
}

#[tokio::test]
async fn blueprint_commands_list_show_and_validate() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let env = Env::new(dir.path())?;
    let cluster = cluster().await?;
    let list = env.expect(&cluster, 0, &["blueprint", "list"]).await?;
    for name in ["postgresql", "mariadb", "redis"] {
        assert!(list.contains(name), "{list}");
    }
    let shown = env.expect(&cluster, 0, &["blueprint", "show", "postgresql"]).await?;
    assert!(shown.contains("pg_dump") && shown.contains("pg_dumpall"), "{shown}");
    let file = dir.path().join("typo.yaml");
    std::fs::write(&file, BROKEN.replace("command: [sh, -c, \"echo all good\"]", "comand: [true]"))?;
    let out = env.arca(&cluster, &["blueprint", "validate", &file.display().to_string()]).await?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(err.contains("typo.yaml") && err.contains("comand"), "{err}");
    let good = dir.path().join("good.yaml");
    std::fs::write(&good, BROKEN)?;
    env.expect(&cluster, 0, &["blueprint", "validate", &good.display().to_string()]).await?;
    Ok(())
}
