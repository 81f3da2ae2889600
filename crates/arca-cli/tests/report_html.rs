//! `arca report --html`: a real backup of two namespaces (a Secret with a
//! distinctive value, a ConfigMap, a Deployment in each) and a restore into
//! another namespace with one object refused, each written as a report file
//! and opened in Chromium (`mod browser`). What the page shows must equal
//! what `arca backup describe` / `arca restore describe` say; the file must
//! load nothing but itself, log no console error, and hold no Secret value.
//!
//! `ARCA_UPDATE_SCREENSHOTS=1` also saves the backup report's screenshot to
//! `docs/images/report-backup.png`.

mod browser;
mod kube_env;

use std::collections::BTreeMap;
use std::path::Path;

use arca_kube::api::Kube;
use arca_testcluster::{Fault, FaultRule, TestCluster};
use serde_json::{Value, json};

use browser::{Browser, Seen, b64};
use kube_env::{Env, wait_for};

const NAMESPACES: [&str; 2] = ["shop", "blog"];
/// Held by the Secrets (as `data`, base64, and as `stringData`).
const SECRET_VALUE: &str = "Zq8-report-secret-value-7Kx2w";

async fn connect(cluster: &TestCluster) -> anyhow::Result<Kube> {
    let options =
        arca_kube::connect::ClusterOptions { kubeconfig: Some(cluster.kubeconfig_path().to_path_buf()), context: None };
    Ok(Kube::new(arca_kube::connect::connect(&options).await?.client, 8))
}

async fn populate(kube: &Kube, ns: &str) -> anyhow::Result<()> {
    kube.create(
        "/api/v1/namespaces",
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        "ns",
    )
    .await?;
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": ns},
        "type": "Opaque", "data": {"password": b64(SECRET_VALUE.as_bytes())}, "stringData": {"token": SECRET_VALUE}});
    kube.create(&format!("/api/v1/namespaces/{ns}/secrets"), &secret, "secret").await?;
    let settings = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": ns},
        "data": {"LOG_LEVEL": "info"}});
    kube.create(&format!("/api/v1/namespaces/{ns}/configmaps"), &settings, "configmap").await?;
    let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": ns},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx",
                "envFrom": [{"secretRef": {"name": "db"}}, {"configMapRef": {"name": "settings"}}]}]}}}});
    kube.create(&format!("/apis/apps/v1/namespaces/{ns}/deployments"), &deployment, "deployment").await?;
    wait_for(kube, &format!("/apis/apps/v1/namespaces/{ns}/deployments/web"), |d| {
        d.pointer("/status/readyReplicas").and_then(Value::as_i64) == Some(1)
    })
    .await?;
    Ok(())
}

/// (namespace, type) → objects, from `describe --details`' catalog paths:
/// `namespaces/NS/GROUP/RESOURCE/NAME.json`, `cluster/GROUP/RESOURCE/NAME.json`.
fn counts_of_paths(objects: &[Value]) -> BTreeMap<(String, String), u64> {
    let mut out = BTreeMap::new();
    for o in objects {
        let parts: Vec<&str> = o.as_str().expect("a path").split('/').collect();
        let (ns, group, resource) = match parts.as_slice() {
            ["namespaces", ns, group, resource, _] => (*ns, *group, *resource),
            ["cluster", group, resource, _] => ("", *group, *resource),
            _ => panic!("unexpected catalog path {o}"),
        };
        let t = if group == "core" { resource.to_string() } else { format!("{resource}.{group}") };
        *out.entry((ns.to_string(), t)).or_insert(0) += 1;
    }
    out
}

fn number(s: &str) -> u64 {
    s.trim().parse().unwrap_or_else(|e| panic!("{s:?} is not a number: {e}"))
}

