//! Objects the target cluster makes and keeps itself: the API server's own
//! APIServices, API priority and fairness defaults, bootstrap RBAC, the
//! `kubernetes` Service, and what the controller manager publishes into
//! every namespace. They are not the user's to restore: the target's own
//! (possibly newer) versions win. Skipped by default, one row per rule;
//! `--include-cluster-managed` restores them anyway.
//!
//! Consulted by the planner next to [`crate::restore::sanitize::SKIPS`].

use serde_json::Value;

use crate::objects;

/// The start of every reason a rule gives.
pub const MANAGED: &str = "managed by the target cluster";

const RBAC: &str = "rbac.authorization.k8s.io";
const APF: &str = "flowcontrol.apiserver.k8s.io";

type ManagedRule = fn(&Value) -> Option<&'static str>;

/// Which objects the target cluster manages, per (group, kind); each rule
/// names why.
pub const MANAGED_RULES: &[(&str, &str, ManagedRule)] = &[
    ("apiregistration.k8s.io", "APIService", automanaged_api_service),
    (APF, "FlowSchema", apf_default),
    (APF, "PriorityLevelConfiguration", apf_default),
    (RBAC, "ClusterRole", bootstrap_rbac),
    (RBAC, "ClusterRoleBinding", bootstrap_rbac),
    (RBAC, "Role", bootstrap_rbac),
    (RBAC, "RoleBinding", bootstrap_rbac),
    ("", "Service", kubernetes_service),
    ("", "Endpoints", kubernetes_service),
    ("discovery.k8s.io", "EndpointSlice", kubernetes_endpoint_slice),
    ("", "ConfigMap", published_config_map),
    ("scheduling.k8s.io", "PriorityClass", system_priority_class),
];

/// Why the target cluster manages this object, if it does: `managed by the
/// target cluster (detail)`.
pub fn skip_reason(group: &str, kind: &str, obj: &Value) -> Option<String> {
    MANAGED_RULES
        .iter()
        .filter(|(g, k, _)| *g == group && *k == kind)
        .find_map(|(_, _, rule)| rule(obj))
        .map(|detail| format!("{MANAGED} ({detail}); --include-cluster-managed restores it"))
}

/// The API server registers an APIService for every group it serves itself
/// and labels it (`onstart` or `true`); a user's aggregated API has no label.
fn automanaged_api_service(obj: &Value) -> Option<&'static str> {
    objects::label(obj, "kube-aggregator.kubernetes.io/automanaged")
        .map(|_| "registered by the API server for a group it serves")
}

/// Mandatory and suggested APF objects carry `autoupdate-spec: "true"` and
/// are kept current by the API server; `"false"` means the user took one over.
fn apf_default(obj: &Value) -> Option<&'static str> {
    (annotation(obj, "apf.kubernetes.io/autoupdate-spec") == Some("true"))
        .then_some("API priority and fairness default, kept current by the API server")
}

/// Bootstrap RBAC is reconciled by the API server at start, unless the user
/// turned auto-update off (then it is theirs).
fn bootstrap_rbac(obj: &Value) -> Option<&'static str> {
    let bootstrap = objects::label(obj, "kubernetes.io/bootstrapping") == Some("rbac-defaults");
    let owned_by_user = annotation(obj, "rbac.authorization.kubernetes.io/autoupdate") == Some("false");
    (bootstrap && !owned_by_user).then_some("bootstrap RBAC, reconciled by the API server at start")
}

/// The API server's own Service and its endpoints in `default`.
fn kubernetes_service(obj: &Value) -> Option<&'static str> {
    (objects::namespace(obj) == Some("default") && objects::name(obj) == "kubernetes")
        .then_some("the API server's own Service, kept by the API server")
}

fn kubernetes_endpoint_slice(obj: &Value) -> Option<&'static str> {
    (objects::namespace(obj) == Some("default")
        && objects::label(obj, "kubernetes.io/service-name") == Some("kubernetes"))
    .then_some("the endpoints of the API server's own Service, kept by the API server")
}

/// ConfigMaps the control plane publishes: the cluster's CA in every
/// namespace, and the API server's own records in `kube-system`. The
/// source's copies describe the source cluster.
const PUBLISHED_CONFIG_MAPS: &[(Option<&str>, &str, &str)] = &[
    (None, "kube-root-ca.crt", "the cluster's CA, published into every namespace by the controller manager"),
    (Some("kube-system"), "extension-apiserver-authentication", "the API server's client CA for extension API servers"),
    (
        Some("kube-system"),
        "kube-apiserver-legacy-service-account-token-tracking",
        "the API server's record of legacy token tracking",
    ),
];

fn published_config_map(obj: &Value) -> Option<&'static str> {
    let (ns, name) = (objects::namespace(obj), objects::name(obj));
    PUBLISHED_CONFIG_MAPS
        .iter()
        .find(|(in_ns, n, _)| *n == name && in_ns.is_none_or(|want| ns == Some(want)))
        .map(|(_, _, why)| *why)
}

/// The API server creates these two and refuses other `system-` names.
fn system_priority_class(obj: &Value) -> Option<&'static str> {
    matches!(objects::name(obj), "system-cluster-critical" | "system-node-critical")
        .then_some("created by the API server at start")
}

fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.pointer("/metadata/annotations")?.get(key)?.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn skipped(group: &str, obj: &Value) -> bool {
        let kind = objects::kind(obj);
        skip_reason(group, kind, obj).is_some_and(|r| r.starts_with(MANAGED))
    }

    #[test]
    fn api_services_registered_by_the_server_are_skipped_a_users_are_not() {
        let builtin = json!({"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
            "metadata": {"name": "v1.apps", "labels": {"kube-aggregator.kubernetes.io/automanaged": "onstart"}},
            "spec": {"group": "apps", "version": "v1", "groupPriorityMinimum": 17800, "versionPriority": 15}});
        let metrics = json!({"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
            "metadata": {"name": "v1beta1.metrics.k8s.io", "labels": {"k8s-app": "metrics-server"}},
            "spec": {"group": "metrics.k8s.io", "version": "v1beta1",
                     "service": {"name": "metrics-server", "namespace": "kube-system"}}});
        assert!(skipped("apiregistration.k8s.io", &builtin));
        assert!(!skipped("apiregistration.k8s.io", &metrics));
    }

    #[test]
    fn apf_defaults_are_skipped_unless_the_user_took_them_over() {
        let plc = |autoupdate: &str| {
            json!({"apiVersion": "flowcontrol.apiserver.k8s.io/v1beta2", "kind": "PriorityLevelConfiguration",
                "metadata": {"name": "workload-low", "annotations": {"apf.kubernetes.io/autoupdate-spec": autoupdate}},
                "spec": {"type": "Limited", "limited": {"assuredConcurrencyShares": 100}}})
        };
        assert!(skipped(APF, &plc("true")));
        assert!(!skipped(APF, &plc("false")));
        let users = json!({"apiVersion": "flowcontrol.apiserver.k8s.io/v1beta2", "kind": "FlowSchema",
            "metadata": {"name": "shop-batch"}, "spec": {"priorityLevelConfiguration": {"name": "workload-low"}}});
        assert!(!skipped(APF, &users));
    }

    #[test]
    fn bootstrap_rbac_is_skipped_a_users_roles_are_not() {
        let role = |labels: Value, annotations: Value| {
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": "system:aggregate-to-edit", "labels": labels, "annotations": annotations}})
        };
        let bootstrap = json!({"kubernetes.io/bootstrapping": "rbac-defaults"});
        assert!(skipped(
            RBAC,
            &role(bootstrap.clone(), json!({"rbac.authorization.kubernetes.io/autoupdate": "true"}))
        ));
        assert!(!skipped(RBAC, &role(bootstrap, json!({"rbac.authorization.kubernetes.io/autoupdate": "false"}))));
        assert!(!skipped(RBAC, &role(json!({"rbac.authorization.k8s.io/aggregate-to-edit": "true"}), json!({}))));
    }

    #[test]
    fn the_api_servers_service_and_endpoints_are_skipped_only_in_default() {
        let svc = |ns: &str| json!({"kind": "Service", "metadata": {"name": "kubernetes", "namespace": ns}});
        assert!(skipped("", &svc("default")));
        assert!(!skipped("", &svc("shop")));
        let ep = json!({"kind": "Endpoints", "metadata": {"name": "kubernetes", "namespace": "default"}});
        assert!(skipped("", &ep));
        let slice = json!({"kind": "EndpointSlice", "metadata": {"name": "kubernetes", "namespace": "default",
            "labels": {"kubernetes.io/service-name": "kubernetes"}}});
        assert!(skipped("discovery.k8s.io", &slice));
        let other = json!({"kind": "EndpointSlice", "metadata": {"name": "web-x1", "namespace": "default",
            "labels": {"kubernetes.io/service-name": "web"}}});
        assert!(!skipped("discovery.k8s.io", &other));
    }

    #[test]
    fn published_config_maps_are_skipped_by_namespace_and_name() {
        let cm = |ns: &str, name: &str| json!({"kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}});
        assert!(skipped("", &cm("shop", "kube-root-ca.crt")));
        assert!(skipped("", &cm("kube-system", "extension-apiserver-authentication")));
        assert!(skipped("", &cm("kube-system", "kube-apiserver-legacy-service-account-token-tracking")));
        assert!(!skipped("", &cm("shop", "extension-apiserver-authentication")));
        assert!(!skipped("", &cm("shop", "settings")));
    }

    #[test]
    fn only_the_servers_priority_classes_are_skipped() {
        let pc = |name: &str| json!({"kind": "PriorityClass", "metadata": {"name": name}, "value": 1000});
        assert!(skipped("scheduling.k8s.io", &pc("system-node-critical")));
        assert!(!skipped("scheduling.k8s.io", &pc("shop-critical")));
    }

    #[test]
    fn the_reason_names_the_rule_and_the_flag() {
        let cm = json!({"kind": "ConfigMap", "metadata": {"name": "kube-root-ca.crt", "namespace": "shop"}});
        let reason = skip_reason("", "ConfigMap", &cm).unwrap_or_default();
        assert!(reason.starts_with("managed by the target cluster (the cluster's CA"), "{reason}");
        assert!(reason.ends_with("--include-cluster-managed restores it"), "{reason}");
    }
}
