//! Owners before what they own, without a fact per object. The first pass
//! over the backup keeps only the restorable objects that name owners
//! (their references and where they are stored); their owners are then read
//! by path — an owner reference names kind and name, and an object's owners
//! are in its namespace or cluster-scoped — to learn which are restored
//! too. Objects with a restored owner are restored after every object
//! without one, by depth (an owner's owner first); everything else keeps
//! its place in the priority order.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use crate::catalog::{CatalogEntry, CatalogPath};
use crate::objects::{self, split_api_version};

/// Deeper chains are cut (and an ownership cycle cannot loop).
const MAX_DEPTH: usize = 16;

/// An owner reference, as far as ordering needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerRef {
    pub uid: String,
    pub group: String,
    pub kind: String,
    pub name: String,
}

/// The owner references (with a uid) of an object.
pub fn owner_refs(obj: &Value) -> Vec<OwnerRef> {
    let refs = obj.pointer("/metadata/ownerReferences").and_then(Value::as_array);
    refs.into_iter()
        .flatten()
        .filter_map(|r| {
            let (group, _) = split_api_version(objects::str_at(r, "/apiVersion").unwrap_or_default());
            Some(OwnerRef {
                uid: objects::str_at(r, "/uid")?.to_string(),
                group: group.to_string(),
                kind: objects::str_at(r, "/kind")?.to_string(),
                name: objects::str_at(r, "/name")?.to_string(),
            })
        })
        .collect()
}

/// A restorable object that names owners.
struct Owned {
    entry: CatalogEntry,
    uid: Option<String>,
    rank: usize,
    refs: Vec<OwnerRef>,
}

/// An object restored after the others: its depth, rank and where it is.
#[derive(Debug, Clone)]
pub struct Later {
    pub depth: usize,
    pub rank: usize,
    pub entry: CatalogEntry,
}

/// What ordering by ownership needs, collected in the first pass.
#[derive(Default)]
pub struct Ownership {
    owned: Vec<Owned>,
    /// Uids some restorable object names as its owner.
    wanted: HashSet<String>,
    /// Of those, the ones whose object is restored.
    restored: HashSet<String>,
    depths: HashMap<CatalogPath, usize>,
    later: Vec<Later>,
}

impl Ownership {
    /// Notes a restorable object with owner references.
    pub fn note(&mut self, entry: &CatalogEntry, uid: Option<&str>, rank: usize, refs: Vec<OwnerRef>) {
        if refs.is_empty() {
            return;
        }
        self.wanted.extend(refs.iter().map(|r| r.uid.clone()));
        self.owned.push(Owned { entry: entry.clone(), uid: uid.map(String::from), rank, refs });
    }

    /// Where the named owners are stored, given a lookup of a type by group
    /// and kind (its resource, and whether it is namespaced).
    pub fn owner_paths(&self, locate: impl Fn(&str, &str) -> Option<(String, bool)>) -> Vec<CatalogPath> {
        let mut paths: Vec<CatalogPath> = self
            .owned
            .iter()
            .flat_map(|o| o.refs.iter().map(move |r| (o, r)))
            .filter_map(|(o, r)| {
                let (resource, namespaced) = locate(&r.group, &r.kind)?;
                Some(CatalogPath {
                    namespace: if namespaced { o.entry.path.namespace.clone() } else { None },
                    group: r.group.clone(),
                    resource,
                    name: r.name.clone(),
                })
            })
            .collect();
        paths.sort();
        paths.dedup();
        paths
    }

    /// Whether some restorable object names `uid` as its owner.
    pub fn is_wanted(&self, uid: &str) -> bool {
        self.wanted.contains(uid)
    }

    /// Records that the object with `uid` is restored.
    pub fn restored(&mut self, uid: &str) {
        if self.wanted.contains(uid) {
            self.restored.insert(uid.to_string());
        }
    }

