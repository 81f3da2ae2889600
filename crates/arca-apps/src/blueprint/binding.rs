//! Which objects a blueprint protects: the annotation
//! `blueprints.arca.io/name` (and `blueprints.arca.io/secret`) on a
//! StatefulSet, Deployment or Pod, or a rule of a bindings file
//! (`--blueprint-bindings FILE`). Pure: tested without a cluster.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

pub const NAME_ANNOTATION: &str = "blueprints.arca.io/name";
pub const SECRET_ANNOTATION: &str = "blueprints.arca.io/secret";

/// The kinds a blueprint binds to, and where they are listed.
pub const BINDABLE: &[(&str, &str)] = &[
    ("StatefulSet", "/apis/apps/v1/statefulsets"),
    ("Deployment", "/apis/apps/v1/deployments"),
    ("Pod", "/api/v1/pods"),
];

/// A bindings file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bindings {
    pub bindings: Vec<Rule>,
}

/// One rule: objects it selects get `blueprint` (and `secret`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub blueprint: String,
    /// Namespace globs (`*`); empty: every namespace.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// `StatefulSet`, `Deployment`, `Pod`; empty: StatefulSets and Deployments.
    #[serde(default)]
    pub kinds: Vec<String>,
    /// Name globs; empty: every name.
    #[serde(default)]
    pub names: Vec<String>,
    /// Labels the object must carry.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The Secret (in the object's namespace) for the blueprint's `secretEnv`.
    #[serde(default)]
    pub secret: Option<String>,
}

impl Bindings {
    pub fn parse(text: &str, source: &str) -> Result<Bindings, String> {
        let b: Bindings = serde_yaml::from_str(text).map_err(|e| format!("bindings file {source}: {e}"))?;
        for (i, r) in b.bindings.iter().enumerate() {
            if let Some(k) = r.kinds.iter().find(|k| !BINDABLE.iter().any(|(b, _)| b == k)) {
                return Err(format!(
                    "bindings file {source}: bindings[{i}].kinds: {k:?} is not one of StatefulSet, Deployment, Pod"
                ));
            }
        }
        Ok(b)
    }
}

/// The binding of one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub blueprint: String,
    pub secret: Option<String>,
    /// `annotation` or `bindings file`.
    pub source: &'static str,
}

fn text<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
}

fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.pointer("/metadata/annotations").and_then(|a| a.get(key)).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// Whether `obj` (of `kind`) is bound, and to what. The annotation wins
/// over the file. A pod that a bound workload owns is its workload's, not
/// bound itself: see [`owned_by_workload`].
pub fn binding(kind: &str, obj: &Value, rules: &Bindings) -> Option<Binding> {
    if let Some(name) = annotation(obj, NAME_ANNOTATION) {
        let secret = annotation(obj, SECRET_ANNOTATION).map(str::to_string);
        return Some(Binding { blueprint: name.to_string(), secret, source: "annotation" });
    }
    rules.bindings.iter().find(|r| rule_matches(r, kind, obj)).map(|r| Binding {
        blueprint: r.blueprint.clone(),
        secret: r.secret.clone(),
        source: "bindings file",
    })
}

fn rule_matches(rule: &Rule, kind: &str, obj: &Value) -> bool {
    let kinds_ok = if rule.kinds.is_empty() {
        matches!(kind, "StatefulSet" | "Deployment")
    } else {
        rule.kinds.iter().any(|k| k == kind)
    };
    let any = |globs: &[String], s: &str| globs.is_empty() || globs.iter().any(|g| glob(g, s));
    let labels = obj.pointer("/metadata/labels");
    kinds_ok
        && any(&rule.namespaces, text(obj, "/metadata/namespace"))
        && any(&rule.names, text(obj, "/metadata/name"))
        && rule.labels.iter().all(|(k, v)| labels.and_then(|l| l.get(k)).and_then(Value::as_str) == Some(v))
}

