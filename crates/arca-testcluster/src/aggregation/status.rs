//! APIService objects: the automanaged local ones a real API server keeps for
//! each group version it serves, and the `Available` condition of every
//! APIService (upstream's local and remote availability controllers).

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::backends::Endpoints;
use crate::registry::{ResourceType, api_version};
use crate::state::{State, WriteOpts};
use crate::{meta, registry};

pub const GROUP: &str = "apiregistration.k8s.io";
pub const PLURAL: &str = "apiservices";
pub const AUTOMANAGED: &str = "kube-aggregator.kubernetes.io/automanaged";
const MANAGER: &str = "kube-apiserver";

/// `groupPriorityMinimum` and `versionPriority` of built-in groups (upstream's
/// table in kube-apiserver); other built-ins get the last row.
const BUILTIN_PRIORITIES: &[(&str, i64, i64)] = &[
    ("", 18000, 1),
    ("apps", 17800, 15),
    ("events.k8s.io", 17750, 15),
    ("autoscaling", 17500, 30),
    ("batch", 17400, 15),
    ("networking.k8s.io", 17200, 15),
    ("policy", 17100, 15),
    ("rbac.authorization.k8s.io", 17000, 15),
    ("storage.k8s.io", 16800, 15),
    ("apiextensions.k8s.io", 16700, 15),
    ("admissionregistration.k8s.io", 16700, 15),
    ("scheduling.k8s.io", 16600, 15),
    ("coordination.k8s.io", 16500, 15),
    ("apiregistration.k8s.io", 16400, 15),
    ("discovery.k8s.io", 16200, 15),
];
/// What upstream's CRD registration controller gives CRD group versions.
const CRD_PRIORITY: (i64, i64) = (1000, 100);

/// `VERSION.GROUP`, the name upstream gives an APIService (`v1.` for core).
pub fn name_of(group: &str, version: &str) -> String {
    format!("{version}.{group}")
}

fn local_object(group: &str, version: &str, from_crd: bool) -> Value {
    let (label, (group_min, version_priority)) = if from_crd {
        ("true", CRD_PRIORITY)
    } else {
        let row = BUILTIN_PRIORITIES.iter().find(|(g, _, _)| *g == group).copied().unwrap_or(("", 16000, 15));
        ("onstart", (row.1, row.2))
    };
    json!({
        "apiVersion": api_version(GROUP, "v1"),
        "kind": "APIService",
        "metadata": {"name": name_of(group, version), "labels": {AUTOMANAGED: label}},
        "spec": {"group": group, "version": version, "groupPriorityMinimum": group_min, "versionPriority": version_priority, "service": null},
    })
}

/// Served group versions, each marked when it comes from a CRD.
fn served(state: &State) -> BTreeSet<(String, String, bool)> {
    state.registry.types().iter().map(|t| (t.group.clone(), t.version.clone(), t.from_crd)).collect()
}

fn rt(state: &State) -> Option<ResourceType> {
    state.resource_any(GROUP, PLURAL)
}

/// Creates the local APIServices of served group versions and removes those
/// of CRD group versions no longer served, as upstream's controllers do.
fn sync_local(state: &mut State, rt: &ResourceType) {
    let served = served(state);
    for (group, version, from_crd) in &served {
        if state.get_raw(rt, "", &name_of(group, version)).is_none() {
            let obj = local_object(group, version, *from_crd);
            if let Err(e) = state.create(rt, "", obj, &WriteOpts::manager(MANAGER)) {
                tracing::debug!("creating the APIService of {group}/{version}: {e}");
            }
        }
    }
    let stale: Vec<String> = state
        .all(rt, None)
        .into_iter()
        .filter(|o| meta::str_at(o, &format!("/metadata/labels/{}", AUTOMANAGED.replace('/', "~1"))) == Some("true"))
        .filter(|o| {
            let (g, v) = (spec_str(o, "group"), spec_str(o, "version"));
            !served.iter().any(|(sg, sv, _)| sg == g && sv == v)
        })
        .map(|o| meta::name(&o).to_string())
        .collect();
    for name in stale {
        let _ = state.delete(rt, "", &name, &Default::default());
    }
}

fn spec_str<'a>(obj: &'a Value, key: &str) -> &'a str {
    obj.pointer(&format!("/spec/{key}")).and_then(Value::as_str).unwrap_or_default()
}