    /// Orders the owned objects once their owners are known; keeps only
    /// the ones restored later (depth > 0).
    pub fn order(&mut self) {
        let index: HashMap<&str, usize> =
            self.owned.iter().enumerate().filter_map(|(n, o)| Some((o.uid.as_deref()?, n))).collect();
        let mut depth = vec![0usize; self.owned.len()];
        for _ in 0..MAX_DEPTH {
            let mut changed = false;
            for n in 0..self.owned.len() {
                let d = self.owned[n]
                    .refs
                    .iter()
                    .filter(|r| self.restored.contains(&r.uid))
                    .map(|r| index.get(r.uid.as_str()).map_or(0, |&o| depth[o]) + 1)
                    .max()
                    .unwrap_or(0);
                if d > depth[n] && d < MAX_DEPTH {
                    depth[n] = d;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        let owned = std::mem::take(&mut self.owned);
        for (o, d) in owned.into_iter().zip(depth).filter(|(_, d)| *d > 0) {
            self.depths.insert(o.entry.path.clone(), d);
            self.later.push(Later { depth: d, rank: o.rank, entry: o.entry });
        }
        self.later.sort_by(|a, b| {
            let key = |l: &Later| (l.depth, l.rank, l.entry.path.namespace.clone(), l.entry.path.clone());
            key(a).cmp(&key(b))
        });
        self.wanted = HashSet::new();
    }

    /// The owner uids whose objects are restored.
    pub fn restored_owners(&self) -> &HashSet<String> {
        &self.restored
    }

    /// 0 for objects restored in priority order, else their depth.
    pub fn depth(&self, path: &CatalogPath) -> usize {
        self.depths.get(path).copied().unwrap_or(0)
    }

    /// The objects restored after the others, in order.
    pub fn later(&self) -> &[Later] {
        &self.later
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(name: &str) -> CatalogEntry {
        CatalogEntry {
            path: CatalogPath {
                namespace: Some("a".into()),
                group: "apps".into(),
                resource: "replicasets".into(),
                name: name.into(),
            },
            content: vec![],
            size: 0,
        }
    }

    fn refs(uid: &str, kind: &str, name: &str) -> Vec<OwnerRef> {
        vec![OwnerRef { uid: uid.into(), group: "apps".into(), kind: kind.into(), name: name.into() }]
    }

    #[test]
    fn reads_owner_references_with_uids() {
        let obj = json!({"metadata": {"ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": "u1"},
            {"apiVersion": "v1", "kind": "ConfigMap", "name": "no-uid"}]}});
        assert_eq!(owner_refs(&obj), refs("u1", "ReplicaSet", "web"));
        assert!(owner_refs(&json!({"metadata": {}})).is_empty());
    }

    /// A chain of restored owners gives depths 1 and 2; an object whose
    /// owner is not restored keeps its place (depth 0, not kept).
    #[test]
    fn depth_follows_restored_owners_only() {
        let mut o = Ownership::default();
        o.note(&entry("rs"), Some("u-rs"), 3, refs("u-d", "Deployment", "web"));
        o.note(&entry("child"), Some("u-c"), 1, refs("u-rs", "ReplicaSet", "rs"));
        o.note(&entry("orphan"), Some("u-o"), 1, refs("u-gone", "Deployment", "gone"));
        let located = |_: &str, kind: &str| (kind == "Deployment").then(|| ("deployments".to_string(), true));
        let paths: Vec<String> = o.owner_paths(located).iter().map(CatalogPath::display).collect();
        assert_eq!(paths, ["namespaces/a/apps/deployments/gone.json", "namespaces/a/apps/deployments/web.json"]);
        assert!(o.is_wanted("u-d") && !o.is_wanted("u-x"));
        o.restored("u-d");
        o.restored("u-rs");
        o.restored("u-x");
        o.order();
        assert_eq!(o.depth(&entry("rs").path), 1);
        assert_eq!(o.depth(&entry("child").path), 2);
        assert_eq!(o.depth(&entry("orphan").path), 0);
        let later: Vec<(usize, &str)> = o.later().iter().map(|l| (l.depth, l.entry.path.name.as_str())).collect();
        assert_eq!(later, [(1, "rs"), (2, "child")]);
        assert!(!o.restored_owners().contains("u-x"), "only named owners are remembered");
    }

    #[test]
    fn an_ownership_cycle_ends() {
        let mut o = Ownership::default();
        o.note(&entry("x"), Some("u-x"), 0, refs("u-y", "ReplicaSet", "y"));
        o.note(&entry("y"), Some("u-y"), 0, refs("u-x", "ReplicaSet", "x"));
        o.restored("u-x");
        o.restored("u-y");
        o.order();
        assert!(o.depth(&entry("x").path) < MAX_DEPTH);
    }
}
