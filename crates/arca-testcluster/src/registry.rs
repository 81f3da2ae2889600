//! The table of served resource types: built-in rows plus rows added by CRDs.

use std::any::TypeId;

use k8s_openapi::api::{
    admissionregistration::v1 as admission, apps::v1 as apps, autoscaling::v2 as autoscaling, batch::v1 as batch,
    coordination::v1 as coordination, core::v1 as core, discovery::v1 as discovery, events::v1 as events,
    networking::v1 as networking, policy::v1 as policy, rbac::v1 as rbac, scheduling::v1 as scheduling,
    storage::v1 as storage,
};
use k8s_openapi::api::{
    authentication::v1 as authentication, authorization::v1 as authorization, certificates::v1 as certificates,
    flowcontrol::v1 as flowcontrol, node::v1 as node,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1 as apiregistration;

use crate::release::KubernetesVersion;
use crate::served;

/// A subresource as listed in discovery (`pods/exec`, `deployments/scale`).
#[derive(Debug, Clone, PartialEq)]
pub struct Subresource {
    pub name: String,
    pub group: String,
    pub version: String,
    pub kind: String,
    pub verbs: Vec<String>,
}

/// One served resource type in one version.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceType {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub singular: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    /// Whether the type has a `status` subresource (status split).
    pub has_status: bool,
    /// Subresources other than `status` (`scale`, `exec`, `log`, `finalize`).
    pub extra_subresources: Vec<Subresource>,
    /// The default deletion propagation is `Orphan` (batch/v1 Job, as upstream).
    pub orphan_by_default: bool,
    /// Served because of a CustomResourceDefinition.
    pub from_crd: bool,
    /// Where the `scale` subresource reads and writes, when there is one.
    pub scale: Option<ScalePaths>,
    /// Which verbs the type serves.
    pub access: Access,
}

/// The verbs of a type: stored objects, create-only requests answered without
/// storing (reviews, bindings), or a computed read-only list (componentstatuses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Access {
    #[default]
    Stored,
    CreateOnly,
    ReadOnly,
}

impl Access {
    pub fn verbs(&self) -> Vec<String> {
        match self {
            Access::Stored => resource_verbs(),
            Access::CreateOnly => verbs(&["create"]),
            Access::ReadOnly => verbs(&["get", "list"]),
        }
    }
}

/// JSON paths (`.spec.replicas` style) of the `scale` subresource.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalePaths {
    pub spec_replicas: String,
    pub status_replicas: String,
    /// A path to a label selector (string for CRDs, object for built-ins).
    pub selector: Option<String>,
}

impl ScalePaths {
    fn builtin() -> Self {
        ScalePaths {
            spec_replicas: ".spec.replicas".into(),
            status_replicas: ".status.replicas".into(),
            selector: Some(".spec.selector".into()),
        }
    }
}

impl ResourceType {
    pub fn api_version(&self) -> String {
        api_version(&self.group, &self.version)
    }

    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// All subresources, `status` included.
    pub fn subresources(&self) -> Vec<Subresource> {
        let mut out = Vec::new();
        if self.has_status {
            out.push(Subresource {
                name: "status".into(),
                group: self.group.clone(),
                version: self.version.clone(),
                kind: self.kind.clone(),
                verbs: verbs(&["get", "patch", "update"]),
            });
        }
        out.extend(self.extra_subresources.iter().cloned());
        out
    }

    /// The same type served at another version of its group (one stored copy).
    fn at_version(&self, version: &str) -> ResourceType {
        let mut out = self.clone();
        for sub in &mut out.extra_subresources {
            if sub.group == self.group && sub.version == self.version {
                sub.version = version.to_string();
            }
        }
        out.version = version.to_string();
        out
    }

    pub fn has_subresource(&self, name: &str) -> bool {
        (name == "status" && self.has_status) || self.extra_subresources.iter().any(|s| s.name == name)
    }
}

/// `group/version`, or just `version` for the core group.
pub fn api_version(group: &str, version: &str) -> String {
    if group.is_empty() { version.to_string() } else { format!("{group}/{version}") }
}

/// Splits an `apiVersion` into group and version.
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

