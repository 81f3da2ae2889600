//! Least-privilege RBAC: every rule is data with the reason it exists
//! (`docs/INSTALL.md` explains each by its `id`; a test fails on a rule
//! without one).

use serde_json::{Value, json};

use crate::{InstallOptions, SERVER_NAME, TENANT_ROLE, TENANT_SERVICE_ACCOUNT, labels};

/// One RBAC rule and why Arca needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Short name used in the docs.
    pub id: &'static str,
    pub api_groups: &'static [&'static str],
    pub resources: &'static [&'static str],
    pub verbs: &'static [&'static str],
    pub resource_names: &'static [&'static str],
    pub reason: &'static str,
}

impl Rule {
    pub fn to_json(&self) -> Value {
        let mut rule = json!({"apiGroups": self.api_groups, "resources": self.resources, "verbs": self.verbs});
        if !self.resource_names.is_empty() {
            rule["resourceNames"] = json!(self.resource_names);
        }
        rule
    }
}

const ARCA_RESOURCES: &[&str] = &["backuplocations", "backups", "restores", "schedules", "blueprints"];

/// What the server needs in every mode: its own resources and Events.
pub const CONTROLLER_RULES: &[Rule] = &[
    Rule {
        id: "arca-objects",
        api_groups: &["arca.io"],
        resources: ARCA_RESOURCES,
        verbs: &["get", "list", "watch", "create", "update", "patch", "delete"],
        resource_names: &[],
        reason: "the controllers watch and reconcile Arca's resources; schedules create Backups, \
                 retention deletes them, catalog sync creates Backups found in a repository",
    },
    Rule {
        id: "arca-status",
        api_groups: &["arca.io"],
        resources: &[
            "backuplocations/status",
            "backups/status",
            "restores/status",
            "schedules/status",
            "backups/finalizers",
            "restores/finalizers",
        ],
        verbs: &["get", "update", "patch"],
        resource_names: &[],
        reason: "status reports phases, progress and conditions; the Backup finalizer forgets \
                 the snapshot before the object goes",
    },
    Rule {
        id: "events",
        api_groups: &["", "events.k8s.io"],
        resources: &["events"],
        verbs: &["create", "patch"],
        resource_names: &[],
        reason: "Events on Backups, Restores and Schedules (a failed backup is reported by an Event too)",
    },
    Rule {
        id: "dashboard-reviews",
        api_groups: &["authentication.k8s.io", "authorization.k8s.io"],
        resources: &["tokenreviews", "subjectaccessreviews"],
        verbs: &["create"],
        resource_names: &[],
        reason: "the dashboard checks a user's bearer token (TokenReview) and shows each object only \
                 if that user may get it (SubjectAccessReview)",
    },
    Rule {
        id: "dashboard-read",
        api_groups: &[""],
        resources: &["namespaces", "persistentvolumeclaims"],
        verbs: &["get", "list"],
        resource_names: &[],
        reason: "the dashboard's overview lists namespaces and their claims, to show which are protected",
    },
];

/// What a backup or restore does to the cluster's data. Cluster-wide for
/// the server outside tenant mode; the `arca-tenant` ClusterRole, bound
/// per namespace, in tenant mode.
pub const DATA_RULES: &[Rule] = &[
    Rule {
        id: "read-everything",
        api_groups: &["*"],
        resources: &["*"],
        verbs: &["get", "list"],
        resource_names: &[],
        reason: "a backup discovers every served type and lists it (custom resources included); \
                 this includes Secrets: they are part of a backup, and a BackupLocation's password \
                 and credentials Secrets are read in the location's namespace",
    },
    Rule {
        id: "restore-everything",
        api_groups: &["*"],
        resources: &["*"],
        verbs: &["create", "patch", "update"],
        resource_names: &[],
        reason: "a restore creates or server-side applies objects of any type, their status \
                 (`*/status`) and the scale of workloads it pauses (`*/scale`)",
    },
    Rule {
        id: "exec",
        api_groups: &[""],
        resources: &["pods/exec"],
        verbs: &["get", "create"],
        resource_names: &[],
        reason: "hooks, freezes and database dumps run commands in application pods \
                 (`create` for WebSocket exec from Kubernetes 1.30, `get` before)",
    },
    Rule {
        id: "cleanup",
        api_groups: &[""],
        resources: &["pods", "secrets", "persistentvolumeclaims"],
        verbs: &["delete"],
        resource_names: &[],
        reason: "a restore's mover pod runs in the volume's namespace (a pod mounts only claims of \
                 its own namespace) with its own credentials Secret; both, and temporary claims \
                 from snapshots, are deleted when the mover ends",
    },
    Rule {
        id: "snapshots",
        api_groups: &["snapshot.storage.k8s.io", "groupsnapshot.storage.k8s.io"],
        resources: &[
            "volumesnapshots",
            "volumesnapshotcontents",
            "volumegroupsnapshots",
            "volumegroupsnapshotcontents",
        ],
        verbs: &["delete"],
        resource_names: &[],
        reason: "CSI snapshots are taken in the claim's namespace and removed (or staged in \
                 Arca's namespace and removed) once their data is in the repository",
    },
];

