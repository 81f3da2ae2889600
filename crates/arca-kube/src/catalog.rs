//! The backup catalog: a repository tree holding one file per object,
//! laid out by scope, group, resource, namespace and name:
//!
//! ```text
//! cluster/<group|core>/<resource>/<name>.json
//! namespaces/<namespace>/<group|core>/<resource>/<name>.json
//! resources.json    the served types the backup listed (group, version, kind, scope)
//! discovery.json    everything the cluster served at the time (every type, skipped ones
//!                   included, the group versions whose discovery failed, and in
//!                   `served` every version each kind was served at)
//! log               the backup's log, one line per event
//! ```
//!
//! A file's content is the object's JSON as the server returned it. Nothing
//! else varies (no times, no sizes beyond the content's), so an unchanged
//! object, and a directory of unchanged objects, is the same blob in every
//! backup. Reading one object or one namespace loads only the trees on its path.

use std::collections::{BTreeMap, HashMap};

use arca_repo::{Id, Node, NodeKind, Repository, Tree, WriteStats};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::objects::ResourceType;

pub const CLUSTER_DIR: &str = "cluster";
pub const NAMESPACES_DIR: &str = "namespaces";
pub const RESOURCES_FILE: &str = "resources.json";
pub const DISCOVERY_FILE: &str = "discovery.json";
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
        let file = self.file_name();
        match &self.namespace {
            Some(ns) => vec![NAMESPACES_DIR.into(), ns.clone(), group, self.resource.clone(), file],
            None => vec![CLUSTER_DIR.into(), group, self.resource.clone(), file],
        }
    }

    /// The object's file name in its directory.
    pub fn file_name(&self) -> String {
        format!("{}.json", self.name)
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

/// The directory holding the objects of one type in one namespace (or of a
/// cluster-scoped type).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectDir {
    pub namespace: Option<String>,
    pub group: String,
    pub resource: String,
}

impl ObjectDir {
    pub fn of(path: &CatalogPath) -> ObjectDir {
        ObjectDir { namespace: path.namespace.clone(), group: path.group.clone(), resource: path.resource.clone() }
    }

    fn components(&self) -> Vec<String> {
        let mut c = CatalogPath {
            namespace: self.namespace.clone(),
            group: self.group.clone(),
            resource: self.resource.clone(),
            name: String::new(),
        }
        .components();
        c.pop();
        c
    }
}

/// An object file: what a node needs, and no more (open directories can
/// hold many).
struct FileRef {
    content: Vec<Id>,
    size: u64,
}

enum Entry {
    Dir(BTreeMap<String, Entry>),
    File(Box<Node>),
    Saved(Id),
}

/// Writes a catalog as objects arrive. An object directory is saved as a
/// tree as soon as it is closed (lists come in key order, so a type's
/// namespace is complete when the next one starts), and only its id is kept:
/// memory grows with the number of directories, not of objects. A closed
/// directory that gets another object is loaded back and saved again.
pub struct CatalogBuilder {
    repo: Repository,
    open: HashMap<ObjectDir, BTreeMap<String, FileRef>>,
    saved: BTreeMap<ObjectDir, Id>,
    /// Files outside object directories (`resources.json`, `log`, reports).
    other: Vec<(Vec<String>, Node)>,
    pub files: u64,
    /// What flushes made to reopen directories wrote (the run's own final
    /// flush does not count it).
    pub flushed: WriteStats,
}

impl CatalogBuilder {
    pub fn new(repo: &Repository) -> Self {
        CatalogBuilder {
            repo: repo.clone(),
            open: HashMap::new(),
            saved: BTreeMap::new(),
            other: Vec::new(),
            files: 0,
            flushed: WriteStats::default(),
        }
    }

