//! The RBAC rules against what Arca's code calls: each operation below
//! names where the code does it; the rules must allow it, every rule must
//! have a reason and a line in docs/INSTALL.md, and tenant mode must leave
//! the server without data access.

use std::collections::BTreeSet;

use arca_install::InstallOptions;
use arca_install::rbac::{self, Rule};

/// Whether `rules` allow `verb` on `group`/`resource` (RBAC's matching:
/// `*` for any group, resource or verb; `resource/sub` for subresources).
fn allows(rules: &[&Rule], verb: &str, group: &str, resource: &str, name: Option<&str>) -> bool {
    rules.iter().any(|r| {
        let any = |list: &[&str], want: &str| list.iter().any(|x| *x == "*" || *x == want);
        let resource_ok = r.resources.iter().any(|x| {
            *x == "*"
                || *x == resource
                || x.strip_prefix("*/").is_some_and(|sub| resource.ends_with(&format!("/{sub}")))
        });
        let name_ok = r.resource_names.is_empty() || name.is_some_and(|n| r.resource_names.contains(&n));
        any(r.api_groups, group) && resource_ok && any(r.verbs, verb) && name_ok
    })
}

/// Where an operation happens.
#[derive(Clone, Copy, PartialEq)]
enum Scope {
    /// Any namespace (or cluster-scoped).
    Cluster,
    /// Arca's own namespace only.
    Arca,
}

/// (verb, group, resource, scope, where in the code).
const DATA_OPERATIONS: &[(&str, &str, &str, Scope, &str)] = &[
    ("list", "", "secrets", Scope::Cluster, "arca-kube backup: every type, Secrets included"),
    ("get", "", "secrets", Scope::Cluster, "arca-server location::open: a location's password Secret"),
    ("list", "apps", "deployments", Scope::Cluster, "arca-kube backup"),
    ("list", "stable.example.com", "crontabs", Scope::Cluster, "arca-kube backup of custom resources"),
    ("list", "", "pods", Scope::Cluster, "arca-volumes inventory: /api/v1/pods"),
    ("get", "storage.k8s.io", "storageclasses", Scope::Cluster, "arca-volumes inventory"),
    ("create", "apps", "deployments", Scope::Cluster, "arca-kube restore apply"),
    ("patch", "rbac.authorization.k8s.io", "rolebindings", Scope::Cluster, "arca-kube restore: server-side apply"),
    ("patch", "apps", "deployments/status", Scope::Cluster, "arca-kube restore apply: restoring status"),
    ("patch", "apps", "statefulsets/scale", Scope::Cluster, "arca-volumes restore owners: scaling workloads"),
    ("create", "", "pods/exec", Scope::Cluster, "arca-kube exec: hooks and dumps"),
    ("get", "", "pods/exec", Scope::Cluster, "arca-kube exec before Kubernetes 1.30"),
    ("create", "", "pods", Scope::Cluster, "arca-volumes restore fill: mover pod in the volume's namespace"),
    ("delete", "", "pods", Scope::Cluster, "arca-volumes run_pod"),
    ("create", "", "secrets", Scope::Cluster, "arca-volumes restore fill: the mover's credentials Secret"),
    ("delete", "", "secrets", Scope::Cluster, "arca-volumes restore fill"),
    ("delete", "", "persistentvolumeclaims", Scope::Cluster, "arca-volumes snapshot: temporary claim"),
    ("create", "snapshot.storage.k8s.io", "volumesnapshots", Scope::Cluster, "arca-volumes snapshot"),
    ("delete", "snapshot.storage.k8s.io", "volumesnapshots", Scope::Cluster, "arca-volumes snapshot"),
    ("delete", "snapshot.storage.k8s.io", "volumesnapshotcontents", Scope::Cluster, "arca-volumes snapshot"),
    ("delete", "groupsnapshot.storage.k8s.io", "volumegroupsnapshots", Scope::Cluster, "arca-volumes group"),
    ("create", "", "namespaces", Scope::Cluster, "arca-volumes backup: Arca's namespace if missing"),
];

const CONTROLLER_OPERATIONS: &[(&str, &str, &str, Scope, &str)] = &[
    ("watch", "arca.io", "backups", Scope::Cluster, "the Backup controller"),
    ("watch", "arca.io", "schedules", Scope::Cluster, "the Schedule controller"),
    ("create", "arca.io", "backups", Scope::Cluster, "schedules and catalog sync"),
    ("delete", "arca.io", "backups", Scope::Cluster, "retention"),
    ("patch", "arca.io", "backups/status", Scope::Cluster, "Backup status"),
    ("update", "arca.io", "backups/finalizers", Scope::Cluster, "the snapshot finalizer"),
    ("patch", "arca.io", "schedules/status", Scope::Cluster, "Schedule status"),
    ("patch", "arca.io", "backuplocations/status", Scope::Cluster, "location conditions"),
    ("create", "events.k8s.io", "events", Scope::Cluster, "kube-runtime's event Recorder"),
    ("create", "coordination.k8s.io", "leases", Scope::Arca, "leader election"),
    ("update", "coordination.k8s.io", "leases", Scope::Arca, "leader election: renewals"),
    ("create", "", "pods", Scope::Arca, "backup mover pods"),
    ("delete", "", "pods", Scope::Arca, "backup mover pods"),
    ("get", "", "pods/log", Scope::Arca, "a mover's result"),
    ("create", "", "secrets", Scope::Arca, "the movers' credentials Secret"),
];

