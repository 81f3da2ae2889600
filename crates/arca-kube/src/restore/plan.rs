//! Restore planning, pure: which backed-up objects to restore, which to skip
//! and why, in which order, and how each is transformed (sanitizers,
//! mappings, modifiers, owner references). No IO: objects are handed in.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use arca_repo::Id;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::catalog::{CatalogEntry, CatalogPath, ObjectDir};
use crate::closure::{Closure, cluster_visit_rank};
use crate::error::{Error, Result};
use crate::filter::{ClusterMode, Filter, FilterSpec, names_type};
use crate::objects::{self, ResourceType, group_resource, split_api_version};
use crate::restore::managed;
use crate::restore::mapping::Mappings;
use crate::restore::modifiers::Modifiers;
use crate::restore::owners::{Later, Ownership, owner_refs};
use crate::restore::priority::{self, DEFAULT_PRIORITIES};
use crate::restore::sanitize::{self, SanitizeOptions};

/// A `--item TYPE/NAMESPACE/NAME` (or `TYPE/NAME` for cluster-scoped).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemRef {
    pub resource: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl std::str::FromStr for ItemRef {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let parts: Vec<&str> = s.split('/').collect();
        match parts.as_slice() {
            [r, ns, n] if !r.is_empty() && !ns.is_empty() && !n.is_empty() => {
                Ok(ItemRef { resource: r.to_string(), namespace: Some(ns.to_string()), name: n.to_string() })
            }
            [r, n] if !r.is_empty() && !n.is_empty() => {
                Ok(ItemRef { resource: r.to_string(), namespace: None, name: n.to_string() })
            }
            _ => Err(Error::invalid(
                "--item",
                format!("{s:?} is not TYPE/NAMESPACE/NAME or TYPE/NAME (e.g. secret/shop/db)"),
            )),
        }
    }
}

/// What the planner needs to know.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PlanOptions {
    pub filter: FilterSpec,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<ItemRef>,
    #[serde(default)]
    pub mappings: Mappings,
    /// Replaces the head of the priority table when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priorities: Option<Vec<String>>,
    #[serde(default)]
    pub restore_status: bool,
    #[serde(default)]
    pub preserve_node_ports: bool,
    /// Restore what the target cluster manages itself too ([`managed`]).
    #[serde(default)]
    pub include_cluster_managed: bool,
}

/// One object of the plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlanItem {
    #[serde(skip)]
    pub source: CatalogPath,
    #[serde(skip)]
    pub content: Vec<Id>,
    pub group: String,
    pub version: String,
    pub kind: String,
    pub resource: String,
    pub namespaced: bool,
    /// Namespace in the backup.
    pub source_namespace: Option<String>,
    /// Namespace it is restored into (after mapping).
    pub namespace: Option<String>,
    pub name: String,
    #[serde(skip)]
    pub backup_uid: Option<String>,
    /// Uids (in the backup) of owners that are restored too.
    #[serde(skip)]
    pub owners: Vec<String>,
    pub rank: usize,
    pub depth: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip: Option<String>,
    /// Why the closure pulled this cluster-scoped object in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub included_because: Option<String>,
}

impl PlanItem {
    pub fn group_resource(&self) -> String {
        group_resource(&self.group, &self.resource)
    }

    /// `kind/namespace/name` as restored.
    pub fn display(&self) -> String {
        objects::describe(&self.kind, self.namespace.as_deref(), &self.name)
    }

    pub fn resource_type(&self) -> ResourceType {
        ResourceType {
            group: self.group.clone(),
            version: self.version.clone(),
            resource: self.resource.clone(),
            kind: self.kind.clone(),
            namespaced: self.namespaced,
            verbs: vec![],
            short_names: vec![],
            singular: String::new(),
            has_status: false,
        }
    }
}

/// The ordered plan.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    pub items: Vec<PlanItem>,
}

impl Plan {
    /// PV names restored by this plan.
    pub fn restored_pvs(&self) -> BTreeSet<String> {
        self.items
            .iter()
            .filter(|i| i.skip.is_none() && i.group.is_empty() && i.resource == "persistentvolumes")
            .map(|i| i.name.clone())
            .collect()
    }

