//! Object sets for `diff`: a backup, the live cluster, or a directory of
//! manifests, each as a map from a stable key to the object, and their
//! comparison (pure) into added / removed / changed with field changes.

use std::collections::BTreeMap;
use std::path::Path;

use arca_repo::Repository;
use serde::Serialize;
use serde_json::{Value, json};

use crate::api::Kube;
use crate::catalog::{All, Catalog};
use crate::diff::{self, Change};
use crate::error::{Error, Result};
use crate::objects;

/// Objects by `group/kind/namespace/name` (`_` for no namespace, `core` group).
pub type ObjectSet = BTreeMap<String, Value>;

pub fn key(obj: &Value) -> String {
    let (group, _) = objects::split_api_version(objects::str_at(obj, "/apiVersion").unwrap_or_default());
    let group = if group.is_empty() { "core" } else { group };
    format!("{group}/{}/{}/{}", objects::kind(obj), objects::namespace(obj).unwrap_or("_"), objects::name(obj))
}

fn insert(set: &mut ObjectSet, obj: Value) {
    if obj.get("kind").and_then(Value::as_str).is_some_and(|k| k.ends_with("List")) {
        for item in obj.get("items").and_then(Value::as_array).cloned().unwrap_or_default() {
            insert(set, item);
        }
    } else if obj.is_object() && !objects::name(&obj).is_empty() {
        set.insert(key(&obj), obj);
    }
}

/// Every object of a backup. Blocking.
pub fn from_backup(repo: &Repository, name: &str) -> Result<ObjectSet> {
    let entry = crate::backup::find_backup(repo, name)?;
    let catalog = Catalog::open(repo, &entry.snapshot.tree)?;
    let mut set = ObjectSet::new();
    for e in catalog.entries(&All)? {
        insert(&mut set, catalog.load(&e)?);
    }
    Ok(set)
}

/// Every manifest (`.yaml`, `.yml`, `.json`, multi-document, `List`s) under a directory.
pub fn from_dir(dir: &Path) -> Result<ObjectSet> {
    let mut set = ObjectSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let rd =
            std::fs::read_dir(&d).map_err(|source| Error::Io { what: format!("reading {}", d.display()), source })?;
        for e in rd {
            let p = e.map_err(|source| Error::Io { what: format!("reading {}", d.display()), source })?.path();
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if name.starts_with('.') {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            if !(name.ends_with(".yaml") || name.ends_with(".yml") || name.ends_with(".json")) {
                continue;
            }
            let text = std::fs::read_to_string(&p)
                .map_err(|source| Error::Io { what: format!("reading {}", p.display()), source })?;
            for doc in serde_yaml::Deserializer::from_str(&text) {
                let v: Value = serde::Deserialize::deserialize(doc)
                    .map_err(|e| Error::invalid(p.display().to_string(), e.to_string()))?;
                insert(&mut set, v);
            }
        }
    }
    Ok(set)
}

/// Every object the cluster serves, of the types a default backup takes.
pub async fn from_live(kube: &Kube) -> Result<ObjectSet> {
    let disco = crate::discover::discover(kube).await?;
    let mut set = ObjectSet::new();
    for rt in disco.backup_types(&crate::discover::default_skip(), &[]) {
        let path = rt.collection_path(None);
        let mut cont: Option<String> = None;
        loop {
            let page = kube.list_page(&path, 500, cont.as_deref(), &format!("listing {path}")).await?;
            for mut item in page.get("items").and_then(Value::as_array).cloned().unwrap_or_default() {
                item["apiVersion"] = json!(rt.api_version());
                item["kind"] = json!(rt.kind);
                insert(&mut set, item);
            }
            cont = objects::str_at(&page, "/metadata/continue").filter(|c| !c.is_empty()).map(String::from);
            if cont.is_none() {
                break;
            }
        }
    }
    Ok(set)
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Drift {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: BTreeMap<String, Vec<Change>>,
}

impl Drift {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// Compares two sets on what people set (server noise removed). Changes to
/// Secrets are reported by path only: their values are redacted.
pub fn compare(a: &ObjectSet, b: &ObjectSet) -> Drift {
    let mut d = Drift::default();
    for (k, va) in a {
        match b.get(k) {
            None => d.removed.push(k.clone()),
            Some(vb) => {
                let mut changes = diff::diff(&diff::normalize(va), &diff::normalize(vb));
                if crate::redact::is_secret(va) {
                    for c in &mut changes {
                        *c = match c {
                            Change::Added { path, .. } => {
                                Change::Added { path: path.clone(), value: json!("<redacted>") }
                            }
                            Change::Removed { path, .. } => {
                                Change::Removed { path: path.clone(), value: json!("<redacted>") }
                            }
                            Change::Changed { path, .. } => Change::Changed {
                                path: path.clone(),
                                old: json!("<redacted>"),
                                new: json!("<redacted>"),
                            },
                        };
                    }
                }
                if !changes.is_empty() {
                    d.changed.insert(k.clone(), changes);
                }
            }
        }
    }
    d.added = b.keys().filter(|k| !a.contains_key(*k)).cloned().collect();
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_added_removed_changed_and_hides_secret_values() {
        let cm = |v: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "a", "uid": v}, "data": {"k": v}});
        let sec = |v: &str| json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "a"}, "data": {"p": v}});
        let mut a = ObjectSet::new();
        let mut b = ObjectSet::new();
        insert(&mut a, cm("1"));
        insert(&mut b, cm("2"));
        insert(&mut a, sec("eA=="));
        insert(&mut b, sec("eQ=="));
        insert(
            &mut b,
            json!({"apiVersion": "v1", "kind": "List", "items": [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "n", "namespace": "a"}}]}),
        );
        let d = compare(&a, &b);
        assert_eq!(d.added, ["core/ConfigMap/a/n"]);
        assert!(d.removed.is_empty());
        assert_eq!(d.changed["core/ConfigMap/a/c"].len(), 1);
        let s = serde_json::to_string(&d.changed["core/Secret/a/s"]).unwrap_or_default();
        assert!(!s.contains("eA==") && s.contains("redacted"));
    }
}