/// The `Available` condition an APIService should have: status, reason, message.
fn availability(state: &State, endpoints: &Endpoints, obj: &Value) -> (&'static str, &'static str, String) {
    let Some(svc) = obj.pointer("/spec/service").filter(|s| s.is_object()) else {
        return ("True", "Local", "Local APIServices are always available".into());
    };
    let ns = svc.get("namespace").and_then(Value::as_str).unwrap_or_default();
    let name = svc.get("name").and_then(Value::as_str).unwrap_or_default();
    let port = svc.get("port").and_then(Value::as_i64).unwrap_or(443);
    let service = state.resource_any("", "services").and_then(|rt| state.get(&rt, ns, name).ok());
    let Some(service) = service else {
        return ("False", "ServiceNotFound", format!("service/{name} in {ns:?} is not present"));
    };
    let ports = service.pointer("/spec/ports").and_then(Value::as_array).cloned().unwrap_or_default();
    let Some(port_entry) = ports.iter().find(|p| p.get("port").and_then(Value::as_i64) == Some(port)) else {
        return ("False", "ServicePortError", format!("service/{name} in {ns:?} is not listening on port {port}"));
    };
    let port_name = port_entry.get("name").and_then(Value::as_str).unwrap_or_default();
    if endpoints.url(ns, name).is_none() {
        return (
            "False",
            "MissingEndpoints",
            format!("endpointslices for service/{name} in {ns:?} have no addresses with port name {port_name:?}"),
        );
    }
    ("True", "Passed", "all checks passed".into())
}

fn available_condition(obj: &Value) -> Option<&Value> {
    obj.pointer("/status/conditions")?.as_array()?.iter().find(|c| c.get("type").and_then(Value::as_str) == Some("Available"))
}

/// Whether an APIService's `Available` condition is `True`.
pub fn is_available(obj: &Value) -> bool {
    available_condition(obj).and_then(|c| c.get("status")).and_then(Value::as_str) == Some("True")
}

fn update_condition(state: &mut State, rt: &ResourceType, endpoints: &Endpoints, obj: &Value) {
    let (status, reason, message) = availability(state, endpoints, obj);
    let current = available_condition(obj);
    let same = |key: &str, want: &str| current.and_then(|c| c.get(key)).and_then(Value::as_str) == Some(want);
    if same("status", status) && same("reason", reason) && same("message", &message) {
        return;
    }
    let since = match current {
        Some(c) if same("status", status) => c.get("lastTransitionTime").cloned().unwrap_or_else(|| json!(meta::now())),
        _ => json!(meta::now()),
    };
    let condition = json!({"type": "Available", "status": status, "lastTransitionTime": since, "reason": reason, "message": message});
    let mut status_obj = obj.clone();
    meta::object_mut(&mut status_obj, "status").insert("conditions".into(), json!([condition]));
    let r = state.update(rt, "", meta::name(obj), status_obj, "status", &WriteOpts::manager(MANAGER));
    if let Err(e) = r {
        tracing::debug!("updating APIService {}: {e}", meta::name(obj));
    }
}

/// Brings the APIServices up to date with the served types, the Services and
/// the registered endpoints.
pub fn sync(state: &mut State, endpoints: &Endpoints) {
    let Some(rt) = rt(state) else { return };
    sync_local(state, &rt);
    for obj in state.all(&rt, None) {
        if !meta::is_deleting(&obj) {
            update_condition(state, &rt, endpoints, &obj);
        }
    }
}

/// APIServices backed by a Service (not served by this server itself).
pub fn remote_services(state: &State) -> Vec<Value> {
    let Some(rt) = rt(state) else { return Vec::new() };
    state.all(&rt, None).into_iter().filter(|o| o.pointer("/spec/service").is_some_and(Value::is_object)).collect()
}

/// The remote APIService serving `group`/`version`, if any.
pub fn remote_for(state: &State, group: &str, version: &str) -> Option<Value> {
    let rt = rt(state)?;
    let obj = state.get(&rt, "", &name_of(group, version)).ok()?;
    let matches = spec_str(&obj, "group") == group && spec_str(&obj, "version") == version;
    (matches && obj.pointer("/spec/service").is_some_and(Value::is_object)).then_some(obj)
}

/// Groups and versions of remote APIServices, most preferred version first,
/// for groups this server does not serve itself.
pub fn remote_groups(state: &State) -> Vec<(String, Vec<String>)> {
    let local: BTreeSet<String> = state.registry.types().iter().map(|t| t.group.clone()).collect();
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for obj in remote_services(state) {
        let (g, v) = (spec_str(&obj, "group").to_string(), spec_str(&obj, "version").to_string());
        if local.contains(&g) {
            continue;
        }
        match out.iter_mut().find(|(name, _)| *name == g) {
            Some((_, versions)) => versions.push(v),
            None => out.push((g, vec![v])),
        }
    }
    for (_, versions) in &mut out {
        registry::sort_versions(versions);
    }
    out
}
