//! RBAC escalation prevention on writes of roles and bindings, after
//! upstream's `pkg/registry/rbac` (`escalation_check.go`, `validation`).

use std::collections::BTreeSet;

use serde_json::Value;

use super::rbac::{self, GROUP, PolicyRule};
use super::request_info::Attributes;
use super::{UserInfo, authorize};
use crate::cluster::Cluster;
use crate::error::ApiError;
use crate::registry::ResourceType;
use crate::state::State;

/// One verb on one group/resource/name, or on one URL.
fn break_down(rule: &PolicyRule) -> Vec<PolicyRule> {
    let one = |v: &str| vec![v.to_string()];
    let mut out = Vec::new();
    for verb in &rule.verbs {
        for url in &rule.non_resource_urls {
            out.push(PolicyRule { verbs: one(verb), non_resource_urls: one(url), ..Default::default() });
        }
        for group in &rule.api_groups {
            for resource in &rule.resources {
                let base = PolicyRule {
                    verbs: one(verb),
                    api_groups: one(group),
                    resources: one(resource),
                    ..Default::default()
                };
                if rule.resource_names.is_empty() {
                    out.push(base);
                    continue;
                }
                for name in &rule.resource_names {
                    out.push(PolicyRule { resource_names: one(name), ..base.clone() });
                }
            }
        }
    }
    out
}

fn has_all(set: &[String], items: &[String]) -> bool {
    items.iter().all(|i| set.contains(i))
}

fn resources_cover(owner: &[String], wanted: &[String]) -> bool {
    if owner.iter().any(|r| r == "*") || has_all(owner, wanted) {
        return true;
    }
    wanted.iter().all(|path| {
        owner.contains(path) || path.split_once('/').is_some_and(|(_, sub)| owner.contains(&format!("*/{sub}")))
    })
}

fn urls_cover(owner: &[String], wanted: &[String]) -> bool {
    wanted
        .iter()
        .all(|w| owner.iter().any(|o| o == "*" || o == w || o.strip_suffix('*').is_some_and(|p| w.starts_with(p))))
}

/// Whether `owner` covers the simple rule `sub` (`ruleCovers`).
fn rule_covers(owner: &PolicyRule, sub: &PolicyRule) -> bool {
    let star = |v: &[String]| v.iter().any(|s| s == "*");
    let verbs = star(&owner.verbs) || has_all(&owner.verbs, &sub.verbs);
    let groups = star(&owner.api_groups) || has_all(&owner.api_groups, &sub.api_groups);
    let resources = resources_cover(&owner.resources, &sub.resources);
    let urls = urls_cover(&owner.non_resource_urls, &sub.non_resource_urls);
    let names = if sub.resource_names.is_empty() {
        owner.resource_names.is_empty()
    } else {
        owner.resource_names.is_empty() || has_all(&owner.resource_names, &sub.resource_names)
    };
    verbs && groups && resources && urls && names
}

/// The simple rules of `wanted` that `owner` does not cover (`Covers`).
pub fn missing(owner: &[PolicyRule], wanted: &[PolicyRule]) -> Vec<PolicyRule> {
    wanted.iter().flat_map(break_down).filter(|sub| !owner.iter().any(|o| rule_covers(o, sub))).collect()
}

/// Simple rules differing only in verbs, merged (`CompactRules`).
fn compact(rules: Vec<PolicyRule>) -> Vec<PolicyRule> {
    let mut out: Vec<PolicyRule> = Vec::new();
    for rule in rules {
        let simple = rule.non_resource_urls.is_empty();
        let same = out.iter_mut().find(|o| {
            simple
                && o.non_resource_urls.is_empty()
                && o.api_groups == rule.api_groups
                && o.resources == rule.resources
                && o.resource_names == rule.resource_names
        });
        match same {
            Some(o) => o.verbs.extend(rule.verbs),
            None => out.push(rule),
        }
    }
    out
}

/// Go's `%q` of a string slice: `["a" "b"]`.
fn quoted(items: &[String]) -> String {
    let inner: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", inner.join(" "))
}

/// `CompactString`: `{APIGroups:["apps"], Resources:["deployments"], Verbs:["get"]}`.
fn compact_string(r: &PolicyRule) -> String {
    let fields = [
        ("APIGroups", &r.api_groups),
        ("Resources", &r.resources),
        ("NonResourceURLs", &r.non_resource_urls),
        ("ResourceNames", &r.resource_names),
        ("Verbs", &r.verbs),
    ];
    let parts: Vec<String> =
        fields.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| format!("{k}:{}", quoted(v))).collect();
    format!("{{{}}}", parts.join(", "))
}

/// `ConfirmNoEscalation`: the user holds every permission of `rules` in `namespace`.
fn confirm_no_escalation(state: &State, user: &UserInfo, namespace: &str, rules: &[PolicyRule]) -> Result<(), String> {
    let owned = rbac::rules_for(state, user, namespace);
    let lacking = missing(&owned, rules);
    if lacking.is_empty() {
        return Ok(());
    }
    let described: BTreeSet<String> = compact(lacking).iter().map(compact_string).collect();
    Err(format!(
        "user {:?} (groups={}) is attempting to grant RBAC permissions not currently held:\n{}",
        user.name,
        quoted(&user.groups),
        described.into_iter().collect::<Vec<_>>().join("\n")
    ))
}

