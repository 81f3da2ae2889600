//! The two sides of `diff`: a backup, the live cluster, or a directory of
//! manifests, compared into added / removed / changed with field changes.
//!
//! Neither side is held in memory whole. One side is read first and kept as
//! a fingerprint per object (a hash of the object without server noise) and
//! where to read it again; the other is then streamed past it, and only the
//! objects whose fingerprints differ are read again and compared field by
//! field. Memory grows with the number of objects (a key and 32 bytes each)
//! and the size of the drift, not with the objects' contents. The side kept
//! is the one cheap to read again: a backup or a directory rather than the
//! live cluster.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use arca_repo::Repository;
use serde::Serialize;
use serde_json::Value;

use crate::api::Kube;
use crate::catalog::{All, Catalog, CatalogEntry};
use crate::diff::{self, Change};
use crate::error::{Error, Result};
use crate::objects;

/// `group/kind/namespace/name` (`_` for no namespace, `core` group).
pub fn key(obj: &Value) -> String {
    let (group, _) = objects::split_api_version(objects::str_at(obj, "/apiVersion").unwrap_or_default());
    let group = if group.is_empty() { "core" } else { group };
    format!("{group}/{}/{}/{}", objects::kind(obj), objects::namespace(obj).unwrap_or("_"), objects::name(obj))
}

/// One side of a diff.
pub enum Source {
    /// A backup in a repository, by name or snapshot id.
    Backup { repo: Repository, name: String },
    /// The live cluster: every object of the types a default backup takes.
    Live(Kube),
    /// Manifests (`.yaml`, `.yml`, `.json`, multi-document, `List`s) under a directory.
    Dir(PathBuf),
    /// Objects at hand.
    Objects(Vec<Value>),
}

/// Where an object of the kept side can be read again.
enum Locator {
    Stored { catalog: usize, entry: CatalogEntry },
    Held(Box<Value>),
    Live(String),
}

/// A hash of what people set in the object.
type Fingerprint = [u8; 32];

fn fingerprint(normalized: &Value) -> Fingerprint {
    *blake3::hash(&serde_json::to_vec(normalized).unwrap_or_default()).as_bytes()
}

/// Calls `f` with every object of a list-shaped document or the document itself.
fn flatten(obj: Value, f: &mut dyn FnMut(Value, Locator) -> Result<()>) -> Result<()> {
    if obj.get("kind").and_then(Value::as_str).is_some_and(|k| k.ends_with("List")) {
        for item in obj.get("items").and_then(Value::as_array).cloned().unwrap_or_default() {
            flatten(item, f)?;
        }
    } else if obj.is_object() && !objects::name(&obj).is_empty() {
        let held = Locator::Held(Box::new(obj.clone()));
        f(obj, held)?;
    }
    Ok(())
}

/// Reads every object of a source, one at a time. Backups opened on the way
/// are kept in `catalogs` (their trees are what `Locator::Stored` points into).
async fn visit(
    source: &Source,
    catalogs: &mut Vec<Catalog>,
    f: &mut (dyn FnMut(Value, Locator) -> Result<()> + Send),
) -> Result<()> {
    match source {
        Source::Backup { repo, name } => {
            let entry = crate::backup::find_backup(repo, name)?;
            catalogs.push(Catalog::open(repo, &entry.snapshot.tree)?);
            let n = catalogs.len() - 1;
            let catalog = &catalogs[n];
            // Read in storage order; `f` is called from one thread at a time.
            let f = std::sync::Mutex::new(f);
            catalog.load_each(&catalog.entries(&All)?, |e, obj| {
                let mut f = f.lock().unwrap_or_else(|p| p.into_inner());
                f(obj, Locator::Stored { catalog: n, entry: e.clone() })
            })?;
        }
        Source::Dir(dir) => visit_dir(dir, f)?,
        Source::Objects(objs) => {
            for obj in objs {
                flatten(obj.clone(), f)?;
            }
        }
        Source::Live(kube) => {
            let disco = crate::discover::discover(kube).await?;
            for rt in disco.backup_types(&crate::discover::default_skip(), &[]) {
                let path = rt.collection_path(None);
                let mut cont: Option<String> = None;
                loop {
                    let page = kube.list_page(&path, 500, cont.as_deref(), &format!("listing {path}")).await?;
                    let (items, next) = rt.take_page(page);
                    cont = next;
                    for item in items {
                        let at = rt.object_path(objects::namespace(&item), objects::name(&item));
                        f(item, Locator::Live(at))?;
                    }
                    if cont.is_none() {
                        break;
                    }
                }
            }
        }
    }
    Ok(())
}

fn visit_dir(dir: &Path, f: &mut dyn FnMut(Value, Locator) -> Result<()>) -> Result<()> {
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
                flatten(v, f)?;
            }
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Drift {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: BTreeMap<String, Vec<Change>>,
    /// Objects the same on both sides, per namespace (`_`: cluster-scoped).
    #[serde(skip)]
    pub unchanged: BTreeMap<String, usize>,
}

impl Drift {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }

    /// How many objects of `namespace` are the same on both sides.
    pub fn unchanged_in(&self, namespace: &str) -> usize {
        self.unchanged.get(namespace).copied().unwrap_or(0)
    }
}