    /// Target namespaces of restored namespaced objects.
    pub fn target_namespaces(&self) -> BTreeSet<String> {
        self.items.iter().filter(|i| i.skip.is_none()).filter_map(|i| i.namespace.clone()).collect()
    }
}

/// A restore's plan, made in passes over the backup so that nothing is kept
/// per object:
///
/// 1. [`Planner::observe`] every object in the backup's scope, namespaced
///    ones first (the closure of cluster-scoped objects depends on them):
///    the closure, the restored volumes and target namespaces, and the
///    restorable objects that name owners ([`Ownership`]);
/// 2. [`Planner::owner_paths`] names where those owners are stored;
///    [`Planner::observe_owner`] each of them, then [`Planner::order_owned`];
/// 3. restore [`Planner::groups`] in order (one priority rank each), turning
///    each object into a [`PlanItem`] with [`Planner::item`] as it is read,
///    leaving out the [`Planner::is_later`] ones, then the
///    [`Planner::later`] ones (owned by restored objects) by depth.
pub struct Planner {
    opts: PlanOptions,
    filter: Filter,
    types: HashMap<String, ResourceType>,
    /// (group, kind) → group-resource, to find owners by their references.
    kinds: HashMap<(String, String), String>,
    custom: BTreeSet<String>,
    table: Vec<String>,
    closure: Closure,
    restored_pvs: BTreeSet<String>,
    target_namespaces: BTreeSet<String>,
    ownership: Ownership,
}

/// Object directories restored together: one priority rank.
#[derive(Debug, Clone)]
pub struct Group<T> {
    pub rank: usize,
    pub dirs: Vec<(ObjectDir, T)>,
}

const NAMESPACES: &str = "namespaces";

impl Planner {
    pub fn new(opts: PlanOptions, types: Vec<ResourceType>) -> Result<Planner> {
        let filter = Filter::new(opts.filter.clone())?;
        let table =
            opts.priorities.clone().unwrap_or_else(|| DEFAULT_PRIORITIES.iter().map(|s| s.to_string()).collect());
        let kinds = types.iter().map(|t| ((t.group.clone(), t.kind.clone()), t.group_resource())).collect();
        let types = types.into_iter().map(|t| (t.group_resource(), t)).collect();
        Ok(Planner {
            opts,
            filter,
            types,
            kinds,
            custom: BTreeSet::new(),
            table,
            closure: Closure::default(),
            restored_pvs: BTreeSet::new(),
            target_namespaces: BTreeSet::new(),
            ownership: Ownership::default(),
        })
    }

    /// Declares the CRDs present in the backup (`resource.group` names), so
    /// their resources rank as custom even in `k8s.io` groups.
    pub fn set_custom(&mut self, crd_names: impl IntoIterator<Item = String>) {
        self.custom.extend(crd_names);
    }

    /// Whether entries of this namespace can matter (to read less).
    pub fn wants_namespace(&self, ns: &str) -> bool {
        if !self.opts.items.is_empty() {
            return self.opts.items.iter().any(|i| i.namespace.as_deref() == Some(ns));
        }
        self.filter.namespace_included(ns)
    }

    fn resource_type(&self, entry: &CatalogEntry, obj: &Value) -> ResourceType {
        let gr = group_resource(&entry.path.group, &entry.path.resource);
        let (_, version) = split_api_version(objects::str_at(obj, "/apiVersion").unwrap_or_default());
        let mut rt = self.types.get(&gr).cloned().unwrap_or_else(|| ResourceType {
            group: entry.path.group.clone(),
            version: version.to_string(),
            resource: entry.path.resource.clone(),
            kind: objects::kind(obj).to_string(),
            namespaced: entry.path.namespace.is_some(),
            verbs: vec![],
            short_names: vec![],
            singular: String::new(),
            has_status: false,
        });
        if !version.is_empty() {
            rt.version = version.to_string();
        }
        rt
    }

