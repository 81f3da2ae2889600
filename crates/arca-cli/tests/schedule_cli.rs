//! `arca schedule …` through the binary against the test cluster: the
//! Schedule object it writes, list/describe output, pause and unpause, and
//! bad input refused before anything is written.

use std::process::{Command, Output, Stdio};

use arca_testcluster::TestCluster;
use serde_json::Value;

fn arca(cluster: &TestCluster, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_arca"))
        .arg("--kubeconfig")
        .arg(cluster.kubeconfig_path())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run arca")
}

fn ok(cluster: &TestCluster, args: &[&str]) -> String {
    let out = arca(cluster, args);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "arca {args:?} failed:\nstdout: {stdout}\nstderr: {stderr}");
    stdout.into_owned()
}

async fn cluster() -> anyhow::Result<TestCluster> {
    let cluster = TestCluster::start().await?;
    let crds = arca_api::crds().into_iter().map(serde_json::to_value).collect::<Result<Vec<_>, _>>()?;
    cluster.create_objects(crds)?;
    Ok(cluster)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedules_are_created_listed_paused_and_deleted() -> anyhow::Result<()> {
    let cluster = cluster().await?;
    let created = ok(
        &cluster,
        &[
            "schedule",
            "create",
            "nightly",
            "--schedule",
            "30 2 * * *",
            "--timezone",
            "Europe/Berlin",
            "--keep-last",
            "3",
            "--keep-daily",
            "7",
            "--keep-monthly",
            "12",
            "--overlap",
            "allow",
            "--include-namespaces",
            "shop,cart",
            "--location",
            "main",
            "--volumes",
            "fs",
            "--tag",
            "env=prod",
            "-o",
            "json",
        ],
    );
    let s: Value = serde_json::from_str(&created)?;
    let spec = &s["spec"];
    assert_eq!(spec["schedule"], "30 2 * * *");
    assert_eq!(spec["timeZone"], "Europe/Berlin");
    assert_eq!(spec["overlapPolicy"], "Allow");
    assert_eq!(spec["retention"], serde_json::json!({"keepLast": 3, "keepDaily": 7, "keepMonthly": 12}));
    assert_eq!(spec["template"]["includeNamespaces"], serde_json::json!(["shop", "cart"]));
    assert_eq!(spec["template"]["location"], "main");
    assert_eq!(spec["template"]["volumes"]["mode"], "fs");
    assert_eq!(spec["template"]["tags"], serde_json::json!(["env=prod"]));
    assert_eq!(spec["paused"], false);

    let list = ok(&cluster, &["schedule", "list"]);
    assert!(list.contains("nightly") && list.contains("Europe/Berlin") && list.contains("30 2 * * *"), "{list}");

    ok(&cluster, &["schedule", "pause", "nightly"]);
    let paused: Value = serde_json::from_str(&ok(&cluster, &["schedule", "describe", "nightly", "-o", "json"]))?;
    assert_eq!(paused["spec"]["paused"], true);
    let unpaused = ok(&cluster, &["schedule", "unpause", "nightly"]);
    assert!(unpaused.contains("next due time"), "{unpaused}");
    let text = ok(&cluster, &["schedule", "describe", "nightly"]);
    assert!(text.contains("paused       false") && text.contains("daily 7"), "{text}");

    let again = arca(&cluster, &["schedule", "create", "nightly", "--schedule", "@daily"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));

    ok(&cluster, &["schedule", "delete", "nightly"]);
    assert!(ok(&cluster, &["schedule", "list"]).contains("no schedules"));
    let missing = arca(&cluster, &["schedule", "describe", "nightly"]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no schedule \"nightly\""));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_cron_and_zones_are_refused_before_anything_is_written() -> anyhow::Result<()> {
    let cluster = cluster().await?;
    let cases: &[(&[&str], &str)] = &[
        (&["--schedule", "0 0 2 * * *"], "has 6 fields"),
        (&["--schedule", "0 25 * * *"], "hour field"),
        (&["--schedule", "@daily", "--timezone", "Berlin"], "unknown time zone \"Berlin\""),
    ];
    for (extra, want) in cases {
        let mut args = vec!["schedule", "create", "bad"];
        args.extend_from_slice(extra);
        let out = arca(&cluster, &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains(want), "{extra:?}: {stderr}");
    }
    assert!(ok(&cluster, &["schedule", "list"]).contains("no schedules"));
    Ok(())
}
