//! A realistic multi-tier app for round-trip tests: workloads, services
//! (incl. NodePort and headless), ingress, config, secrets, RBAC reaching
//! into the cluster scope, a CronJob, PDB, HPA, NetworkPolicy, a CRD with
//! custom resources created at two versions, and an object owned by a CR.
//! Shared by the library tests and the `arca` binary tests.

#![allow(dead_code)]

use std::time::Duration;

use arca_kube::api::Kube;
use serde_json::{Value, json};

pub const NS: &str = "shop";
pub const CRD_NAME: &str = "widgets.example.com";

/// (collection path without namespace part, object) in creation order.
pub fn cluster_objects() -> Vec<(String, Value)> {
    vec![
        (
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions".into(),
            json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": CRD_NAME},
            "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
                "versions": [
                    {"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}},
                    {"name": "v2", "served": true, "storage": false, "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}
                ]}}),
        ),
        (
            "/apis/rbac.authorization.k8s.io/v1/clusterroles".into(),
            json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "shop-viewer"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]}),
        ),
        (
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings".into(),
            json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "shop-web-viewer"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "shop-viewer"},
            "subjects": [{"kind": "ServiceAccount", "name": "web", "namespace": NS}]}),
        ),
        (
            "/apis/networking.k8s.io/v1/ingressclasses".into(),
            json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": {"name": "nginx"},
            "spec": {"controller": "k8s.io/ingress-nginx"}}),
        ),
        (
            "/api/v1/namespaces".into(),
            json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": NS, "labels": {"team": "shop"}, "annotations": {"owner": "shop-team"}}}),
        ),
    ]
}

fn pod_template(app: &str) -> Value {
    json!({"metadata": {"labels": {"app": app}}, "spec": {"serviceAccountName": "web",
        "containers": [{"name": app, "image": format!("example/{app}:1.0"), "ports": [{"containerPort": 8080}],
            "envFrom": [{"configMapRef": {"name": "web-config"}}]}]}})
}

/// Namespaced objects (collection path relative to the namespace, object).
pub fn namespaced_objects(ns: &str) -> Vec<(String, Value)> {
    let m = |name: &str| json!({"name": name, "namespace": ns, "labels": {"app.kubernetes.io/part-of": "shop"}});
    vec![
        (
            "api/v1/configmaps".into(),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": m("web-config"),
            "data": {"LOG_LEVEL": "info", "app.properties": "a=1\nb=2\n"}}),
        ),
        (
            "api/v1/secrets".into(),
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": m("db-credentials"), "type": "Opaque",
            "data": {"username": "c2hvcA==", "password": "czNjcjN0LXBhc3N3b3Jk"}}),
        ),
        (
            "api/v1/secrets".into(),
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": m("tls"), "type": "kubernetes.io/tls",
            "data": {"tls.crt": "Y2VydA==", "tls.key": "a2V5"}}),
        ),
        ("api/v1/serviceaccounts".into(), json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": m("web")})),
        (
            "apis/rbac.authorization.k8s.io/v1/roles".into(),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": m("web-reader"),
            "rules": [{"apiGroups": [""], "resources": ["configmaps", "secrets"], "verbs": ["get"]}]}),
        ),
        (
            "apis/rbac.authorization.k8s.io/v1/rolebindings".into(),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": m("web-reader"),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "web-reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "web", "namespace": ns}]}),
        ),
        (
            "api/v1/persistentvolumeclaims".into(),
            json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": m("uploads"),
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "arca-test", "resources": {"requests": {"storage": "1Gi"}}}}),
        ),
        (
            "apis/apps/v1/deployments".into(),
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": m("web"),
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": pod_template("web")}}),
        ),
        (
            "apis/apps/v1/statefulsets".into(),
            json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": m("db"),
            "spec": {"serviceName": "db", "replicas": 1, "selector": {"matchLabels": {"app": "db"}}, "template": pod_template("db"),
                "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "arca-test",
                    "resources": {"requests": {"storage": "2Gi"}}}}]}}),
        ),
        (
            "api/v1/services".into(),
            json!({"apiVersion": "v1", "kind": "Service", "metadata": m("web"),
            "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}),
        ),
        (
            "api/v1/services".into(),
            json!({"apiVersion": "v1", "kind": "Service", "metadata": m("web-public"),
            "spec": {"type": "NodePort", "selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}),
        ),
        (
            "api/v1/services".into(),
            json!({"apiVersion": "v1", "kind": "Service", "metadata": m("db"),
            "spec": {"clusterIP": "None", "selector": {"app": "db"}, "ports": [{"name": "pg", "port": 5432}]}}),
        ),
        (
            "apis/networking.k8s.io/v1/ingresses".into(),
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": m("web"),
            "spec": {"ingressClassName": "nginx", "rules": [{"host": "shop.example.com", "http": {"paths": [{"path": "/", "pathType": "Prefix",
                "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}}),
        ),
        (
            "apis/batch/v1/cronjobs".into(),
            json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": m("nightly-report"),
            "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "OnFailure",
                "containers": [{"name": "report", "image": "example/report:1.0", "command": ["true"]}]}}}}}}),
        ),
        (
            "apis/policy/v1/poddisruptionbudgets".into(),
            json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": m("web"),
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}}),
        ),
        (
            "apis/autoscaling/v2/horizontalpodautoscalers".into(),
            json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": m("web"),
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "minReplicas": 2, "maxReplicas": 5,
                "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]}}),
        ),
        (
            "apis/networking.k8s.io/v1/networkpolicies".into(),
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": m("default-deny"),
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}),
        ),
        (
            "apis/example.com/v1/widgets".into(),
            json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": m("w1"),
            "spec": {"size": 3, "color": "blue"}}),
        ),
        (
            "apis/example.com/v2/widgets".into(),
            json!({"apiVersion": "example.com/v2", "kind": "Widget", "metadata": m("w2"),
            "spec": {"size": 5, "color": "green", "shape": "round"}}),
        ),
    ]
}

