//! The RBAC authorizer over the stored Roles, ClusterRoles and their
//! bindings, after upstream's `plugin/pkg/auth/authorizer/rbac`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::UserInfo;
use super::request_info::Attributes;
use crate::state::State;

pub const GROUP: &str = "rbac.authorization.k8s.io";

/// One rule of a role.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRule {
    #[serde(default)]
    pub verbs: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_names: Vec<String>,
    #[serde(default, rename = "nonResourceURLs", skip_serializing_if = "Vec::is_empty")]
    pub non_resource_urls: Vec<String>,
}

fn has(set: &[String], item: &str) -> bool {
    set.iter().any(|s| s == "*" || s == item)
}

impl PolicyRule {
    fn resource_matches(&self, resource: &str, subresource: &str) -> bool {
        let combined = if subresource.is_empty() { resource.to_string() } else { format!("{resource}/{subresource}") };
        self.resources
            .iter()
            .any(|r| r == "*" || *r == combined || (!subresource.is_empty() && *r == format!("*/{subresource}")))
    }

    fn url_matches(&self, path: &str) -> bool {
        self.non_resource_urls
            .iter()
            .any(|u| u == "*" || u == path || u.strip_suffix('*').is_some_and(|prefix| path.starts_with(prefix)))
    }

    /// Whether the rule allows the request (`RuleAllows`).
    pub fn allows(&self, a: &Attributes) -> bool {
        if !has(&self.verbs, &a.verb) {
            return false;
        }
        if !a.resource_request {
            return self.url_matches(&a.path);
        }
        has(&self.api_groups, &a.api_group)
            && self.resource_matches(&a.resource, &a.subresource)
            && (self.resource_names.is_empty() || self.resource_names.contains(&a.name))
    }
}

fn rules_of(obj: &Value) -> Vec<PolicyRule> {
    obj.get("rules").cloned().and_then(|r| serde_json::from_value(r).ok()).unwrap_or_default()
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
}

fn all(state: &State, plural: &str, ns: Option<&str>) -> Vec<Value> {
    state.resource_any(GROUP, plural).map(|rt| state.all(&rt, ns)).unwrap_or_default()
}