/// What the server needs outside tenant mode to restore RBAC objects: the
/// API server refuses a Role or binding that grants more than its writer
/// holds, unless the writer may `escalate` (roles) or `bind` (bindings).
pub const RBAC_RESTORE_RULES: &[Rule] = &[Rule {
    id: "restore-rbac",
    api_groups: &["rbac.authorization.k8s.io"],
    resources: &["roles", "clusterroles"],
    verbs: &["bind", "escalate"],
    resource_names: &[],
    reason: "a restore recreates Roles, ClusterRoles and their bindings as they were; the API \
             server's escalation check refuses one that grants rights the server does not hold \
             (watch, delete, cluster-admin's `*`) unless the server may escalate and bind",
}];

/// Rules aggregated into the built-in `admin`, `edit` and `view` ClusterRoles
/// in tenant mode, so namespace users drive Arca in their namespace only.
/// Not installed outside tenant mode: there a Backup or Restore runs with
/// the server's cluster-wide rights, and creating one must stay a cluster
/// admin's right.
pub const USER_VIEW_RULES: &[Rule] = &[Rule {
    id: "user-view",
    api_groups: &["arca.io"],
    resources: ARCA_RESOURCES,
    verbs: &["get", "list", "watch"],
    resource_names: &[],
    reason: "namespace viewers see their namespace's locations, backups, restores, schedules \
             and blueprints with their status (aggregated into `view`)",
}];

pub const USER_EDIT_RULES: &[Rule] = &[Rule {
    id: "user-edit",
    api_groups: &["arca.io"],
    resources: &["backups", "restores", "schedules"],
    verbs: &["create", "update", "patch", "delete"],
    resource_names: &[],
    reason: "namespace editors back up, restore and schedule their namespace; the server \
             performs it as the namespace's tenant (aggregated into `edit` and `admin`)",
}];

pub const USER_ADMIN_RULES: &[Rule] = &[Rule {
    id: "user-admin",
    api_groups: &["arca.io"],
    resources: &["backuplocations", "blueprints"],
    verbs: &["create", "update", "patch", "delete"],
    resource_names: &[],
    reason: "namespace admins choose where their backups go (a location and its Secrets in \
             their namespace, their own keys) and which blueprints apply (aggregated into `admin`)",
}];

/// The server's own rules in tenant mode, beside [`CONTROLLER_RULES`]: no
/// data access, only the right to act as a namespace's tenant.
pub const TENANT_MODE_RULES: &[Rule] = &[
    Rule {
        id: "impersonate-tenant",
        api_groups: &[""],
        resources: &["serviceaccounts"],
        verbs: &["impersonate"],
        resource_names: &[TENANT_SERVICE_ACCOUNT],
        reason: "a namespace's Backups and Restores run as its `arca-tenant` ServiceAccount, so \
                 the API server's RBAC (and its escalation check) bounds them",
    },
    Rule {
        id: "namespaces",
        api_groups: &[""],
        resources: &["namespaces"],
        verbs: &["get", "list", "watch"],
        resource_names: &[],
        reason: "the server finds the namespaces whose Arca objects it serves",
    },
];

/// Rules in the server's own namespace only (a Role).
pub const NAMESPACE_RULES: &[Rule] = &[
    Rule {
        id: "leases",
        api_groups: &["coordination.k8s.io"],
        resources: &["leases"],
        verbs: &["get", "create", "update", "patch"],
        resource_names: &[],
        reason: "leader election: one replica works, the others wait on the Lease",
    },
    Rule {
        id: "mover-pods",
        api_groups: &[""],
        resources: &["pods", "secrets", "persistentvolumeclaims"],
        verbs: &["get", "list", "watch", "create", "delete"],
        resource_names: &[],
        reason: "backup mover pods, their short-lived credentials Secret and claims staged from \
                 snapshots live in Arca's namespace",
    },
    Rule {
        id: "mover-logs",
        api_groups: &[""],
        resources: &["pods/log"],
        verbs: &["get"],
        resource_names: &[],
        reason: "a mover reports its result on its log",
    },
    Rule {
        id: "staged-snapshots",
        api_groups: &["snapshot.storage.k8s.io"],
        resources: &["volumesnapshots"],
        verbs: &["get", "create", "delete"],
        resource_names: &[],
        reason: "snapshots staged in Arca's namespace for movers to read",
    },
];

