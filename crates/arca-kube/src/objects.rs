//! Small accessors over untyped API objects (`serde_json::Value`), and the
//! type describing a served resource. Objects stay untyped so every kind,
//! built-in or custom, known or not, is handled the same way.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A served resource type, as discovery describes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ResourceType {
    /// API group; `""` for the core group.
    pub group: String,
    pub version: String,
    /// Plural resource name, e.g. `deployments`.
    pub resource: String,
    pub kind: String,
    pub namespaced: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verbs: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub short_names: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub singular: String,
    /// Whether the type has a `/status` subresource.
    #[serde(default)]
    pub has_status: bool,
}

impl ResourceType {
    /// Takes a list page of this type apart: its items, each given the
    /// type's apiVersion and kind (list items carry none, stored objects
    /// must describe themselves), and the continue token if more follow.
    pub fn take_page(&self, mut page: Value) -> (Vec<Value>, Option<String>) {
        let next = str_at(&page, "/metadata/continue").filter(|c| !c.is_empty()).map(String::from);
        let mut items = match page.get_mut("items").map(Value::take) {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        };
        for item in items.iter_mut().filter_map(Value::as_object_mut) {
            item.insert("apiVersion".into(), Value::String(self.api_version()));
            item.insert("kind".into(), Value::String(self.kind.clone()));
        }
        (items, next)
    }

    pub fn api_version(&self) -> String {
        api_version(&self.group, &self.version)
    }

    /// `resource.group`, or `resource` for the core group (as kubectl names it).
    pub fn group_resource(&self) -> String {
        group_resource(&self.group, &self.resource)
    }

    /// Collection path, in `namespace` when given and namespaced.
    pub fn collection_path(&self, namespace: Option<&str>) -> String {
        let base = if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        };
        match namespace {
            Some(ns) if self.namespaced => format!("{base}/namespaces/{ns}/{}", self.resource),
            _ => format!("{base}/{}", self.resource),
        }
    }

    pub fn object_path(&self, namespace: Option<&str>, name: &str) -> String {
        format!("{}/{name}", self.collection_path(namespace))
    }

    pub fn has_verb(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == verb)
    }
}

pub fn api_version(group: &str, version: &str) -> String {
    if group.is_empty() { version.to_string() } else { format!("{group}/{version}") }
}

pub fn group_resource(group: &str, resource: &str) -> String {
    if group.is_empty() { resource.to_string() } else { format!("{resource}.{group}") }
}

/// Splits `apps/v1` into (`apps`, `v1`) and `v1` into (`""`, `v1`).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

pub fn str_at<'a>(obj: &'a Value, pointer: &str) -> Option<&'a str> {
    obj.pointer(pointer).and_then(Value::as_str)
}

pub fn name(obj: &Value) -> &str {
    str_at(obj, "/metadata/name").unwrap_or_default()
}

pub fn namespace(obj: &Value) -> Option<&str> {
    str_at(obj, "/metadata/namespace").filter(|s| !s.is_empty())
}

pub fn uid(obj: &Value) -> Option<&str> {
    str_at(obj, "/metadata/uid")
}

pub fn kind(obj: &Value) -> &str {
    str_at(obj, "/kind").unwrap_or_default()
}

pub fn label<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.pointer("/metadata/labels").and_then(|l| l.get(key)).and_then(Value::as_str)
}

/// The labels as (key, value) pairs.
pub fn labels(obj: &Value) -> Vec<(&str, &str)> {
    obj.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.as_str(), v.as_str()?))).collect())
        .unwrap_or_default()
}

/// Human name of an object: `kind/namespace/name` or `kind/name`.
pub fn describe(kind: &str, namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) => format!("{}/{ns}/{name}", kind.to_lowercase()),
        None => format!("{}/{name}", kind.to_lowercase()),
    }
}

/// Removes the value at a JSON pointer, if present.
pub fn remove_at(obj: &mut Value, pointer: &str) -> Option<Value> {
    let (parent, key) = pointer.rsplit_once('/')?;
    let parent = if parent.is_empty() { Some(obj) } else { obj.pointer_mut(parent) };
    parent?.as_object_mut()?.remove(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_follow_the_api_layout() {
        let rt = ResourceType {
            group: "apps".into(),
            version: "v1".into(),
            resource: "deployments".into(),
            kind: "Deployment".into(),
            namespaced: true,
            verbs: vec![],
            short_names: vec![],
            singular: String::new(),
            has_status: true,
        };
        assert_eq!(rt.collection_path(Some("a")), "/apis/apps/v1/namespaces/a/deployments");
        assert_eq!(rt.collection_path(None), "/apis/apps/v1/deployments");
        assert_eq!(rt.object_path(Some("a"), "web"), "/apis/apps/v1/namespaces/a/deployments/web");
        assert_eq!(rt.group_resource(), "deployments.apps");
        assert_eq!(split_api_version("v1"), ("", "v1"));
    }

    #[test]
    fn removes_nested_values() {
        let mut o = json!({"metadata": {"uid": "x", "name": "n"}});
        assert_eq!(remove_at(&mut o, "/metadata/uid"), Some(json!("x")));
        assert_eq!(o, json!({"metadata": {"name": "n"}}));
        assert_eq!(remove_at(&mut o, "/spec/none"), None);
    }
}
