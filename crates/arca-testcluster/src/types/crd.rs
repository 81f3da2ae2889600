//! CustomResourceDefinitions: validation, status conditions, and serving their
//! resources (one stored copy; `apiVersion` rewritten per served version, which is
//! the upstream `None` conversion strategy).

use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult, Cause, cause};
use crate::meta;
use crate::registry::{Access, ResourceType, ScalePaths, builtin_subresource};
use crate::state::State;
use crate::store::{obj_key, res_key};

fn s<'a>(v: &'a Value, pointer: &str) -> &'a str {
    meta::str_at(v, pointer).unwrap_or_default()
}

fn validate(obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let group = s(obj, "/spec/group");
    let plural = s(obj, "/spec/names/plural");
    let kind = s(obj, "/spec/names/kind");
    if group.is_empty() || !group.contains('.') {
        causes.push(cause(
            "FieldValueInvalid",
            "spec.group",
            format!("Invalid value: \"{group}\": should be a domain with at least one dot"),
        ));
    }
    if !meta::is_dns_label(plural) {
        causes.push(cause(
            "FieldValueInvalid",
            "spec.names.plural",
            format!("Invalid value: \"{plural}\": a lowercase RFC 1123 label is required"),
        ));
    }
    if kind.is_empty() {
        causes.push(cause("FieldValueRequired", "spec.names.kind", "Required value"));
    }
    let scope = s(obj, "/spec/scope");
    if scope != "Namespaced" && scope != "Cluster" {
        causes.push(cause(
            "FieldValueNotSupported",
            "spec.scope",
            format!("Unsupported value: \"{scope}\": supported values: \"Cluster\", \"Namespaced\""),
        ));
    }
    let versions = obj.pointer("/spec/versions").and_then(Value::as_array).cloned().unwrap_or_default();
    if versions.is_empty() {
        causes.push(cause(
            "FieldValueRequired",
            "spec.versions",
            "Required value: must have exactly one version marked as storage version",
        ));
    } else {
        let storage = versions.iter().filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true)).count();
        if storage != 1 {
            causes.push(cause(
                "FieldValueInvalid",
                "spec.versions",
                "Invalid value: must have exactly one version marked as storage version",
            ));
        }
    }
    let expected = format!("{plural}.{group}");
    if meta::name(obj) != expected {
        causes.push(cause(
            "FieldValueInvalid",
            "metadata.name",
            format!("Invalid value: \"{}\": must be spec.names.plural+\".\"+spec.group", meta::name(obj)),
        ));
    }
    causes
}

fn condition(kind: &str, reason: &str, message: &str, now: &str) -> Value {
    json!({"type": kind, "status": "True", "lastTransitionTime": now, "reason": reason, "message": message})
}

/// The finalizer that makes CRD deletion wait for its objects to be removed.
pub const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

/// Creating custom resources is refused while their CRD is terminating.
pub fn check_not_terminating(state: &State, rt: &ResourceType) -> ApiResult<()> {
    let Some(crd_rt) = state.resource("apiextensions.k8s.io", "v1", "customresourcedefinitions") else {
        return Ok(());
    };
    let name = format!("{}.{}", rt.plural, rt.group);
    match state.get_raw(&crd_rt, "", &name) {
        Some(crd) if meta::is_deleting(crd) => {
            Err(ApiError::method_not_allowed("create not allowed while custom resource definition is terminating"))
        }
        _ => Ok(()),
    }
}

