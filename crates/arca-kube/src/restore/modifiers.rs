//! Resource modifiers: user rules from a YAML file that patch objects on
//! their way into the cluster (Velero's format):
//!
//! ```yaml
//! version: v1
//! resourceModifierRules:
//! - conditions:
//!     groupResource: deployments.apps      # resource.group; "*" for any
//!     resourceNameRegex: "^web-.*$"        # optional
//!     namespaces: [shop]                   # optional; namespace in the backup
//!     labelSelector:                        # optional
//!       matchLabels: {tier: front}
//!       matchExpressions: [{key: env, operator: In, values: [prod]}]
//!   patches:                                # JSON patch (RFC 6902)
//!   - operation: replace
//!     path: /spec/replicas
//!     value: 1
//!   mergePatches:                           # JSON merge patch (RFC 7386), YAML or JSON
//!   - patchData: |
//!       metadata: {labels: {restored: "yes"}}
//!   strategicPatches:                       # strategic merge patch (see `strategic`)
//!   - patchData: |
//!       spec: {template: {spec: {containers: [{name: app, image: "app:2"}]}}}
//! ```
//!
//! Rules apply in file order after sanitizing and mappings; within a rule,
//! JSON patches, then merge patches, then strategic patches. A field this
//! reader does not know is an error, not silently ignored.

