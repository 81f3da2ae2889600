//! The `arca` binary under a tenant's credentials: a user bound to the
//! built-in `admin` ClusterRole in namespace `team-a` only, on a cluster
//! that enforces RBAC. Its backup holds only team-a; its restore is bounded
//! by the API server's escalation check and RBAC.

mod kube_env;

use std::path::{Path, PathBuf};

use arca_kube::api::Kube;
use arca_testcluster::TestCluster;
use serde_json::{Value, json};

use kube_env::{Env, item};

const RBAC: &str = "rbac.authorization.k8s.io";

async fn kube_for(kubeconfig: &Path) -> anyhow::Result<Kube> {
    let options = arca_kube::connect::ClusterOptions { kubeconfig: Some(kubeconfig.to_path_buf()), context: None };
    Ok(Kube::new(arca_kube::connect::connect(&options).await?.client, 8))
}

fn binding(name: &str, role: &str, subject: Value) -> Value {
    json!({
        "apiVersion": format!("{RBAC}/v1"), "kind": "RoleBinding", "metadata": {"name": name},
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": role},
        "subjects": [subject],
    })
}

/// Two teams' namespaces with the same objects; team-a also binds its
/// ServiceAccount `app` to `edit` and (set up by the cluster admin) to `cluster-admin`.
async fn install(admin: &Kube) -> anyhow::Result<()> {
    for ns in ["team-a", "team-b"] {
        admin
            .create(
                "/api/v1/namespaces",
                &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
                "ns",
            )
            .await?;
        let base = format!("/api/v1/namespaces/{ns}");
        let cm =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"team": ns}});
        admin.create(&format!("{base}/configmaps"), &cm, "config map").await?;
        let sa = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "app"}});
        admin.create(&format!("{base}/serviceaccounts"), &sa, "service account").await?;
    }
    let bindings = format!("/apis/{RBAC}/v1/namespaces/team-a/rolebindings");
    let app = json!({"kind": "ServiceAccount", "name": "app", "namespace": "team-a"});
    admin.create(&bindings, &binding("app-edit", "edit", app.clone()), "binding").await?;
    admin.create(&bindings, &binding("app-root", "cluster-admin", app), "binding").await?;
    let tenant = json!({"kind": "User", "apiGroup": RBAC, "name": "tenant"});
    admin.create(&bindings, &binding("tenant-admin", "admin", tenant), "binding").await?;
    Ok(())
}

/// The catalog paths `backup describe --details` lists.
fn stored_paths(described: &Value) -> Vec<String> {
    let mut out = Vec::new();
    collect_strings(described, &mut out);
    out.into_iter().filter(|s| s.ends_with(".json") && s.contains('/')).collect()
}

fn collect_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        Value::Object(m) => m.values().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_backs_up_and_restores_its_namespace_only() -> anyhow::Result<()> {
    let cluster = TestCluster::builder().rbac(true).start().await?;
    let admin = kube_for(cluster.kubeconfig_path()).await?;
    install(&admin).await?;
    let dir = tempfile::tempdir()?;
    let env = Env::new(dir.path())?;
    let tenant_config: PathBuf = dir.path().join("tenant.kubeconfig");
    cluster.write_kubeconfig(&tenant_config, &cluster.add_user("tenant", &[]))?;

    // (a) The backup: team-a's objects, no team-b, nothing cluster-scoped.
    let args = ["backup", "create", "team-a-1", "--include-namespaces", "team-a", "--volumes", "none"];
    let created = env.json_as(&tenant_config, 0, &args).await?;
    assert_eq!(created["phase"], "Completed", "{created}");
    assert_eq!(created["counts"]["configmaps"], 2, "settings and kube-root-ca.crt: {created}");
    let warnings: Vec<&str> =
        created["warnings"].as_array().map(|w| w.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    let forbidden: Vec<&&str> = warnings.iter().filter(|w| w.contains("forbidden: ")).collect();
    assert!(
        forbidden.iter().any(|w| w.starts_with("clusterroles.rbac.authorization.k8s.io: left out, forbidden: ")),
        "{warnings:?}"
    );
    let mut types: Vec<&str> = forbidden.iter().filter_map(|w| w.split(':').next()).collect();
    let all = types.len();
    types.dedup();
    assert_eq!(types.len(), all, "one warning per type: {warnings:?}");
    let described = env.json_as(&tenant_config, 0, &["backup", "describe", "team-a-1", "--details"]).await?;
    let paths = stored_paths(&described);
    assert!(paths.iter().any(|p| p == "namespaces/team-a/core/configmaps/settings.json"), "{paths:?}");
    assert!(paths.iter().any(|p| p.ends_with("rolebindings/app-root.json")), "{paths:?}");
    assert!(paths.iter().all(|p| p.starts_with("namespaces/team-a/")), "only team-a's objects: {paths:?}");

    // (b) The restore: the binding to cluster-admin is refused by the
    // server's escalation check, the rest comes back.
    let ns = "/api/v1/namespaces/team-a";
    admin.delete(&format!("{ns}/configmaps/settings"), "delete").await?;
    for name in ["app-edit", "app-root"] {
        admin.delete(&format!("/apis/{RBAC}/v1/namespaces/team-a/rolebindings/{name}"), "delete").await?;
    }
    let restored =
        env.json_as(&tenant_config, 3, &["restore", "create", "team-a-r", "--from-backup", "team-a-1"]).await?;
    assert_eq!(restored["phase"], "PartiallyFailed", "{restored}");
    let root = item(&restored, "rolebinding/team-a/app-root")?;
    assert_eq!(root["outcome"], "failed", "{root}");
    let reason = root["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("Forbidden"), "{reason}");
    assert!(reason.contains(r#"user "tenant" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held"#), "{reason}");
    assert_eq!(item(&restored, "rolebinding/team-a/app-edit")?["outcome"], "created", "{restored}");
    assert_eq!(item(&restored, "configmap/team-a/settings")?["outcome"], "created", "{restored}");
    let settings = admin.get(&format!("{ns}/configmaps/settings"), "config map").await?;
    assert_eq!(settings["data"]["team"], "team-a");

    // Into a namespace the tenant has no rights in: each object refused, reported.
    let args = ["restore", "create", "into-b", "--from-backup", "team-a-1", "--namespace-mappings", "team-a:team-b"];
    let out = env.json_as(&tenant_config, 1, &args).await?; // every object refused: Failed
    let cm = item(&out, "configmap/team-b/settings")?;
    assert_eq!(cm["outcome"], "failed", "{out}");
    assert!(
        cm["reason"].as_str().is_some_and(|r| r.contains("Forbidden") && r.contains(r#"in the namespace "team-b""#)),
        "{cm}"
    );
    let team_b = admin.get("/api/v1/namespaces/team-b/configmaps/settings", "config map").await?;
    assert_eq!(team_b["data"]["team"], "team-b", "team-b untouched");
    Ok(())
}
