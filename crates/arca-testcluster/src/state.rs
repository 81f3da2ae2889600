//! Object semantics shared by the HTTP handlers and the simulated controllers:
//! create, update, patch, delete with the API server's metadata rules.

use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult, cause};
use crate::registry::{Access, Registry, ResourceType};
use crate::store::{ObjKey, ResKey, Store, obj_key, res_key};
use crate::{managed, meta, patch, types};

/// Counters for server-allocated values (cluster IPs, node ports).
#[derive(Debug)]
pub struct Allocators {
    pub next_ip: u32,
    pub next_node_port: u16,
}

impl Default for Allocators {
    fn default() -> Self {
        Allocators { next_ip: 10, next_node_port: 30000 }
    }
}

/// Everything behind the cluster's lock.
#[derive(Default)]
pub struct State {
    pub store: Store,
    pub registry: Registry,
    pub alloc: Allocators,
}

/// Options common to writes.
#[derive(Debug, Clone, Default)]
pub struct WriteOpts {
    pub manager: String,
    pub dry_run: bool,
    pub force: bool,
}

impl WriteOpts {
    pub fn manager(name: &str) -> Self {
        WriteOpts { manager: name.to_string(), ..Default::default() }
    }
}

/// A patch body by content type.
#[derive(Debug, Clone)]
pub enum Patch {
    Merge(Value),
    Json(Value),
    Strategic(Value),
    Apply(Value),
}

/// A write planned against one read of the object: `old` is `None` when
/// server-side apply creates it; `record` is false when apply already
/// computed the managed fields.
#[derive(Debug, Clone)]
pub struct Planned {
    pub old: Option<Value>,
    pub new: Value,
    pub record: bool,
}

/// Options of a delete.
#[derive(Debug, Clone, Default)]
pub struct DeleteOpts {
    pub propagation: Option<String>,
    pub uid: Option<String>,
    pub resource_version: Option<String>,
    pub dry_run: bool,
}

/// What a delete did.
#[derive(Debug, Clone)]
pub enum Deleted {
    /// The object is gone (last state returned).
    Gone(Value),
    /// The object is marked for deletion and waits for finalizers.
    Pending(Value),
}

fn key_of(rt: &ResourceType) -> ResKey {
    res_key(&rt.group, &rt.plural)
}

fn ns_of<'a>(rt: &ResourceType, ns: &'a str) -> &'a str {
    if rt.namespaced { ns } else { "" }
}

/// Sets apiVersion/kind to the served version (one stored copy serves all
/// versions), renaming the fields that differ between built-in versions.
pub fn as_version(rt: &ResourceType, mut obj: Value) -> Value {
    if !rt.from_crd {
        crate::convert::between_versions(rt, &mut obj);
    }
    if let Some(m) = obj.as_object_mut() {
        m.insert("apiVersion".into(), json!(rt.api_version()));
        m.insert("kind".into(), json!(rt.kind));
    }
    obj
}

/// The object without fields whose change does not bump `generation`.
fn spec_part(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(m) = v.as_object_mut() {
        for k in ["metadata", "status", "apiVersion", "kind"] {
            m.remove(k);
        }
    }
    v
}

/// The object without fields a no-op write may differ in.
fn comparable(obj: &Value) -> Value {
    let mut v = obj.clone();
    let m = meta::metadata_mut(&mut v);
    m.remove("resourceVersion");
    m.remove("managedFields");
    v
}

