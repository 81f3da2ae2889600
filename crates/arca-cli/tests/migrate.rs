//! Moving to a newer Kubernetes: a whole-cluster backup of a 1.25 cluster
//! restored into an empty 1.33 cluster through the `arca` binary. What the
//! target manages itself is skipped, flowcontrol `v1beta2` (gone in 1.29) is
//! converted, a built-in without successor fails naming the versions, and
//! `--dry-run` lists all of it before anything is written.

#[path = "../../arca-kube/tests/common/app.rs"]
mod app;
mod kube_env;

use arca_kube::api::Kube;
use arca_testcluster::TestCluster;
use serde_json::{Value, json};

use kube_env::Env;

const NS: &str = "shop";
const APF: &str = "/apis/flowcontrol.apiserver.k8s.io";

/// The app: objects at the versions its manifests were written for on 1.25
/// (the HPA at the oldest autoscaling version 1.25 serves), with a
/// FlowSchema, priority level and ClusterRole of the team's own.
fn app_objects() -> Vec<(&'static str, Value)> {
    let labels = json!({"app": "web"});
    vec![
        ("/api/v1/namespaces", json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})),
        (
            "/api/v1/namespaces/shop/configmaps",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-config", "namespace": NS},
                "data": {"LOG_LEVEL": "info"}}),
        ),
        (
            "/api/v1/namespaces/shop/secrets",
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": NS},
                "type": "Opaque", "data": {"password": "czNjcjN0"}}),
        ),
        (
            "/apis/apps/v1/namespaces/shop/deployments",
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": NS, "labels": labels},
                "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                    "template": {"metadata": {"labels": labels},
                        "spec": {"containers": [{"name": "web", "image": "nginx:1.27",
                            "envFrom": [{"configMapRef": {"name": "web-config"}}]}]}}}}),
        ),
        (
            "/api/v1/namespaces/shop/services",
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": NS},
                "spec": {"selector": labels, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}),
        ),
        (
            "/apis/autoscaling/v2beta2/namespaces/shop/horizontalpodautoscalers",
            json!({"apiVersion": "autoscaling/v2beta2", "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "web", "namespace": NS},
                "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                    "minReplicas": 2, "maxReplicas": 5,
                    "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 70}}}]}}),
        ),
        (
            "/apis/policy/v1/namespaces/shop/poddisruptionbudgets",
            json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "web", "namespace": NS},
                "spec": {"minAvailable": 1, "selector": {"matchLabels": labels}}}),
        ),
        (
            "/apis/batch/v1/namespaces/shop/cronjobs",
            json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "report", "namespace": NS},
                "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": {"spec": {
                    "restartPolicy": "Never", "containers": [{"name": "report", "image": "busybox", "command": ["true"]}]}}}}}}),
        ),
        (
            "/apis/networking.k8s.io/v1/namespaces/shop/ingresses",
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "web", "namespace": NS},
                "spec": {"rules": [{"host": "shop.example.com", "http": {"paths": [{"path": "/", "pathType": "Prefix",
                    "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}}),
        ),
        (
            "/apis/rbac.authorization.k8s.io/v1/clusterroles",
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "shop-reader"},
                "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]}),
        ),
        (
            "/apis/flowcontrol.apiserver.k8s.io/v1beta2/prioritylevelconfigurations",
            json!({"apiVersion": "flowcontrol.apiserver.k8s.io/v1beta2", "kind": "PriorityLevelConfiguration",
                "metadata": {"name": "shop-batch"},
                "spec": {"type": "Limited", "limited": {"assuredConcurrencyShares": 5, "limitResponse": {"type": "Reject"}}}}),
        ),
        (
            "/apis/flowcontrol.apiserver.k8s.io/v1beta2/flowschemas",
            json!({"apiVersion": "flowcontrol.apiserver.k8s.io/v1beta2", "kind": "FlowSchema", "metadata": {"name": "shop-batch"},
                "spec": {"priorityLevelConfiguration": {"name": "shop-batch"}, "matchingPrecedence": 5000,
                    "distinguisherMethod": {"type": "ByUser"},
                    "rules": [{"subjects": [{"kind": "ServiceAccount", "serviceAccount": {"name": "batch", "namespace": NS}}],
                        "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"], "namespaces": [NS]}]}]}}),
        ),
    ]
}

