//! The dashboard of a real `arca server` against the test cluster with RBAC
//! on: what an admin sees, what a tenant's token sees, sign-in, and that no
//! Secret value shows on any page. Pages are read over HTTP here; the
//! browser tests (`dashboard_browser`) drive them in Chromium.

mod server_env;

use std::process::Stdio;
use std::time::{Duration, Instant};

use arca_testcluster::TestCluster;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, PostParams};
use serde_json::json;
use server_env::{Env, Server, init_repo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SECRET_VALUE: &str = "dashboard-secret-value-4711";

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

    // No page, for anyone, carries the Secret's value.
    for page in [&overview, &backups, &detail, &restore, &trends, &drift, &overview_t, &backups_t] {
        assert!(!page.contains(SECRET_VALUE));
    }
    Ok(())
}