    /// The open directory `dir`, loading it back if it was saved already,
    /// or created when `create`.
    fn open_dir(&mut self, dir: &ObjectDir, create: bool) -> Result<Option<&mut BTreeMap<String, FileRef>>> {
        if !self.open.contains_key(dir) {
            let files = match self.saved.remove(dir) {
                Some(id) => {
                    if !self.repo.is_indexed(&id) {
                        // Saved in this run and still in a pack being written.
                        self.flushed.add(&self.repo.flush()?);
                    }
                    self.repo
                        .load_tree(&id)?
                        .nodes
                        .into_iter()
                        .filter(|n| n.kind == NodeKind::File)
                        .map(|n| (n.name, FileRef { content: n.content, size: n.size }))
                        .collect()
                }
                None if create => BTreeMap::new(),
                None => return Ok(None),
            };
            self.open.insert(dir.clone(), files);
        }
        Ok(self.open.get_mut(dir))
    }

    /// Whether the object at `path` was added already.
    pub fn contains(&mut self, path: &CatalogPath) -> Result<bool> {
        let file = path.file_name();
        Ok(self.open_dir(&ObjectDir::of(path), false)?.is_some_and(|d| d.contains_key(&file)))
    }

    /// Adds an object's file (replacing one at the same path).
    pub fn add_object(&mut self, path: &CatalogPath, content: Vec<Id>, size: u64) -> Result<()> {
        let file = path.file_name();
        let dir = self.open_dir(&ObjectDir::of(path), true)?;
        if dir.is_some_and(|d| d.insert(file, FileRef { content, size }).is_none()) {
            self.files += 1;
        }
        Ok(())
    }

    /// Saves the open directories of a type, except `keep` (the directory a
    /// list is still in). With `keep` `None`, all of them: the list is done.
    pub fn close_type(&mut self, group: &str, resource: &str, keep: Option<&ObjectDir>) -> Result<()> {
        let done: Vec<ObjectDir> = self
            .open
            .keys()
            .filter(|d| d.group == group && d.resource == resource && Some(*d) != keep)
            .cloned()
            .collect();
        for dir in done {
            self.close(dir)?;
        }
        Ok(())
    }

    /// How many directories are open (not yet saved).
    pub fn open_dirs(&self) -> usize {
        self.open.len()
    }

    fn close(&mut self, dir: ObjectDir) -> Result<()> {
        let Some(files) = self.open.remove(&dir) else {
            return Ok(());
        };
        let tree = Tree { nodes: files.into_iter().map(|(name, f)| file_node(&name, f.content, f.size)).collect() };
        let id = self.repo.save_tree(&tree)?;
        self.saved.insert(dir, id);
        Ok(())
    }

    /// Adds a file outside the object directories (at `components`).
    pub fn add(&mut self, components: &[String], node: Node) -> Result<()> {
        if components.is_empty() {
            return Err(Error::Catalog {
                what: "empty path".into(),
                message: "cannot add a file without a name".into(),
            });
        }
        self.other.push((components.to_vec(), node));
        self.files += 1;
        Ok(())
    }

    /// Saves every tree; returns the root tree's id.
    pub fn save(mut self) -> Result<Id> {
        let open: Vec<ObjectDir> = self.open.keys().cloned().collect();
        for dir in open {
            self.close(dir)?;
        }
        let mut root = BTreeMap::new();
        for (dir, id) in std::mem::take(&mut self.saved) {
            insert(&mut root, &dir.components(), Entry::Saved(id))?;
        }
        for (components, node) in std::mem::take(&mut self.other) {
            insert(&mut root, &components, Entry::File(Box::new(node)))?;
        }
        save_dir(&self.repo, root)
    }
}

fn insert(root: &mut BTreeMap<String, Entry>, components: &[String], entry: Entry) -> Result<()> {
    let Some((last, dirs)) = components.split_last() else {
        return Ok(());
    };
    let mut dir = root;
    for d in dirs {
        let e = dir.entry(d.clone()).or_insert_with(|| Entry::Dir(BTreeMap::new()));
        dir = match e {
            Entry::Dir(children) => children,
            _ => {
                return Err(Error::Catalog { what: components.join("/"), message: format!("{d} is not a directory") });
            }
        };
    }
    if dir.insert(last.clone(), entry).is_some() {
        return Err(Error::Catalog { what: components.join("/"), message: "added twice".into() });
    }
    Ok(())
}