use regex::Regex;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::objects;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    resource_modifier_rules: Vec<RawRule>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
#[serde(deny_unknown_fields)]
struct RawRule {
    conditions: RawConditions,
    #[serde(default)]
    patches: Vec<RawJsonPatch>,
    #[serde(default)]
    merge_patches: Vec<RawMergePatch>,
    #[serde(default)]
    strategic_patches: Vec<RawMergePatch>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
#[serde(deny_unknown_fields)]
struct RawConditions {
    group_resource: String,
    #[serde(default)]
    resource_name_regex: Option<String>,
    #[serde(default)]
    namespaces: Vec<String>,
    #[serde(default)]
    label_selector: Option<LabelSelector>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[serde(deny_unknown_fields)]
struct LabelSelector {
    #[serde(default)]
    match_labels: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    match_expressions: Vec<Expression>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expression {
    key: String,
    operator: String,
    #[serde(default)]
    values: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJsonPatch {
    operation: String,
    path: String,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    value: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawMergePatch {
    patch_data: String,
}

/// One compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    group_resource: String,
    name: Option<Regex>,
    namespaces: Vec<String>,
    selector: Option<LabelSelector>,
    json_patch: Option<json_patch::Patch>,
    merge_patches: Vec<Value>,
    strategic_patches: Vec<Value>,
}

/// Every rule of a modifiers file.
#[derive(Debug, Clone, Default)]
pub struct Modifiers {
    rules: Vec<Rule>,
}

impl Modifiers {
    pub fn parse(text: &str, source: &str) -> Result<Modifiers> {
        let bad = |m: String| Error::invalid(format!("resource modifiers {source}"), m);
        let file: File = serde_yaml::from_str(text).map_err(|e| bad(e.to_string()))?;
        if let Some(v) = &file.version {
            if v != "v1" {
                return Err(bad(format!("version {v:?} is not supported (use v1)")));
            }
        }
        let mut rules = Vec::new();
        for (i, r) in file.resource_modifier_rules.into_iter().enumerate() {
            let at = |m: String| bad(format!("rule {}: {m}", i + 1));
            let name = r
                .conditions
                .resource_name_regex
                .as_deref()
                .map(Regex::new)
                .transpose()
                .map_err(|e| at(e.to_string()))?;
            let json_patch = if r.patches.is_empty() {
                None
            } else {
                let ops: Vec<Value> = r
                    .patches
                    .iter()
                    .map(|p| {
                        let mut op = json!({"op": p.operation, "path": p.path});
                        if let Some(f) = &p.from {
                            op["from"] = json!(f);
                        }
                        if let Some(v) = &p.value {
                            op["value"] = v.clone();
                        }
                        op
                    })
                    .collect();
                Some(serde_json::from_value(Value::Array(ops)).map_err(|e| at(format!("patches: {e}")))?)
            };
            let parse = |patches: &[RawMergePatch], field: &str| {
                patches
                    .iter()
                    .map(|m| serde_yaml::from_str::<Value>(&m.patch_data).map_err(|e| at(format!("{field}: {e}"))))
                    .collect::<Result<Vec<_>>>()
            };
            let merge_patches = parse(&r.merge_patches, "mergePatches")?;
            let strategic_patches = parse(&r.strategic_patches, "strategicPatches")?;
            for e in r.conditions.label_selector.iter().flat_map(|s| &s.match_expressions) {
                if !matches!(e.operator.as_str(), "In" | "NotIn" | "Exists" | "DoesNotExist") {
                    return Err(at(format!(
                        "labelSelector operator {:?} is not In, NotIn, Exists or DoesNotExist",
                        e.operator
                    )));
                }
            }
            rules.push(Rule {
                group_resource: r.conditions.group_resource,
                name,
                namespaces: r.conditions.namespaces,
                selector: r.conditions.label_selector,
                json_patch,
                merge_patches,
                strategic_patches,
            });
        }
        Ok(Modifiers { rules })
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Applies every matching rule. `namespace` is the object's namespace in
    /// the backup. Returns how many rules applied.
    pub fn apply(&self, group_resource: &str, namespace: Option<&str>, obj: &mut Value) -> Result<usize> {
        let mut applied = 0;
        for rule in &self.rules {
            // Conditions see the object as the previous rules left it.
            if !rule.matches(group_resource, namespace, obj) {
                continue;
            }
            if let Some(p) = &rule.json_patch {
                json_patch::patch(obj, p).map_err(|e| {
                    Error::invalid(
                        format!("resource modifier on {group_resource} {}", objects::name(obj)),
                        e.to_string(),
                    )
                })?;
            }
            for m in &rule.merge_patches {
                json_patch::merge(obj, m);
            }
            for m in &rule.strategic_patches {
                crate::restore::strategic::apply(obj, m).map_err(|e| {
                    Error::invalid(format!("strategic patch on {group_resource} {}", objects::name(obj)), e)
                })?;
            }
            applied += 1;
        }
        Ok(applied)
    }
}

impl Rule {
    fn matches(&self, group_resource: &str, namespace: Option<&str>, obj: &Value) -> bool {
        let gr_ok = self.group_resource == "*" || self.group_resource == group_resource;
        let name_ok = self.name.as_ref().is_none_or(|re| re.is_match(objects::name(obj)));
        let ns_ok = self.namespaces.is_empty() || namespace.is_some_and(|ns| self.namespaces.iter().any(|n| n == ns));
        gr_ok && name_ok && ns_ok && self.selector.as_ref().is_none_or(|s| s.matches(obj))
    }
}

impl LabelSelector {
    fn matches(&self, obj: &Value) -> bool {
        let get = |k: &str| objects::label(obj, k);
        self.match_labels.iter().all(|(k, v)| get(k) == Some(v.as_str()))
            && self.match_expressions.iter().all(|e| {
                let has = |x: &str| e.values.iter().any(|v| v == x);
                match e.operator.as_str() {
                    "In" => get(&e.key).is_some_and(has),
                    "NotIn" => get(&e.key).is_none_or(|x| !has(x)),
                    "Exists" => get(&e.key).is_some(),
                    "DoesNotExist" => get(&e.key).is_none(),
                    _ => false,
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
version: v1
resourceModifierRules:
- conditions:
    groupResource: deployments.apps
    resourceNameRegex: "^web"
    namespaces: [shop]
    labelSelector:
      matchLabels: {tier: front}
  patches:
  - operation: replace
    path: /spec/replicas
    value: 1
  mergePatches:
  - patchData: |
      metadata: {labels: {restored: "yes"}}
- conditions:
    groupResource: "*"
  mergePatches:
  - patchData: '{"metadata": {"annotations": {"by": "arca"}}}'
"#;

    #[test]
    fn applies_matching_rules_in_order() -> Result<()> {
        let m = Modifiers::parse(FILE, "test")?;
        let mut d = json!({"metadata": {"name": "web-1", "labels": {"tier": "front"}}, "spec": {"replicas": 3}});
        assert_eq!(m.apply("deployments.apps", Some("shop"), &mut d)?, 2);
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(d["metadata"]["labels"]["restored"], "yes");
        assert_eq!(d["metadata"]["annotations"]["by"], "arca");
        let mut other = json!({"metadata": {"name": "web-1", "labels": {"tier": "front"}}, "spec": {"replicas": 3}});
        assert_eq!(m.apply("deployments.apps", Some("elsewhere"), &mut other)?, 1);
        assert_eq!(other["spec"]["replicas"], 3);
        Ok(())
    }

    #[test]
    fn strategic_patches_merge_containers_by_name() -> Result<()> {
        let file = r#"
resourceModifierRules:
- conditions: {groupResource: deployments.apps}
  strategicPatches:
  - patchData: |
      spec: {template: {spec: {containers: [{name: app, image: "app:2"}]}}}
"#;
        let m = Modifiers::parse(file, "f")?;
        let mut d = json!({"metadata": {"name": "web"}, "spec": {"template": {"spec": {"containers": [
            {"name": "proxy", "image": "proxy:1"}, {"name": "app", "image": "app:1"}]}}}});
        assert_eq!(m.apply("deployments.apps", None, &mut d)?, 1);
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"],
            json!([{"name": "proxy", "image": "proxy:1"}, {"name": "app", "image": "app:2"}])
        );
        Ok(())
    }

    #[test]
    fn unknown_fields_are_errors_not_ignored() {
        let unknown = "resourceModifierRules:\n- conditions: {groupResource: pods, matches: [{path: /x, value: y}]}";
        let err = Modifiers::parse(unknown, "mods.yaml").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("mods.yaml") && err.contains("matches"), "{err}");
        assert!(
            Modifiers::parse("resourceModifierRules:\n- conditions: {groupResource: pods}\n  strategicPatch: []", "f")
                .is_err()
        );
    }

    #[test]
    fn reports_bad_files() {
        assert!(Modifiers::parse("version: v2\nresourceModifierRules: []", "f").is_err());
        let bad_regex = "resourceModifierRules:\n- conditions: {groupResource: pods, resourceNameRegex: '('}";
        assert!(Modifiers::parse(bad_regex, "f").is_err());
        let failing = "resourceModifierRules:\n- conditions: {groupResource: pods}\n  patches: [{operation: remove, path: /nope}]";
        let m = Modifiers::parse(failing, "f").expect("parses");
        assert!(m.apply("pods", None, &mut json!({"metadata": {"name": "p"}})).is_err());
    }
}