    fn selected(&self, rt: &ResourceType, obj: &Value) -> Option<Option<String>> {
        let ns = objects::namespace(obj);
        let name = objects::name(obj);
        if !self.opts.items.is_empty() {
            let named = self.opts.items.iter().any(|i| {
                names_type(&i.resource, rt) && i.name == name && i.namespace.as_deref() == ns.filter(|_| rt.namespaced)
            });
            if named {
                return Some(None);
            }
            let is_ns = rt.group.is_empty() && rt.resource == NAMESPACES;
            return if is_ns { self.closure.reason_for(rt, obj).map(Some) } else { None };
        }
        if rt.namespaced {
            let ok = ns.is_some_and(|n| self.filter.namespace_included(n))
                && self.filter.type_included(rt)
                && self.filter.object_selected(obj);
            return ok.then_some(None);
        }
        if rt.group.is_empty() && rt.resource == NAMESPACES {
            if !self.filter.namespace_included(name) {
                return None;
            }
            if !self.filter.has_selector() {
                return Some(None);
            }
            return self.closure.reason_for(rt, obj).map(Some);
        }
        if !self.filter.type_included(rt) {
            return None;
        }
        match self.filter.cluster_mode() {
            ClusterMode::Everything => self.filter.object_selected(obj).then_some(None),
            ClusterMode::Nothing => None,
            ClusterMode::ClosureOnly => self.closure.reason_for(rt, obj).map(Some),
        }
    }

    /// Why a selected object is reported rather than restored, if it is.
    fn skip_reason(&self, rt: &ResourceType, obj: &Value) -> Option<String> {
        sanitize::skip_reason(&rt.group, &rt.kind, obj)
            .or_else(|| self.cluster_managed(rt, obj))
            .or_else(|| self.mapped_volume(rt, obj))
            .or_else(|| self.mapped_arca_object(rt, obj))
    }

    /// Arca's BackupLocations and Schedules are not cloned into a renamed
    /// namespace: a second location on the same repository would get the
    /// repository's Backups synced into the clone, and deleting the clone
    /// would forget their snapshots; a cloned Schedule would make backups.
    fn mapped_arca_object(&self, rt: &ResourceType, obj: &Value) -> Option<String> {
        if rt.group != "arca.io" || !matches!(rt.kind.as_str(), "BackupLocation" | "Schedule") {
            return None;
        }
        let from = objects::namespace(obj)?;
        let to = self.opts.mappings.namespace(from);
        (to != from).then(|| {
            format!(
                "{} not restored into renamed namespace {to}: it would act on the repository of {from} \
                 (restore it without a namespace mapping to bring it back)",
                rt.kind
            )
        })
    }

    /// Position of a type in the restore order.
    pub fn rank(&self, group: &str, resource: &str) -> usize {
        let custom = |g: &str| self.custom.contains(g);
        priority::rank(&self.table, group, &group_resource(group, resource), &custom)
    }

    /// Whether a group of this rank waits until the owned objects are in
    /// (admission and APIServices: [`priority`]).
    pub fn is_tail(&self, rank: usize) -> bool {
        priority::is_tail_rank(&self.table, rank)
    }

    /// Pass 1: considers one backed-up object (namespaced ones first).
    pub fn observe(&mut self, entry: &CatalogEntry, obj: &Value) {
        let rt = self.resource_type(entry, obj);
        if self.selected(&rt, obj).is_none() {
            return;
        }
        self.closure.observe(&rt, obj);
        if self.skip_reason(&rt, obj).is_some() {
            return;
        }
        if let Some(ns) = objects::namespace(obj).filter(|_| rt.namespaced) {
            self.target_namespaces.insert(self.opts.mappings.namespace(ns).to_string());
        }
        if rt.group.is_empty() && rt.resource == "persistentvolumes" {
            self.restored_pvs.insert(objects::name(obj).to_string());
        }
        let rank = self.rank(&rt.group, &rt.resource);
        self.ownership.note(entry, objects::uid(obj), rank, owner_refs(obj));
    }

    /// Pass 2: where the owners named by restorable objects are stored.
    pub fn owner_paths(&self) -> Vec<CatalogPath> {
        self.ownership.owner_paths(|group, kind| {
            let gr = self.kinds.get(&(group.to_string(), kind.to_string()))?;
            let rt = self.types.get(gr)?;
            Some((rt.resource.clone(), rt.namespaced))
        })
    }

    /// Pass 2: an object found at one of [`Planner::owner_paths`].
    pub fn observe_owner(&mut self, entry: &CatalogEntry, obj: &Value) {
        let Some(uid) = objects::uid(obj).filter(|u| self.ownership.is_wanted(u)) else {
            return;
        };
        let rt = self.resource_type(entry, obj);
        if self.selected(&rt, obj).is_some() && self.skip_reason(&rt, obj).is_none() {
            let uid = uid.to_string();
            self.ownership.restored(&uid);
        }
    }

