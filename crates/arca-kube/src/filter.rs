//! Which namespaces, types and objects a backup (or restore) takes. Pure.

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::objects::{self, ResourceType};
use crate::selector::Selector;

/// `--include-cluster-resources`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClusterResources {
    /// Everything for a whole-cluster backup; only what the selection depends
    /// on (the closure) when namespaces or selectors narrow it.
    #[default]
    Auto,
    True,
    False,
}

impl std::str::FromStr for ClusterResources {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(Self::Auto),
            "true" => Ok(Self::True),
            "false" => Ok(Self::False),
            other => {
                Err(Error::invalid("--include-cluster-resources", format!("{other:?} is not auto, true or false")))
            }
        }
    }
}

/// The filters as the user gave them (stored in the backup's snapshot).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FilterSpec {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include_namespaces: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_namespaces: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include_resources: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_resources: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// Any of these selects an object (in addition to `selector`, if given).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub or_selectors: Vec<String>,
    #[serde(default)]
    pub include_cluster_resources: ClusterResources,
}

/// What a backup does with cluster-scoped types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterMode {
    Everything,
    ClosureOnly,
    Nothing,
}

/// Compiled filters.
#[derive(Debug, Clone)]
pub struct Filter {
    spec: FilterSpec,
    include_ns: Option<GlobSet>,
    exclude_ns: GlobSet,
    selectors: Vec<Selector>,
}

fn globs(patterns: &[String], what: &str) -> Result<GlobSet> {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        b.add(Glob::new(p).map_err(|e| Error::invalid(format!("{what} pattern {p:?}"), e.to_string()))?);
    }
    b.build().map_err(|e| Error::invalid(what, e.to_string()))
}

impl Filter {
    pub fn new(spec: FilterSpec) -> Result<Filter> {
        let all = spec.include_namespaces.is_empty() || spec.include_namespaces.iter().any(|p| p == "*");
        let include_ns = if all { None } else { Some(globs(&spec.include_namespaces, "--include-namespaces")?) };
        let exclude_ns = globs(&spec.exclude_namespaces, "--exclude-namespaces")?;
        let mut selectors = Vec::new();
        if let Some(s) = &spec.selector {
            selectors.push(Selector::parse(s)?);
        }
        for s in &spec.or_selectors {
            selectors.push(Selector::parse(s)?);
        }
        Ok(Filter { spec, include_ns, exclude_ns, selectors })
    }

    pub fn spec(&self) -> &FilterSpec {
        &self.spec
    }

    /// The namespaces to list one by one when `--include-namespaces` names
    /// them exactly (no glob) and the exclusions keep them: a cheaper request
    /// than listing the whole cluster, and the only one a tenant may make.
    pub fn literal_namespaces(&self) -> Option<Vec<String>> {
        let lits = &self.spec.include_namespaces;
        let literal = !lits.is_empty() && lits.iter().all(|n| !n.contains(['*', '?', '[', '{']));
        literal.then(|| lits.iter().filter(|ns| self.namespace_included(ns)).cloned().collect())
    }

    pub fn namespace_included(&self, ns: &str) -> bool {
        self.include_ns.as_ref().is_none_or(|g| g.is_match(ns)) && !self.exclude_ns.is_match(ns)
    }

    /// True when some selector narrows the object set.
    pub fn has_selector(&self) -> bool {
        !self.selectors.is_empty()
    }

    /// Whether the whole cluster is selected (no namespace or label narrowing).
    pub fn whole_cluster(&self) -> bool {
        self.include_ns.is_none() && self.spec.exclude_namespaces.is_empty() && !self.has_selector()
    }

    pub fn cluster_mode(&self) -> ClusterMode {
        match self.spec.include_cluster_resources {
            ClusterResources::True => ClusterMode::Everything,
            ClusterResources::False => ClusterMode::Nothing,
            ClusterResources::Auto if self.whole_cluster() => ClusterMode::Everything,
            ClusterResources::Auto => ClusterMode::ClosureOnly,
        }
    }

    /// Whether a type passes `--include-resources`/`--exclude-resources`.
    pub fn type_included(&self, rt: &ResourceType) -> bool {
        let inc = &self.spec.include_resources;
        let included = inc.is_empty() || inc.iter().any(|n| n == "*" || names_type(n, rt));
        included && !self.spec.exclude_resources.iter().any(|n| names_type(n, rt))
    }