/// Objects compared after the restore: (path on 1.25, path on 1.33).
const COMPARED: &[(&str, &str)] = &[
    ("/api/v1/namespaces/shop/configmaps/web-config", "/api/v1/namespaces/shop/configmaps/web-config"),
    ("/api/v1/namespaces/shop/secrets/db", "/api/v1/namespaces/shop/secrets/db"),
    ("/apis/apps/v1/namespaces/shop/deployments/web", "/apis/apps/v1/namespaces/shop/deployments/web"),
    ("/api/v1/namespaces/shop/services/web", "/api/v1/namespaces/shop/services/web"),
    (
        "/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers/web",
        "/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers/web",
    ),
    (
        "/apis/policy/v1/namespaces/shop/poddisruptionbudgets/web",
        "/apis/policy/v1/namespaces/shop/poddisruptionbudgets/web",
    ),
    ("/apis/batch/v1/namespaces/shop/cronjobs/report", "/apis/batch/v1/namespaces/shop/cronjobs/report"),
    (
        "/apis/networking.k8s.io/v1/namespaces/shop/ingresses/web",
        "/apis/networking.k8s.io/v1/namespaces/shop/ingresses/web",
    ),
    (
        "/apis/rbac.authorization.k8s.io/v1/clusterroles/shop-reader",
        "/apis/rbac.authorization.k8s.io/v1/clusterroles/shop-reader",
    ),
    (
        "/apis/flowcontrol.apiserver.k8s.io/v1beta2/flowschemas/shop-batch",
        "/apis/flowcontrol.apiserver.k8s.io/v1/flowschemas/shop-batch",
    ),
];