const SYSTEM_META: &[&str] =
    &["uid", "creationTimestamp", "name", "namespace", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"];

impl State {
    pub fn resource(&self, group: &str, version: &str, plural: &str) -> Option<ResourceType> {
        self.registry.find(group, version, plural).cloned()
    }

    /// A resource type by group and plural, any served version.
    pub fn resource_any(&self, group: &str, plural: &str) -> Option<ResourceType> {
        self.registry.find_any_version(group, plural).cloned()
    }

    pub fn get_raw(&self, rt: &ResourceType, ns: &str, name: &str) -> Option<&Value> {
        self.store.get(&key_of(rt), &obj_key(ns_of(rt, ns), name))
    }

    pub fn get(&self, rt: &ResourceType, ns: &str, name: &str) -> ApiResult<Value> {
        self.get_raw(rt, ns, name)
            .cloned()
            .map(|o| as_version(rt, o))
            .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))
    }

    /// All objects of `rt` (optionally in one namespace), served at `rt`'s version.
    pub fn all(&self, rt: &ResourceType, ns: Option<&str>) -> Vec<Value> {
        self.store.iter(&key_of(rt), ns).map(|(_, v)| as_version(rt, v.clone())).collect()
    }

    fn check_namespace(&self, rt: &ResourceType, ns: &str) -> ApiResult<()> {
        if !rt.namespaced {
            return Ok(());
        }
        if ns.is_empty() {
            return Err(ApiError::bad_request("the namespace of the object is required for namespaced resources"));
        }
        let nskey = obj_key("", ns);
        match self.store.get(&res_key("", "namespaces"), &nskey) {
            None => Err(ApiError::not_found("", "namespaces", ns)),
            Some(n) if meta::is_deleting(n) => {
                let e = ApiError::new(
                    403,
                    "Forbidden",
                    format!("{} \"{}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated", rt.plural, ""),
                )
                .with_details(&rt.group, &rt.plural, "");
                Err(e.with_causes(vec![cause(
                    "NamespaceTerminating",
                    "metadata.namespace",
                    format!("namespace {ns} is being terminated"),
                )]))
            }
            Some(_) => Ok(()),
        }
    }

    fn check_identity(rt: &ResourceType, ns: &str, obj: &mut Value) -> ApiResult<()> {
        if !obj.is_object() {
            return Err(ApiError::bad_request("the body of the request must be a JSON object"));
        }
        if let Some(kind) = obj.get("kind").and_then(Value::as_str) {
            if !kind.is_empty() && kind != rt.kind {
                return Err(ApiError::bad_request(format!(
                    "the kind of the object ({kind}) does not match the resource ({})",
                    rt.kind
                )));
            }
        }
        let body_ns = meta::namespace(obj).to_string();
        let m = meta::metadata_mut(obj);
        if rt.namespaced {
            if !body_ns.is_empty() && body_ns != ns {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            m.insert("namespace".into(), json!(ns));
        } else {
            m.remove("namespace");
        }
        Ok(())
    }

    /// Creates an object (the API server's POST).
    pub fn create(&mut self, rt: &ResourceType, ns: &str, obj: Value, opts: &WriteOpts) -> ApiResult<Value> {
        let prepared = self.prepare_create(rt, ns, obj, opts, true)?;
        self.commit_create(rt, ns, prepared, opts)
    }

    /// The object a create would store (names, defaults, validation), not stored yet.
    pub fn prepare_create(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        mut obj: Value,
        opts: &WriteOpts,
        record: bool,
    ) -> ApiResult<Value> {
        let ns = ns_of(rt, ns);
        if rt.access != Access::Stored {
            return Err(ApiError::method_not_allowed(format!(
                "{} are answered, not stored: POST them to the API instead",
                rt.plural
            )));
        }
        let obj = &mut obj;
        Self::check_identity(rt, ns, obj)?;
        let generate = meta::str_at(obj, "/metadata/generateName").unwrap_or_default().to_string();
        let mut name = meta::name(obj).to_string();
        if name.is_empty() && !generate.is_empty() {
            name = format!("{generate}{}", meta::random_suffix(5));
        }
        if name.is_empty() {
            return Err(ApiError::invalid(
                &rt.group,
                &rt.kind,
                "",
                vec![cause("FieldValueRequired", "metadata.name", "Required value: name or generateName is required")],
            ));
        }
        types::validate_name(rt, &name)?;
        self.check_namespace(rt, ns)?;
        if self.store.get(&key_of(rt), &obj_key(ns, &name)).is_some() {
            return Err(ApiError::already_exists(&rt.group, &rt.plural, &name));
        }
        {
            let m = meta::metadata_mut(obj);
            m.insert("name".into(), json!(name));
            m.insert("uid".into(), json!(meta::new_uid()));
            m.insert("creationTimestamp".into(), json!(meta::now()));
            for k in ["deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion", "selfLink"] {
                m.remove(k);
            }
        }
        if rt.has_status {
            if let Some(m) = obj.as_object_mut() {
                m.remove("status");
            }
        }
        if obj.get("spec").is_some() || rt.from_crd {
            meta::metadata_mut(obj).insert("generation".into(), json!(1));
        }
        *obj = as_version(rt, obj.take());
        types::on_create(self, rt, obj)?;
        if record {
            managed::record_update(None, obj, &opts.manager, &rt.api_version(), "");
        }
        Ok(obj.take())
    }

    /// Stores a prepared object unless the name was taken or the namespace
    /// went away meanwhile (the checks are repeated: admission ran unlocked).
    pub fn commit_create(&mut self, rt: &ResourceType, ns: &str, obj: Value, opts: &WriteOpts) -> ApiResult<Value> {
        if opts.dry_run {
            return Ok(obj);
        }
        let ns = ns_of(rt, ns);
        let name = meta::name(&obj).to_string();
        self.check_namespace(rt, ns)?;
        let key = obj_key(ns, &name);
        if self.store.get(&key_of(rt), &key).is_some() {
            return Err(ApiError::already_exists(&rt.group, &rt.plural, &name));
        }
        let stored = self.store.put(&key_of(rt), &key, obj);
        types::after_write(self, rt, &stored);
        Ok(stored)
    }

    /// Fails like a create into `ns` would (missing or terminating namespace).
    pub fn check_namespace_for(&self, rt: &ResourceType, ns: &str) -> ApiResult<()> {
        self.check_namespace(rt, ns_of(rt, ns))
    }

    /// Replaces an object (PUT), on the main resource or the `status`/`finalize` subresource.
    pub fn update(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        new: Value,
        sub: &str,
        opts: &WriteOpts,
    ) -> ApiResult<Value> {
        let plan = self.plan_update(rt, ns, name, new)?;
        self.finish(rt, ns, plan, sub, opts)
    }

    /// Patches an object; server-side apply creates it when missing.
    pub fn patch(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        p: Patch,
        sub: &str,
        opts: &WriteOpts,
    ) -> ApiResult<Value> {
        let plan = self.plan_patch(rt, ns, name, p, sub, opts)?;
        self.finish(rt, ns, plan, sub, opts)
    }

    /// The first stage of a PUT: the request's checks against the stored object.
    pub fn plan_update(&self, rt: &ResourceType, ns: &str, name: &str, new: Value) -> ApiResult<Planned> {
        let old = self.get(rt, ns, name)?;
        if !new.is_object() {
            return Err(ApiError::bad_request("the body of the request must be a JSON object"));
        }
        let body_name = meta::name(&new);
        if !body_name.is_empty() && body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        if let Some(rv) = meta::str_at(&new, "/metadata/resourceVersion").filter(|r| !r.is_empty()) {
            if Some(rv) != meta::str_at(&old, "/metadata/resourceVersion") {
                return Err(ApiError::stale(&rt.group, &rt.plural, name));
            }
        }
        Ok(Planned { old: Some(old), new, record: true })
    }

    /// The first stage of a PATCH: the patched (or applied) object.
    pub fn plan_patch(
        &self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        p: Patch,
        sub: &str,
        opts: &WriteOpts,
    ) -> ApiResult<Planned> {
        let existing = self.get(rt, ns, name).ok();
        if let Patch::Apply(applied) = &p {
            if opts.manager.is_empty() {
                return Err(ApiError::bad_request(
                    "PATCH, application/apply-patch+yaml requests require fieldManager to be set",
                ));
            }
            let mut applied = applied.clone();
            Self::check_identity(rt, ns_of(rt, ns), &mut applied)?;
            let applied_name = meta::name(&applied);
            if !applied_name.is_empty() && applied_name != name {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({applied_name}) does not match the name on the URL ({name})"
                )));
            }
            meta::metadata_mut(&mut applied).insert("name".into(), json!(name));
            if existing.is_none() && !sub.is_empty() {
                return Err(ApiError::not_found(&rt.group, &rt.plural, name));
            }
            let result = managed::apply(existing.as_ref(), &applied, &opts.manager, opts.force, &rt.api_version(), sub)?;
            return Ok(Planned { old: existing, new: result, record: false });
        }
        let old = existing.ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))?;
        let mut patched = old.clone();
        match p {
            Patch::Merge(v) => patch::merge_patch(&mut patched, &v),
            Patch::Strategic(v) => patch::strategic_merge_patch(&mut patched, &v),
            Patch::Json(v) => patch::json_patch(&mut patched, &v)?,
            Patch::Apply(_) => {}
        }
        let rv_new = meta::str_at(&patched, "/metadata/resourceVersion");
        if rv_new.is_some() && rv_new != meta::str_at(&old, "/metadata/resourceVersion") {
            return Err(ApiError::stale(&rt.group, &rt.plural, name));
        }
        Ok(Planned { old: Some(old), new: patched, record: true })
    }

    /// The rest of a planned write: a create when there was no object, else an update.
    pub fn finish(&mut self, rt: &ResourceType, ns: &str, plan: Planned, sub: &str, opts: &WriteOpts) -> ApiResult<Value> {
        let cand = self.prepare_planned(rt, ns, &plan, sub, opts)?;
        self.commit_planned(rt, ns, &plan, cand, sub, opts)
    }

    /// The object a planned write would store (defaults, validation,
    /// immutability, managed fields), not stored yet.
    pub fn prepare_planned(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        plan: &Planned,
        sub: &str,
        opts: &WriteOpts,
    ) -> ApiResult<Value> {
        match &plan.old {
            None => self.prepare_create(rt, ns, plan.new.clone(), opts, plan.record),
            Some(old) => self.prepare_update(rt, old, plan.new.clone(), sub, opts, plan.record),
        }
    }

    /// Stores what [`State::prepare_planned`] made, if the object is still the
    /// one the write was planned on (else 409 Conflict, as upstream).
    pub fn commit_planned(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        plan: &Planned,
        cand: Value,
        sub: &str,
        opts: &WriteOpts,
    ) -> ApiResult<Value> {
        match &plan.old {
            None => self.commit_create(rt, ns, cand, opts),
            Some(old) => self.commit_update(rt, ns, old, cand, sub, opts),
        }
    }

    fn prepare_update(
        &mut self,
        rt: &ResourceType,
        old: &Value,
        new: Value,
        sub: &str,
        opts: &WriteOpts,
        record: bool,
    ) -> ApiResult<Value> {
        // Apply computed the managed fields already; the status split must keep them.
        let applied_managed = if record { None } else { new.pointer("/metadata/managedFields").cloned() };
        let mut cand = split_subresource(rt, old, new, sub);
        if let Some(mf) = applied_managed {
            meta::metadata_mut(&mut cand).insert("managedFields".into(), mf);
        }
        {
            let old_meta = old.get("metadata").cloned().unwrap_or_default();
            let m = meta::metadata_mut(&mut cand);
            for k in SYSTEM_META {
                match old_meta.get(*k) {
                    Some(v) => m.insert(k.to_string(), v.clone()),
                    None => m.remove(*k),
                };
            }
        }
        cand = as_version(rt, cand);
        types::on_update(self, rt, old, &mut cand, sub)?;
        if spec_part(old) != spec_part(&cand) {
            if let Some(g) = old.pointer("/metadata/generation").and_then(Value::as_i64) {
                meta::metadata_mut(&mut cand).insert("generation".into(), json!(g + 1));
            }
        }
        if record {
            managed::record_update(Some(old), &mut cand, &opts.manager, &rt.api_version(), sub);
        }
        Ok(cand)
    }

    fn commit_update(
        &mut self,
        rt: &ResourceType,
        ns: &str,
        old: &Value,
        cand: Value,
        sub: &str,
        opts: &WriteOpts,
    ) -> ApiResult<Value> {
        let ns = ns_of(rt, ns);
        let name = meta::name(old);
        let current = self.get_raw(rt, ns, name).ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))?;
        if meta::str_at(current, "/metadata/resourceVersion") != meta::str_at(old, "/metadata/resourceVersion") {
            return Err(ApiError::stale(&rt.group, &rt.plural, name));
        }
        if comparable(old) == comparable(&cand) && sub != "finalize" {
            return Ok(old.clone());
        }
        if opts.dry_run {
            return Ok(cand);
        }
        let key = obj_key(ns, name);
        if meta::is_deleting(&cand) && types::ready_to_remove(rt, &cand) {
            let gone = self.store.remove(&key_of(rt), &key).unwrap_or(cand);
            types::after_delete(self, rt, &gone);
            return Ok(as_version(rt, gone));
        }
        let stored = self.store.put(&key_of(rt), &key, cand);
        types::after_write(self, rt, &stored);
        Ok(as_version(rt, stored))
    }

    /// Deletes an object, honouring finalizers and the propagation policy.
    pub fn delete(&mut self, rt: &ResourceType, ns: &str, name: &str, opts: &DeleteOpts) -> ApiResult<Deleted> {
        let ns = ns_of(rt, ns);
        let old = self.get(rt, ns, name)?;
        if let Some(uid) = &opts.uid {
            if uid != meta::uid(&old) {
                return Err(ApiError::conflict(
                    &rt.group,
                    &rt.plural,
                    name,
                    &format!(
                        "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                        meta::uid(&old)
                    ),
                ));
            }
        }
        if let Some(rv) = &opts.resource_version {
            if Some(rv.as_str()) != meta::str_at(&old, "/metadata/resourceVersion") {
                return Err(ApiError::stale(&rt.group, &rt.plural, name));
            }
        }
        let mut cand = old.clone();
        let mut finalizers = meta::finalizers(&cand);
        let policy = opts
            .propagation
            .clone()
            .unwrap_or_else(|| if rt.orphan_by_default { "Orphan" } else { "Background" }.to_string());
        let extra = match policy.as_str() {
            "Orphan" => Some("orphan"),
            "Foreground" => Some("foregroundDeletion"),
            "Background" => None,
            other => {
                return Err(ApiError::bad_request(format!("unsupported propagationPolicy {other:?}")));
            }
        };
        if let Some(f) = extra {
            if !meta::is_deleting(&old) && !finalizers.iter().any(|x| x == f) {
                finalizers.push(f.to_string());
            }
        }
        meta::set_finalizers(&mut cand, &finalizers);
        let key = obj_key(ns, name);
        if !finalizers.is_empty() || !types::ready_to_remove(rt, &cand) || types::deferred_delete(rt) {
            if !meta::is_deleting(&old) {
                let m = meta::metadata_mut(&mut cand);
                m.insert("deletionTimestamp".into(), json!(meta::now()));
                m.insert("deletionGracePeriodSeconds".into(), json!(0));
                types::on_delete_requested(rt, &mut cand);
            }
            if opts.dry_run || comparable(&cand) == comparable(&old) {
                return Ok(Deleted::Pending(cand));
            }
            let stored = self.store.put(&key_of(rt), &key, cand);
            types::after_write(self, rt, &stored);
            return Ok(Deleted::Pending(as_version(rt, stored)));
        }
        if opts.dry_run {
            return Ok(Deleted::Gone(old));
        }
        let gone = self.store.remove(&key_of(rt), &key).unwrap_or(old);
        types::after_delete(self, rt, &gone);
        Ok(Deleted::Gone(as_version(rt, gone)))
    }

    /// Removes an object regardless of finalizers (CRD cleanup).
    pub fn force_remove(&mut self, res: &ResKey, key: &ObjKey) -> Option<Value> {
        self.store.remove(res, key)
    }
}

