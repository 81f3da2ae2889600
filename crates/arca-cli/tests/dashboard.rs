//! The dashboard of a real `arca server` against the test cluster with RBAC
//! on: what an admin sees, what a tenant's token sees, sign-in, and that no
//! Secret value shows on any page. Pages are read over HTTP first, then the
//! same server's pages are opened in Chromium (`mod browser`; skipped
//! without the browser outside CI): what shows there, no console error, no
//! request but to the server.
//!
//! `ARCA_UPDATE_SCREENSHOTS=1` also saves screenshots of the overview, a
//! backup, a restore and the trends to `docs/images/dashboard-*.png`.

mod browser;
mod server_env;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use arca_api::BackupPhase;
use arca_testcluster::TestCluster;
use browser::{Browser, PageRequest, Seen, b64, screenshot_path};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, PostParams};
use serde_json::json;
use server_env::{Env, Server, init_repo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SECRET_VALUE: &str = "dashboard-secret-value-4711";
/// What screenshots show for the repository's (temporary) path.
const NEUTRAL_REPO: &str = "/var/lib/arca/repo";

/// A GET over HTTP/1.1 with `Connection: close`: (status, headers, body).
async fn get(port: u16, path: &str, token: Option<&str>) -> anyhow::Result<(u16, String, String)> {
    let mut stream =
        tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(("127.0.0.1", port))).await??;
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut raw)).await??;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    Ok((status, head.to_string(), body.to_string()))
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

async fn create(client: &kube::Client, ns: Option<&str>, obj: serde_json::Value) -> anyhow::Result<()> {
    let obj: DynamicObject = serde_json::from_value(obj)?;
    let ar = kube::discovery::ApiResource::from_gvk(&kube::api::GroupVersionKind::try_from(
        obj.types.as_ref().ok_or_else(|| anyhow::anyhow!("no type"))?,
    )?);
    let api: Api<DynamicObject> = match ns {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    };
    api.create(&PostParams::default(), &obj).await?;
    Ok(())
}

/// The objects of the test: two teams' namespaces, each with a location;
/// shop holds a Secret, a ConfigMap and a claim.
async fn seed(client: &kube::Client) -> anyhow::Result<()> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in arca_api::crds() {
        crds.create(&PostParams::default(), &crd).await?;
    }
    for ns in ["shop", "blog", "arca-system"] {
        create(client, None, json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})).await?;
    }
    create(
        client,
        Some("shop"),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "shop"},
               "stringData": {"password": SECRET_VALUE}}),
    )
    .await?;
    create(
        client,
        Some("shop"),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "shop"},
               "data": {"mode": "live"}}),
    )
    .await?;
    create(
        client,
        Some("shop"),
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": "shop"},
               "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}),
    )
    .await?;
    // A tenant of shop: reads Arca's objects and claims there, nothing else.
    create(
        client,
        Some("shop"),
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "team", "namespace": "shop"}}),
    )
    .await?;
    create(
        client,
        Some("shop"),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
               "metadata": {"name": "arca-reader", "namespace": "shop"},
               "rules": [
                   {"apiGroups": ["arca.io"], "resources": ["backups", "restores", "schedules", "backuplocations"], "verbs": ["get", "list", "watch"]},
                   {"apiGroups": [""], "resources": ["persistentvolumeclaims"], "verbs": ["get", "list"]}
               ]}),
    )
    .await?;
    create(
        client,
        Some("shop"),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": "team-reads-arca", "namespace": "shop"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "arca-reader"},
               "subjects": [{"kind": "ServiceAccount", "name": "team", "namespace": "shop"}]}),
    )
    .await?;
    Ok(())
}