    /// Ends pass 2: objects owned by restored objects go after the others.
    pub fn order_owned(&mut self) {
        self.ownership.order();
    }

    /// The object directories in restore order, one group per rank (types
    /// by name within a rank, a type's namespaces in catalog order).
    pub fn groups<T>(&self, dirs: Vec<(ObjectDir, T)>) -> Vec<Group<T>> {
        let mut ranked: Vec<(usize, ObjectDir, T)> =
            dirs.into_iter().map(|(d, t)| (self.rank(&d.group, &d.resource), d, t)).collect();
        ranked.sort_by(|a, b| {
            (a.0, &a.1.group, &a.1.resource, &a.1.namespace).cmp(&(b.0, &b.1.group, &b.1.resource, &b.1.namespace))
        });
        let mut groups: Vec<Group<T>> = Vec::new();
        for (rank, dir, t) in ranked {
            match groups.last_mut() {
                Some(g) if g.rank == rank => g.dirs.push((dir, t)),
                _ => groups.push(Group { rank, dirs: vec![(dir, t)] }),
            }
        }
        groups
    }

    /// Whether an object is restored after the others (it has a restored owner).
    pub fn is_later(&self, path: &CatalogPath) -> bool {
        self.ownership.depth(path) > 0
    }

    /// The objects restored after the others, in order.
    pub fn later(&self) -> &[Later] {
        self.ownership.later()
    }

    /// Pass 3: the plan of one selected object (`None` when not selected).
    pub fn item(&self, entry: &CatalogEntry, obj: &Value) -> Option<PlanItem> {
        let rt = self.resource_type(entry, obj);
        let because = self.selected(&rt, obj)?;
        let source_namespace = objects::namespace(obj).filter(|_| rt.namespaced).map(String::from);
        let is_ns = rt.group.is_empty() && rt.resource == NAMESPACES;
        let name = if is_ns {
            self.opts.mappings.namespace(objects::name(obj)).to_string()
        } else {
            objects::name(obj).to_string()
        };
        let restored = self.ownership.restored_owners();
        let owners = owner_refs(obj).into_iter().map(|r| r.uid).filter(|u| restored.contains(u)).collect();
        Some(PlanItem {
            source: entry.path.clone(),
            content: entry.content.clone(),
            group: rt.group.clone(),
            version: rt.version.clone(),
            kind: rt.kind.clone(),
            resource: rt.resource.clone(),
            namespaced: rt.namespaced,
            namespace: source_namespace.as_deref().map(|n| self.opts.mappings.namespace(n).to_string()),
            source_namespace,
            name,
            backup_uid: objects::uid(obj).map(String::from),
            owners,
            rank: self.rank(&rt.group, &rt.resource),
            depth: self.ownership.depth(&entry.path),
            skip: self.skip_reason(&rt, obj),
            included_because: because,
        })
    }

    fn cluster_managed(&self, rt: &ResourceType, obj: &Value) -> Option<String> {
        (!self.opts.include_cluster_managed).then(|| managed::skip_reason(&rt.group, &rt.kind, obj)).flatten()
    }

    /// A volume bound to a claim that is restored into another namespace is
    /// left alone: in the same cluster it still serves the original claim,
    /// and the clone's claim gets a volume of its own.
    fn mapped_volume(&self, rt: &ResourceType, obj: &Value) -> Option<String> {
        if !(rt.group.is_empty() && rt.resource == "persistentvolumes") {
            return None;
        }
        let ns = objects::str_at(obj, "/spec/claimRef/namespace")?;
        self.opts
            .mappings
            .namespaces
            .get(ns)
            .map(|to| format!("its claim is restored into namespace {to}, which gets a new volume"))
    }

    /// PV names restored by this plan.
    pub fn restored_pvs(&self) -> &BTreeSet<String> {
        &self.restored_pvs
    }

    /// Target namespaces of restored namespaced objects.
    pub fn target_namespaces(&self) -> &BTreeSet<String> {
        &self.target_namespaces
    }