/// A `matchLabels` / `matchExpressions` selector against an object's labels.
fn selector_matches(sel: &Value, obj: &Value) -> bool {
    let labels = crate::selectors::labels_of(obj);
    let labels_ok = sel
        .get("matchLabels")
        .and_then(Value::as_object)
        .is_none_or(|m| m.iter().all(|(k, v)| labels.get(k).map(String::as_str) == v.as_str()));
    let exprs = sel.get("matchExpressions").and_then(Value::as_array).cloned().unwrap_or_default();
    labels_ok
        && exprs.iter().all(|e| {
            let values: Vec<&str> = e
                .get("values")
                .and_then(Value::as_array)
                .map(|v| v.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let value = labels.get(str_at(e, "/key")).map(String::as_str);
            match str_at(e, "/operator") {
                "In" => value.is_some_and(|v| values.contains(&v)),
                "NotIn" => value.is_none_or(|v| !values.contains(&v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                _ => false,
            }
        })
}

/// A ClusterRole's rules; an aggregated one also has the rules of the roles
/// its selectors pick, as the aggregation controller would store them.
fn cluster_role_rules(state: &State, role: &Value) -> Vec<PolicyRule> {
    let mut rules = rules_of(role);
    let selectors = role.pointer("/aggregationRule/clusterRoleSelectors").and_then(Value::as_array);
    if let Some(selectors) = selectors {
        for other in all(state, "clusterroles", None) {
            if crate::meta::name(&other) != crate::meta::name(role)
                && selectors.iter().any(|s| selector_matches(s, &other))
            {
                for rule in rules_of(&other) {
                    if !rules.contains(&rule) {
                        rules.push(rule);
                    }
                }
            }
        }
    }
    rules
}

/// The rules a binding's `roleRef` names, or why there are none
/// (`GetRoleReferenceRules`).
pub fn role_ref_rules(state: &State, role_ref: &Value, namespace: &str) -> Result<Vec<PolicyRule>, String> {
    let name = str_at(role_ref, "/name");
    let (plural, ns) = match str_at(role_ref, "/kind") {
        "ClusterRole" => ("clusterroles", ""),
        "Role" => ("roles", namespace),
        other => return Err(format!("unsupported role reference kind: {other:?}")),
    };
    let rt = state.resource_any(GROUP, plural).ok_or_else(|| format!("{plural} are not served"))?;
    let role = state.get_raw(&rt, ns, name).ok_or_else(|| format!("{plural}.{GROUP} {name:?} not found"))?;
    Ok(if plural == "clusterroles" { cluster_role_rules(state, role) } else { rules_of(role) })
}

/// `system:serviceaccount:NS:NAME`.
pub fn service_account_user(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

/// The subject of a binding that names the user, if any (`appliesTo`).
fn applying_subject<'a>(user: &UserInfo, binding: &'a Value, namespace: &str) -> Option<&'a Value> {
    let subjects = binding.get("subjects").and_then(Value::as_array)?;
    subjects.iter().find(|s| {
        let name = str_at(s, "/name");
        match str_at(s, "/kind") {
            "User" => user.name == name,
            "Group" => user.groups.iter().any(|g| g == name),
            "ServiceAccount" => {
                let ns = Some(str_at(s, "/namespace")).filter(|n| !n.is_empty()).unwrap_or(namespace);
                user.name == service_account_user(ns, name)
            }
            _ => false,
        }
    })
}

/// `Kind "name"`, a service account as `name/namespace` (`describeSubject`).
fn describe_subject(s: &Value, binding_ns: &str) -> String {
    let (kind, name) = (str_at(s, "/kind"), str_at(s, "/name"));
    if kind == "ServiceAccount" {
        let ns = Some(str_at(s, "/namespace")).filter(|n| !n.is_empty()).unwrap_or(binding_ns);
        return format!("{kind} {:?}", format!("{name}/{ns}"));
    }
    format!("{kind} {name:?}")
}

/// Every (binding description, rule) that applies to `user` in `namespace`
/// (cluster-wide ones first), as upstream's `VisitRulesFor`.
pub fn visit_rules(state: &State, user: &UserInfo, namespace: &str, mut visit: impl FnMut(&str, &PolicyRule) -> bool) {
    for crb in all(state, "clusterrolebindings", None) {
        let Some(subject) = applying_subject(user, &crb, "") else { continue };
        let role_ref = crb.get("roleRef").cloned().unwrap_or_default();
        let Ok(rules) = role_ref_rules(state, &role_ref, "") else { continue };
        let source = format!(
            "ClusterRoleBinding {:?} of {} {:?} to {}",
            crate::meta::name(&crb),
            str_at(&role_ref, "/kind"),
            str_at(&role_ref, "/name"),
            describe_subject(subject, "")
        );
        if rules.iter().any(|r| !visit(&source, r)) {
            return;
        }
    }
    if namespace.is_empty() {
        return;
    }
    for rb in all(state, "rolebindings", Some(namespace)) {
        let Some(subject) = applying_subject(user, &rb, namespace) else { continue };
        let role_ref = rb.get("roleRef").cloned().unwrap_or_default();
        let Ok(rules) = role_ref_rules(state, &role_ref, namespace) else { continue };
        let source = format!(
            "RoleBinding {:?} of {} {:?} to {}",
            format!("{}/{namespace}", crate::meta::name(&rb)),
            str_at(&role_ref, "/kind"),
            str_at(&role_ref, "/name"),
            describe_subject(subject, namespace)
        );
        if rules.iter().any(|r| !visit(&source, r)) {
            return;
        }
    }
}

/// All rules that apply to `user` in `namespace` (`RulesFor`).
pub fn rules_for(state: &State, user: &UserInfo, namespace: &str) -> Vec<PolicyRule> {
    let mut out = Vec::new();
    visit_rules(state, user, namespace, |_, r| {
        out.push(r.clone());
        true
    });
    out
}

/// `Some(reason)` when a binding allows the request.
pub fn allowed_by(state: &State, a: &Attributes) -> Option<String> {
    let mut reason = None;
    visit_rules(state, &a.user, &a.namespace, |source, rule| {
        if rule.allows(a) {
            reason = Some(format!("RBAC: allowed by {source}"));
            return false;
        }
        true
    });
    reason
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(v: Value) -> PolicyRule {
        serde_json::from_value(v).unwrap_or_default()
    }

    fn resource(verb: &str, group: &str, resource: &str, sub: &str, name: &str) -> Attributes {
        Attributes {
            verb: verb.into(),
            resource_request: true,
            api_group: group.into(),
            resource: resource.into(),
            subresource: sub.into(),
            name: name.into(),
            ..Default::default()
        }
    }

    #[test]
    fn rules_match_as_upstream() {
        use serde_json::json;
        let url = |verb: &str, path: &str| Attributes { verb: verb.into(), path: path.into(), ..Default::default() };
        let cases = [
            (
                json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}),
                resource("get", "", "pods", "", "p"),
                true,
            ),
            (
                json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}),
                resource("list", "", "pods", "", ""),
                false,
            ),
            (
                json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}),
                resource("delete", "apps", "deployments", "", "d"),
                true,
            ),
            (
                json!({"verbs": ["get"], "apiGroups": ["apps"], "resources": ["pods"]}),
                resource("get", "", "pods", "", ""),
                false,
            ),
            (
                json!({"verbs": ["create"], "apiGroups": [""], "resources": ["pods/exec"]}),
                resource("create", "", "pods", "exec", "p"),
                true,
            ),
            (
                json!({"verbs": ["create"], "apiGroups": [""], "resources": ["pods"]}),
                resource("create", "", "pods", "exec", "p"),
                false,
            ),
            (
                json!({"verbs": ["get"], "apiGroups": ["apps"], "resources": ["*/scale"]}),
                resource("get", "apps", "deployments", "scale", "d"),
                true,
            ),
            (
                json!({"verbs": ["get"], "apiGroups": ["apps"], "resources": ["*/scale"]}),
                resource("get", "apps", "deployments", "", "d"),
                false,
            ),
            (
                json!({"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"], "resourceNames": ["a"]}),
                resource("get", "", "secrets", "", "a"),
                true,
            ),
            (
                json!({"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"], "resourceNames": ["a"]}),
                resource("get", "", "secrets", "", "b"),
                false,
            ),
            (
                json!({"verbs": ["list"], "apiGroups": [""], "resources": ["secrets"], "resourceNames": ["a"]}),
                resource("list", "", "secrets", "", ""),
                false,
            ),
            (json!({"verbs": ["get"], "nonResourceURLs": ["/healthz"]}), url("get", "/healthz"), true),
            (json!({"verbs": ["get"], "nonResourceURLs": ["/apis/*"]}), url("get", "/apis/apps/v1"), true),
            (json!({"verbs": ["get"], "nonResourceURLs": ["/apis/*"]}), url("get", "/metrics"), false),
            (json!({"verbs": ["get"], "nonResourceURLs": ["*"]}), url("post", "/metrics"), false),
            (json!({"verbs": ["get"], "apiGroups": ["*"], "resources": ["*"]}), url("get", "/metrics"), false),
        ];
        for (r, a, want) in cases {
            assert_eq!(rule(r.clone()).allows(&a), want, "{r} vs {a:?}");
        }
    }
}