pub fn ns_path(rel: &str, ns: &str) -> String {
    let (prefix, resource) = rel.rsplit_once('/').unwrap_or(("", rel));
    format!("/{prefix}/namespaces/{ns}/{resource}")
}

/// Installs the whole app in cluster, and the ConfigMap owned by widget w1.
/// A handle on the cluster of `kubeconfig`, connected as `arca` connects
/// (its retry policy, not kube's default one).
pub async fn connect(kubeconfig: &std::path::Path) -> anyhow::Result<Kube> {
    let options = arca_kube::connect::ClusterOptions { kubeconfig: Some(kubeconfig.to_path_buf()), context: None };
    Ok(Kube::new(arca_kube::connect::connect(&options).await?.client, 16))
}

pub async fn install(kube: &Kube) -> anyhow::Result<()> {
    for (path, obj) in cluster_objects() {
        kube.create(&path, &obj, "fixture").await?;
    }
    wait_for(
        kube,
        &format!("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{CRD_NAME}"),
        arca_kube::restore::apply::is_established,
    )
    .await?;
    for (rel, obj) in namespaced_objects(NS) {
        kube.create(&ns_path(&rel, NS), &obj, "fixture").await?;
    }
    let w1 = kube.get(&format!("/apis/example.com/v1/namespaces/{NS}/widgets/w1"), "fixture").await?;
    let uid = w1["metadata"]["uid"].clone();
    let owned = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "w1-generated", "namespace": NS, "labels": {"widget": "w1"},
            "ownerReferences": [{"apiVersion": "example.com/v1", "kind": "Widget", "name": "w1", "uid": uid, "controller": true}]},
        "data": {"rendered": "size=3"}});
    kube.create(&format!("/api/v1/namespaces/{NS}/configmaps"), &owned, "fixture").await?;
    // The claim binds to a provisioned volume: the backup must carry the PV too.
    wait_for(kube, &format!("/api/v1/namespaces/{NS}/persistentvolumeclaims/uploads"), |p| {
        p.pointer("/spec/volumeName").is_some()
    })
    .await?;
    // The workload controllers create pods (and the set's claim): let them settle.
    for (kind, replicas) in [("deployments/web", 2), ("statefulsets/db", 1)] {
        wait_for(kube, &format!("/apis/apps/v1/namespaces/{NS}/{kind}"), |o| {
            o.pointer("/status/readyReplicas").and_then(Value::as_i64) == Some(replicas)
        })
        .await?;
    }
    Ok(())
}

