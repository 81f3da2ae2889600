//! Which built-in resource is served at which group version in which
//! Kubernetes release: one row per (group, version, resource) with the minor
//! release that introduced it (enabled by default) and the one that removed it.
//! Releases follow the Kubernetes "Deprecated API Migration Guide"; beta APIs
//! introduced after 1.24 are off by default upstream and so are not listed.

/// One group version of one resource and the releases serving it.
pub struct Served {
    pub group: &'static str,
    pub version: &'static str,
    pub resource: &'static str,
    /// First minor release serving it by default (0: before every profile).
    pub since: u32,
    /// First minor release no longer serving it.
    pub until: Option<u32>,
}

const fn always(group: &'static str, version: &'static str, resource: &'static str) -> Served {
    Served { group, version, resource, since: 0, until: None }
}

const fn since(group: &'static str, version: &'static str, resource: &'static str, minor: u32) -> Served {
    Served { group, version, resource, since: minor, until: None }
}

const fn removed(group: &'static str, version: &'static str, resource: &'static str, since: u32, until: u32) -> Served {
    Served { group, version, resource, since, until: Some(until) }
}

const FLOWCONTROL: &str = "flowcontrol.apiserver.k8s.io";
const ADMISSION: &str = "admissionregistration.k8s.io";

pub const SERVED: &[Served] = &[
    // core/v1
    always("", "v1", "namespaces"),
    always("", "v1", "pods"),
    always("", "v1", "services"),
    always("", "v1", "endpoints"),
    always("", "v1", "configmaps"),
    always("", "v1", "secrets"),
    always("", "v1", "serviceaccounts"),
    always("", "v1", "persistentvolumes"),
    always("", "v1", "persistentvolumeclaims"),
    always("", "v1", "events"),
    always("", "v1", "limitranges"),
    always("", "v1", "resourcequotas"),
    always("", "v1", "nodes"),
    always("", "v1", "replicationcontrollers"),
    always("", "v1", "podtemplates"),
    always("", "v1", "componentstatuses"),
    always("", "v1", "bindings"),
    // apps
    always("apps", "v1", "deployments"),
    always("apps", "v1", "statefulsets"),
    always("apps", "v1", "replicasets"),
    always("apps", "v1", "daemonsets"),
    always("apps", "v1", "controllerrevisions"),
    // batch
    always("batch", "v1", "jobs"),
    always("batch", "v1", "cronjobs"),
    removed("batch", "v1beta1", "cronjobs", 0, 25),
    // rbac.authorization.k8s.io
    always("rbac.authorization.k8s.io", "v1", "roles"),
    always("rbac.authorization.k8s.io", "v1", "rolebindings"),
    always("rbac.authorization.k8s.io", "v1", "clusterroles"),
    always("rbac.authorization.k8s.io", "v1", "clusterrolebindings"),
    // storage.k8s.io
    always("storage.k8s.io", "v1", "storageclasses"),
    always("storage.k8s.io", "v1", "volumeattachments"),
    always("storage.k8s.io", "v1", "csidrivers"),
    always("storage.k8s.io", "v1", "csinodes"),
    since("storage.k8s.io", "v1", "csistoragecapacities", 24),
    removed("storage.k8s.io", "v1beta1", "csistoragecapacities", 0, 27),
    // networking.k8s.io
    always("networking.k8s.io", "v1", "ingresses"),
    always("networking.k8s.io", "v1", "ingressclasses"),
    always("networking.k8s.io", "v1", "networkpolicies"),
    since("networking.k8s.io", "v1", "ipaddresses", 33),
    since("networking.k8s.io", "v1", "servicecidrs", 33),
    // policy
    always("policy", "v1", "poddisruptionbudgets"),
    removed("policy", "v1beta1", "poddisruptionbudgets", 0, 25),
    // autoscaling: v2 is preferred from 1.23 on; v1 stays served
    since("autoscaling", "v2", "horizontalpodautoscalers", 23),
    always("autoscaling", "v1", "horizontalpodautoscalers"),
    removed("autoscaling", "v2beta1", "horizontalpodautoscalers", 0, 25),
    removed("autoscaling", "v2beta2", "horizontalpodautoscalers", 0, 26),
    // coordination.k8s.io, discovery.k8s.io, events.k8s.io, scheduling.k8s.io
    always("coordination.k8s.io", "v1", "leases"),
    always("discovery.k8s.io", "v1", "endpointslices"),
    removed("discovery.k8s.io", "v1beta1", "endpointslices", 0, 25),
    always("events.k8s.io", "v1", "events"),
    removed("events.k8s.io", "v1beta1", "events", 0, 25),
    always("scheduling.k8s.io", "v1", "priorityclasses"),
    // node.k8s.io
    always("node.k8s.io", "v1", "runtimeclasses"),
    removed("node.k8s.io", "v1beta1", "runtimeclasses", 0, 25),
    // admissionregistration.k8s.io
    always(ADMISSION, "v1", "mutatingwebhookconfigurations"),
    always(ADMISSION, "v1", "validatingwebhookconfigurations"),
    since(ADMISSION, "v1", "validatingadmissionpolicies", 30),
    since(ADMISSION, "v1", "validatingadmissionpolicybindings", 30),
    // apiextensions.k8s.io
    always("apiextensions.k8s.io", "v1", "customresourcedefinitions"),
    // apiregistration.k8s.io
    always("apiregistration.k8s.io", "v1", "apiservices"),
    // certificates.k8s.io
    always("certificates.k8s.io", "v1", "certificatesigningrequests"),
    // flowcontrol.apiserver.k8s.io: v1beta2 (1.23–1.28), v1beta3 (1.26–1.31), v1 (1.29–)
    removed(FLOWCONTROL, "v1beta1", "flowschemas", 0, 26),
    removed(FLOWCONTROL, "v1beta1", "prioritylevelconfigurations", 0, 26),
    removed(FLOWCONTROL, "v1beta2", "flowschemas", 23, 29),
    removed(FLOWCONTROL, "v1beta2", "prioritylevelconfigurations", 23, 29),
    removed(FLOWCONTROL, "v1beta3", "flowschemas", 26, 32),
    removed(FLOWCONTROL, "v1beta3", "prioritylevelconfigurations", 26, 32),
    since(FLOWCONTROL, "v1", "flowschemas", 29),
    since(FLOWCONTROL, "v1", "prioritylevelconfigurations", 29),
    // authentication.k8s.io and authorization.k8s.io: create-only reviews
    always("authentication.k8s.io", "v1", "tokenreviews"),
    since("authentication.k8s.io", "v1", "selfsubjectreviews", 28),
    always("authorization.k8s.io", "v1", "subjectaccessreviews"),
    always("authorization.k8s.io", "v1", "selfsubjectaccessreviews"),
    always("authorization.k8s.io", "v1", "localsubjectaccessreviews"),
    always("authorization.k8s.io", "v1", "selfsubjectrulesreviews"),
];

impl Served {
    pub fn serves_in(&self, minor: u32) -> bool {
        self.since <= minor && self.until.is_none_or(|until| minor < until)
    }
}

/// The versions `group`/`resource` is served at in release `1.{minor}`.
pub fn versions_of(group: &str, resource: &str, minor: u32) -> Vec<&'static str> {
    SERVED
        .iter()
        .filter(|s| s.group == group && s.resource == resource && s.serves_in(minor))
        .map(|s| s.version)
        .collect()
}
