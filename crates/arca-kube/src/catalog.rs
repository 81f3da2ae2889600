//! The backup catalog: a repository tree holding one file per object,
//! laid out by scope, group, resource, namespace and name:
//!
//! ```text
//! cluster/<group|core>/<resource>/<name>.json
//! namespaces/<namespace>/<group|core>/<resource>/<name>.json
//! resources.json    the served types the backup listed (group, version, kind, scope)
//! log               the backup's log, one line per event
//! ```
//!
//! A file's content is the object's JSON as the server returned it. Nothing
//! else varies (no times, no sizes beyond the content's), so an unchanged
//! object, and a directory of unchanged objects, is the same blob in every
//! backup. Reading one object or one namespace loads only the trees on its path.

use std::collections::BTreeMap;

use arca_repo::{Id, Node, NodeKind, Repository, Tree};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::objects::ResourceType;

pub const CLUSTER_DIR: &str = "cluster";
pub const NAMESPACES_DIR: &str = "namespaces";
pub const RESOURCES_FILE: &str = "resources.json";
pub const LOG_FILE: &str = "log";
/// Directory name of the core (`""`) group.
pub const CORE_GROUP: &str = "core";

/// Where one object lives in the catalog.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CatalogPath {
    pub namespace: Option<String>,
    pub group: String,
    pub resource: String,
    pub name: String,
}

impl CatalogPath {
    pub fn components(&self) -> Vec<String> {
        let group = if self.group.is_empty() { CORE_GROUP.to_string() } else { self.group.clone() };
        let file = format!("{}.json", self.name);
        match &self.namespace {
            Some(ns) => vec![NAMESPACES_DIR.into(), ns.clone(), group, self.resource.clone(), file],
            None => vec![CLUSTER_DIR.into(), group, self.resource.clone(), file],
        }
    }

    pub fn parse(components: &[String]) -> Option<CatalogPath> {
        let (namespace, rest) = match components.first()?.as_str() {
            NAMESPACES_DIR => (Some(components.get(1)?.clone()), components.get(2..)?),
            CLUSTER_DIR => (None, components.get(1..)?),
            _ => return None,
        };
        let [group, resource, file] = rest else {
            return None;
        };
        let group = if group == CORE_GROUP { String::new() } else { group.clone() };
        Some(CatalogPath {
            namespace,
            group,
            resource: resource.clone(),
            name: file.strip_suffix(".json")?.to_string(),
        })
    }

    pub fn display(&self) -> String {
        self.components().join("/")
    }
}

/// A node that holds bytes stored as data blobs.
pub fn file_node(name: &str, content: Vec<Id>, size: u64) -> Node {
    Node { name: name.to_string(), kind: NodeKind::File, mode: 0o600, size, content, ..Default::default() }
}

enum Entry {
    Dir(BTreeMap<String, Entry>),
    File(Box<Node>),
}

/// Collects file nodes by path, then saves the trees bottom-up. Holds one
/// small node per object, never object contents.
#[derive(Default)]
pub struct CatalogBuilder {
    root: BTreeMap<String, Entry>,
    pub files: u64,
}

impl CatalogBuilder {
    pub fn add(&mut self, components: &[String], node: Node) -> Result<()> {
        let Some((file, dirs)) = components.split_last() else {
            return Err(Error::Catalog {
                what: "empty path".into(),
                message: "cannot add a file without a name".into(),
            });
        };
        let mut dir = &mut self.root;
        for d in dirs {
            let entry = dir.entry(d.clone()).or_insert_with(|| Entry::Dir(BTreeMap::new()));
            dir = match entry {
                Entry::Dir(children) => children,
                Entry::File(_) => {
                    return Err(Error::Catalog { what: components.join("/"), message: format!("{d} is a file") });
                }
            };
        }
        let mut node = node;
        node.name = file.clone();
        dir.insert(file.clone(), Entry::File(Box::new(node)));
        self.files += 1;
        Ok(())
    }

    /// Saves every tree; returns the root tree's id.
    pub fn save(self, repo: &Repository) -> Result<Id> {
        save_dir(repo, self.root)
    }
}

fn save_dir(repo: &Repository, dir: BTreeMap<String, Entry>) -> Result<Id> {
    let mut tree = Tree::default();
    for (name, entry) in dir {
        tree.nodes.push(match entry {
            Entry::File(node) => *node,
            Entry::Dir(children) => {
                let subtree = save_dir(repo, children)?;
                Node { name, kind: NodeKind::Dir, mode: 0o700, subtree: Some(subtree), ..Default::default() }
            }
        });
    }
    Ok(repo.save_tree(&tree)?)
}

/// One object in a catalog.
#[derive(Debug, Clone)]
pub struct CatalogEntry {
    pub path: CatalogPath,
    pub content: Vec<Id>,
    pub size: u64,
}

/// Which parts of a catalog to read.
pub trait Scope {
    fn namespace(&self, _ns: &str) -> bool {
        true
    }
    fn cluster(&self) -> bool {
        true
    }
    fn resource(&self, _group: &str, _resource: &str) -> bool {
        true
    }
}

/// Everything.
pub struct All;
impl Scope for All {}

/// Reads a backup's catalog.
pub struct Catalog {
    repo: Repository,
    root: Tree,
}