/// Every fixture object as the server holds it now: (object path, object).
pub async fn snapshot(kube: &Kube, ns: &str) -> anyhow::Result<Vec<(String, Value)>> {
    let mut out = Vec::new();
    for (rel, obj) in namespaced_objects(ns) {
        let path = format!("{}/{}", ns_path(&rel, ns), obj["metadata"]["name"].as_str().unwrap_or_default());
        out.push((path.clone(), kube.get(&path, "snapshot").await?));
    }
    let owned = format!("/api/v1/namespaces/{ns}/configmaps/w1-generated");
    out.push((owned.clone(), kube.get(&owned, "snapshot").await?));
    Ok(out)
}

pub async fn wait_for(kube: &Kube, path: &str, ok: impl Fn(&Value) -> bool) -> anyhow::Result<Value> {
    for _ in 0..200 {
        if let Some(v) = kube.get_opt(path, "waiting").await? {
            if ok(&v) {
                return Ok(v);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("timed out waiting for {path}")
}

pub async fn wait_gone(kube: &Kube, path: &str) -> anyhow::Result<()> {
    for _ in 0..400 {
        if kube.get_opt(path, "waiting").await?.is_none() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("timed out waiting for {path} to go")
}

/// Deletes the namespace and the CRD, and waits until both are gone.
pub async fn delete_app(kube: &Kube) -> anyhow::Result<()> {
    let crd = format!("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{CRD_NAME}");
    kube.delete(&crd, "delete crd").await?;
    let ns = format!("/api/v1/namespaces/{NS}");
    kube.delete(&ns, "delete ns").await?;
    wait_gone(kube, &crd).await?;
    wait_gone(kube, &ns).await?;
    Ok(())
}

const BINDING_ANNOTATIONS: &[&str] = &[
    "pv.kubernetes.io/bind-completed",
    "pv.kubernetes.io/bound-by-controller",
    "volume.kubernetes.io/storage-provisioner",
    "volume.beta.kubernetes.io/storage-provisioner",
    "volume.kubernetes.io/selected-node",
];

/// What a person set on an object: everything but server-set metadata,
/// status, and values the cluster allocates (cluster IPs, node ports, the
/// volume a claim binds to).
pub fn comparable(obj: &Value) -> Value {
    let mut o = obj.clone();
    let map = o.as_object_mut().map(std::mem::take).unwrap_or_default();
    let mut out = serde_json::Map::new();
    for (k, v) in map {
        match k.as_str() {
            "status" => {}
            "metadata" => {
                let mut meta = serde_json::Map::new();
                for key in ["name", "labels", "annotations"] {
                    if let Some(x) = v.get(key) {
                        meta.insert(key.into(), x.clone());
                    }
                }
                if let Some(a) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
                    for b in BINDING_ANNOTATIONS {
                        a.remove(*b);
                    }
                }
                if meta.get("annotations").and_then(Value::as_object).is_some_and(|a| a.is_empty()) {
                    meta.remove("annotations");
                }
                out.insert(k, Value::Object(meta));
            }
            _ => {
                out.insert(k, v);
            }
        }
    }
    let mut o = Value::Object(out);
    if let Some(spec) = o.get_mut("spec").and_then(Value::as_object_mut) {
        spec.remove("clusterIP");
        spec.remove("clusterIPs");
        spec.remove("volumeName");
        if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
            for p in ports.iter_mut().filter_map(Value::as_object_mut) {
                p.remove("nodePort");
            }
        }
    }
    o
}
