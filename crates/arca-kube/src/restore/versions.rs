//! Which served type an object is restored at, pure over the target's
//! discovery: the version it was backed up at when the target serves it;
//! else, for built-in kinds, a served version reached through the
//! conversion rules ([`crate::restore::convert`]); for custom resources,
//! another version their CRD serves (the API server converts). Otherwise
//! the object cannot be restored and [`Unresolved`] says precisely why.

use crate::discover::Discovery;
use crate::error::Error;
use crate::objects::{self, ResourceType};
use crate::restore::convert::{self, Rule};

/// API groups of Kubernetes itself: their types come with the API server,
/// never from a CustomResourceDefinition.
pub const BUILTIN_GROUPS: &[&str] = &[
    "",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "apiregistration.k8s.io",
    "apps",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "autoscaling",
    "batch",
    "certificates.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
    "events.k8s.io",
    "extensions",
    "flowcontrol.apiserver.k8s.io",
    "internal.apiserver.k8s.io",
    "networking.k8s.io",
    "node.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "resource.k8s.io",
    "scheduling.k8s.io",
    "settings.k8s.io",
    "storage.k8s.io",
    "storagemigration.k8s.io",
];

pub fn is_builtin(group: &str) -> bool {
    BUILTIN_GROUPS.contains(&group)
}

/// How an object is restored.
#[derive(Debug, Clone)]
pub enum Resolution {
    /// At the version it was backed up at.
    AsStored(ResourceType),
    /// A built-in kind converted by Arca's rules to a served version.
    Converted { rt: ResourceType, rules: Vec<&'static Rule> },
    /// A custom resource at another version its CRD serves.
    OtherVersion(ResourceType),
}

impl Resolution {
    pub fn resource_type(&self) -> &ResourceType {
        match self {
            Resolution::AsStored(rt) | Resolution::OtherVersion(rt) => rt,
            Resolution::Converted { rt, .. } => rt,
        }
    }

    /// What the report says about the version change, if there is one.
    pub fn note(&self, stored_api_version: &str) -> Option<String> {
        match self {
            Resolution::AsStored(_) => None,
            Resolution::Converted { rules, .. } => convert::describe(rules),
            Resolution::OtherVersion(rt) => Some(format!(
                "restored at {} (its CRD no longer serves {stored_api_version}; fields sent unchanged)",
                rt.api_version()
            )),
        }
    }
}

/// Why an object cannot be restored at any served version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unresolved {
    /// A built-in kind, or a custom one whose CRD serves other versions
    /// only, without a way there.
    NotServed { api_version: String, served: Vec<String> },
    /// A custom kind nothing serves: its definition is missing.
    NoDefinition { kind: String, api_version: String },
}

impl Unresolved {
    /// The error, naming the target's version (`v1.33`).
    pub fn into_error(self, target: &str) -> Error {
        match self {
            Unresolved::NotServed { api_version, served } => Error::NotServed {
                target: target.to_string(),
                api_version,
                served: if served.is_empty() { "none".into() } else { served.join(", ") },
            },
            Unresolved::NoDefinition { kind, api_version } => {
                Error::NoDefinition { target: target.to_string(), kind, api_version }
            }
        }
    }
}

/// The target's type for `kind` of `group` at `version`.
fn type_at(disco: &Discovery, group: &str, version: &str, kind: &str) -> Option<ResourceType> {
    let mut rt = disco.types.iter().find(|t| t.group == group && t.kind == kind)?.clone();
    rt.version = version.to_string();
    Some(rt)
}

/// Resolves one backed-up object's type against the target's discovery.
pub fn resolve(disco: &Discovery, group: &str, version: &str, kind: &str) -> Result<Resolution, Unresolved> {
    let served = disco.served_versions(group, kind);
    if served.iter().any(|v| v == version) {
        if let Some(rt) = type_at(disco, group, version, kind) {
            return Ok(Resolution::AsStored(rt));
        }
    }
    let rank = |g: &str, v: &str| disco.served_versions(g, kind).iter().position(|s| s == v);
    if let Some(rules) = convert::chain(kind, (group, version), &rank) {
        let to = rules.last().map(|r| r.to).unwrap_or((group, version));
        if let Some(rt) = type_at(disco, to.0, to.1, kind) {
            return Ok(Resolution::Converted { rt, rules });
        }
    }
    let api_version = objects::api_version(group, version);
    if is_builtin(group) {
        return Err(Unresolved::NotServed { api_version, served: with_group(group, &served) });
    }
    match served.first().and_then(|v| type_at(disco, group, v, kind)) {
        Some(rt) => Ok(Resolution::OtherVersion(rt)),
        None => Err(Unresolved::NoDefinition { kind: kind.to_string(), api_version }),
    }
}

fn with_group(group: &str, versions: &[String]) -> Vec<String> {
    versions.iter().map(|v| objects::api_version(group, v)).collect()
}

