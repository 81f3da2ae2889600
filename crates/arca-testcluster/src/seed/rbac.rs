//! The bootstrap RBAC policy: default ClusterRoles and ClusterRoleBindings
//! and the kube-system / kube-public Roles and RoleBindings, as reconciled by
//! a real server at start. Aggregated roles get the rules the aggregation
//! controller would give them (once, at start).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use super::{MANAGER, yaml};
use crate::error::ApiError;
use crate::state::{State, WriteOpts};

const GROUP: &str = "rbac.authorization.k8s.io";
/// The label every bootstrap RBAC object carries.
const BOOTSTRAP_LABEL: (&str, &str) = ("kubernetes.io/bootstrapping", "rbac-defaults");
const AUTOUPDATE_ANNOTATION: &str = "rbac.authorization.kubernetes.io/autoupdate";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Defaults {
    cluster_roles: Vec<RoleDef>,
    cluster_role_bindings: Vec<BindingDef>,
    roles: Vec<RoleDef>,
    role_bindings: Vec<BindingDef>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RoleDef {
    name: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    rules: Vec<Value>,
    /// The aggregation label whose roles' rules this role collects.
    aggregate_from: Option<String>,
}

#[derive(Deserialize)]
struct BindingDef {
    name: String,
    #[serde(default)]
    namespace: String,
    role: String,
    subjects: Vec<Value>,
}

fn metadata(name: &str, namespace: &str, extra_labels: &BTreeMap<String, String>) -> Value {
    let mut labels = json!({BOOTSTRAP_LABEL.0: BOOTSTRAP_LABEL.1});
    for (k, v) in extra_labels {
        labels[k] = json!(v);
    }
    let mut meta = json!({"name": name, "labels": labels, "annotations": {AUTOUPDATE_ANNOTATION: "true"}});
    if !namespace.is_empty() {
        meta["namespace"] = json!(namespace);
    }
    meta
}

/// Fills aggregated roles with the rules of the roles they select, repeated
/// until nothing changes (admin collects edit, which collects view).
fn aggregate(roles: &mut [RoleDef]) {
    for _ in 0..roles.len() {
        let mut changed = false;
        for i in 0..roles.len() {
            let Some(label) = roles[i].aggregate_from.clone() else { continue };
            let rules: Vec<Value> = roles
                .iter()
                .filter(|r| r.labels.get(&label).is_some_and(|v| v == "true"))
                .flat_map(|r| r.rules.iter().cloned())
                .collect();
            if rules != roles[i].rules {
                roles[i].rules = rules;
                changed = true;
            }
        }
        if !changed {
            return;
        }
    }
}

fn role(kind: &str, def: &RoleDef) -> Value {
    let mut obj = json!({
        "apiVersion": format!("{GROUP}/v1"),
        "kind": kind,
        "metadata": metadata(&def.name, &def.namespace, &def.labels),
        "rules": def.rules,
    });
    if let Some(label) = &def.aggregate_from {
        obj["aggregationRule"] = json!({"clusterRoleSelectors": [{"matchLabels": {label: "true"}}]});
    }
    obj
}

/// Users and groups name the RBAC API group; service accounts do not.
fn subject(s: &Value) -> Value {
    let mut s = s.clone();
    if matches!(s.get("kind").and_then(Value::as_str), Some("User" | "Group")) {
        s["apiGroup"] = json!(GROUP);
    }
    s
}

fn binding(kind: &str, role_kind: &str, def: &BindingDef) -> Value {
    json!({
        "apiVersion": format!("{GROUP}/v1"),
        "kind": kind,
        "metadata": metadata(&def.name, &def.namespace, &BTreeMap::new()),
        "roleRef": {"apiGroup": GROUP, "kind": role_kind, "name": def.role},
        "subjects": def.subjects.iter().map(subject).collect::<Vec<_>>(),
    })
}

fn create(state: &mut State, plural: &str, obj: Value) -> Result<(), ApiError> {
    let rt = state.resource("rbac.authorization.k8s.io", "v1", plural).ok_or_else(|| ApiError::internal(format!("no {plural}")))?;
    let ns = crate::meta::namespace(&obj).to_string();
    match state.create(&rt, &ns, obj, &WriteOpts::manager(MANAGER)) {
        Ok(_) => Ok(()),
        Err(e) if e.code == 409 => Ok(()),
        Err(e) => Err(e),
    }
}

pub fn seed(state: &mut State) -> Result<(), ApiError> {
    let mut defaults: Defaults = yaml::parse("RBAC defaults", include_str!("rbac.yaml"))?;
    aggregate(&mut defaults.cluster_roles);
    for def in &defaults.cluster_roles {
        create(state, "clusterroles", role("ClusterRole", def))?;
    }
    for def in &defaults.cluster_role_bindings {
        create(state, "clusterrolebindings", binding("ClusterRoleBinding", "ClusterRole", def))?;
    }
    for def in &defaults.roles {
        create(state, "roles", role("Role", def))?;
    }
    for def in &defaults.role_bindings {
        create(state, "rolebindings", binding("RoleBinding", "Role", def))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregated_roles_collect_the_selected_rules() -> Result<(), ApiError> {
        let mut defaults: Defaults = yaml::parse("RBAC defaults", include_str!("rbac.yaml"))?;
        aggregate(&mut defaults.cluster_roles);
        let rules_of = |name: &str| {
            defaults.cluster_roles.iter().find(|r| r.name == name).map(|r| r.rules.len()).unwrap_or_default()
        };
        assert_eq!(rules_of("view"), rules_of("system:aggregate-to-view"));
        assert!(rules_of("view") > 0);
        assert_eq!(rules_of("edit"), rules_of("system:aggregate-to-edit") + rules_of("view"));
        assert_eq!(rules_of("admin"), rules_of("system:aggregate-to-admin") + rules_of("edit"));
        Ok(())
    }
}
