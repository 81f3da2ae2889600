//! Pods and Jobs: defaults and Job immutability.

use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult, cause};
use crate::meta;
use crate::registry::ResourceType;

pub fn pod_on_create(obj: &mut Value) {
    let spec = meta::object_mut(obj, "spec");
    spec.entry("restartPolicy").or_insert_with(|| json!("Always"));
    spec.entry("dnsPolicy").or_insert_with(|| json!("ClusterFirst"));
    spec.entry("schedulerName").or_insert_with(|| json!("default-scheduler"));
    spec.entry("serviceAccountName").or_insert_with(|| json!("default"));
    spec.entry("terminationGracePeriodSeconds").or_insert_with(|| json!(30));
    let status = meta::object_mut(obj, "status");
    status.insert("phase".into(), json!("Pending"));
    status.insert("qosClass".into(), json!("BestEffort"));
}

pub fn job_on_create(obj: &mut Value) {
    let uid = meta::uid(obj).to_string();
    let name = meta::name(obj).to_string();
    let spec = meta::object_mut(obj, "spec");
    spec.entry("completions").or_insert_with(|| json!(1));
    spec.entry("parallelism").or_insert_with(|| json!(1));
    spec.entry("backoffLimit").or_insert_with(|| json!(6));
    spec.entry("completionMode").or_insert_with(|| json!("NonIndexed"));
    spec.entry("suspend").or_insert_with(|| json!(false));
    let manual = spec.get("manualSelector").and_then(Value::as_bool) == Some(true);
    if !manual {
        spec.insert("selector".into(), json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}));
    }
    let template = meta::as_map(spec.entry("template").or_insert_with(|| json!({})));
    let tmeta = meta::as_map(template.entry("metadata").or_insert_with(|| json!({})));
    let labels = meta::as_map(tmeta.entry("labels").or_insert_with(|| json!({})));
    if !manual {
        labels.insert("batch.kubernetes.io/controller-uid".into(), json!(uid));
        labels.insert("controller-uid".into(), json!(uid));
    }
    labels.insert("batch.kubernetes.io/job-name".into(), json!(name));
    labels.insert("job-name".into(), json!(name));
}

/// `spec.selector` and `spec.template` of a Job are immutable.
pub fn job_on_update(rt: &ResourceType, old: &Value, new: &Value) -> ApiResult<()> {
    let mut causes = Vec::new();
    for field in ["selector", "template"] {
        let (a, b) = (old.pointer(&format!("/spec/{field}")), new.pointer(&format!("/spec/{field}")));
        if a != b {
            let shown = b.map(|v| v.to_string()).unwrap_or_else(|| "null".into());
            causes.push(cause(
                "FieldValueInvalid",
                &format!("spec.{field}"),
                format!("Invalid value: {shown}: field is immutable"),
            ));
        }
    }
    if causes.is_empty() { Ok(()) } else { Err(ApiError::invalid(&rt.group, &rt.kind, meta::name(old), causes)) }
}
