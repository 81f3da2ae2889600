//! The server Deployment, its metrics Service and the optional node agent.

use serde_json::{Value, json};

use crate::{InstallOptions, SERVER_NAME, labels};

/// The user of the image (non-root).
pub const RUN_AS_USER: i64 = 65532;
/// The pod holding the node agent's DaemonSet slot once the image is pulled.
pub const PAUSE_IMAGE: &str = "registry.k8s.io/pause:3.10";

fn selector(component: &str) -> Value {
    json!({"app.kubernetes.io/name": "arca", "app.kubernetes.io/component": component})
}

/// The arguments of `arca server` in the pod.
pub fn server_args(opts: &InstallOptions) -> Vec<String> {
    let mut args = vec![
        "server".to_string(),
        "--namespace".to_string(),
        opts.namespace.clone(),
        "--identity".to_string(),
        // Expanded by the kubelet from the env below: each replica's Lease identity.
        "$(POD_NAME)".to_string(),
        "--metrics-address".to_string(),
        format!("0.0.0.0:{}", opts.metrics_port),
        "--mover-image".to_string(),
        opts.image.clone(),
    ];
    if opts.tenant_mode {
        args.push("--tenant-mode".to_string());
    }
    args
}

fn restricted_container_security() -> Value {
    json!({
        "allowPrivilegeEscalation": false,
        "readOnlyRootFilesystem": true,
        "runAsNonRoot": true,
        "capabilities": {"drop": ["ALL"]},
    })
}

fn restricted_pod_security() -> Value {
    json!({
        "runAsNonRoot": true,
        "runAsUser": RUN_AS_USER,
        "runAsGroup": RUN_AS_USER,
        "seccompProfile": {"type": "RuntimeDefault"},
    })
}

/// Deployment and metrics Service.
pub fn server(opts: &InstallOptions) -> Vec<Value> {
    let ns = opts.namespace.as_str();
    let probe = |path: &str, period: u32| json!({"httpGet": {"path": path, "port": "metrics"}, "periodSeconds": period, "timeoutSeconds": 5});
    let container = json!({
        "name": "server",
        "image": opts.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["arca"],
        "args": server_args(opts),
        "env": [
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            // Repository caches and temporary files go to the writable volume.
            {"name": "HOME", "value": "/tmp"},
        ],
        "ports": [{"name": "metrics", "containerPort": opts.metrics_port, "protocol": "TCP"}],
        "livenessProbe": probe("/healthz", 20),
        "readinessProbe": probe("/readyz", 10),
        "resources": {
            "requests": {"cpu": "100m", "memory": "256Mi"},
            "limits": {"memory": "1Gi"},
        },
        "securityContext": restricted_container_security(),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    });
    let deployment = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": SERVER_NAME, "namespace": ns, "labels": labels("server")},
        "spec": {
            "replicas": opts.replicas,
            "selector": {"matchLabels": selector("server")},
            "template": {
                "metadata": {"labels": selector("server")},
                "spec": {
                    "serviceAccountName": SERVER_NAME,
                    // Graceful shutdown: work in flight finishes or is marked Failed.
                    "terminationGracePeriodSeconds": 90,
                    "securityContext": restricted_pod_security(),
                    "containers": [container],
                    "volumes": [{"name": "tmp", "emptyDir": {}}],
                },
            },
        },
    });
    let service = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": format!("{SERVER_NAME}-metrics"),
            "namespace": ns,
            "labels": labels("server"),
            "annotations": {
                "prometheus.io/scrape": "true",
                "prometheus.io/port": opts.metrics_port.to_string(),
                "prometheus.io/path": "/metrics",
            },
        },
        "spec": {
            "type": "ClusterIP",
            "selector": selector("server"),
            "ports": [{"name": "metrics", "port": opts.metrics_port, "targetPort": "metrics", "protocol": "TCP"}],
        },
    });
    vec![deployment, service]
}

/// The node agent: pulls the mover image on every node (an init container
/// running `arca --version`), then holds the slot with a pause container.
/// Nothing privileged, no ServiceAccount token: mover pods, not this agent,
/// read volumes.
pub fn node_agent(opts: &InstallOptions) -> Value {
    let small = json!({"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}});
    json!({
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "arca-node-agent", "namespace": opts.namespace, "labels": labels("node-agent")},
        "spec": {
            "selector": {"matchLabels": selector("node-agent")},
            "template": {
                "metadata": {"labels": selector("node-agent")},
                "spec": {
                    "automountServiceAccountToken": false,
                    "securityContext": restricted_pod_security(),
                    "tolerations": [{"operator": "Exists"}],
                    "initContainers": [{
                        "name": "pull-mover-image",
                        "image": opts.image,
                        "imagePullPolicy": "IfNotPresent",
                        "command": ["arca"],
                        "args": ["--version"],
                        "resources": small,
                        "securityContext": restricted_container_security(),
                    }],
                    "containers": [{
                        "name": "pause",
                        "image": PAUSE_IMAGE,
                        "resources": small,
                        "securityContext": restricted_container_security(),
                    }],
                },
            },
        },
    })
}