/// `v1.33` from a `/version` gitVersion such as `v1.33.2-eks-1a2b3c`.
pub fn minor_version(git_version: &str) -> String {
    let mut parts = git_version.trim_start_matches('v').split(['.', '-', '+']);
    match (parts.next(), parts.next()) {
        (Some(major), Some(minor)) if !major.is_empty() && !minor.is_empty() => format!("v{major}.{minor}"),
        _ if git_version.is_empty() => "of unknown version".to_string(),
        _ => git_version.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discover::ServedKind;

    fn rt(group: &str, version: &str, resource: &str, kind: &str) -> ResourceType {
        ResourceType {
            group: group.into(),
            version: version.into(),
            resource: resource.into(),
            kind: kind.into(),
            namespaced: false,
            verbs: vec![],
            short_names: vec![],
            singular: String::new(),
            has_status: false,
        }
    }

    /// A v1.33 target: flowcontrol v1 only, autoscaling v2 and v1, policy v1,
    /// and a CRD serving v2 only.
    fn target() -> Discovery {
        let served = |group: &str, kind: &str, versions: &[&str]| ServedKind {
            group: group.into(),
            kind: kind.into(),
            versions: versions.iter().map(|v| v.to_string()).collect(),
        };
        Discovery {
            types: vec![
                rt("flowcontrol.apiserver.k8s.io", "v1", "flowschemas", "FlowSchema"),
                rt("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler"),
                rt("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget"),
                rt("example.com", "v2", "widgets", "Widget"),
            ],
            failed_groups: vec![],
            served: vec![
                served("flowcontrol.apiserver.k8s.io", "FlowSchema", &["v1"]),
                served("autoscaling", "HorizontalPodAutoscaler", &["v2", "v1"]),
                served("policy", "PodDisruptionBudget", &["v1"]),
                served("example.com", "Widget", &["v2"]),
            ],
        }
    }

    #[test]
    fn a_served_version_is_kept_even_when_not_preferred() {
        let r = resolve(&target(), "autoscaling", "v1", "HorizontalPodAutoscaler");
        assert!(matches!(&r, Ok(Resolution::AsStored(rt)) if rt.version == "v1"), "{r:?}");
        assert_eq!(r.ok().and_then(|r| r.note("autoscaling/v1")), None);
    }

    #[test]
    fn an_unserved_builtin_version_is_converted() {
        let r = resolve(&target(), "flowcontrol.apiserver.k8s.io", "v1beta2", "FlowSchema");
        let Ok(res @ Resolution::Converted { .. }) = r else {
            panic!("expected a conversion, got {r:?}");
        };
        assert_eq!(res.resource_type().api_version(), "flowcontrol.apiserver.k8s.io/v1");
        assert_eq!(res.resource_type().resource, "flowschemas");
        assert_eq!(
            res.note("flowcontrol.apiserver.k8s.io/v1beta2").as_deref(),
            Some("converted from flowcontrol.apiserver.k8s.io/v1beta2 to flowcontrol.apiserver.k8s.io/v1")
        );
    }

    #[test]
    fn a_builtin_without_successor_fails_naming_the_versions_and_no_crd() {
        let r = resolve(&target(), "policy", "v1beta1", "PodSecurityPolicy");
        assert_eq!(
            r.clone().err(),
            Some(Unresolved::NotServed { api_version: "policy/v1beta1".into(), served: vec![] })
        );
        let text = r.err().map(|u| u.into_error("v1.33").to_string()).unwrap_or_default();
        assert_eq!(
            text,
            "the target (v1.33) does not serve policy/v1beta1 and Arca has no conversion to a served version (served: none)"
        );
        let csr = resolve(&target(), "autoscaling", "v2alpha9", "HorizontalPodAutoscaler").err();
        let text = csr.map(|u| u.into_error("v1.33").to_string()).unwrap_or_default();
        assert!(text.ends_with("(served: autoscaling/v2, autoscaling/v1)"), "{text}");
        assert!(!text.contains("CustomResourceDefinition"), "{text}");
    }

    #[test]
    fn a_custom_resource_goes_to_a_version_its_crd_serves() {
        let r = resolve(&target(), "example.com", "v1", "Widget");
        assert!(matches!(&r, Ok(Resolution::OtherVersion(rt)) if rt.version == "v2"), "{r:?}");
        let note = r.ok().and_then(|r| r.note("example.com/v1")).unwrap_or_default();
        assert!(note.starts_with("restored at example.com/v2"), "{note}");
    }

    #[test]
    fn a_custom_resource_without_its_crd_gets_the_crd_hint() {
        let r = resolve(&target(), "shop.example.com", "v1", "Cart");
        let text = r.err().map(|u| u.into_error("v1.33").to_string()).unwrap_or_default();
        assert!(text.contains("CustomResourceDefinition"), "{text}");
        assert!(text.contains("shop.example.com/v1") && text.contains("v1.33"), "{text}");
    }

    #[test]
    fn target_versions_are_shortened_to_the_minor() {
        assert_eq!(minor_version("v1.33.0"), "v1.33");
        assert_eq!(minor_version("v1.29.4-eks-036c24b"), "v1.29");
        assert_eq!(minor_version("v1.30+k3s1"), "v1.30");
        assert_eq!(minor_version("custom"), "custom");
        assert_eq!(minor_version(""), "of unknown version");
    }
}