/// A drill `Restore` of `backup` in `ns`, run by the server to its end.
async fn drill(client: &kube::Client, ns: &str, backup: &str) -> anyhow::Result<arca_api::RestoreStatus> {
    let name = format!("{backup}-drill");
    let restore = json!({"apiVersion": "arca.io/v1alpha1", "kind": "Restore", "metadata": {"name": name},
        "spec": {"backup": backup, "drill": true, "wait": "30s"}});
    create(client, Some(ns), restore).await?;
    let api: Api<arca_api::Restore> = Api::namespaced(client.clone(), ns);
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if let Some(status) = api.get(&name).await?.status.filter(|s| s.phase.is_final()) {
            return Ok(status);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    anyhow::bail!("drill {ns}/{name} did not finish in 120 s")
}

async fn wait_ready(port: u16) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok((200, _, _)) = get(port, "/readyz", None).await {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "arca server did not become ready on port {port} within 60 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_each_viewer_what_they_may_read_and_never_a_secret() -> anyhow::Result<()> {
    let cluster = TestCluster::builder().rbac(true).start().await?;
    let client = cluster.client().await?;
    seed(&client).await?;
    let dir = tempfile::tempdir()?;
    let env = Env { repo: init_repo(dir.path())?, kubeconfig: cluster.kubeconfig_path().to_path_buf() };
    for ns in ["shop", "blog"] {
        env.expect(0, &["location", "create", "main", "-n", ns, "--default"]).await?;
    }
    env.expect(0, &["location", "create", "archive", "-n", "blog", "--read-only"]).await?;

    let port = free_port()?;
    let address = format!("127.0.0.1:{port}");
    let server = env
        .cmd(&[
            "server",
            "--identity",
            "ui-server",
            "--metrics-address",
            &address,
            "--ui",
            "token",
            "--shutdown-grace",
            "5s",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let _server = Server(server);
    wait_ready(port).await?;

    for (name, ns) in [("shop-1", "shop"), ("shop-2", "shop"), ("blog-1", "blog")] {
        env.expect(
            0,
            &[
                "backup",
                "create",
                name,
                "--server",
                "-n",
                ns,
                "--include-namespaces",
                ns,
                "--volumes",
                "none",
                "--wait",
            ],
        )
        .await?;
    }
    // The last blog run fails, with its reason.
    env.expect(
        1,
        &[
            "backup",
            "create",
            "blog-2",
            "--server",
            "-n",
            "blog",
            "--include-namespaces",
            "blog",
            "--location",
            "archive",
            "--wait",
        ],
    )
    .await?;
    env.expect(
        0,
        &[
            "restore",
            "create",
            "shop-copy",
            "--from-backup",
            "shop-1",
            "--server",
            "-n",
            "shop",
            "--namespace-mappings",
            "shop:shop-copy",
            "--wait",
        ],
    )
    .await?;

    // A drill of each team's first backup, by the server.
    for (ns, backup) in [("shop", "shop-1"), ("blog", "blog-1")] {
        let status = drill(&client, ns, backup).await?;
        assert_eq!(status.drill.map(|d| d.result).as_deref(), Some("Passed"), "{ns}: {}", status.message);
    }

    // Without a token: to the sign-in form; a wrong one: refused.
    let (status, head, _) = get(port, "/ui/", None).await?;
    assert_eq!(status, 303, "{head}");
    assert!(head.contains("location: /ui/login"), "{head}");
    let (status, _, body) = get(port, "/ui/", Some("not-a-token")).await?;
    assert_eq!(status, 401);
    assert!(body.contains("did not accept"), "{body}");

    // The admin sees both teams; blog is failing with the run's reason.
    let admin = cluster.admin_token();
    let (status, head, overview) = get(port, "/ui/", Some(&admin)).await?;
    assert_eq!(status, 200, "{head}\n{overview}");
    assert!(head.contains("content-security-policy: default-src 'none'"), "{head}");
    let row = |page: &str, ns: &str| {
        let start = page.find(&format!("data-namespace=\"{ns}\"")).unwrap_or(0);
        page[start..].split("</tr>").next().unwrap_or_default().to_string()
    };
    let blog = row(&overview, "blog");
    assert!(blog.contains("state-failing"), "{blog}");
    assert!(blog.contains("LocationReadOnly"), "the failed item names its reason: {blog}");
    let shop = row(&overview, "shop");
    assert!(shop.contains("state-protected") && shop.contains("shop-2"), "{shop}");
    assert!(shop.contains("data-claim=\"data\""), "the claim is listed: {shop}");

    let (_, _, backups) = get(port, "/ui/backups", Some(&admin)).await?;
    for name in ["shop-1", "shop-2", "blog-1", "blog-2"] {
        assert!(backups.contains(&format!("data-backup=\"{name}\"")), "{name} listed");
    }
    let (status, _, detail) = get(port, "/ui/backups/shop/shop-1", Some(&admin)).await?;
    assert_eq!(status, 200, "{detail}");
    assert!(detail.contains("data-namespace=\"shop\"") && detail.contains("data-type=\"secrets\""), "{detail}");
    assert!(detail.contains("<li>db</li>"), "the Secret's name is in the catalog");
    let (status, _, restore) = get(port, "/ui/restores/shop/shop-copy", Some(&admin)).await?;
    assert_eq!(status, 200, "{restore}");
    assert!(restore.contains("data-outcome=\"created\""), "the per-object report: {restore}");
    let (_, _, trends) = get(port, "/ui/trends", Some(&admin)).await?;
    assert!(trends.matches("class=\"point").count() >= 3, "charts carry the backups as points");
    let (status, _, drift) = get(port, "/ui/drift", Some(&admin)).await?;
    assert_eq!(status, 200, "{drift}");
    assert!(drift.contains("data-namespace=\"shop\""), "{drift}");

    let (status, _, drills) = get(port, "/ui/drills", Some(&admin)).await?;
    assert_eq!(status, 200, "{drills}");
    for ns in ["shop", "blog"] {
        assert!(drills.contains(&format!("data-namespace=\"{ns}\" data-result=\"Passed\"")), "{ns}: {drills}");
    }
    assert!(drills.contains("objects equal"), "what was compared: {drills}");

    // A tenant of shop sees shop only; blog's pages are not found for it.
    let tenant = cluster.service_account_token("shop", "team")?;
    let (status, _, overview_t) = get(port, "/ui/", Some(&tenant)).await?;
    assert_eq!(status, 200, "{overview_t}");
    assert!(overview_t.contains("data-namespace=\"shop\""));
    assert!(!overview_t.contains("data-namespace=\"blog\""), "{overview_t}");
    let (_, _, backups_t) = get(port, "/ui/backups", Some(&tenant)).await?;
    assert!(backups_t.contains("data-backup=\"shop-1\"") && !backups_t.contains("blog-1"), "{backups_t}");
    let (status, _, _) = get(port, "/ui/backups/blog/blog-1", Some(&tenant)).await?;
    assert_eq!(status, 404);
    let (status, _, _) = get(port, "/ui/backups/shop/shop-1", Some(&tenant)).await?;
    assert_eq!(status, 200);
    let (_, _, drills_t) = get(port, "/ui/drills", Some(&tenant)).await?;
    assert!(drills_t.contains("data-namespace=\"shop\"") && !drills_t.contains("blog-1"), "{drills_t}");

    // No page, for anyone, carries the Secret's value.
    for page in [&overview, &backups, &detail, &restore, &trends, &drift, &drills, &overview_t, &backups_t, &drills_t] {
        assert!(!page.contains(SECRET_VALUE));
    }

    if let Some(browser) = Browser::find() {
        in_chromium(&browser, &client, port, &admin, &tenant, dir.path(), &env.repo).await?;
    }
    Ok(())
}

/// A page Chromium opened: it loaded, logged no error, asked nothing of
/// another origin, and neither its rendered text nor its DOM holds a
/// Secret's value (the test's, or the location's repository password, which
/// the backups of shop hold too), plain or base64.
fn shown_safely(seen: &Seen, origin: &str) {
    assert_eq!(seen.status(), Some(200), "{}", seen.page_text());
    assert!(seen.console_errors().is_empty(), "console errors: {:?}", seen.console_errors());
    assert!(seen.failed_requests().is_empty(), "failed requests: {:?}", seen.failed_requests());
    let elsewhere: Vec<String> = seen.requests().into_iter().filter(|u| !u.starts_with(origin)).collect();
    assert!(elsewhere.is_empty(), "requests off {origin}: {elsewhere:?}");
    let values = [SECRET_VALUE, server_env::PASSWORD];
    for leaked in values.iter().flat_map(|v| [v.to_string(), b64(v.as_bytes())]) {
        assert!(!seen.page_text().contains(&leaked), "{leaked:?} shows on {}", seen.json["url"]);
        assert!(!seen.html().contains(&leaked), "{leaked:?} is in the DOM of {}", seen.json["url"]);
    }
}

fn numbers(values: &[String]) -> Vec<f64> {
    values.iter().map(|v| v.parse().unwrap_or_else(|e| panic!("data-value {v:?}: {e}"))).collect()
}

/// The pages of the running server in Chromium: the admin's overview by
/// header, the tenant's by the sign-in cookie, a backup with the Secret, a
/// restore, the trends' charts.
async fn in_chromium(
    browser: &Browser,
    client: &kube::Client,
    port: u16,
    admin: &str,
    tenant: &str,
    dir: &Path,
    repo: &Path,
) -> anyhow::Result<()> {
    // Screenshots for the docs show a neutral path for the temporary repository.
    let repo = std::fs::canonicalize(repo)?.display().to_string();
    let shot = |page: PageRequest, name: &str| {
        page.redact(&repo, NEUTRAL_REPO).screenshot_viewport(&screenshot_path(dir, name))
    };
    let origin = format!("http://127.0.0.1:{port}/");
    let url = |path: &str| format!("{origin}{path}");
    let bearer = format!("Bearer {admin}");
    let rows = "#protection tbody tr[data-namespace]";
    let blog_reasons = "#protection tr[data-namespace=blog] .failed-item .reason";
    let shop_last = "#protection tr[data-namespace=shop] td.last-backup a";

    let page = browser.page(&url("ui/")).header("Authorization", &bearer);
    let seen =
        shot(page.select(rows).select(blog_reasons).select(shop_last), "dashboard-overview.png").open_async().await?;
    shown_safely(&seen, &origin);
    let namespaces = seen.data(rows, "data-namespace");
    assert!(namespaces.iter().any(|n| n == "shop") && namespaces.iter().any(|n| n == "blog"), "{namespaces:?}");
    let reasons = seen.texts(blog_reasons);
    assert!(reasons.iter().any(|r| r == "LocationReadOnly"), "blog's failed item and its reason: {reasons:?}");
    assert_eq!(seen.text(shop_last), "shop-2", "shop's newest backup, made above");
    assert!(seen.page_text().contains("LocationReadOnly"), "the reason shows");

    // The tenant, signed in by the cookie /ui/login sets: shop only.
    let seen =
        browser.page(&url("ui/")).cookie("arca-token", tenant).select(rows).select("header .user").open_async().await?;
    shown_safely(&seen, &origin);
    assert!(seen.text("header .user").contains("system:serviceaccount:shop:team"), "{}", seen.text("header .user"));
    let namespaces = seen.data(rows, "data-namespace");
    assert!(namespaces.iter().any(|n| n == "shop"), "{namespaces:?}");
    assert!(!namespaces.iter().any(|n| n == "blog"), "the tenant sees blog: {namespaces:?}");
    assert!(!seen.html().contains("blog"), "nothing of blog on the tenant's page:\n{}", seen.page_text());

    // The backup holding the Secret: its name in the catalog, never its value.
    let secrets = "#catalog details[data-namespace=shop] details[data-type=secrets] li";
    let page = browser.page(&url("ui/backups/shop/shop-1")).header("Authorization", &bearer);
    let seen = shot(page.select(secrets).select("#phase .value"), "dashboard-backup.png").open_async().await?;
    shown_safely(&seen, &origin);
    assert_eq!(seen.text("#phase .value"), "Completed");
    let names = seen.texts(secrets);
    assert!(names.iter().any(|n| n == "db"), "the Secret is listed by name: {names:?}");

    let created = "table#items tr.item[data-outcome=created]";
    let page = browser.page(&url("ui/restores/shop/shop-copy")).header("Authorization", &bearer);
    let seen = shot(page.select(created), "dashboard-restore.png").open_async().await?;
    shown_safely(&seen, &origin);
    assert!(seen.count(created) >= 1, "the per-object report: {}", seen.page_text());

    // Charts: inline SVG with a point per value; a duration for each Backup
    // that finished restorable (the runs above, and the objects the catalog
    // sync made of their snapshots: both namespaces' locations share the
    // repository); the growth never falls. The repository size per
    // location: a point for each Backup that recorded one (those the server
    // ran), with its value.
    let backups = Api::<arca_api::Backup>::all(client.clone()).list(&Default::default()).await?.items;
    let mut recorded: Vec<f64> =
        backups.iter().filter_map(|b| b.status.as_ref()?.repository_bytes).map(|v| v as f64).collect();
    recorded.sort_by(f64::total_cmp);
    assert!(
        recorded.len() >= 3 && recorded[0] > 0.0,
        "shop-1, shop-2 and blog-1 measured the repository: {recorded:?}"
    );
    let finished = backups
        .iter()
        .filter_map(|b| b.status.as_ref())
        .filter(|s| matches!(s.phase, BackupPhase::Completed | BackupPhase::PartiallyFailed))
        .filter(|s| s.completion_time.is_some())
        .count();
    assert!(finished >= 3, "shop-1, shop-2 and blog-1 at least: {finished}");
    let points = "figure.chart svg .point[data-value]";
    let durations = "figure#chart-durations svg .point[data-value]";
    let growth = "figure#chart-growth svg .point[data-value]";
    let sizes = "figure#chart-repository-size svg .point[data-value]";
    let legend = "figure#chart-repository-size .legend li";
    let trends_png = screenshot_path(dir, "dashboard-trends.png");
    let seen = browser
        .page(&url("ui/trends"))
        .header("Authorization", &bearer)
        .select(points)
        .select(durations)
        .select(growth)
        .select(sizes)
        .select(legend)
        .redact(&repo, NEUTRAL_REPO)
        .screenshot(&trends_png) // all charts, so taller than the viewport
        .open_async()
        .await?;
    shown_safely(&seen, &origin);
    let all = numbers(&seen.data(points, "data-value"));
    assert!(all.len() >= 3, "points: {all:?}");
    assert!(all.iter().all(|v| v.is_finite() && *v >= 0.0), "{all:?}");
    assert_eq!(seen.count(durations), finished, "{:?}", seen.data(durations, "data-value"));
    let grown = numbers(&seen.data(growth, "data-value"));
    assert_eq!(grown.len(), finished, "{grown:?}");
    assert!(grown.windows(2).all(|w| w[0] <= w[1]) && grown.iter().any(|v| *v > 0.0), "{grown:?}");
    let mut shown = numbers(&seen.data(sizes, "data-value"));
    shown.sort_by(f64::total_cmp);
    assert_eq!(shown, recorded, "the repository size chart against status.repositoryBytes");
    let lines = seen.texts(legend);
    assert!(lines.iter().any(|l| l == "shop/main") && lines.iter().any(|l| l == "blog/main"), "{lines:?}");
    let png = std::fs::read(&trends_png)?;
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "a screenshot at {}", trends_png.display());
    Ok(())
}