/// Validates a CRD and sets its status as the apiextensions controllers would.
pub fn on_write(rt: &ResourceType, obj: &mut Value, old: Option<&Value>) -> ApiResult<()> {
    if old.is_none() {
        let mut fins = meta::finalizers(obj);
        if !fins.iter().any(|f| f == CLEANUP_FINALIZER) {
            fins.push(CLEANUP_FINALIZER.to_string());
            meta::set_finalizers(obj, &fins);
        }
    }
    let causes = validate(obj);
    if !causes.is_empty() {
        return Err(ApiError::invalid(&rt.group, &rt.kind, meta::name(obj), causes));
    }
    if let Some(old) = old {
        for field in ["/spec/group", "/spec/names/plural", "/spec/scope"] {
            if old.pointer(field) != obj.pointer(field) {
                let path = field.trim_start_matches('/').replace('/', ".");
                return Err(ApiError::invalid(
                    &rt.group,
                    &rt.kind,
                    meta::name(obj),
                    vec![cause("FieldValueInvalid", &path, "Invalid value: field is immutable")],
                ));
            }
        }
    }
    let mut names = obj.pointer("/spec/names").cloned().unwrap_or(json!({}));
    let kind = s(obj, "/spec/names/kind").to_string();
    let names_map = meta::as_map(&mut names);
    names_map.entry("singular").or_insert_with(|| json!(kind.to_ascii_lowercase()));
    names_map.entry("listKind").or_insert_with(|| json!(format!("{kind}List")));
    let storage: Vec<Value> = obj
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
                .filter_map(|v| v.get("name").cloned())
                .collect()
        })
        .unwrap_or_default();
    let mut stored: Vec<Value> =
        old.and_then(|o| o.pointer("/status/storedVersions")).and_then(Value::as_array).cloned().unwrap_or_default();
    for v in storage {
        if !stored.contains(&v) {
            stored.push(v);
        }
    }
    let now = old
        .and_then(|o| o.pointer("/status/conditions/0/lastTransitionTime").cloned())
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_else(meta::now);
    if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
        if let Some(n) = spec.get_mut("names").and_then(Value::as_object_mut) {
            n.entry("singular").or_insert_with(|| json!(kind.to_ascii_lowercase()));
            n.entry("listKind").or_insert_with(|| json!(format!("{kind}List")));
        }
    }
    let mut conditions = vec![
        condition("NamesAccepted", "NoConflicts", "no conflicts found", &now),
        condition("Established", "InitialNamesAccepted", "the initial names have been accepted", &now),
    ];
    if meta::is_deleting(obj) {
        conditions.push(condition(
            "Terminating",
            "InstanceDeletionInProgress",
            "CustomResource deletion is in progress",
            &meta::now(),
        ));
    }
    let status = meta::object_mut(obj, "status");
    status.insert("acceptedNames".into(), names);
    status.insert("storedVersions".into(), Value::Array(stored));
    status.insert("conditions".into(), Value::Array(conditions));
    Ok(())
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
        .unwrap_or_default()
}

/// The served rows of a CRD, one per served version.
pub fn rows(crd: &Value) -> Vec<ResourceType> {
    let group = s(crd, "/spec/group").to_string();
    let kind = s(crd, "/spec/names/kind").to_string();
    let plural = s(crd, "/spec/names/plural").to_string();
    let singular =
        meta::str_at(crd, "/spec/names/singular").map(String::from).unwrap_or_else(|| kind.to_ascii_lowercase());
    let namespaced = s(crd, "/spec/scope") == "Namespaced";
    let versions = crd.pointer("/spec/versions").and_then(Value::as_array).cloned().unwrap_or_default();
    versions
        .iter()
        .filter(|v| v.get("served").and_then(Value::as_bool) != Some(false))
        .map(|v| {
            let version = v.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
            let has_scale = v.pointer("/subresources/scale").is_some();
            ResourceType {
                group: group.clone(),
                version: version.clone(),
                kind: kind.clone(),
                plural: plural.clone(),
                singular: singular.clone(),
                namespaced,
                short_names: strings(crd.pointer("/spec/names/shortNames")),
                categories: strings(crd.pointer("/spec/names/categories")),
                has_status: v.pointer("/subresources/status").is_some(),
                extra_subresources: if has_scale {
                    vec![builtin_subresource(&group, &version, &kind, "scale")]
                } else {
                    vec![]
                },
                orphan_by_default: false,
                from_crd: true,
                access: Access::Stored,
                scale: v.pointer("/subresources/scale").map(|s| ScalePaths {
                    spec_replicas: meta::str_at(s, "/specReplicasPath").unwrap_or(".spec.replicas").to_string(),
                    status_replicas: meta::str_at(s, "/statusReplicasPath").unwrap_or(".status.replicas").to_string(),
                    selector: meta::str_at(s, "/labelSelectorPath").map(String::from),
                }),
            }
        })
        .collect()
}

pub fn register(state: &mut State, crd: &Value) {
    let group = s(crd, "/spec/group").to_string();
    let plural = s(crd, "/spec/names/plural").to_string();
    state.registry.set_crd(&group, &plural, rows(crd));
}

/// Removes a CRD's resources and all their objects.
pub fn unregister(state: &mut State, crd: &Value) {
    let group = s(crd, "/spec/group").to_string();
    let plural = s(crd, "/spec/names/plural").to_string();
    let res = res_key(&group, &plural);
    let keys: Vec<(String, String)> = state.store.iter(&res, None).map(|(k, _)| k.clone()).collect();
    for (ns, name) in keys {
        state.force_remove(&res, &obj_key(&ns, &name));
    }
    state.registry.remove_crd(&group, &plural);
}