    /// Backup uids of owners that are restored: the only new uids worth remembering.
    pub fn owner_uids(&self) -> &HashSet<String> {
        self.ownership.restored_owners()
    }

    /// The rank of Namespace objects when the plan has a directory of them.
    pub fn namespace_rank<T>(&self, groups: &[Group<T>]) -> Option<usize> {
        groups
            .iter()
            .find(|g| g.dirs.iter().any(|(d, _)| d.group.is_empty() && d.resource == NAMESPACES))
            .map(|g| g.rank)
    }
}

/// Plans objects held in memory, in the order a restore applies them: the
/// same passes as a streamed restore, over a slice (tests, small sources).
pub fn plan_objects(mut planner: Planner, objects: &[(CatalogEntry, Value)]) -> Plan {
    let (namespaced, mut cluster): (Vec<_>, Vec<_>) = objects.iter().partition(|(e, _)| e.path.namespace.is_some());
    cluster.sort_by_key(|(e, o)| cluster_visit_rank(&planner.resource_type(e, o)));
    for (e, o) in namespaced.into_iter().chain(cluster) {
        planner.observe(e, o);
    }
    let owners = planner.owner_paths();
    for (e, o) in objects.iter().filter(|(e, _)| owners.contains(&e.path)) {
        planner.observe_owner(e, o);
    }
    planner.order_owned();
    let mut dirs: Vec<(ObjectDir, ())> = objects.iter().map(|(e, _)| (ObjectDir::of(&e.path), ())).collect();
    dirs.sort();
    dirs.dedup();
    let mut items = Vec::new();
    let group_items = |group: &Group<()>, items: &mut Vec<PlanItem>| {
        for (dir, ()) in &group.dirs {
            let mut inside: Vec<&(CatalogEntry, Value)> =
                objects.iter().filter(|(e, _)| ObjectDir::of(&e.path) == *dir).collect();
            inside.sort_by(|a, b| a.0.path.name.cmp(&b.0.path.name));
            items.extend(
                inside.into_iter().filter(|(e, _)| !planner.is_later(&e.path)).filter_map(|(e, o)| planner.item(e, o)),
            );
        }
    };
    let (head, tail): (Vec<_>, Vec<_>) = planner.groups(dirs).into_iter().partition(|g| !planner.is_tail(g.rank));
    for group in &head {
        group_items(group, &mut items);
    }
    for later in planner.later() {
        if let Some((e, o)) = objects.iter().find(|(e, _)| e.path == later.entry.path) {
            items.extend(planner.item(e, o));
        }
    }
    for group in &tail {
        group_items(group, &mut items);
    }
    Plan { items }
}

/// Everything a transform reads besides the object.
pub struct TransformContext<'a> {
    pub opts: &'a PlanOptions,
    pub modifiers: &'a Modifiers,
    pub restored_pvs: &'a BTreeSet<String>,
    /// Backup uid → uid of the object now in the cluster.
    pub uids: &'a BTreeMap<String, String>,
}

/// Turns a backed-up object into what is sent to the cluster.
pub fn transform(item: &PlanItem, mut obj: Value, ctx: &TransformContext) -> Result<Value> {
    remap_owners(&mut obj, &item.owners, ctx.uids);
    let pv_restored = |n: &str| ctx.restored_pvs.contains(n);
    let sctx = sanitize::Context {
        opts: SanitizeOptions {
            restore_status: ctx.opts.restore_status,
            preserve_node_ports: ctx.opts.preserve_node_ports,
        },
        mappings: &ctx.opts.mappings,
        pv_restored: &pv_restored,
    };
    sanitize::sanitize(&item.group, &item.kind, &mut obj, &sctx);
    ctx.modifiers.apply(&item.group_resource(), item.source_namespace.as_deref(), &mut obj)?;
    Ok(obj)
}