impl Catalog {
    pub fn open(repo: &Repository, tree: &Id) -> Result<Catalog> {
        Ok(Catalog { repo: repo.clone(), root: repo.load_tree(tree)? })
    }

    pub fn repo(&self) -> &Repository {
        &self.repo
    }

    fn subtree(&self, tree: &Tree, name: &str) -> Result<Option<Tree>> {
        match tree.find(name) {
            Some(Node { kind: NodeKind::Dir, subtree: Some(id), .. }) => Ok(Some(self.repo.load_tree(id)?)),
            _ => Ok(None),
        }
    }

    /// The objects in `scope`, in catalog order (cluster first, then by namespace).
    pub fn entries(&self, scope: &dyn Scope) -> Result<Vec<CatalogEntry>> {
        let mut out = Vec::new();
        if scope.cluster() {
            if let Some(t) = self.subtree(&self.root, CLUSTER_DIR)? {
                self.collect_groups(&t, None, scope, &mut out)?;
            }
        }
        if let Some(namespaces) = self.subtree(&self.root, NAMESPACES_DIR)? {
            for ns in namespaces.nodes.iter().filter(|n| scope.namespace(&n.name)) {
                if let Some(t) = self.subtree(&namespaces, &ns.name)? {
                    self.collect_groups(&t, Some(&ns.name), scope, &mut out)?;
                }
            }
        }
        Ok(out)
    }

    /// Namespaces in the backup.
    pub fn namespaces(&self) -> Result<Vec<String>> {
        Ok(self
            .subtree(&self.root, NAMESPACES_DIR)?
            .map(|t| t.nodes.into_iter().map(|n| n.name).collect())
            .unwrap_or_default())
    }

    fn collect_groups(
        &self,
        tree: &Tree,
        ns: Option<&str>,
        scope: &dyn Scope,
        out: &mut Vec<CatalogEntry>,
    ) -> Result<()> {
        for g in &tree.nodes {
            let group = if g.name == CORE_GROUP { "" } else { g.name.as_str() };
            let Some(gt) = self.subtree(tree, &g.name)? else {
                continue;
            };
            for r in gt.nodes.iter().filter(|r| scope.resource(group, &r.name)) {
                let Some(rt) = self.subtree(&gt, &r.name)? else {
                    continue;
                };
                for f in rt.nodes.iter().filter(|f| f.kind == NodeKind::File) {
                    let Some(name) = f.name.strip_suffix(".json") else {
                        continue;
                    };
                    out.push(CatalogEntry {
                        path: CatalogPath {
                            namespace: ns.map(String::from),
                            group: group.to_string(),
                            resource: r.name.clone(),
                            name: name.to_string(),
                        },
                        content: f.content.clone(),
                        size: f.size,
                    });
                }
            }
        }
        Ok(())
    }

    /// Finds one object by path, reading only the trees on its way.
    pub fn find(&self, path: &CatalogPath) -> Result<Option<CatalogEntry>> {
        let comps = path.components();
        let Some((file, dirs)) = comps.split_last() else {
            return Ok(None);
        };
        let mut tree = self.root.clone();
        for d in dirs {
            match self.subtree(&tree, d)? {
                Some(t) => tree = t,
                None => return Ok(None),
            }
        }
        Ok(tree.find(file).map(|n| CatalogEntry { path: path.clone(), content: n.content.clone(), size: n.size }))
    }

    pub fn read_bytes(&self, content: &[Id]) -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        for id in content {
            bytes.extend(self.repo.load_blob(id)?);
        }
        Ok(bytes)
    }

    /// Loads one object.
    pub fn load(&self, entry: &CatalogEntry) -> Result<Value> {
        let bytes = self.read_bytes(&entry.content)?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::Catalog { what: entry.path.display(), message: format!("not valid JSON: {e}") })
    }

    /// The resource types the backup listed.
    pub fn resources(&self) -> Result<Vec<ResourceType>> {
        let Some(node) = self.root.find(RESOURCES_FILE) else {
            return Ok(Vec::new());
        };
        let bytes = self.read_bytes(&node.content)?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::Catalog { what: RESOURCES_FILE.into(), message: e.to_string() })
    }

    /// The backup's log text.
    pub fn log(&self) -> Result<String> {
        let Some(node) = self.root.find(LOG_FILE) else {
            return Ok(String::new());
        };
        Ok(String::from_utf8_lossy(&self.read_bytes(&node.content)?).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_round_trip() {
        let p = CatalogPath {
            namespace: Some("app".into()),
            group: String::new(),
            resource: "secrets".into(),
            name: "db".into(),
        };
        assert_eq!(p.display(), "namespaces/app/core/secrets/db.json");
        assert_eq!(CatalogPath::parse(&p.components()), Some(p));
        let c = CatalogPath {
            namespace: None,
            group: "rbac.authorization.k8s.io".into(),
            resource: "clusterroles".into(),
            name: "system:x".into(),
        };
        assert_eq!(c.display(), "cluster/rbac.authorization.k8s.io/clusterroles/system:x.json");
        assert_eq!(CatalogPath::parse(&c.components()), Some(c));
        assert_eq!(CatalogPath::parse(&["other".to_string()]), None);
    }
}
