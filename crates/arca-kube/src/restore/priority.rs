//! Restore order as data. Objects are created in the order of this table
//! (by `resource.group`); built-in types not listed come after it, custom
//! resources last. An object owned by another restored object always comes
//! after its owner (see `plan`), whatever the table says.
//!
//! | # | types | why here |
//! |---|-------|----------|
//! | 1 | CRDs | every custom resource needs its definition Established first |
//! | 2 | namespaces | everything namespaced lives in one |
//! | 3 | storage and snapshot classes, snapshot contents/snapshots | volumes refer to them |
//! | 4 | PVs, then PVCs | claims bind to restored volumes before pods mount them |
//! | 5 | service accounts, RBAC | pods and controllers need their identity and rights |
//! | 6 | secrets, config maps | mounted and referenced by workloads |
//! | 7 | limit ranges, quotas, priority and ingress classes | admission checks workloads against them |
//! | 8 | pods, workloads, jobs | run last among built-ins, with all they need present |
//! | 9 | services, ingresses, policies, autoscalers | select the workloads |
//! | 10 | other built-ins, then custom resources | operators act on their CRs once the rest exists |

pub const DEFAULT_PRIORITIES: &[&str] = &[
    "customresourcedefinitions.apiextensions.k8s.io",
    "namespaces",
    "storageclasses.storage.k8s.io",
    "volumesnapshotclasses.snapshot.storage.k8s.io",
    "volumesnapshotcontents.snapshot.storage.k8s.io",
    "volumesnapshots.snapshot.storage.k8s.io",
    "persistentvolumes",
    "persistentvolumeclaims",
    "serviceaccounts",
    "clusterroles.rbac.authorization.k8s.io",
    "clusterrolebindings.rbac.authorization.k8s.io",
    "roles.rbac.authorization.k8s.io",
    "rolebindings.rbac.authorization.k8s.io",
    "secrets",
    "configmaps",
    "limitranges",
    "resourcequotas",
    "priorityclasses.scheduling.k8s.io",
    "ingressclasses.networking.k8s.io",
    "pods",
    "replicasets.apps",
    "deployments.apps",
    "statefulsets.apps",
    "daemonsets.apps",
    "replicationcontrollers",
    "jobs.batch",
    "cronjobs.batch",
    "services",
    "ingresses.networking.k8s.io",
    "networkpolicies.networking.k8s.io",
    "poddisruptionbudgets.policy",
    "horizontalpodautoscalers.autoscaling",
];

/// Groups of the built-in API (besides `*.k8s.io` and the core group).
const BUILTIN_GROUPS: &[&str] = &["apps", "batch", "policy", "autoscaling", "extensions"];

/// Whether a group is part of Kubernetes itself rather than a CRD's.
/// `custom` lists `resource.group` names defined by CRDs in the backup, which
/// wins (CSI snapshots are CRDs in a `k8s.io` group).
pub fn is_builtin(group: &str, group_resource: &str, custom: &dyn Fn(&str) -> bool) -> bool {
    if custom(group_resource) {
        return false;
    }
    group.is_empty() || BUILTIN_GROUPS.contains(&group) || group.ends_with(".k8s.io") || group == "k8s.io"
}

/// Position of a type in the restore order (lower first).
pub fn rank(table: &[String], group: &str, group_resource: &str, custom: &dyn Fn(&str) -> bool) -> usize {
    if let Some(i) = table.iter().position(|t| t == group_resource) {
        return i;
    }
    if is_builtin(group, group_resource, custom) { table.len() } else { table.len() + 1 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crds_first_custom_resources_last() {
        let table: Vec<String> = DEFAULT_PRIORITIES.iter().map(|s| s.to_string()).collect();
        let none = |_: &str| false;
        let crd = rank(&table, "apiextensions.k8s.io", "customresourcedefinitions.apiextensions.k8s.io", &none);
        let ns = rank(&table, "", "namespaces", &none);
        let deploy = rank(&table, "apps", "deployments.apps", &none);
        let lease = rank(&table, "coordination.k8s.io", "leases.coordination.k8s.io", &none);
        let widget = rank(&table, "example.com", "widgets.example.com", &none);
        assert!(crd < ns && ns < deploy && deploy < lease && lease < widget);
        let vs_custom = |gr: &str| gr == "volumesnapshots.snapshot.storage.k8s.io";
        assert!(!is_builtin("snapshot.storage.k8s.io", "volumesnapshots.snapshot.storage.k8s.io", &vs_custom));
    }
}
