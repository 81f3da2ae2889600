//! The garbage collector: deletes dependents whose owners are gone, and carries out
//! `orphan` and `foregroundDeletion` finalizers.

use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};

use super::{log_err, opts};
use crate::cluster::Cluster;
use crate::meta;
use crate::registry::ResourceType;
use crate::state::{DeleteOpts, Patch, State};
use crate::store::res_key;

const MANAGER: &str = "generic-garbage-collector";

struct Owner {
    deleting: bool,
    finalizers: Vec<String>,
}

enum Action {
    Delete(ResourceType, String, String),
    DropRefs(ResourceType, String, String, Vec<String>),
    DropFinalizer(ResourceType, String, String, &'static str),
}

pub fn reconcile(cluster: &Cluster) {
    let mut state = cluster.lock();
    let actions = plan(&state);
    for action in actions {
        apply(&mut state, action);
    }
}

/// Whether any object has owner references or is being deleted (cheap check
/// before building the uid index).
fn anything_to_do(state: &State) -> bool {
    state.store.resources().iter().any(|res| {
        state
            .store
            .iter(res, None)
            .any(|(_, o)| o.pointer("/metadata/ownerReferences").is_some() || meta::is_deleting(o))
    })
}

fn plan(state: &State) -> Vec<Action> {
    if !anything_to_do(state) {
        return Vec::new();
    }
    let mut owners: HashMap<String, Owner> = HashMap::new();
    let mut all: Vec<(ResourceType, Value)> = Vec::new();
    for res in state.store.resources() {
        let Some(rt) = state.resource_any(&res.0, &res.1) else {
            continue;
        };
        for (_, obj) in state.store.iter(&res_key(&res.0, &res.1), None) {
            owners.insert(
                meta::uid(obj).to_string(),
                Owner { deleting: meta::is_deleting(obj), finalizers: meta::finalizers(obj) },
            );
            if obj.pointer("/metadata/ownerReferences").is_some() || meta::is_deleting(obj) {
                all.push((rt.clone(), obj.clone()));
            }
        }
    }
    let mut actions = Vec::new();
    let mut referenced: HashSet<String> = HashSet::new();
    for (rt, obj) in &all {
        let refs = meta::owner_uids(obj);
        if refs.is_empty() {
            continue;
        }
        let (ns, name) = (meta::namespace(obj).to_string(), meta::name(obj).to_string());
        let state_of = |uid: &String| owners.get(uid);
        let orphaning: Vec<String> = refs
            .iter()
            .filter(|u| state_of(u).is_some_and(|o| o.deleting && o.finalizers.iter().any(|f| f == "orphan")))
            .cloned()
            .collect();
        let gone: Vec<String> = refs.iter().filter(|u| state_of(u).is_none()).cloned().collect();
        let foreground = |u: &String| {
            state_of(u).is_some_and(|o| o.deleting && o.finalizers.iter().any(|f| f == "foregroundDeletion"))
        };
        referenced.extend(refs.iter().cloned());
        if !orphaning.is_empty() {
            actions.push(Action::DropRefs(rt.clone(), ns, name, orphaning));
        } else if refs.iter().all(|u| state_of(u).is_none() || foreground(u)) {
            if !meta::is_deleting(obj) {
                actions.push(Action::Delete(rt.clone(), ns, name));
            }
        } else if !gone.is_empty() {
            actions.push(Action::DropRefs(rt.clone(), ns, name, gone));
        }
    }
    for (rt, obj) in &all {
        if !meta::is_deleting(obj) {
            continue;
        }
        let fins = meta::finalizers(obj);
        let uid = meta::uid(obj).to_string();
        let (ns, name) = (meta::namespace(obj).to_string(), meta::name(obj).to_string());
        for f in ["orphan", "foregroundDeletion"] {
            if fins.iter().any(|x| x == f) && !referenced.contains(&uid) {
                actions.push(Action::DropFinalizer(rt.clone(), ns.clone(), name.clone(), f));
            }
        }
    }
    actions
}

fn apply(state: &mut State, action: Action) {
    match action {
        Action::Delete(rt, ns, name) => {
            let del = DeleteOpts { propagation: Some("Background".into()), ..Default::default() };
            log_err("gc delete", state.delete(&rt, &ns, &name, &del));
        }
        Action::DropRefs(rt, ns, name, uids) => {
            let Ok(obj) = state.get(&rt, &ns, &name) else {
                return;
            };
            let refs: Vec<Value> = obj
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter(|r| !uids.iter().any(|u| r.get("uid").and_then(Value::as_str) == Some(u)))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            let refs = if refs.is_empty() { Value::Null } else { Value::Array(refs) };
            let p = Patch::Merge(json!({"metadata": {"ownerReferences": refs}}));
            log_err("gc orphan", state.patch(&rt, &ns, &name, p, "", &opts(MANAGER)));
        }
        Action::DropFinalizer(rt, ns, name, f) => {
            let Ok(obj) = state.get(&rt, &ns, &name) else {
                return;
            };
            let fins: Vec<String> = meta::finalizers(&obj).into_iter().filter(|x| x != f).collect();
            let p = Patch::Merge(
                json!({"metadata": {"finalizers": if fins.is_empty() { Value::Null } else { json!(fins) }}}),
            );
            log_err("gc finalizer", state.patch(&rt, &ns, &name, p, "", &opts(MANAGER)));
        }
    }
}