fn verb_allowed(
    cluster: &Cluster,
    state: &State,
    user: &UserInfo,
    verb: &str,
    plural: &str,
    ns: &str,
    name: &str,
) -> bool {
    let attrs = Attributes {
        user: user.clone(),
        verb: verb.into(),
        resource_request: true,
        namespace: ns.into(),
        api_group: GROUP.into(),
        api_version: "v1".into(),
        resource: plural.into(),
        name: name.into(),
        ..Default::default()
    };
    authorize(cluster, state, &attrs).is_some()
}

fn forbidden(rt: &ResourceType, name: &str, message: String) -> ApiError {
    super::forbidden_error(&rt.group, &rt.plural, name, &message)
}

/// The fields whose change is checked (metadata-only writes are not).
fn granted_part(plural: &str, obj: &Value) -> Value {
    let keys: &[&str] = match plural {
        "roles" | "clusterroles" => &["rules", "aggregationRule"],
        _ => &["roleRef", "subjects"],
    };
    Value::Array(keys.iter().map(|k| obj.get(*k).cloned().unwrap_or(Value::Null)).collect())
}

/// Refuses a write of a role or binding that grants what `user` does not hold.
pub fn check(
    cluster: &Cluster,
    state: &State,
    user: &UserInfo,
    rt: &ResourceType,
    ns: &str,
    obj: &Value,
    old: Option<&Value>,
) -> Result<(), ApiError> {
    let plural = rt.plural.as_str();
    let rbac_kind = matches!(plural, "roles" | "clusterroles" | "rolebindings" | "clusterrolebindings");
    if rt.group != GROUP || !rbac_kind || user.is_privileged() {
        return Ok(());
    }
    if old.is_some_and(|o| granted_part(plural, o) == granted_part(plural, obj)) {
        return Ok(());
    }
    let name = crate::meta::name(obj);
    let ns = if rt.namespaced { ns } else { "" };
    match plural {
        "roles" | "clusterroles" => {
            if verb_allowed(cluster, state, user, "escalate", plural, ns, name) {
                return Ok(());
            }
            if obj.get("aggregationRule").is_some_and(|a| !a.is_null()) {
                return Err(forbidden(
                    rt,
                    name,
                    "must have cluster-admin privileges to use the aggregationRule".into(),
                ));
            }
            let rules: Vec<PolicyRule> =
                obj.get("rules").cloned().and_then(|r| serde_json::from_value(r).ok()).unwrap_or_default();
            confirm_no_escalation(state, user, ns, &rules).map_err(|m| forbidden(rt, name, m))
        }
        _ => {
            let role_ref = obj.get("roleRef").cloned().unwrap_or_default();
            let role_kind = role_ref.get("kind").and_then(Value::as_str).unwrap_or_default();
            let role_plural = if role_kind == "Role" { "roles" } else { "clusterroles" };
            let role_name = role_ref.get("name").and_then(Value::as_str).unwrap_or_default();
            if verb_allowed(cluster, state, user, "bind", role_plural, ns, role_name) {
                return Ok(());
            }
            let rules = rbac::role_ref_rules(state, &role_ref, ns).map_err(|m| forbidden(rt, name, m))?;
            confirm_no_escalation(state, user, ns, &rules).map_err(|m| forbidden(rt, name, m))
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rules(v: Value) -> Vec<PolicyRule> {
        serde_json::from_value(v).unwrap_or_default()
    }

    #[test]
    fn coverage_and_the_missing_rights_message() {
        let owner = rules(json!([
            {"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods", "pods/log"]},
            {"verbs": ["get"], "apiGroups": ["apps"], "resources": ["*/scale"]},
            {"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"], "resourceNames": ["a"]},
            {"verbs": ["get"], "nonResourceURLs": ["/apis/*"]},
        ]));
        let covered = rules(json!([
            {"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]},
            {"verbs": ["get"], "apiGroups": ["apps"], "resources": ["deployments/scale"]},
            {"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"], "resourceNames": ["a"]},
            {"verbs": ["get"], "nonResourceURLs": ["/apis/apps"]},
        ]));
        assert_eq!(missing(&owner, &covered), vec![]);
        let wanted = rules(json!([
            {"verbs": ["get", "delete", "create"], "apiGroups": [""], "resources": ["pods"]},
            {"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"]},
        ]));
        let lacking = compact(missing(&owner, &wanted));
        let described: Vec<String> = lacking.iter().map(compact_string).collect();
        assert_eq!(
            described,
            vec![
                r#"{APIGroups:[""], Resources:["pods"], Verbs:["delete" "create"]}"#,
                r#"{APIGroups:[""], Resources:["secrets"], Verbs:["get"]}"#,
            ]
        );
    }
}
