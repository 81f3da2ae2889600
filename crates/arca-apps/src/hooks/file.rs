//! A hooks file (`arca backup create --hooks FILE`): hooks chosen by
//! namespace, labels and resource, each with `pre`/`post` exec lists, as
//! Velero's `spec.hooks.resources`. Unknown fields are refused.
//!
//! ```yaml
//! hooks:
//!   - name: freeze-db
//!     includedNamespaces: [db]
//!     labelSelector: {matchLabels: {app: postgres}}
//!     pre:
//!       - exec: {container: postgres, command: [psql, -c, CHECKPOINT], onError: Fail, timeout: 30s}
//!     post:
//!       - exec: {command: [sh, -c, "rm -f /data/.frozen"]}
//! ```

use std::collections::BTreeMap;

use arca_kube::selector::Selector;
use serde::Deserialize;
use serde_json::Value;

use super::record::OnError;
use super::spec::{DEFAULT_TIMEOUT, HookSpec, PodHooks, parse_duration};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FileText {
    #[serde(default)]
    version: Option<String>,
    hooks: Vec<RuleText>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RuleText {
    name: String,
    #[serde(default)]
    included_namespaces: Vec<String>,
    #[serde(default)]
    excluded_namespaces: Vec<String>,
    #[serde(default)]
    included_resources: Vec<String>,
    #[serde(default)]
    excluded_resources: Vec<String>,
    #[serde(default)]
    label_selector: Option<LabelSelectorText>,
    #[serde(default)]
    pre: Vec<StepText>,
    #[serde(default)]
    post: Vec<StepText>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct LabelSelectorText {
    #[serde(default)]
    match_labels: BTreeMap<String, String>,
    #[serde(default)]
    match_expressions: Vec<ExpressionText>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpressionText {
    key: String,
    operator: String,
    #[serde(default)]
    values: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepText {
    exec: ExecText,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ExecText {
    #[serde(default)]
    container: Option<String>,
    command: Vec<String>,
    #[serde(default)]
    on_error: Option<String>,
    #[serde(default)]
    timeout: Option<String>,
}

/// One rule of a hooks file.
#[derive(Debug, Clone)]
pub struct HookRule {
    pub name: String,
    included_namespaces: Vec<String>,
    excluded_namespaces: Vec<String>,
    selector: Option<Selector>,
    pub hooks: PodHooks,
}

/// A parsed hooks file.
#[derive(Debug, Clone, Default)]
pub struct HooksFile {
    pub rules: Vec<HookRule>,
}

impl HooksFile {
    /// Parses `text`; errors name `origin` (the file) and the field.
    pub fn parse(text: &str, origin: &str) -> Result<HooksFile, String> {
        let file: FileText = serde_yaml::from_str(text).map_err(|e| format!("hooks file {origin}: {e}"))?;
        if let Some(v) = file.version.as_deref().filter(|v| *v != "v1") {
            return Err(format!("hooks file {origin}: version {v:?} is not supported; use v1"));
        }
        let rules = file
            .hooks
            .into_iter()
            .map(|r| rule(r).map_err(|e| format!("hooks file {origin}: {e}")))
            .collect::<Result<_, _>>()?;
        Ok(HooksFile { rules })
    }

    /// The hooks of the rules selecting `pod`, in file order.
    pub fn for_pod(&self, pod: &Value) -> PodHooks {
        let mut out = PodHooks::default();
        for rule in self.rules.iter().filter(|r| r.selects(pod)) {
            out.pre.extend(rule.hooks.pre.iter().cloned());
            out.post.extend(rule.hooks.post.iter().cloned());
        }
        out
    }
}

impl HookRule {
    fn selects(&self, pod: &Value) -> bool {
        let ns = pod.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or_default();
        let included = self.included_namespaces.is_empty() || self.included_namespaces.iter().any(|p| glob(p, ns));
        let excluded = self.excluded_namespaces.iter().any(|p| glob(p, ns));
        let labels: Vec<(&str, &str)> = pod
            .pointer("/metadata/labels")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| v.as_str().map(|v| (k.as_str(), v)))
            .collect();
        included && !excluded && self.selector.as_ref().is_none_or(|s| s.matches(&labels))
    }
}

fn rule(r: RuleText) -> Result<HookRule, String> {
    let name = r.name.trim().to_string();
    if name.is_empty() {
        return Err("a hook has an empty name".into());
    }
    let applies_to_pods = |list: &[String]| list.iter().any(|t| is_pods(t));
    if !r.included_resources.is_empty() && !applies_to_pods(&r.included_resources) {
        return Err(format!(
            "hook {name:?}: includedResources {:?} has no pods; hooks run in pods, include \"pods\"",
            r.included_resources
        ));
    }
    if applies_to_pods(&r.excluded_resources) {
        return Err(format!("hook {name:?}: excludedResources leaves out pods, so it would never run"));
    }
    let selector = match r.label_selector {
        Some(s) => Some(selector(&s).map_err(|e| format!("hook {name:?}: labelSelector: {e}"))?),
        None => None,
    };
    let steps = |steps: Vec<StepText>, phase: &str| -> Result<Vec<HookSpec>, String> {
        steps
            .into_iter()
            .enumerate()
            .map(|(i, s)| step(&name, s.exec).map_err(|e| format!("hook {name:?}: {phase}[{i}].exec: {e}")))
            .collect()
    };
    let hooks = PodHooks { pre: steps(r.pre, "pre")?, post: steps(r.post, "post")? };
    if hooks.is_empty() {
        return Err(format!("hook {name:?} has neither pre nor post commands"));
    }
    Ok(HookRule {
        name: name.clone(),
        included_namespaces: r.included_namespaces,
        excluded_namespaces: r.excluded_namespaces,
        selector,
        hooks,
    })
}

fn is_pods(t: &str) -> bool {
    matches!(t.to_ascii_lowercase().as_str(), "pods" | "pod" | "po" | "*")
}

fn step(name: &str, e: ExecText) -> Result<HookSpec, String> {
    if e.command.is_empty() || e.command[0].is_empty() {
        return Err("command is empty".into());
    }
    let on_error = match e.on_error.as_deref() {
        Some(v) => OnError::parse(v).ok_or_else(|| format!("onError {v:?} is neither Fail nor Continue"))?,
        None => OnError::Fail,
    };
    let timeout = match e.timeout.as_deref() {
        Some(v) => parse_duration(v).map_err(|m| format!("timeout: {m}"))?,
        None => DEFAULT_TIMEOUT,
    };
    Ok(HookSpec {
        name: Some(name.to_string()),
        source: "file".into(),
        container: e.container.filter(|c| !c.is_empty()),
        command: e.command,
        on_error,
        timeout,
    })
}

/// `matchLabels`/`matchExpressions` as one selector.
fn selector(s: &LabelSelectorText) -> Result<Selector, String> {
    let mut parts: Vec<String> = s.match_labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    for e in &s.match_expressions {
        parts.push(match e.operator.as_str() {
            "In" => format!("{} in ({})", e.key, e.values.join(",")),
            "NotIn" => format!("{} notin ({})", e.key, e.values.join(",")),
            "Exists" => e.key.clone(),
            "DoesNotExist" => format!("!{}", e.key),
            other => return Err(format!("operator {other:?} is not one of In, NotIn, Exists, DoesNotExist")),
        });
    }
    Selector::parse(&parts.join(",")).map_err(|e| e.to_string())
}

/// `*` matches any run of characters; everything else itself.
fn glob(pattern: &str, s: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == s,
        Some((head, rest)) => {
            let Some(tail) = s.strip_prefix(head) else { return false };
            (0..=tail.len()).filter(|i| tail.is_char_boundary(*i)).any(|i| glob(rest, &tail[i..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    const FILE: &str = r#"
hooks:
  - name: freeze-db
    includedNamespaces: [db, "shop-*"]
    excludedNamespaces: [shop-test]
    includedResources: [pods]
    labelSelector:
      matchLabels: {app: postgres}
      matchExpressions: [{key: tier, operator: NotIn, values: [cache]}]
    pre:
      - exec: {container: postgres, command: [psql, -c, CHECKPOINT], onError: Continue, timeout: 1m}
    post:
      - exec: {command: [sh, -c, "true"]}
  - name: everyone
    post:
      - exec: {command: [sync]}
"#;

    fn pod(ns: &str, labels: Value) -> Value {
        json!({"metadata": {"namespace": ns, "name": "p", "labels": labels}})
    }

    #[test]
    fn rules_select_by_namespace_and_labels() {
        let f = HooksFile::parse(FILE, "hooks.yaml").unwrap();
        let pg = f.for_pod(&pod("shop-eu", json!({"app": "postgres"})));
        assert_eq!(pg.pre.len(), 1);
        assert_eq!(pg.pre[0].name.as_deref(), Some("freeze-db"));
        assert_eq!(pg.pre[0].container.as_deref(), Some("postgres"));
        assert_eq!((pg.pre[0].on_error, pg.pre[0].timeout), (OnError::Continue, Duration::from_secs(60)));
        assert_eq!(pg.post.len(), 2, "both rules' post hooks, in file order");
        assert!(f.for_pod(&pod("shop-test", json!({"app": "postgres"}))).pre.is_empty());
        assert!(f.for_pod(&pod("db", json!({"app": "postgres", "tier": "cache"}))).pre.is_empty());
        assert!(f.for_pod(&pod("other", json!({"app": "postgres"}))).pre.is_empty());
        assert_eq!(f.for_pod(&pod("other", json!({}))).post[0].command, ["sync"]);
    }

    #[test]
    fn unknown_fields_are_refused_with_the_field_and_file() {
        let text = "hooks:\n  - name: x\n    includedNamespace: [db]\n    post: [{exec: {command: [a]}}]\n";
        let err = HooksFile::parse(text, "my-hooks.yaml").unwrap_err();
        assert!(err.contains("my-hooks.yaml") && err.contains("includedNamespace"), "{err}");
        let text = "hooks:\n  - name: x\n    pre: [{exec: {command: [a], onerror: Fail}}]\n";
        let err = HooksFile::parse(text, "h.yaml").unwrap_err();
        assert!(err.contains("onerror"), "{err}");
    }

    #[test]
    fn bad_values_are_named() {
        let bad = |text: &str| HooksFile::parse(text, "h.yaml").unwrap_err();
        assert!(bad("hooks:\n  - name: x\n    pre: [{exec: {command: [a], onError: Retry}}]\n").contains("pre[0]"));
        assert!(bad("hooks:\n  - name: x\n    pre: [{exec: {command: []}}]\n").contains("command is empty"));
        assert!(bad("hooks:\n  - name: x\n").contains("neither pre nor post"));
        assert!(
            bad("hooks:\n  - name: x\n    includedResources: [deployments]\n    post: [{exec: {command: [a]}}]\n")
                .contains("pods")
        );
        assert!(bad("version: v9\nhooks: []\n").contains("v9"));
    }

    #[test]
    fn globs() {
        assert!(glob("*", "x"));
        assert!(glob("shop-*", "shop-eu"));
        assert!(!glob("shop-*", "shop"));
        assert!(glob("a*c*e", "abcde"));
        assert!(!glob("db", "db2"));
    }
}