/// Compares `a` to `b` on what people set (server noise removed). Secret
/// values in changes are redacted; the paths and keys that changed are not.
pub async fn compare(a: &Source, b: &Source) -> Result<Drift> {
    // Keep the side that is cheap to read again; stream the live cluster.
    let swapped = matches!(a, Source::Live(_)) && !matches!(b, Source::Live(_));
    let (kept, streamed) = if swapped { (b, a) } else { (a, b) };
    let mut catalogs = Vec::new();
    let mut index: HashMap<String, (Fingerprint, Locator)> = HashMap::new();
    visit(kept, &mut catalogs, &mut |obj, at| {
        index.insert(key(&obj), (fingerprint(&diff::normalize(&obj)), at));
        Ok(())
    })
    .await?;
    let mut only_streamed = Vec::new();
    let mut unchanged: BTreeMap<String, usize> = BTreeMap::new();
    let mut differing: Vec<(String, Locator, Value)> = Vec::new();
    visit(streamed, &mut catalogs, &mut |obj, _| {
        let k = key(&obj);
        let normalized = diff::normalize(&obj);
        match index.remove(&k) {
            None => only_streamed.push(k),
            Some((print, _)) if print == fingerprint(&normalized) => {
                *unchanged.entry(objects::namespace(&obj).unwrap_or("_").to_string()).or_default() += 1;
            }
            Some((_, at)) => differing.push((k, at, normalized)),
        }
        Ok(())
    })
    .await?;
    let mut only_kept: Vec<String> = index.into_keys().collect();
    only_kept.sort();
    only_streamed.sort();
    let mut drift = Drift::default();
    for (k, at, streamed_obj) in differing {
        let kept_obj = diff::normalize(&read_again(&at, &catalogs, a, b).await?);
        let (from, to) = if swapped { (&streamed_obj, &kept_obj) } else { (&kept_obj, &streamed_obj) };
        let mut changes = diff::diff(from, to);
        for c in &mut changes {
            redact(from, c);
        }
        if !changes.is_empty() {
            drift.changed.insert(k, changes);
        }
    }
    (drift.removed, drift.added) = if swapped { (only_streamed, only_kept) } else { (only_kept, only_streamed) };
    drift.unchanged = unchanged;
    Ok(drift)
}

async fn read_again(at: &Locator, catalogs: &[Catalog], a: &Source, b: &Source) -> Result<Value> {
    match at {
        Locator::Held(obj) => Ok((**obj).clone()),
        Locator::Stored { catalog, entry } => {
            let catalog = catalogs.get(*catalog).ok_or_else(|| Error::Task("catalog of a diff side lost".into()))?;
            catalog.load(entry)
        }
        Locator::Live(path) => {
            let Some(Source::Live(kube)) = [a, b].into_iter().find(|s| matches!(s, Source::Live(_))) else {
                return Err(Error::Task("no live side to read from".into()));
            };
            kube.get(path, &format!("reading {path}")).await
        }
    }
}

/// Secret values are hidden; which fields and keys changed stays visible.
fn redact(obj: &Value, c: &mut Change) {
    match c {
        Change::Added { path, value } | Change::Removed { path, value } => crate::redact::redact_at(obj, path, value),
        Change::Changed { path, old, new } => {
            crate::redact::redact_at(obj, path, old);
            crate::redact::redact_at(obj, path, new);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cm(name: &str, v: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "a", "uid": v}, "data": {"k": v}})
    }

    fn sec(v: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "a"}, "data": {"p": v}})
    }

    #[tokio::test]
    async fn finds_added_removed_changed_and_hides_secret_values() -> Result<()> {
        let list = json!({"apiVersion": "v1", "kind": "List", "items": [cm("n", "1")]});
        let a = Source::Objects(vec![cm("c", "1"), sec("eA=="), cm("old", "1")]);
        let b = Source::Objects(vec![cm("c", "2"), sec("eQ=="), list]);
        let d = compare(&a, &b).await?;
        assert_eq!(d.added, ["core/ConfigMap/a/n"]);
        assert_eq!(d.removed, ["core/ConfigMap/a/old"]);
        assert_eq!(
            d.changed["core/ConfigMap/a/c"],
            [Change::Changed { path: "/data/k".into(), old: json!("1"), new: json!("2") }]
        );
        let s = serde_json::to_string(&d.changed["core/Secret/a/s"]).unwrap_or_default();
        assert!(!s.contains("eA==") && s.contains("redacted"));
        // Which annotation changed is not secret: it shows with its value.
        let mut noted = sec("eA==");
        noted["metadata"]["annotations"] = json!({"team": "shop"});
        let d = compare(&Source::Objects(vec![sec("eA==")]), &Source::Objects(vec![noted])).await?;
        assert_eq!(
            d.changed["core/Secret/a/s"],
            [Change::Added { path: "/metadata/annotations".into(), value: json!({"team": "shop"}) }]
        );
        Ok(())
    }

    #[tokio::test]
    async fn equal_sides_differ_in_nothing_but_server_noise() -> Result<()> {
        let mut noisy = cm("c", "1");
        noisy["metadata"]["resourceVersion"] = json!("42");
        let d = compare(&Source::Objects(vec![cm("c", "1")]), &Source::Objects(vec![noisy])).await?;
        assert!(d.is_empty(), "{d:?}");
        Ok(())
    }
}
