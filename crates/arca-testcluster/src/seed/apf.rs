//! The API priority and fairness objects a real server creates at start,
//! stored at the release's preferred flowcontrol version.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{MANAGER, yaml};
use crate::error::ApiError;
use crate::release::KubernetesVersion;
use crate::state::{State, WriteOpts};

const GROUP: &str = "flowcontrol.apiserver.k8s.io";
/// Marks objects the server keeps up to date (mandatory and suggested alike).
const AUTOUPDATE_ANNOTATION: &str = "apf.kubernetes.io/autoupdate-spec";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Defaults {
    priority_level_configurations: Vec<Named>,
    flow_schemas: Vec<Named>,
}

#[derive(Deserialize)]
struct Named {
    name: String,
    spec: Value,
}

/// Spec fields younger than some releases: (parent pointer, field, first minor).
const NEWER_FIELDS: &[(&str, &str, u32)] = &[("/spec/limited", "lendablePercent", 26), ("/spec", "exempt", 28)];

fn object(kind: &str, named: &Named, release: KubernetesVersion) -> Value {
    let mut obj = json!({
        "apiVersion": format!("{GROUP}/v1"),
        "kind": kind,
        "metadata": {"name": named.name, "annotations": {AUTOUPDATE_ANNOTATION: "true"}},
        "spec": named.spec,
    });
    for (parent, field, since) in NEWER_FIELDS {
        if release.minor() < *since {
            if let Some(m) = obj.pointer_mut(parent).and_then(Value::as_object_mut) {
                m.remove(*field);
            }
        }
    }
    obj
}

/// The status condition the APF controller sets on a FlowSchema whose
/// priority level exists.
fn dangling_false(fs: &Named) -> Value {
    let level = fs.spec.pointer("/priorityLevelConfiguration/name").and_then(Value::as_str).unwrap_or_default();
    json!({"status": {"conditions": [{
        "type": "Dangling",
        "status": "False",
        "reason": "Found",
        "message": format!("This FlowSchema references the PriorityLevelConfiguration object named \"{level}\" and it exists"),
        "lastTransitionTime": crate::meta::now(),
    }]}})
}

fn create(state: &mut State, plural: &str, obj: Value) -> Result<Option<Value>, ApiError> {
    let rt = state
        .resource_any(GROUP, plural)
        .ok_or_else(|| ApiError::internal(format!("no resource {plural}.{GROUP} in this release")))?;
    match state.create(&rt, "", obj, &WriteOpts::manager(MANAGER)) {
        Ok(stored) => Ok(Some(stored)),
        Err(e) if e.code == 409 => Ok(None),
        Err(e) => Err(e),
    }
}

pub fn seed(state: &mut State, release: KubernetesVersion) -> Result<(), ApiError> {
    let defaults: Defaults = yaml::parse("API priority and fairness defaults", include_str!("apf.yaml"))?;
    for plc in &defaults.priority_level_configurations {
        create(state, "prioritylevelconfigurations", object("PriorityLevelConfiguration", plc, release))?;
    }
    for fs in &defaults.flow_schemas {
        if create(state, "flowschemas", object("FlowSchema", fs, release))?.is_some() {
            let rt = state.resource_any(GROUP, "flowschemas").ok_or_else(|| ApiError::internal("no flowschemas"))?;
            state.update(&rt, "", &fs.name, dangling_false(fs), "status", &WriteOpts::manager("api-priority-and-fairness-config-consumer-v1"))?;
        }
    }
    Ok(())
}
