//! Restore order as data. Objects are created in the order of the head
//! table [`DEFAULT_PRIORITIES`] (by `resource.group`); built-in types not
//! listed come after it, then custom resources, then the tail table
//! [`DEFAULT_TAIL`]. An object owned by another restored object always comes
//! after its owner (see `plan`), whatever the tables say.
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
//! | 11 | webhook configurations, admission policies and their bindings | a webhook whose backend pods are restored in the same run (or whose service is gone) rejects every matching create, and a policy may refuse objects the backup holds: admission is restored once everything it guards exists (a mutating webhook restored with them does not mutate them again: the backup holds them as it left them) |
//! | 12 | APIServices | an APIService whose backend is not up yet makes its whole group answer 503 (discovery too) |
//!
//! The tail comes after objects owned by other restored objects too
//! ([`is_tail_rank`]: the apply step holds tail groups back until the owned
//! objects are in).
//!
//! Overriding: `--restore-priorities` / [`PlanOptions::priorities`] replaces
//! the head. The tail still applies to every type the user's list leaves
//! out; a tail type the user's list names takes the user's position (the
//! user's list always wins).
//!
//! [`PlanOptions::priorities`]: crate::restore::plan::PlanOptions::priorities

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

/// Restored after everything else, custom resources included (rows 11–12
/// of the module table).
pub const DEFAULT_TAIL: &[&str] = &[
    "validatingadmissionpolicies.admissionregistration.k8s.io",
    "validatingadmissionpolicybindings.admissionregistration.k8s.io",
    "mutatingwebhookconfigurations.admissionregistration.k8s.io",
    "validatingwebhookconfigurations.admissionregistration.k8s.io",
    "apiservices.apiregistration.k8s.io",
];

/// Whether a type is restored in the tail: listed there and not placed by
/// the user's table.
pub fn is_tail(table: &[String], group_resource: &str) -> bool {
    DEFAULT_TAIL.contains(&group_resource) && !table.iter().any(|t| t == group_resource)
}

/// Whether a rank (from [`rank`]) belongs to the tail.
pub fn is_tail_rank(table: &[String], rank: usize) -> bool {
    rank >= table.len() + 2
}

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

/// Position of a type in the restore order (lower first): the head table
/// (the user's when given), unlisted built-ins, custom resources, the tail.
pub fn rank(table: &[String], group: &str, group_resource: &str, custom: &dyn Fn(&str) -> bool) -> usize {
    if let Some(i) = table.iter().position(|t| t == group_resource) {
        return i;
    }
    if let Some(i) = DEFAULT_TAIL.iter().position(|t| *t == group_resource) {
        return table.len() + 2 + i;
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

    const ADMISSION: &str = "admissionregistration.k8s.io";

    #[test]
    fn admission_and_api_services_come_after_custom_resources() {
        let table: Vec<String> = DEFAULT_PRIORITIES.iter().map(|s| s.to_string()).collect();
        let none = |_: &str| false;
        let widget = rank(&table, "example.com", "widgets.example.com", &none);
        let policy = rank(&table, ADMISSION, "validatingadmissionpolicies.admissionregistration.k8s.io", &none);
        let binding = rank(&table, ADMISSION, "validatingadmissionpolicybindings.admissionregistration.k8s.io", &none);
        let mutating = rank(&table, ADMISSION, "mutatingwebhookconfigurations.admissionregistration.k8s.io", &none);
        let validating = rank(&table, ADMISSION, "validatingwebhookconfigurations.admissionregistration.k8s.io", &none);
        let api_service = rank(&table, "apiregistration.k8s.io", "apiservices.apiregistration.k8s.io", &none);
        assert!(widget < policy && policy < binding && binding < mutating, "{widget} {policy} {binding} {mutating}");
        assert!(mutating < validating && validating < api_service);
    }

    #[test]
    fn a_users_list_naming_a_tail_type_places_it() {
        let table: Vec<String> =
            ["validatingwebhookconfigurations.admissionregistration.k8s.io", "configmaps"].map(String::from).into();
        let none = |_: &str| false;
        let webhook = rank(&table, ADMISSION, "validatingwebhookconfigurations.admissionregistration.k8s.io", &none);
        let config_map = rank(&table, "", "configmaps", &none);
        let mutating = rank(&table, ADMISSION, "mutatingwebhookconfigurations.admissionregistration.k8s.io", &none);
        let widget = rank(&table, "example.com", "widgets.example.com", &none);
        assert!(webhook < config_map, "the user's order wins");
        assert!(widget < mutating, "types the user leaves out keep the tail");
        assert!(is_tail_rank(&table, mutating) && !is_tail_rank(&table, widget));
    }
}