/// The server ClusterRole's rules for these options.
pub fn server_cluster_rules(opts: &InstallOptions) -> Vec<&'static Rule> {
    let extra: &[&[Rule]] = if opts.tenant_mode { &[TENANT_MODE_RULES] } else { &[DATA_RULES, RBAC_RESTORE_RULES] };
    CONTROLLER_RULES.iter().chain(extra.iter().flat_map(|r| r.iter())).collect()
}

/// Every rule of every role, for the docs and tests.
pub fn all_rules() -> impl Iterator<Item = &'static Rule> {
    CONTROLLER_RULES
        .iter()
        .chain(DATA_RULES)
        .chain(RBAC_RESTORE_RULES)
        .chain(TENANT_MODE_RULES)
        .chain(USER_VIEW_RULES)
        .chain(USER_EDIT_RULES)
        .chain(USER_ADMIN_RULES)
        .chain(NAMESPACE_RULES)
}

/// ServiceAccount, ClusterRole(s), Role and bindings, in apply order.
pub fn objects(opts: &InstallOptions) -> Vec<Value> {
    let ns = opts.namespace.as_str();
    let mut out = vec![
        json!({
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": SERVER_NAME, "namespace": ns, "labels": labels("server")},
        }),
        cluster_role(SERVER_NAME, "server", server_cluster_rules(opts)),
    ];
    if opts.tenant_mode {
        out.push(cluster_role(TENANT_ROLE, "tenant", DATA_RULES.iter().collect()));
        out.extend(user_roles());
    }
    out.push(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": SERVER_NAME, "labels": labels("server")},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": SERVER_NAME},
        "subjects": [server_subject(ns)],
    }));
    out.push(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": SERVER_NAME, "namespace": ns, "labels": labels("server")},
        "rules": NAMESPACE_RULES.iter().map(Rule::to_json).collect::<Vec<_>>(),
    }));
    out.push(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": SERVER_NAME, "namespace": ns, "labels": labels("server")},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": SERVER_NAME},
        "subjects": [server_subject(ns)],
    }));
    out
}

/// The ClusterRoles that give namespace users Arca's resources through the
/// built-in `view`, `edit` and `admin` roles (aggregation labels).
fn user_roles() -> Vec<Value> {
    let aggregated = |name: &str, to: &[&str], rules: &'static [Rule]| {
        let mut role = cluster_role(name, "user", rules.iter().collect());
        for target in to {
            role["metadata"]["labels"][format!("rbac.authorization.k8s.io/aggregate-to-{target}")] = json!("true");
        }
        role
    };
    vec![
        aggregated("arca-view", &["view", "edit", "admin"], USER_VIEW_RULES),
        aggregated("arca-edit", &["edit", "admin"], USER_EDIT_RULES),
        aggregated("arca-admin", &["admin"], USER_ADMIN_RULES),
    ]
}

/// The built-in ClusterRole a tenant's identity also holds in its namespace:
/// a restore brings back what a namespace admin may create there, its
/// RoleBindings to `admin`, `edit` and `view` included (the escalation check
/// lets a holder of a role's rights bind it), and nothing beyond.
pub const TENANT_NAMESPACE_ROLE: &str = "admin";

/// What makes `namespace` a tenant: its `arca-tenant` ServiceAccount, bound
/// by RoleBindings (rights in that namespace only) to the `arca-tenant`
/// ClusterRole and to the namespace `admin` role.
pub fn tenant_objects(namespace: &str) -> Vec<Value> {
    let binding = |name: String, role: &str| {
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": namespace, "labels": labels("tenant")},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": TENANT_SERVICE_ACCOUNT, "namespace": namespace}],
        })
    };
    vec![
        json!({
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": TENANT_SERVICE_ACCOUNT, "namespace": namespace, "labels": labels("tenant")},
        }),
        binding(TENANT_ROLE.to_string(), TENANT_ROLE),
        binding(format!("{TENANT_ROLE}-{TENANT_NAMESPACE_ROLE}"), TENANT_NAMESPACE_ROLE),
    ]
}

fn server_subject(ns: &str) -> Value {
    json!({"kind": "ServiceAccount", "name": SERVER_NAME, "namespace": ns})
}

fn cluster_role(name: &str, component: &str, rules: Vec<&Rule>) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name, "labels": labels(component)},
        "rules": rules.into_iter().map(Rule::to_json).collect::<Vec<_>>(),
    })
}
