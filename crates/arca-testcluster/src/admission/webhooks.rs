//! Webhooks as read from the stored `MutatingWebhookConfiguration`s and
//! `ValidatingWebhookConfiguration`s, with the API's defaults filled in.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector as SelectorSpec;
use serde::Deserialize;
use serde_json::Value;

use crate::selectors::LabelSelector;

pub const GROUP: &str = "admissionregistration.k8s.io";

/// Which admission phase a webhook belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Mutating,
    Validating,
}

impl Phase {
    pub fn plural(self) -> &'static str {
        match self {
            Phase::Mutating => "mutatingwebhookconfigurations",
            Phase::Validating => "validatingwebhookconfigurations",
        }
    }
}

/// One `rules[]` entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Rule {
    pub operations: Vec<String>,
    pub api_groups: Vec<String>,
    pub api_versions: Vec<String>,
    pub resources: Vec<String>,
    pub scope: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ServiceRef {
    pub namespace: String,
    pub name: String,
    pub path: Option<String>,
    pub port: Option<i32>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ClientConfig {
    pub url: Option<String>,
    pub service: Option<ServiceRef>,
}

/// One webhook of a configuration, as stored.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Webhook {
    pub name: String,
    pub client_config: ClientConfig,
    pub rules: Vec<Rule>,
    pub failure_policy: Option<String>,
    pub namespace_selector: Option<SelectorSpec>,
    pub object_selector: Option<SelectorSpec>,
    pub side_effects: Option<String>,
    pub timeout_seconds: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Configuration {
    webhooks: Vec<Webhook>,
}

/// Upstream default and bounds of `timeoutSeconds`.
const DEFAULT_TIMEOUT_SECS: i64 = 10;
const MAX_TIMEOUT_SECS: i64 = 30;

impl Webhook {
    /// `failurePolicy` defaults to `Fail`.
    pub fn ignores_failures(&self) -> bool {
        self.failure_policy.as_deref() == Some("Ignore")
    }

    pub fn timeout(&self) -> Duration {
        let secs = self.timeout_seconds.unwrap_or(DEFAULT_TIMEOUT_SECS).clamp(1, MAX_TIMEOUT_SECS);
        Duration::from_secs(secs as u64)
    }

    /// Whether the webhook may be called for a dry-run request.
    pub fn supports_dry_run(&self) -> bool {
        matches!(self.side_effects.as_deref(), Some("None") | Some("NoneOnDryRun"))
    }
}

/// The webhooks of a phase: configurations in name order, webhooks in their
/// listed order, as upstream calls them. Objects that do not parse are skipped.
pub fn from_configurations(mut configurations: Vec<Value>) -> Vec<Webhook> {
    configurations.sort_by(|a, b| crate::meta::name(a).cmp(crate::meta::name(b)));
    configurations
        .into_iter()
        .filter_map(|c| match serde_json::from_value::<Configuration>(c) {
            Ok(c) => Some(c.webhooks),
            Err(e) => {
                tracing::warn!("skipping a webhook configuration that does not parse: {e}");
                None
            }
        })
        .flatten()
        .collect()
}

/// A `LabelSelector` object as a parsed selector; `None` if it is invalid.
pub fn selector(spec: &Option<SelectorSpec>) -> Option<LabelSelector> {
    let Some(spec) = spec else { return Some(LabelSelector::default()) };
    let mut parts: Vec<String> =
        spec.match_labels.iter().flatten().map(|(k, v)| format!("{k}={v}")).collect();
    for e in spec.match_expressions.iter().flatten() {
        let values = e.values.clone().unwrap_or_default().join(",");
        parts.push(match e.operator.as_str() {
            "In" => format!("{} in ({values})", e.key),
            "NotIn" => format!("{} notin ({values})", e.key),
            "Exists" => e.key.clone(),
            "DoesNotExist" => format!("!{}", e.key),
            _ => return None,
        });
    }
    LabelSelector::parse(&parts.join(",")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn configurations_are_read_in_name_order_with_defaults() {
        let hooks = from_configurations(vec![
            json!({"metadata": {"name": "b"}, "webhooks": [{"name": "b1"}, {"name": "b2", "failurePolicy": "Ignore", "timeoutSeconds": 99}]}),
            json!({"metadata": {"name": "a"}, "webhooks": [{"name": "a1", "sideEffects": "None"}]}),
        ]);
        let names: Vec<&str> = hooks.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["a1", "b1", "b2"]);
        assert!(!hooks[1].ignores_failures() && hooks[2].ignores_failures());
        assert_eq!((hooks[1].timeout().as_secs(), hooks[2].timeout().as_secs()), (10, 30));
        assert!(hooks[0].supports_dry_run() && !hooks[1].supports_dry_run());
    }

    #[test]
    fn selectors_from_objects() -> anyhow::Result<()> {
        let spec: SelectorSpec = serde_json::from_value(json!({
            "matchLabels": {"team": "a"},
            "matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}, {"key": "skip", "operator": "DoesNotExist"}],
        }))?;
        let sel = selector(&Some(spec)).ok_or_else(|| anyhow::anyhow!("no selector"))?;
        let labels = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert!(sel.matches(&labels(&[("team", "a"), ("env", "dev")])));
        assert!(!sel.matches(&labels(&[("team", "a"), ("env", "prod")])));
        assert!(!sel.matches(&labels(&[("team", "a"), ("skip", "")])));
        Ok(())
    }
}