/// The file loaded itself only, with no console error.
fn loaded_alone(seen: &Seen, file: &Path) {
    assert!(seen.console_errors().is_empty(), "console errors: {:?}", seen.console_errors());
    assert!(seen.failed_requests().is_empty(), "failed requests: {:?}", seen.failed_requests());
    let url = format!("file://{}", file.display());
    assert_eq!(seen.requests(), [url], "the report requested nothing but itself");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_and_restore_reports_show_what_describe_says() -> anyhow::Result<()> {
    let Some(browser) = Browser::find() else { return Ok(()) };
    let cluster = TestCluster::start().await?;
    let kube = connect(&cluster).await?;
    let dir = tempfile::tempdir()?;
    let env = Env::new(dir.path())?;
    for ns in NAMESPACES {
        populate(&kube, ns).await?;
    }

    let created = env
        .json(&cluster, 0, &["backup", "create", "b1", "--include-namespaces", "shop,blog", "--volumes", "none"])
        .await?;
    assert_eq!(created["phase"], "Completed", "{created}");
    let described = env.json(&cluster, 0, &["backup", "describe", "b1"]).await?;
    // With --details, `objects` is the list of catalog paths rather than their number.
    let details = env.json(&cluster, 0, &["backup", "describe", "b1", "--details"]).await?;

    // The report file.
    let file = dir.path().join("out").join("b1.html");
    std::fs::create_dir_all(file.parent().unwrap())?;
    let written = env.json(&cluster, 0, &["report", "b1", "--html", &file.display().to_string()]).await?;
    assert_eq!(written["kind"], "backup", "{written}");
    assert_eq!(written["file"], file.display().to_string());
    assert_eq!(written["objects"], described["objects"], "{written}");
    assert_eq!(written["namespaces"], 2, "{written}");
    let html = std::fs::read(&file)?;
    assert_eq!(written["bytes"], html.len() as u64);
    // `backup/NAME` is the same report; a table run names the file.
    let again = dir.path().join("out").join("again.html");
    let said = env.expect(&cluster, 0, &["report", "backup/b1", "--html", &again.display().to_string()]).await?;
    assert!(said.contains("b1") && said.contains(&again.display().to_string()), "{said}");
    for leaked in [SECRET_VALUE.to_string(), b64(SECRET_VALUE.as_bytes())] {
        assert!(!html.windows(leaked.len()).any(|w| w == leaked.as_bytes()), "the report holds {leaked:?}");
    }
    assert!(String::from_utf8_lossy(&html).contains(">db<"), "the Secret's name is listed");

    // What the browser shows.
    let (ns_col, type_col, count_col) =
        ("table#counts tbody td:nth-child(1)", "table#counts tbody td:nth-child(2)", "table#counts tbody td.count");
    let png = browser::screenshot_path(dir.path(), "report-backup.png");
    let seen = browser
        .page(&file.display().to_string())
        .select(ns_col)
        .select(type_col)
        .select(count_col)
        .select("#total-objects")
        .select("#objects .value")
        .select("#phase .value")
        .select("h1")
        .screenshot(&png)
        .open_async()
        .await?;
    loaded_alone(&seen, &file);
    assert_eq!(seen.title(), "Backup report: b1 · Arca");
    assert_eq!(seen.text("#phase .value"), "Completed");
    let rows: Vec<((String, String), u64)> = seen
        .texts(ns_col)
        .into_iter()
        .zip(seen.texts(type_col))
        .zip(seen.texts(count_col).iter().map(|c| number(c)))
        .map(|((ns, t), n)| ((if ns == "cluster-scoped" { String::new() } else { ns }, t), n))
        .collect();
    assert_eq!(rows.len(), seen.count(count_col));
    let shown: BTreeMap<(String, String), u64> = rows.iter().cloned().collect();
    assert_eq!(shown.len(), rows.len(), "each namespace and type is one row");
    let objects = details["objects"].as_array().expect("--details lists objects");
    assert_eq!(shown, counts_of_paths(objects), "rows of table#counts against describe --details");
    for ns in NAMESPACES {
        for t in ["secrets", "configmaps", "deployments.apps"] {
            assert!(shown.get(&(ns.to_string(), t.to_string())) >= Some(&1), "{ns} {t} in {shown:?}");
        }
    }
    let mut per_type: BTreeMap<String, u64> = BTreeMap::new();
    for ((_, t), n) in &shown {
        *per_type.entry(t.clone()).or_default() += n;
    }
    let mut counts: BTreeMap<String, u64> = serde_json::from_value(described["counts"].clone())?;
    counts.retain(|_, n| *n > 0); // types listed without objects have no row
    assert_eq!(per_type, counts, "per type, the page adds up to describe's counts");
    let total = described["objects"].as_u64().expect("objects");
    assert_eq!(number(&seen.text("#total-objects")), total);
    assert_eq!(number(&seen.text("#objects .value")), total);
    assert_eq!(shown.values().sum::<u64>(), total);
    let png_bytes = std::fs::read(&png)?;
    assert!(png_bytes.starts_with(b"\x89PNG") && png_bytes.len() > 10_000, "a screenshot at {}", png.display());
    eprintln!("backup report: {} rows, {total} objects, {per_type:?}; screenshot {}", rows.len(), png.display());

    // A restore of shop into shop-qa, its ConfigMap refused once.
    let refuse = cluster.faults().add(
        FaultRule::new(Fault::Status(403)).method("POST").path("^/api/v1/namespaces/shop-qa/configmaps$")?.times(1),
    );
    let restored = env
        .json(
            &cluster,
            3,
            &[
                "restore",
                "create",
                "r1",
                "--from-backup",
                "b1",
                "--include-namespaces",
                "shop",
                "--namespace-mappings",
                "shop:shop-qa",
            ],
        )
        .await?;
    assert_eq!(
        (restored["phase"].as_str(), cluster.faults().fired(refuse)),
        (Some("PartiallyFailed"), 1),
        "{restored}"
    );
    cluster.faults().clear();
    let rdescribed = env.json(&cluster, 0, &["restore", "describe", "r1"]).await?;
    let rcounts: BTreeMap<String, u64> = serde_json::from_value(rdescribed["counts"].clone())?;
    let count = |k: &str| rcounts.get(k).copied().unwrap_or(0);
    assert_eq!(count("failed"), 1, "{rdescribed}");

    // A plain name is a backup: the error says how to ask for the restore.
    let rfile = dir.path().join("r1.html");
    let rpath = rfile.display().to_string();
    let wrong = env.arca(&cluster, &["report", "r1", "--html", &rpath]).await?;
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert_eq!(wrong.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("arca backup list") && stderr.contains("restore/r1"), "{stderr}");
    assert!(!rfile.exists(), "nothing written on an error");

    let rwritten = env.json(&cluster, 0, &["report", "r1", "--restore", "--html", &rpath]).await?;
    assert_eq!(rwritten["kind"], "restore", "{rwritten}");
    assert_eq!(rwritten["failed"], 1, "{rwritten}");
    let rhtml = std::fs::read(&rfile)?;
    assert!(!rhtml.windows(SECRET_VALUE.len()).any(|w| w == SECRET_VALUE.as_bytes()));
    let rseen = browser
        .page(&rpath)
        .select("#restored .value")
        .select("#skipped .value")
        .select("#failed .value")
        .select("#phase .value")
        .select("table#items tr.item")
        .select("table#items tr.item[data-outcome=failed] td:first-child")
        .open_async()
        .await?;
    loaded_alone(&rseen, &rfile);
    assert_eq!(rseen.title(), "Restore report: r1 · Arca");
    assert_eq!(rseen.text("#phase .value"), "PartiallyFailed");
    let restored_count = count("created") + count("updated") + count("unchanged");
    assert_eq!(number(&rseen.text("#restored .value")), restored_count);
    assert_eq!(number(&rseen.text("#skipped .value")), count("skipped"));
    assert_eq!(number(&rseen.text("#failed .value")), count("failed"));
    assert_eq!(rseen.count("table#items tr.item") as u64, rcounts.values().sum::<u64>(), "one row per object");
    let failed = rseen.texts("table#items tr.item[data-outcome=failed] td:first-child");
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(failed[0].contains("settings"), "the refused ConfigMap: {failed:?}");
    eprintln!(
        "restore report: {restored_count} restored, {} skipped, {} failed ({}), {} rows",
        count("skipped"),
        count("failed"),
        failed[0],
        rseen.count("table#items tr.item")
    );
    Ok(())
}