fn verbs(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Verbs of a main resource.
pub fn resource_verbs() -> Vec<String> {
    verbs(&["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"])
}

/// Kubernetes version priority: GA > beta > alpha, higher numbers first, others last.
pub fn version_priority(version: &str) -> (u8, i64, i64, String) {
    let parse = |rest: &str| -> Option<(u8, i64)> {
        if rest.is_empty() {
            return Some((3, 0));
        }
        for (tag, rank) in [("beta", 2u8), ("alpha", 1u8)] {
            if let Some(n) = rest.strip_prefix(tag) {
                return n.parse::<i64>().ok().map(|n| (rank, n));
            }
        }
        None
    };
    if let Some(rest) = version.strip_prefix('v') {
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        if let Ok(major) = digits.parse::<i64>() {
            if let Some((rank, minor)) = parse(&rest[digits.len()..]) {
                return (rank, major, minor, String::new());
            }
        }
    }
    (0, 0, 0, version.to_string())
}

/// Sorts versions most preferred first.
pub fn sort_versions(versions: &mut [String]) {
    versions.sort_by(|a, b| {
        let (pa, pb) = (version_priority(a), version_priority(b));
        (pb.0, pb.1, pb.2).cmp(&(pa.0, pa.1, pa.2)).then_with(|| pa.3.cmp(&pb.3))
    });
}

/// Optional parts of a built-in row.
#[derive(Default, Clone, Copy)]
struct Extra {
    short: &'static [&'static str],
    status: bool,
    subs: &'static [&'static str],
    all: bool,
    orphan: bool,
    access: Access,
}

fn row<K: k8s_openapi::Resource + 'static>(extra: Extra) -> ResourceType
where
    K::Scope: 'static,
{
    let namespaced = TypeId::of::<K::Scope>() == TypeId::of::<k8s_openapi::NamespaceResourceScope>();
    let extra_subresources =
        extra.subs.iter().map(|name| builtin_subresource(K::GROUP, K::VERSION, K::KIND, name)).collect();
    ResourceType {
        group: K::GROUP.to_string(),
        version: K::VERSION.to_string(),
        kind: K::KIND.to_string(),
        plural: K::URL_PATH_SEGMENT.to_string(),
        singular: K::KIND.to_ascii_lowercase(),
        namespaced,
        short_names: verbs(extra.short),
        categories: if extra.all { verbs(&["all"]) } else { vec![] },
        has_status: extra.status,
        extra_subresources,
        orphan_by_default: extra.orphan,
        from_crd: false,
        scale: extra.subs.contains(&"scale").then(ScalePaths::builtin),
        access: extra.access,
    }
}

/// The discovery row of a non-status subresource.
pub fn builtin_subresource(group: &str, version: &str, kind: &str, name: &str) -> Subresource {
    let (g, v, k, vb): (&str, &str, &str, &[&str]) = match name {
        "scale" => ("autoscaling", "v1", "Scale", &["get", "patch", "update"]),
        "exec" => ("", "v1", "PodExecOptions", &["create", "get"]),
        "log" => ("", "v1", "Pod", &["get"]),
        "finalize" => ("", "v1", "Namespace", &["update"]),
        "approval" => (group, version, kind, &["get", "patch", "update"]),
        "token" => ("authentication.k8s.io", "v1", "TokenRequest", &["create"]),
        _ => (group, version, kind, &["get"]),
    };
    Subresource {
        name: name.to_string(),
        group: g.to_string(),
        version: v.to_string(),
        kind: k.to_string(),
        verbs: verbs(vb),
    }
}