fn save_dir(repo: &Repository, dir: BTreeMap<String, Entry>) -> Result<Id> {
    let mut tree = Tree::default();
    for (name, entry) in dir {
        let subtree = match entry {
            Entry::File(mut node) => {
                node.name = name;
                tree.nodes.push(*node);
                continue;
            }
            Entry::Saved(id) => id,
            Entry::Dir(children) => save_dir(repo, children)?,
        };
        tree.nodes.push(Node { name, kind: NodeKind::Dir, mode: 0o700, subtree: Some(subtree), ..Default::default() });
    }
    Ok(repo.save_tree(&tree)?)
}

/// An object's stored bytes as JSON.
fn parse(entry: &CatalogEntry, bytes: &[u8]) -> Result<Value> {
    serde_json::from_slice(bytes)
        .map_err(|e| Error::Catalog { what: entry.path.display(), message: format!("not valid JSON: {e}") })
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
        self.each_scope_tree(scope, |t, ns| self.collect_groups(t, ns, scope, &mut out))?;
        Ok(out)
    }

    /// Calls `f` with the cluster tree (when in scope), then each namespace
    /// tree in scope, in catalog order.
    fn each_scope_tree(&self, scope: &dyn Scope, mut f: impl FnMut(&Tree, Option<&str>) -> Result<()>) -> Result<()> {
        if scope.cluster() {
            if let Some(t) = self.subtree(&self.root, CLUSTER_DIR)? {
                f(&t, None)?;
            }
        }
        if let Some(namespaces) = self.subtree(&self.root, NAMESPACES_DIR)? {
            for ns in namespaces.nodes.iter().filter(|n| scope.namespace(&n.name)) {
                if let Some(t) = self.subtree(&namespaces, &ns.name)? {
                    f(&t, Some(&ns.name))?;
                }
            }
        }
        Ok(())
    }

    /// The object directories in `scope` (cluster first, then by
    /// namespace), each with its tree: what reading one directory at a
    /// time needs, without an entry per object.
    pub fn dirs(&self, scope: &dyn Scope) -> Result<Vec<(ObjectDir, Id)>> {
        let mut out = Vec::new();
        self.each_scope_tree(scope, |t, ns| self.collect_dirs(t, ns, scope, &mut out))?;
        Ok(out)
    }

    fn collect_dirs(
        &self,
        tree: &Tree,
        ns: Option<&str>,
        scope: &dyn Scope,
        out: &mut Vec<(ObjectDir, Id)>,
    ) -> Result<()> {
        for g in &tree.nodes {
            let group = if g.name == CORE_GROUP { "" } else { g.name.as_str() };
            let Some(gt) = self.subtree(tree, &g.name)? else {
                continue;
            };
            for r in gt.nodes.iter().filter(|r| scope.resource(group, &r.name)) {
                if let (true, Some(id)) = (r.kind == NodeKind::Dir, r.subtree) {
                    let dir = ObjectDir {
                        namespace: ns.map(String::from),
                        group: group.to_string(),
                        resource: r.name.clone(),
                    };
                    out.push((dir, id));
                }
            }
        }
        Ok(())
    }

    /// The objects of one directory (its tree from [`Catalog::dirs`]), by name.
    pub fn dir_entries(&self, dir: &ObjectDir, tree: &Id) -> Result<Vec<CatalogEntry>> {
        let listing = self.repo.load_tree(tree)?;
        Ok(listing
            .nodes
            .into_iter()
            .filter(|f| f.kind == NodeKind::File)
            .filter_map(|f| {
                let name = f.name.strip_suffix(".json")?.to_string();
                let path = CatalogPath {
                    namespace: dir.namespace.clone(),
                    group: dir.group.clone(),
                    resource: dir.resource.clone(),
                    name,
                };
                Some(CatalogEntry { path, content: f.content, size: f.size })
            })
            .collect())
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
        parse(entry, &self.read_bytes(&entry.content)?)
    }

    /// Loads many objects in storage order (neighbouring objects in one
    /// read, packs in parallel) and hands each to `f`, from several threads,
    /// in no particular order.
    pub fn load_each<F>(&self, entries: &[CatalogEntry], f: F) -> Result<()>
    where
        F: Fn(&CatalogEntry, Value) -> Result<()> + Sync,
    {
        let (single, several): (Vec<&CatalogEntry>, Vec<&CatalogEntry>) =
            entries.iter().partition(|e| e.content.len() == 1);
        let mut by_blob: HashMap<Id, Vec<&CatalogEntry>> = HashMap::new();
        for e in single {
            by_blob.entry(e.content[0]).or_default().push(e);
        }
        let ids: Vec<Id> = by_blob.keys().copied().collect();
        self.repo.for_each_blob_in_pack_order(&ids, |id, bytes| {
            by_blob.get(id).into_iter().flatten().try_for_each(|e| f(e, parse(e, &bytes)?))
        })?;
        several.into_iter().try_for_each(|e| f(e, self.load(e)?))
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

    /// What the cluster served when the backup ran (`None` for backups
    /// made before it was recorded).
    pub fn discovery(&self) -> Result<Option<crate::discover::Discovery>> {
        let Some(node) = self.root.find(DISCOVERY_FILE) else {
            return Ok(None);
        };
        let bytes = self.read_bytes(&node.content)?;
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::Catalog { what: DISCOVERY_FILE.into(), message: e.to_string() })
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

    use crate::test_repo::repo;

    fn at(ns: Option<&str>, resource: &str, name: &str) -> CatalogPath {
        CatalogPath {
            namespace: ns.map(String::from),
            group: String::new(),
            resource: resource.into(),
            name: name.into(),
        }
    }

    fn names(catalog: &Catalog) -> anyhow::Result<Vec<String>> {
        Ok(catalog.entries(&All)?.into_iter().map(|e| e.path.display()).collect())
    }

    /// Directories closed early and reopened later give the same catalog as
    /// one built in a single pass; nothing is lost or doubled.
    #[test]
    fn closed_directories_reopen_and_match_a_single_pass() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let repo = repo(dir.path())?;
        let blob = repo.save_blob(arca_repo::BlobType::Data, b"{}")?;
        let objects =
            [at(Some("a"), "configmaps", "x"), at(Some("a"), "configmaps", "y"), at(Some("b"), "configmaps", "z")];
        let mut streamed = CatalogBuilder::new(&repo);
        streamed.add_object(&objects[0], vec![blob], 2)?;
        streamed.close_type("", "configmaps", Some(&ObjectDir::of(&objects[2])))?;
        assert_eq!(streamed.open_dirs(), 0, "namespace a is closed");
        let role = at(None, "clusterroles", "r");
        streamed.add_object(&role, vec![blob], 2)?;
        streamed.close_type("", "clusterroles", Some(&ObjectDir::of(&role)))?;
        assert_eq!(streamed.open_dirs(), 1, "a cluster-scoped list still under way stays open");
        streamed.close_type("", "clusterroles", None)?;
        assert_eq!(streamed.open_dirs(), 0);
        streamed.add_object(&objects[2], vec![blob], 2)?;
        assert!(streamed.contains(&objects[0])?, "a closed directory still answers");
        assert!(!streamed.contains(&at(Some("c"), "configmaps", "q"))?);
        streamed.add_object(&objects[1], vec![blob], 2)?;
        streamed.add_object(&objects[1], vec![blob], 2)?;
        streamed.add(&[LOG_FILE.to_string()], file_node("", vec![blob], 2))?;
        let mut single = CatalogBuilder::new(&repo);
        for o in &objects {
            single.add_object(o, vec![blob], 2)?;
        }
        single.add(&[LOG_FILE.to_string()], file_node("", vec![blob], 2))?;
        single.add_object(&role, vec![blob], 2)?;
        assert_eq!(streamed.files, 5);
        let (a, b) = (streamed.save()?, single.save()?);
        assert_eq!(a, b, "same trees, same root");
        repo.flush()?;
        let catalog = Catalog::open(&repo, &a)?;
        assert_eq!(
            names(&catalog)?,
            [
                "cluster/core/clusterroles/r.json",
                "namespaces/a/core/configmaps/x.json",
                "namespaces/a/core/configmaps/y.json",
                "namespaces/b/core/configmaps/z.json"
            ]
        );
        assert!(catalog.namespaces()?.iter().all(|n| n != "c"), "asking creates no directory");
        Ok(())
    }

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
