//! Whether a webhook is called for a request: its `rules` (one small check
//! per field, as upstream's rule matcher), `namespaceSelector` and
//! `objectSelector`.

use std::collections::BTreeMap;

use serde_json::Value;

use super::webhooks::{Rule, Webhook, selector};
use crate::selectors::labels_of;

/// What the rules look at.
#[derive(Debug, Clone)]
pub struct RequestShape<'a> {
    /// `CREATE`, `UPDATE`, `DELETE`.
    pub operation: &'a str,
    pub group: &'a str,
    pub version: &'a str,
    pub resource: &'a str,
    pub subresource: &'a str,
    /// Empty for cluster-scoped objects.
    pub namespace: &'a str,
}

impl RequestShape<'_> {
    fn is_namespace_object(&self) -> bool {
        self.group.is_empty() && self.resource == "namespaces"
    }
}

fn listed(list: &[String], value: &str) -> bool {
    list.iter().any(|x| x == "*" || x == value)
}

fn operation(rule: &Rule, req: &RequestShape) -> bool {
    listed(&rule.operations, req.operation)
}

fn group(rule: &Rule, req: &RequestShape) -> bool {
    listed(&rule.api_groups, req.group)
}

fn version(rule: &Rule, req: &RequestShape) -> bool {
    listed(&rule.api_versions, req.version)
}

/// `*/*`, `*`, `pods`, `pods/*`, `*/status`, `pods/status`; a name without
/// `/` never matches a subresource.
fn resource(rule: &Rule, req: &RequestShape) -> bool {
    rule.resources.iter().any(|r| {
        let (res, sub) = r.split_once('/').unwrap_or((r.as_str(), ""));
        let res_ok = res == "*" || res == req.resource;
        let sub_ok = if r.contains('/') { sub == "*" || sub == req.subresource } else { req.subresource.is_empty() };
        res_ok && sub_ok
    })
}

/// `Namespaced` matches namespaced objects, `Cluster` cluster-scoped ones
/// (namespaces themselves included), `*` (the default) both.
fn scope(rule: &Rule, req: &RequestShape) -> bool {
    match rule.scope.as_deref() {
        None | Some("*") => true,
        Some("Namespaced") => !req.is_namespace_object() && !req.namespace.is_empty(),
        Some("Cluster") => req.is_namespace_object() || req.namespace.is_empty(),
        Some(_) => false,
    }
}

const RULE_CHECKS: &[fn(&Rule, &RequestShape) -> bool] = &[operation, group, version, resource, scope];

pub fn rules_match(hook: &Webhook, req: &RequestShape) -> bool {
    hook.rules.iter().any(|rule| RULE_CHECKS.iter().all(|check| check(rule, req)))
}

/// The labels `namespaceSelector` is matched against: those of the object's
/// namespace, or of the namespace itself for requests on namespaces; `None`
/// for other cluster-scoped objects, which every selector matches.
pub fn namespace_labels(
    req: &RequestShape,
    object: Option<&Value>,
    old: Option<&Value>,
    namespace_object: Option<&Value>,
) -> Option<BTreeMap<String, String>> {
    if req.is_namespace_object() {
        return object.or(old).map(labels_of);
    }
    if req.namespace.is_empty() {
        return None;
    }
    Some(namespace_object.map(labels_of).unwrap_or_default())
}

pub fn namespace_matches(hook: &Webhook, labels: Option<&BTreeMap<String, String>>) -> bool {
    match (selector(&hook.namespace_selector), labels) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(sel), Some(labels)) => sel.is_empty() || sel.matches(labels),
    }
}

/// Upstream matches `objectSelector` against the new or the old object.
pub fn object_matches(hook: &Webhook, object: Option<&Value>, old: Option<&Value>) -> bool {
    let Some(sel) = selector(&hook.object_selector) else { return false };
    sel.is_empty() || [object, old].into_iter().flatten().any(|o| sel.matches(&labels_of(o)))
}

/// Kinds never sent to webhooks, so a broken webhook cannot lock itself in.
const EXEMPT_KINDS: &[&str] = &[
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "MutatingAdmissionPolicy",
    "MutatingAdmissionPolicyBinding",
];

pub fn is_exempt(group: &str, kind: &str) -> bool {
    group == super::webhooks::GROUP && EXEMPT_KINDS.contains(&kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hook(rules: Value) -> Webhook {
        serde_json::from_value(json!({"name": "h", "rules": rules})).expect("hook")
    }

    fn shape<'a>(operation: &'a str, resource: &'a str, subresource: &'a str, namespace: &'a str) -> RequestShape<'a> {
        RequestShape { operation, group: "", version: "v1", resource, subresource, namespace }
    }

    #[test]
    fn rules_match_resources_subresources_and_scope() {
        let cm = hook(json!([{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["configmaps"]}]));
        assert!(rules_match(&cm, &shape("CREATE", "configmaps", "", "a")));
        assert!(!rules_match(&cm, &shape("UPDATE", "configmaps", "", "a")));
        assert!(!rules_match(&cm, &shape("CREATE", "secrets", "", "a")));
        assert!(!rules_match(&cm, &shape("CREATE", "configmaps", "status", "a")));
        let all = hook(json!([{"operations": ["*"], "apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*/*"], "scope": "Namespaced"}]));
        assert!(rules_match(&all, &shape("DELETE", "pods", "status", "a")));
        assert!(!rules_match(&all, &shape("DELETE", "namespaces", "", "a")));
        let status = hook(json!([{"operations": ["*"], "apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*/status"], "scope": "Cluster"}]));
        assert!(rules_match(&status, &shape("UPDATE", "namespaces", "status", "x")));
        assert!(!rules_match(&status, &shape("UPDATE", "pods", "status", "a")));
        assert!(!rules_match(&hook(json!([])), &shape("CREATE", "pods", "", "a")));
    }

    #[test]
    fn selectors_use_namespace_and_object_labels() {
        let h: Webhook = serde_json::from_value(json!({
            "name": "h",
            "namespaceSelector": {"matchLabels": {"guarded": "yes"}},
            "objectSelector": {"matchExpressions": [{"key": "skip", "operator": "DoesNotExist"}]},
        }))
        .expect("hook");
        let guarded = json!({"metadata": {"labels": {"guarded": "yes"}}});
        let req = shape("CREATE", "configmaps", "", "a");
        let labels = namespace_labels(&req, None, None, Some(&guarded));
        assert!(namespace_matches(&h, labels.as_ref()));
        let labels = namespace_labels(&req, None, None, Some(&json!({"metadata": {}})));
        assert!(!namespace_matches(&h, labels.as_ref()));
        let cluster_scoped = shape("CREATE", "persistentvolumes", "", "");
        assert!(namespace_matches(&h, namespace_labels(&cluster_scoped, None, None, None).as_ref()));
        let skipped = json!({"metadata": {"labels": {"skip": "1"}}});
        assert!(!object_matches(&h, Some(&skipped), None));
        assert!(object_matches(&h, Some(&skipped), Some(&json!({"metadata": {}}))));
    }
}