/// Applies the status split: the main resource keeps the old status, the `status`
/// subresource changes only status, `finalize` changes only `spec.finalizers`.
fn split_subresource(rt: &ResourceType, old: &Value, new: Value, sub: &str) -> Value {
    match sub {
        "status" => {
            let mut cand = old.clone();
            if let Some(m) = cand.as_object_mut() {
                match new.get("status") {
                    Some(s) => m.insert("status".into(), s.clone()),
                    None => m.remove("status"),
                };
            }
            cand
        }
        "approval" => {
            // Only the approval conditions change through `approval`, as upstream.
            let mut cand = old.clone();
            let conditions = new.pointer("/status/conditions").cloned().unwrap_or(json!([]));
            meta::object_mut(&mut cand, "status").insert("conditions".into(), conditions);
            cand
        }
        "finalize" => {
            let mut cand = old.clone();
            let list = new.pointer("/spec/finalizers").cloned().unwrap_or(json!([]));
            meta::object_mut(&mut cand, "spec").insert("finalizers".into(), list);
            cand
        }
        _ => {
            let mut cand = new;
            if rt.has_status {
                if let Some(m) = cand.as_object_mut() {
                    match old.get("status") {
                        Some(s) => m.insert("status".into(), s.clone()),
                        None => m.remove("status"),
                    };
                }
            }
            cand
        }
    }
}