fn builtin_rows() -> Vec<ResourceType> {
    let e = Extra::default;
    let s = |short: &'static [&'static str]| Extra { short, ..e() };
    let st = |short: &'static [&'static str]| Extra { short, status: true, ..e() };
    let scaled = |short: &'static [&'static str]| Extra { short, status: true, subs: &["scale"], all: true, ..e() };
    vec![
        // core/v1
        row::<core::Namespace>(Extra { short: &["ns"], status: true, subs: &["finalize"], ..e() }),
        row::<core::Pod>(Extra { short: &["po"], status: true, subs: &["exec", "log"], all: true, ..e() }),
        row::<core::Service>(Extra { all: true, ..st(&["svc"]) }),
        row::<core::Endpoints>(s(&["ep"])),
        row::<core::ConfigMap>(s(&["cm"])),
        row::<core::Secret>(e()),
        row::<core::ServiceAccount>(Extra { subs: &["token"], ..s(&["sa"]) }),
        row::<core::PersistentVolume>(st(&["pv"])),
        row::<core::PersistentVolumeClaim>(st(&["pvc"])),
        row::<core::Event>(s(&["ev"])),
        row::<core::LimitRange>(s(&["limits"])),
        row::<core::ResourceQuota>(st(&["quota"])),
        row::<core::Node>(st(&["no"])),
        row::<core::ReplicationController>(scaled(&["rc"])),
        // apps/v1
        row::<apps::Deployment>(scaled(&["deploy"])),
        row::<apps::StatefulSet>(scaled(&["sts"])),
        row::<apps::ReplicaSet>(scaled(&["rs"])),
        row::<apps::DaemonSet>(Extra { all: true, ..st(&["ds"]) }),
        row::<apps::ControllerRevision>(e()),
        // batch/v1
        row::<batch::Job>(Extra { status: true, all: true, orphan: true, ..e() }),
        row::<batch::CronJob>(Extra { all: true, ..st(&["cj"]) }),
        // rbac.authorization.k8s.io/v1
        row::<rbac::Role>(e()),
        row::<rbac::RoleBinding>(e()),
        row::<rbac::ClusterRole>(e()),
        row::<rbac::ClusterRoleBinding>(e()),
        // storage.k8s.io/v1
        row::<storage::StorageClass>(s(&["sc"])),
        row::<storage::VolumeAttachment>(st(&[])),
        row::<storage::CSIDriver>(e()),
        row::<storage::CSINode>(e()),
        row::<storage::CSIStorageCapacity>(e()),
        // networking.k8s.io/v1
        row::<networking::Ingress>(st(&["ing"])),
        row::<networking::IngressClass>(e()),
        row::<networking::NetworkPolicy>(s(&["netpol"])),
        // policy/v1
        row::<policy::PodDisruptionBudget>(st(&["pdb"])),
        // autoscaling/v2
        row::<autoscaling::HorizontalPodAutoscaler>(Extra { all: true, ..st(&["hpa"]) }),
        // coordination.k8s.io/v1
        row::<coordination::Lease>(e()),
        // discovery.k8s.io/v1
        row::<discovery::EndpointSlice>(e()),
        // events.k8s.io/v1
        row::<events::Event>(s(&["ev"])),
        // scheduling.k8s.io/v1
        row::<scheduling::PriorityClass>(s(&["pc"])),
        // admissionregistration.k8s.io/v1
        row::<admission::MutatingWebhookConfiguration>(e()),
        row::<admission::ValidatingWebhookConfiguration>(e()),
        row::<admission::ValidatingAdmissionPolicy>(st(&[])),
        row::<admission::ValidatingAdmissionPolicyBinding>(e()),
        // apiextensions.k8s.io/v1
        row::<apiextensions::CustomResourceDefinition>(st(&["crd", "crds"])),
        // apiregistration.k8s.io/v1
        row::<apiregistration::APIService>(st(&[])),
        // Rows below are served by some releases only (see `served.rs`).
        row::<core::PodTemplate>(e()),
        row::<core::ComponentStatus>(Extra { access: Access::ReadOnly, ..s(&["cs"]) }),
        row::<core::Binding>(create_only()),
        row::<flowcontrol::FlowSchema>(st(&[])),
        row::<flowcontrol::PriorityLevelConfiguration>(st(&[])),
        row::<node::RuntimeClass>(e()),
        row::<certificates::CertificateSigningRequest>(Extra { subs: &["approval"], ..st(&["csr"]) }),
        row::<networking::IPAddress>(s(&["ip"])),
        row::<networking::ServiceCIDR>(st(&[])),
        row::<authentication::TokenReview>(create_only()),
        row::<authentication::SelfSubjectReview>(create_only()),
        row::<authorization::SubjectAccessReview>(create_only()),
        row::<authorization::SelfSubjectAccessReview>(create_only()),
        row::<authorization::LocalSubjectAccessReview>(create_only()),
        row::<authorization::SelfSubjectRulesReview>(create_only()),
    ]
}

fn create_only() -> Extra {
    Extra { access: Access::CreateOnly, ..Extra::default() }
}

/// The built-in rows served by `release`: each row at every version `served.rs`
/// lists for it in that release; a row `served.rs` does not know is served at
/// its own version in every release.
fn rows_for(release: KubernetesVersion) -> Vec<ResourceType> {
    builtin_rows()
        .into_iter()
        .flat_map(|row| {
            let versions = if served::known(&row.group, &row.plural) {
                served::versions_of(&row.group, &row.plural, release.minor())
            } else {
                vec![row.version.clone()]
            };
            versions.into_iter().map(move |version| row.at_version(&version))
        })
        .collect()
}