fn check(rules_cluster: &[&Rule], rules_arca_ns: &[&Rule], ops: &[(&str, &str, &str, Scope, &str)]) {
    for (verb, group, resource, scope, site) in ops {
        let ok = allows(rules_cluster, verb, group, resource, None)
            || (*scope == Scope::Arca && allows(rules_arca_ns, verb, group, resource, None));
        assert!(ok, "{verb} {group}/{resource} ({site}) is not allowed");
    }
}

#[test]
fn the_default_install_allows_what_the_code_does() {
    let cluster = rbac::server_cluster_rules(&InstallOptions::default());
    let ns: Vec<&Rule> = rbac::NAMESPACE_RULES.iter().collect();
    check(&cluster, &ns, DATA_OPERATIONS);
    check(&cluster, &ns, CONTROLLER_OPERATIONS);
    // Restoring RBAC objects passes the API server's escalation check.
    for (verb, resource) in [("bind", "clusterroles"), ("bind", "roles"), ("escalate", "clusterroles")] {
        assert!(allows(&cluster, verb, "rbac.authorization.k8s.io", resource, None), "{verb} {resource}");
    }
}

#[test]
fn leases_only_in_arcas_namespace() {
    let cluster = rbac::server_cluster_rules(&InstallOptions::default());
    assert!(!cluster.iter().any(|r| r.api_groups.contains(&"coordination.k8s.io")));
}

#[test]
fn tenant_mode_leaves_the_server_no_data_access() {
    let opts = InstallOptions { tenant_mode: true, ..InstallOptions::default() };
    let cluster = rbac::server_cluster_rules(&opts);
    let ns: Vec<&Rule> = rbac::NAMESPACE_RULES.iter().collect();
    check(&cluster, &ns, CONTROLLER_OPERATIONS);
    for (verb, group, resource) in
        [("get", "", "secrets"), ("list", "", "secrets"), ("list", "apps", "deployments"), ("create", "", "pods/exec")]
    {
        assert!(!allows(&cluster, verb, group, resource, None), "tenant mode server may {verb} {group}/{resource}");
    }
    assert!(allows(&cluster, "impersonate", "", "serviceaccounts", Some("arca-tenant")));
    assert!(!allows(&cluster, "impersonate", "", "serviceaccounts", Some("default")), "only arca-tenant");
    assert!(!allows(&cluster, "impersonate", "", "users", None));
    assert!(!allows(&cluster, "bind", "rbac.authorization.k8s.io", "clusterroles", None), "no bind in tenant mode");
    // The tenant role (bound per namespace) holds the data rights.
    let tenant: Vec<&Rule> = rbac::DATA_RULES.iter().collect();
    check(&tenant, &[], DATA_OPERATIONS);
}

#[test]
fn tenant_mode_objects_bind_the_tenant_role() {
    let opts = InstallOptions { tenant_mode: true, ..InstallOptions::default() };
    let objects = rbac::objects(&opts);
    let tenant_role = objects.iter().find(|o| o["kind"] == "ClusterRole" && o["metadata"]["name"] == "arca-tenant");
    assert!(tenant_role.is_some(), "tenant mode installs the arca-tenant ClusterRole");
    let tenant = rbac::tenant_objects("team-a");
    for (binding, role) in [(&tenant[1], "arca-tenant"), (&tenant[2], "admin")] {
        assert_eq!(binding["roleRef"]["name"], role);
        assert_eq!(binding["subjects"][0]["namespace"], "team-a");
        assert_eq!(binding["kind"], "RoleBinding", "a RoleBinding: rights in that namespace only");
    }
    // Namespace users reach Arca's resources through the built-in roles.
    let aggregated = |name: &str, to: &str| {
        objects.iter().any(|o| {
            o["kind"] == "ClusterRole"
                && o["metadata"]["name"] == name
                && o["metadata"]["labels"][format!("rbac.authorization.k8s.io/aggregate-to-{to}")] == "true"
        })
    };
    assert!(aggregated("arca-view", "view") && aggregated("arca-edit", "edit") && aggregated("arca-admin", "admin"));
    assert!(!aggregated("arca-admin", "edit"), "editors don't choose locations");
    let default = rbac::objects(&InstallOptions::default());
    assert!(!default.iter().any(|o| o["metadata"]["name"] == "arca-tenant"));
    assert!(!default.iter().any(|o| o["metadata"]["name"] == "arca-edit"), "no user roles outside tenant mode");
}

#[test]
fn every_rule_has_a_reason_and_a_line_in_the_docs() {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/INSTALL.md"))
        .expect("docs/INSTALL.md");
    let mut ids = BTreeSet::new();
    for rule in rbac::all_rules() {
        assert!(ids.insert(rule.id), "rule id {} used twice", rule.id);
        assert!(rule.reason.len() > 20, "rule {} needs a reason", rule.id);
        assert!(!rule.verbs.is_empty() && !rule.resources.is_empty(), "rule {} is empty", rule.id);
        assert!(docs.contains(&format!("| `{}` |", rule.id)), "docs/INSTALL.md has no row for rule `{}`", rule.id);
    }
}