/// PodPreset (`settings.k8s.io/v1alpha1`) was a built-in type removed in 1.20
/// without a successor. The test cluster has no such row, so the source
/// serves it through a definition; the target gets no definition for it.
fn removed_builtin() -> [(&'static str, Value); 2] {
    [
        (
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                "metadata": {"name": "podpresets.settings.k8s.io",
                    "annotations": {"api-approved.kubernetes.io": "unapproved, test stand-in for a removed built-in"}},
                "spec": {"group": "settings.k8s.io", "scope": "Namespaced",
                    "names": {"plural": "podpresets", "singular": "podpreset", "kind": "PodPreset"},
                    "versions": [{"name": "v1alpha1", "served": true, "storage": true,
                        "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}}),
        ),
        (
            "/apis/settings.k8s.io/v1alpha1/namespaces/shop/podpresets",
            json!({"apiVersion": "settings.k8s.io/v1alpha1", "kind": "PodPreset", "metadata": {"name": "proxy", "namespace": NS},
                "spec": {"selector": {"matchLabels": {"app": "web"}}, "env": [{"name": "HTTP_PROXY", "value": "http://proxy:3128"}]}}),
        ),
    ]
}

async fn create_all(kube: &Kube, objects: &[(&str, Value)]) -> anyhow::Result<()> {
    for (path, obj) in objects {
        kube.create(path, obj, &format!("creating {}", obj["metadata"]["name"])).await?;
    }
    Ok(())
}

fn item<'a>(report: &'a Value, object: &str) -> &'a Value {
    let items = report["items"].as_array();
    items.and_then(|i| i.iter().find(|x| x["object"] == object)).unwrap_or(&Value::Null)
}

fn reason(report: &Value, object: &str) -> String {
    item(report, object)["reason"].as_str().unwrap_or_default().to_string()
}

/// What the conversions, skips and failures of a report say, per object.
fn assert_migration_listed(report: &Value) {
    let v1beta2_to_v1 = "converted from flowcontrol.apiserver.k8s.io/v1beta2 to flowcontrol.apiserver.k8s.io/v1";
    for object in ["flowschema/shop-batch", "prioritylevelconfiguration/shop-batch"] {
        assert_eq!(item(report, object)["converted"], v1beta2_to_v1, "{object}: {}", item(report, object));
        assert_ne!(item(report, object)["outcome"], "failed", "{}", item(report, object));
    }
    for object in [
        "apiservice/v1.apps",
        "apiservice/v1.rbac.authorization.k8s.io",
        "clusterrole/admin",
        "clusterrolebinding/cluster-admin",
        "role/kube-system/extension-apiserver-authentication-reader",
        "configmap/shop/kube-root-ca.crt",
        "configmap/kube-system/extension-apiserver-authentication",
        "service/default/kubernetes",
    ] {
        assert_eq!(item(report, object)["outcome"], "skipped", "{object}: {}", item(report, object));
        assert!(
            reason(report, object).starts_with("managed by the target cluster ("),
            "{object}: {}",
            reason(report, object)
        );
    }
    let apf_defaults: Vec<&Value> = report["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| {
            i["object"].as_str().is_some_and(|o| o.starts_with("flowschema/")) && i["object"] != "flowschema/shop-batch"
        })
        .collect();
    assert!(!apf_defaults.is_empty(), "the 1.25 cluster has APF defaults");
    let api_services: Vec<&Value> = report["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["object"].as_str().is_some_and(|o| o.starts_with("apiservice/")))
        .collect();
    assert!(api_services.len() > 10, "{api_services:?}");
    assert!(api_services.iter().all(|i| i["outcome"] == "skipped"), "{api_services:?}");
    assert!(apf_defaults.iter().all(|i| i["outcome"] == "skipped"), "{apf_defaults:?}");
    assert!(item(report, "clusterrole/shop-reader")["reason"].as_str().is_none_or(|r| !r.contains("managed")));
    assert_eq!(report["counts"].get("failed"), None, "{}", report["counts"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_125_cluster_moves_to_133() -> anyhow::Result<()> {
    let source = TestCluster::builder().kubernetes_version("1.25").start().await?;
    let ks = app::connect(source.kubeconfig_path()).await?;
    create_all(&ks, &app_objects()).await?;
    create_all(&ks, &removed_builtin()).await?;
    let dir = tempfile::tempdir()?;
    let env = Env::new(dir.path())?;
    let backup = env.json(&source, 0, &["backup", "create", "all"]).await?;
    assert_eq!(backup["phase"], "Completed", "{backup}");
    assert_eq!(backup["cluster"]["version"], "v1.25.0", "{}", backup["cluster"]);

    let target = TestCluster::builder().kubernetes_version("1.33").start().await?;
    let kt = app::connect(target.kubeconfig_path()).await?;
    let app_only = ["--exclude-resources", "podpresets.settings.k8s.io"];

    // The dry run goes through the same resolution, conversion and server-side check, and writes nothing.
    let mut args = vec!["restore", "create", "look", "--from-backup", "all", "--dry-run"];
    args.extend(app_only);
    let dry = env.json(&target, 0, &args).await?;
    assert!(dry["dry_run"].as_bool().unwrap_or_default());
    assert_migration_listed(&dry);
    assert!(
        kt.get_opt(&format!("{APF}/v1/flowschemas/shop-batch"), "check").await?.is_none(),
        "a dry run writes nothing"
    );
    assert!(kt.get_opt("/api/v1/namespaces/shop", "check").await?.is_none(), "a dry run writes nothing");

    // The restore: Completed, exit 0.
    let mut args = vec!["restore", "create", "move", "--from-backup", "all"];
    args.extend(app_only);
    let restored = env.json(&target, 0, &args).await?;
    assert_eq!(restored["phase"], "Completed", "{restored}");
    assert_migration_listed(&restored);
    assert_eq!(item(&restored, "flowschema/shop-batch")["outcome"], "created");

    // The app's objects are identical, apart from the converted apiVersions.
    for (from, to) in COMPARED {
        let (before, after) = (ks.get(from, "source").await?, kt.get(to, "target").await?);
        let mut want = app::comparable(&before);
        want["apiVersion"] = after["apiVersion"].clone();
        assert_eq!(app::comparable(&after), want, "{to} differs from {from}");
    }
    let plc = kt.get(&format!("{APF}/v1/prioritylevelconfigurations/shop-batch"), "target").await?;
    assert_eq!(plc["spec"]["limited"]["nominalConcurrencyShares"], 5, "{plc}");
    assert_eq!(plc["spec"]["limited"]["limitResponse"], json!({"type": "Reject"}));
    // The target's own defaults were left alone.
    let admin = kt.get("/apis/rbac.authorization.k8s.io/v1/clusterroles/admin", "target").await?;
    assert_eq!(admin["metadata"]["labels"]["kubernetes.io/bootstrapping"], "rbac-defaults");

    // A built-in removed without successor: a precise failure, no CRD hint, in the dry run and the restore.
    let gone = TestCluster::builder().kubernetes_version("1.33").start().await?;
    let only = ["--include-resources", "podpresets.settings.k8s.io"];
    let expected = "the target (v1.33) does not serve settings.k8s.io/v1alpha1 and Arca has no conversion to a served \
                    version (served: none)";
    let mut args = vec!["restore", "create", "gone-look", "--from-backup", "all", "--dry-run"];
    args.extend(only);
    let dry_gone = env.json(&gone, 0, &args).await?;
    assert_eq!(item(&dry_gone, "podpreset/shop/proxy")["outcome"], "failed", "{dry_gone}");
    assert_eq!(reason(&dry_gone, "podpreset/shop/proxy"), expected);
    let mut args = vec!["restore", "create", "gone", "--from-backup", "all"];
    args.extend(only);
    let failed = env.json(&gone, 3, &args).await?;
    assert_eq!(reason(&failed, "podpreset/shop/proxy"), expected);
    assert!(!reason(&failed, "podpreset/shop/proxy").contains("CustomResourceDefinition"));

    // --include-cluster-managed restores them anyway (they exist already on the target: left alone).
    let again = env
        .json(
            &target,
            0,
            &[
                "restore",
                "create",
                "all-of-it",
                "--from-backup",
                "all",
                "--include-resources",
                "configmaps",
                "--include-namespaces",
                "shop",
                "--include-cluster-managed",
            ],
        )
        .await?;
    assert!(!reason(&again, "configmap/shop/kube-root-ca.crt").starts_with("managed by the target cluster"), "{again}");
    Ok(())
}
