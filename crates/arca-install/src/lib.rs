//! Arca's install manifests as data: the Namespace, the CRDs, least-privilege
//! RBAC, the server Deployment, its metrics Service and (optionally) the node
//! agent. [`manifests`] is the one source; [`render`] turns it into YAML
//! documents, a Kustomize base and a Helm chart, so the three never drift.

pub mod apply;
pub mod rbac;
pub mod render;
pub mod workload;

use serde_json::{Value, json};

pub use render::{helm_chart, kustomize_base, to_yaml};

/// The namespace Arca runs in unless told otherwise.
pub const DEFAULT_NAMESPACE: &str = "arca-system";
/// The server's ServiceAccount, ClusterRole, Role and their bindings.
pub const SERVER_NAME: &str = "arca-server";
/// The ClusterRole each tenant namespace binds to its `arca-tenant` ServiceAccount.
pub const TENANT_ROLE: &str = "arca-tenant";
/// The ServiceAccount, in each tenant namespace, the server impersonates.
pub const TENANT_SERVICE_ACCOUNT: &str = "arca-tenant";
/// The port `/metrics`, `/healthz` and `/readyz` are served on.
pub const DEFAULT_METRICS_PORT: u16 = 8085;
/// Field manager of `arca install`'s server-side apply.
pub const FIELD_MANAGER: &str = "arca-install";

/// What to install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallOptions {
    pub namespace: String,
    /// The server's image (also the mover pods' image).
    pub image: String,
    /// Server replicas; more than one is safe (leader election on a Lease).
    pub replicas: u32,
    /// Backups and restores run as each namespace's `arca-tenant`
    /// ServiceAccount; the server itself holds no data permissions.
    pub tenant_mode: bool,
    /// Add the node agent DaemonSet (pre-pulls the mover image on every node).
    pub node_agent: bool,
    pub metrics_port: u16,
}

impl Default for InstallOptions {
    fn default() -> Self {
        InstallOptions {
            namespace: DEFAULT_NAMESPACE.to_string(),
            image: default_image(),
            replicas: 1,
            tenant_mode: false,
            node_agent: false,
            metrics_port: DEFAULT_METRICS_PORT,
        }
    }
}

/// The image of this Arca version.
pub fn default_image() -> String {
    concat!("ghcr.io/arca-backup/arca:", env!("CARGO_PKG_VERSION")).to_string()
}

/// Which file of the Kustomize base or Helm chart an object goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Group {
    Namespace,
    Crds,
    Rbac,
    Server,
    NodeAgent,
}

impl Group {
    /// The file name (without `.yaml`).
    pub fn file_stem(self) -> &'static str {
        match self {
            Group::Namespace => "namespace",
            Group::Crds => "crds",
            Group::Rbac => "rbac",
            Group::Server => "server",
            Group::NodeAgent => "node-agent",
        }
    }
}

/// One object of the install and the file it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub group: Group,
    pub object: Value,
}

/// Every object of the install, in apply order (Namespace, CRDs, RBAC,
/// workloads).
pub fn manifests(opts: &InstallOptions) -> Vec<Value> {
    grouped(opts).into_iter().map(|m| m.object).collect()
}

/// [`manifests`] with the file each object belongs to.
pub fn grouped(opts: &InstallOptions) -> Vec<Manifest> {
    let mut out = vec![Manifest { group: Group::Namespace, object: namespace(opts) }];
    out.extend(crds().into_iter().map(|object| Manifest { group: Group::Crds, object }));
    out.extend(rbac::objects(opts).into_iter().map(|object| Manifest { group: Group::Rbac, object }));
    out.extend(workload::server(opts).into_iter().map(|object| Manifest { group: Group::Server, object }));
    if opts.node_agent {
        out.push(Manifest { group: Group::NodeAgent, object: workload::node_agent(opts) });
    }
    out
}

/// The labels every installed object carries.
pub fn labels(component: &str) -> Value {
    json!({
        "app.kubernetes.io/name": "arca",
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/managed-by": FIELD_MANAGER,
    })
}

/// The namespace: `privileged` under Pod Security Admission, because the
/// `fs` method's mover pods mount the node's kubelet directory (`hostPath`)
/// and read it as root; the server itself runs restricted.
fn namespace(opts: &InstallOptions) -> Value {
    let mut labels = labels("namespace");
    labels["pod-security.kubernetes.io/enforce"] = json!("privileged");
    labels["pod-security.kubernetes.io/warn"] = json!("baseline");
    json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": opts.namespace, "labels": labels},
    })
}

fn crds() -> Vec<Value> {
    arca_api::crds()
        .into_iter()
        .map(|crd| {
            let mut v = serde_json::to_value(crd).unwrap_or(Value::Null);
            // The derive's serialization has the type meta; make sure.
            v["apiVersion"] = json!("apiextensions.k8s.io/v1");
            v["kind"] = json!("CustomResourceDefinition");
            v
        })
        .filter(|v| v.get("spec").is_some())
        .collect()
}

/// `KIND NAMESPACE/NAME` (or `KIND NAME`) of an object, for messages.
pub fn describe(obj: &Value) -> String {
    let kind = obj["kind"].as_str().unwrap_or("object");
    let name = obj["metadata"]["name"].as_str().unwrap_or("?");
    match obj["metadata"]["namespace"].as_str() {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    }
}