/// All served types. Built-in rows come first, CRD rows are appended.
#[derive(Debug, Clone)]
pub struct Registry {
    types: Vec<ResourceType>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry::for_release(KubernetesVersion::default())
    }
}

impl Registry {
    /// The built-in types a real server of `release` serves.
    pub fn for_release(release: KubernetesVersion) -> Self {
        Registry { types: rows_for(release) }
    }

    pub fn types(&self) -> &[ResourceType] {
        &self.types
    }

    /// The type served at `/{group}/{version}/{plural}`.
    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceType> {
        self.types.iter().find(|t| t.group == group && t.version == version && t.plural == plural)
    }

    /// Any served version of `group`/`plural`, most preferred first.
    pub fn find_any_version(&self, group: &str, plural: &str) -> Option<&ResourceType> {
        let mut versions: Vec<String> =
            self.types.iter().filter(|t| t.group == group && t.plural == plural).map(|t| t.version.clone()).collect();
        sort_versions(&mut versions);
        let version = versions.first()?;
        self.find(group, version, plural)
    }

    /// The type of `kind` in `group` (any version).
    pub fn find_kind(&self, group: &str, kind: &str) -> Option<&ResourceType> {
        self.types.iter().find(|t| t.group == group && t.kind == kind)
    }

    /// Groups with their versions, most preferred version first; `""` is the core group.
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for t in &self.types {
            match out.iter_mut().find(|(g, _)| *g == t.group) {
                Some((_, versions)) => {
                    if !versions.contains(&t.version) {
                        versions.push(t.version.clone());
                    }
                }
                None => out.push((t.group.clone(), vec![t.version.clone()])),
            }
        }
        for (_, versions) in &mut out {
            sort_versions(versions);
        }
        out
    }

    /// Types of one group version.
    pub fn in_group_version(&self, group: &str, version: &str) -> Vec<&ResourceType> {
        self.types.iter().filter(|t| t.group == group && t.version == version).collect()
    }

    /// Replaces the rows of a CRD-defined `group`/`plural` with `rows`.
    pub fn set_crd(&mut self, group: &str, plural: &str, rows: Vec<ResourceType>) {
        self.remove_crd(group, plural);
        self.types.extend(rows);
    }

    pub fn remove_crd(&mut self, group: &str, plural: &str) {
        self.types.retain(|t| !(t.from_crd && t.group == group && t.plural == plural));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_rows_carry_openapi_metadata() {
        let reg = Registry::default();
        let pods = reg.find("", "v1", "pods").expect("pods");
        assert!(pods.namespaced && pods.has_status && pods.has_subresource("exec"));
        let ns = reg.find("", "v1", "namespaces").expect("namespaces");
        assert!(!ns.namespaced);
        let deploy = reg.find("apps", "v1", "deployments").expect("deployments");
        assert_eq!(deploy.kind, "Deployment");
        assert!(deploy.has_subresource("scale"));
        assert!(reg.find("batch", "v1", "jobs").expect("jobs").orphan_by_default);
    }

    #[test]
    fn every_served_row_names_a_builtin_type() {
        let rows = builtin_rows();
        for s in served::SERVED {
            assert!(
                rows.iter().any(|r| r.group == s.group && r.plural == s.resource),
                "{}.{} in served.rs has no built-in row",
                s.resource,
                s.group
            );
        }
    }

    #[test]
    fn a_type_at_several_versions_keeps_its_kind() {
        let reg = Registry::for_release("1.25".parse().expect("profile"));
        let beta = reg.find("flowcontrol.apiserver.k8s.io", "v1beta2", "flowschemas").expect("v1beta2");
        assert_eq!(beta.kind, "FlowSchema");
        assert!(reg.find("flowcontrol.apiserver.k8s.io", "v1", "flowschemas").is_none());
        let preferred = reg.find_any_version("flowcontrol.apiserver.k8s.io", "flowschemas").expect("preferred");
        assert_eq!(preferred.version, "v1beta2");
        let csr = Registry::default();
        let approval = csr.find("certificates.k8s.io", "v1", "certificatesigningrequests").expect("csr");
        assert!(approval.has_subresource("approval") && approval.has_status);
    }

    #[test]
    fn versions_sort_by_kubernetes_priority() {
        let mut v: Vec<String> =
            ["v1alpha1", "foo", "v2beta1", "v1", "v2", "v1beta2"].iter().map(|s| s.to_string()).collect();
        sort_versions(&mut v);
        assert_eq!(v, ["v2", "v1", "v2beta1", "v1beta2", "v1alpha1", "foo"]);
    }
}