/// Keeps owner references to restored owners, with their new uids.
fn remap_owners(obj: &mut Value, owners: &[String], uids: &BTreeMap<String, String>) {
    let Some(refs) = obj.pointer_mut("/metadata/ownerReferences").and_then(Value::as_array_mut) else {
        return;
    };
    refs.retain_mut(|r| {
        let Some(old) = objects::str_at(r, "/uid").map(String::from) else {
            return false;
        };
        match (owners.contains(&old), uids.get(&old)) {
            (true, Some(new)) => {
                r["uid"] = Value::String(new.clone());
                true
            }
            _ => false,
        }
    });
    if refs.is_empty() {
        objects::remove_at(obj, "/metadata/ownerReferences");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(ns: Option<&str>, group: &str, resource: &str, name: &str) -> CatalogEntry {
        CatalogEntry {
            path: CatalogPath {
                namespace: ns.map(String::from),
                group: group.into(),
                resource: resource.into(),
                name: name.into(),
            },
            content: vec![],
            size: 0,
        }
    }

    fn obj(api: &str, kind: &str, ns: Option<&str>, name: &str, uid: &str) -> Value {
        let mut o = json!({"apiVersion": api, "kind": kind, "metadata": {"name": name, "uid": uid}});
        if let Some(ns) = ns {
            o["metadata"]["namespace"] = json!(ns);
        }
        o
    }

    /// The listed types owner references are looked up in.
    fn types() -> Vec<ResourceType> {
        let rt = |group: &str, resource: &str, kind: &str| ResourceType {
            group: group.into(),
            version: "v1".into(),
            resource: resource.into(),
            kind: kind.into(),
            namespaced: true,
            verbs: vec![],
            short_names: vec![],
            singular: String::new(),
            has_status: false,
        };
        vec![
            rt("example.com", "widgets", "Widget"),
            rt("apps", "replicasets", "ReplicaSet"),
            rt("", "configmaps", "ConfigMap"),
        ]
    }

    fn plan(opts: PlanOptions, objs: &[(CatalogEntry, Value)]) -> Result<Plan> {
        let mut p = Planner::new(opts, types())?;
        p.set_custom(["widgets.example.com".to_string()]);
        Ok(plan_objects(p, objs))
    }

    fn sample() -> Vec<(CatalogEntry, Value)> {
        let mut owned = obj("v1", "ConfigMap", Some("a"), "owned", "u-cm");
        owned["metadata"]["ownerReferences"] =
            json!([{"apiVersion": "example.com/v1", "kind": "Widget", "name": "w", "uid": "u-w"}]);
        let mut pod = obj("v1", "Pod", Some("a"), "web-x", "u-pod");
        pod["metadata"]["ownerReferences"] =
            json!([{"kind": "ReplicaSet", "name": "web", "uid": "u-rs", "controller": true}]);
        vec![
            (entry(Some("a"), "example.com", "widgets", "w"), obj("example.com/v1", "Widget", Some("a"), "w", "u-w")),
            (entry(Some("a"), "", "configmaps", "owned"), owned),
            (entry(Some("a"), "apps", "deployments", "web"), obj("apps/v1", "Deployment", Some("a"), "web", "u-d")),
            (entry(Some("a"), "", "secrets", "db"), obj("v1", "Secret", Some("a"), "db", "u-s")),
            (entry(Some("a"), "", "pods", "web-x"), pod),
            (entry(Some("b"), "", "configmaps", "other"), obj("v1", "ConfigMap", Some("b"), "other", "u-o")),
            (entry(None, "", "namespaces", "a"), obj("v1", "Namespace", None, "a", "u-na")),
            (entry(None, "", "namespaces", "b"), obj("v1", "Namespace", None, "b", "u-nb")),
            (
                entry(None, "apiextensions.k8s.io", "customresourcedefinitions", "widgets.example.com"),
                obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", None, "widgets.example.com", "u-crd"),
            ),
        ]
    }

    #[test]
    fn orders_by_priority_and_owners_and_skips_controlled_pods() -> Result<()> {
        let p = plan(PlanOptions::default(), &sample())?;
        let order: Vec<String> = p.items.iter().map(PlanItem::display).collect();
        let pos = |s: &str| order.iter().position(|x| x == s).unwrap_or(usize::MAX);
        assert!(pos("customresourcedefinition/widgets.example.com") < pos("namespace/a"));
        assert!(pos("namespace/a") < pos("secret/a/db"));
        assert!(pos("secret/a/db") < pos("deployment/a/web"));
        assert!(pos("deployment/a/web") < pos("widget/a/w"));
        assert!(pos("widget/a/w") < pos("configmap/a/owned"), "owned objects follow their owner: {order:?}");
        let pod = p.items.iter().find(|i| i.kind == "Pod").map(|i| i.skip.clone());
        assert!(matches!(pod, Some(Some(r)) if r.contains("replicaset/web")));
        Ok(())
    }

    /// An object whose owner is not restored keeps its place in the
    /// priority order, and its owner reference is not kept.
    #[test]
    fn objects_of_unrestored_owners_keep_their_rank() -> Result<()> {
        let mut objs = sample();
        let mut orphan = obj("v1", "ConfigMap", Some("a"), "orphan", "u-orphan");
        orphan["metadata"]["ownerReferences"] =
            json!([{"apiVersion": "example.com/v1", "kind": "Widget", "name": "gone", "uid": "u-gone"}]);
        objs.push((entry(Some("a"), "", "configmaps", "orphan"), orphan));
        let p = plan(PlanOptions::default(), &objs)?;
        let order: Vec<String> = p.items.iter().map(PlanItem::display).collect();
        let pos = |s: &str| order.iter().position(|x| x == s).unwrap_or(usize::MAX);
        assert!(pos("secret/a/db") < pos("configmap/a/orphan"), "{order:?}");
        assert!(pos("configmap/a/orphan") < pos("deployment/a/web"), "{order:?}");
        let item = p.items.iter().find(|i| i.name == "orphan").ok_or_else(|| Error::invalid("test", "missing"))?;
        assert!(item.owners.is_empty() && item.depth == 0);
        let owned = p.items.iter().find(|i| i.name == "owned").ok_or_else(|| Error::invalid("test", "missing"))?;
        assert_eq!((owned.owners.as_slice(), owned.depth), (["u-w".to_string()].as_slice(), 1));
        Ok(())
    }

    #[test]
    fn webhooks_come_after_owned_objects_too() -> Result<()> {
        let mut objs = sample();
        let api = "admissionregistration.k8s.io/v1";
        objs.push((
            entry(None, "admissionregistration.k8s.io", "validatingwebhookconfigurations", "guard"),
            obj(api, "ValidatingWebhookConfiguration", None, "guard", "u-vwc"),
        ));
        let p = plan(PlanOptions::default(), &objs)?;
        let order: Vec<String> = p.items.iter().map(PlanItem::display).collect();
        assert_eq!(order.last().map(String::as_str), Some("validatingwebhookconfiguration/guard"), "{order:?}");
        let placed = PlanOptions {
            priorities: Some(vec!["validatingwebhookconfigurations.admissionregistration.k8s.io".into()]),
            ..Default::default()
        };
        let p = plan(placed, &objs)?;
        assert_eq!(p.items[0].display(), "validatingwebhookconfiguration/guard", "the user's list places it");
        Ok(())
    }

    #[test]
    fn arca_locations_and_schedules_are_not_cloned_into_renamed_namespaces() -> Result<()> {
        let mut objs = sample();
        for (resource, kind) in
            [("backuplocations", "BackupLocation"), ("schedules", "Schedule"), ("blueprints", "Blueprint")]
        {
            objs.push((
                entry(Some("a"), "arca.io", resource, "x"),
                obj("arca.io/v1alpha1", kind, Some("a"), "x", kind),
            ));
        }
        let skipped = |p: &Plan, kind: &str| p.items.iter().find(|i| i.kind == kind).and_then(|i| i.skip.clone());
        let same = plan(PlanOptions::default(), &objs)?;
        assert_eq!(skipped(&same, "BackupLocation"), None, "restored in place (disaster recovery)");
        let mapped = PlanOptions {
            mappings: Mappings { namespaces: [("a".to_string(), "a-copy".to_string())].into(), ..Default::default() },
            ..Default::default()
        };
        let clone = plan(mapped, &objs)?;
        for kind in ["BackupLocation", "Schedule"] {
            let why = skipped(&clone, kind).unwrap_or_default();
            assert!(why.contains("renamed namespace a-copy") && why.contains("repository of a"), "{kind}: {why}");
        }
        assert_eq!(skipped(&clone, "Blueprint"), None);
        Ok(())
    }

    #[test]
    fn namespace_filter_takes_closure_of_cluster_objects() -> Result<()> {
        let opts = PlanOptions {
            filter: FilterSpec { include_namespaces: vec!["a".into()], ..Default::default() },
            ..Default::default()
        };
        let p = plan(opts, &sample())?;
        let names: Vec<String> = p.items.iter().map(PlanItem::display).collect();
        assert!(names.contains(&"customresourcedefinition/widgets.example.com".to_string()));
        assert!(names.contains(&"namespace/a".to_string()));
        assert!(!names.iter().any(|n| n.contains("/b")), "{names:?}");
        Ok(())
    }

    #[test]
    fn single_item_with_namespace_mapping() -> Result<()> {
        let opts = PlanOptions {
            items: vec!["secret/a/db".parse()?],
            mappings: Mappings { namespaces: [("a".to_string(), "a2".to_string())].into(), ..Default::default() },
            ..Default::default()
        };
        let p = plan(opts, &sample())?;
        let names: Vec<String> = p.items.iter().map(PlanItem::display).collect();
        assert_eq!(names, ["namespace/a2", "secret/a2/db"]);
        Ok(())
    }

    #[test]
    fn cluster_managed_objects_are_skipped_unless_asked_for() -> Result<()> {
        let mut ca = obj("v1", "ConfigMap", Some("a"), "kube-root-ca.crt", "u-ca");
        ca["data"] = json!({"ca.crt": "-----BEGIN CERTIFICATE-----"});
        let mut admin = obj("rbac.authorization.k8s.io/v1", "ClusterRole", None, "admin", "u-admin");
        admin["metadata"]["labels"] = json!({"kubernetes.io/bootstrapping": "rbac-defaults"});
        let mine = obj("rbac.authorization.k8s.io/v1", "ClusterRole", None, "shop-reader", "u-mine");
        let objs = vec![
            (entry(Some("a"), "", "configmaps", "kube-root-ca.crt"), ca),
            (entry(None, "rbac.authorization.k8s.io", "clusterroles", "admin"), admin),
            (entry(None, "rbac.authorization.k8s.io", "clusterroles", "shop-reader"), mine),
        ];
        let skip_of = |p: &Plan, name: &str| p.items.iter().find(|i| i.name == name).and_then(|i| i.skip.clone());
        let p = plan(PlanOptions::default(), &objs)?;
        assert!(skip_of(&p, "kube-root-ca.crt").is_some_and(|r| r.starts_with("managed by the target cluster")));
        assert!(skip_of(&p, "admin").is_some_and(|r| r.contains("bootstrap RBAC")));
        assert_eq!(skip_of(&p, "shop-reader"), None);
        let p = plan(PlanOptions { include_cluster_managed: true, ..Default::default() }, &objs)?;
        assert!(p.items.iter().all(|i| i.skip.is_none()), "{:?}", p.items);
        Ok(())
    }

    #[test]
    fn transform_remaps_owner_uids_and_drops_unrestored_owners() -> Result<()> {
        let p = plan(PlanOptions::default(), &sample())?;
        let item =
            p.items.iter().find(|i| i.name == "owned").cloned().ok_or_else(|| Error::invalid("test", "missing"))?;
        let objs = sample();
        let original = objs.iter().find(|(e, _)| e.path.name == "owned").map(|(_, o)| o.clone()).unwrap_or_default();
        let opts = PlanOptions::default();
        let modifiers = Modifiers::default();
        let pvs = BTreeSet::new();
        let uids: BTreeMap<String, String> = [("u-w".to_string(), "new-w".to_string())].into();
        let ctx = TransformContext { opts: &opts, modifiers: &modifiers, restored_pvs: &pvs, uids: &uids };
        let out = transform(&item, original.clone(), &ctx)?;
        assert_eq!(out["metadata"]["ownerReferences"][0]["uid"], "new-w");
        assert!(out["metadata"].get("uid").is_none());
        let empty = BTreeMap::new();
        let ctx2 = TransformContext { uids: &empty, ..ctx };
        let out2 = transform(&item, original, &ctx2)?;
        assert!(out2["metadata"].get("ownerReferences").is_none());
        Ok(())
    }

    #[test]
    fn parses_item_refs() {
        assert!("secret/ns/name".parse::<ItemRef>().is_ok());
        assert_eq!("clusterrole/view".parse::<ItemRef>().ok().and_then(|i| i.namespace), None);
        assert!("nonsense".parse::<ItemRef>().is_err());
    }
}