/// `*` matches any run of characters.
pub fn glob(pattern: &str, s: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == s;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !s.starts_with(first) || s.len() < first.len() + last.len() || !s.ends_with(last) {
        return false;
    }
    let mut rest = &s[first.len()..s.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(at) => rest = &rest[at + mid.len()..],
            None => return false,
        }
    }
    true
}

/// Whether a pod is owned (through its ReplicaSet for Deployments) by a
/// workload: such a pod's template annotation binds the workload already.
pub fn owned_by_workload(pod: &Value) -> bool {
    pod.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|o| matches!(o["kind"].as_str(), Some("StatefulSet" | "ReplicaSet")))
}

/// `Kind/NAMESPACE/NAME`, the key of a bound object in dump records.
pub fn object_key(kind: &str, obj: &Value) -> String {
    format!("{kind}/{}/{}", text(obj, "/metadata/namespace"), text(obj, "/metadata/name"))
}

/// The labels a workload's pods carry (`spec.selector.matchLabels`), for
/// finding them; `None` for a pod (it is its own pod) or a workload
/// without them.
pub fn pod_labels(kind: &str, obj: &Value) -> Option<BTreeMap<String, String>> {
    if kind == "Pod" {
        return None;
    }
    let labels = obj.pointer("/spec/selector/matchLabels")?.as_object()?;
    Some(labels.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sts(annotations: Value, labels: Value) -> Value {
        json!({"metadata": {"namespace": "db", "name": "pg", "annotations": annotations, "labels": labels},
               "spec": {"selector": {"matchLabels": {"app": "pg"}}}})
    }

    #[test]
    fn the_annotation_binds_with_its_secret() {
        let obj = sts(json!({NAME_ANNOTATION: "postgresql", SECRET_ANNOTATION: "pg-auth"}), json!({}));
        let b = binding("StatefulSet", &obj, &Bindings::default()).unwrap();
        assert_eq!(
            (b.blueprint.as_str(), b.secret.as_deref(), b.source),
            ("postgresql", Some("pg-auth"), "annotation")
        );
        assert_eq!(object_key("StatefulSet", &obj), "StatefulSet/db/pg");
        assert_eq!(pod_labels("StatefulSet", &obj).unwrap()["app"], "pg");
    }

    #[test]
    fn rules_select_by_namespace_kind_name_and_labels() {
        let rules = Bindings::parse(
            "bindings:\n- blueprint: redis\n  namespaces: [d*]\n  names: ['p*']\n  labels: {tier: cache}\n",
            "b.yaml",
        )
        .unwrap();
        let obj = sts(json!({}), json!({"tier": "cache"}));
        assert_eq!(binding("StatefulSet", &obj, &rules).unwrap().blueprint, "redis");
        assert!(binding("Pod", &obj, &rules).is_none(), "pods only when the rule names them");
        assert!(binding("StatefulSet", &sts(json!({}), json!({"tier": "web"})), &rules).is_none());
        let e = Bindings::parse("bindings:\n- blueprint: x\n  kinds: [Job]\n", "b.yaml").unwrap_err();
        assert!(e.contains("Job") && e.contains("b.yaml"), "{e}");
        assert!(
            Bindings::parse("bindings:\n- blueprint: x\n  selector: {}\n", "b.yaml").unwrap_err().contains("selector")
        );
    }

    #[test]
    fn globs() {
        assert!(glob("*", "anything"));
        assert!(glob("db-*-prod", "db-eu-prod"));
        assert!(!glob("db-*-prod", "db-prod"));
        assert!(glob("a*b*c", "axxbyyc"));
        assert!(!glob("exact", "exactly"));
    }

    #[test]
    fn pods_of_workloads_are_not_bound_themselves() {
        assert!(owned_by_workload(&json!({"metadata": {"ownerReferences": [{"kind": "StatefulSet"}]}})));
        assert!(!owned_by_workload(&json!({"metadata": {}})));
    }
}