    /// Whether an object passes the selectors and is not labelled for exclusion.
    pub fn object_selected(&self, obj: &Value) -> bool {
        if objects::label(obj, crate::EXCLUDE_LABEL) == Some("true") {
            return false;
        }
        if self.selectors.is_empty() {
            return true;
        }
        let labels = objects::labels(obj);
        self.selectors.iter().any(|s| s.matches(&labels))
    }

    /// Whether the object's namespace (if any) passes the namespace filters.
    pub fn object_namespace_included(&self, obj: &Value) -> bool {
        objects::namespace(obj).is_none_or(|ns| self.namespace_included(ns))
    }
}

/// Whether a user's name (`deployments`, `Deployment`, `deploy`,
/// `deployments.apps`, `foos.example.com`, `core` group as `pods.core`) names `rt`.
pub fn names_type(name: &str, rt: &ResourceType) -> bool {
    let name = name.to_ascii_lowercase();
    let matches_base = |base: &str| {
        base == rt.resource
            || base == rt.kind.to_ascii_lowercase()
            || (!rt.singular.is_empty() && base == rt.singular)
            || rt.short_names.iter().any(|s| s == base)
    };
    if matches_base(&name) {
        return true;
    }
    match name.split_once('.') {
        Some((base, group)) => {
            let group_ok = group == rt.group || (rt.group.is_empty() && group == "core");
            group_ok && matches_base(base)
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rt(group: &str, resource: &str, kind: &str) -> ResourceType {
        ResourceType {
            group: group.into(),
            version: "v1".into(),
            resource: resource.into(),
            kind: kind.into(),
            namespaced: true,
            verbs: vec![],
            short_names: vec!["deploy".into()],
            singular: String::new(),
            has_status: false,
        }
    }

    #[test]
    fn names_types_like_kubectl() {
        let d = rt("apps", "deployments", "Deployment");
        for n in ["deployments", "Deployment", "deploy", "deployments.apps", "deployment.apps"] {
            assert!(names_type(n, &d), "{n}");
        }
        assert!(!names_type("deployments.example.com", &d));
        assert!(names_type("pods.core", &rt("", "pods", "Pod")));
    }

    #[test]
    fn namespace_globs_include_and_exclude() -> Result<()> {
        let f = Filter::new(FilterSpec {
            include_namespaces: vec!["app-*".into()],
            exclude_namespaces: vec!["app-tmp*".into()],
            ..Default::default()
        })?;
        assert!(f.namespace_included("app-web"));
        assert!(!f.namespace_included("app-tmp1"));
        assert!(!f.namespace_included("other"));
        assert_eq!(f.cluster_mode(), ClusterMode::ClosureOnly);
        assert_eq!(Filter::new(FilterSpec::default())?.cluster_mode(), ClusterMode::Everything);
        Ok(())
    }

    #[test]
    fn selectors_or_and_exclude_label() -> Result<()> {
        let f = Filter::new(FilterSpec {
            selector: Some("app=a".into()),
            or_selectors: vec!["app=b".into()],
            ..Default::default()
        })?;
        let obj = |labels: Value| json!({"metadata": {"name": "x", "labels": labels}});
        assert!(f.object_selected(&obj(json!({"app": "a"}))));
        assert!(f.object_selected(&obj(json!({"app": "b"}))));
        assert!(!f.object_selected(&obj(json!({"app": "c"}))));
        assert!(!f.object_selected(&obj(json!({"app": "a", "arca.io/exclude": "true"}))));
        Ok(())
    }

    #[test]
    fn resource_filters() -> Result<()> {
        let f = Filter::new(FilterSpec { exclude_resources: vec!["secrets".into()], ..Default::default() })?;
        assert!(!f.type_included(&rt("", "secrets", "Secret")));
        assert!(f.type_included(&rt("", "configmaps", "ConfigMap")));
        let only = Filter::new(FilterSpec { include_resources: vec!["configmaps".into()], ..Default::default() })?;
        assert!(!only.type_included(&rt("", "secrets", "Secret")));
        Ok(())
    }
}
