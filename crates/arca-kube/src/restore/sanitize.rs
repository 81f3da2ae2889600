//! Per-kind restore rules as data: which objects are skipped (and why) and
//! how each kind is cleaned of state the server or its controllers own.
//! Adding a kind means adding a row to [`SKIPS`] or [`SANITIZERS`]. Objects
//! the target cluster manages itself are skipped by the rows of
//! [`crate::restore::managed::MANAGED_RULES`], which the planner consults
//! next to [`SKIPS`] (unless `--include-cluster-managed`).
//!
//! Rules applied to every object ([`strip_server_fields`]):
//! - `metadata.uid`, `resourceVersion`, `creationTimestamp`, `generation`,
//!   `managedFields`, `selfLink`, `deletionTimestamp`,
//!   `deletionGracePeriodSeconds` are set by the server: removed.
//! - `status` is removed unless `--restore-status` (the server or the
//!   controllers recompute it).
//! - `metadata.namespace` goes through the namespace mapping.
//! - `ownerReferences` are handled by the planner: kept (with the new uid)
//!   only when the owner is restored too.

use serde_json::{Value, json};

use crate::objects::{self, remove_at};
use crate::restore::mapping::Mappings;

/// Options the rules read.
#[derive(Debug, Clone, Copy, Default)]
pub struct SanitizeOptions {
    pub restore_status: bool,
    pub preserve_node_ports: bool,
}

/// What rules may know about the rest of the restore.
pub struct Context<'a> {
    pub opts: SanitizeOptions,
    pub mappings: &'a Mappings,
    /// Whether a PersistentVolume of this name is restored too.
    pub pv_restored: &'a dyn Fn(&str) -> bool,
}

type SkipRule = fn(&Value) -> Option<String>;
type Sanitizer = fn(&mut Value, &Context);

/// Objects not restored by default, per (group, kind).
pub const SKIPS: &[(&str, &str, SkipRule)] = &[
    ("", "Pod", skip_controlled),
    ("", "Pod", skip_completed_pod),
    ("apps", "ReplicaSet", skip_controlled),
    ("batch", "Job", skip_completed_job),
    ("", "Secret", skip_token_secret),
    ("", "PersistentVolume", skip_deleted_dynamic_volume),
];

/// Kind-specific cleaning, per (group, kind).
pub const SANITIZERS: &[(&str, &str, Sanitizer)] = &[
    ("", "Service", service),
    ("", "Pod", pod),
    ("", "ServiceAccount", service_account),
    ("", "PersistentVolumeClaim", pvc),
    ("", "PersistentVolume", pv),
    ("apps", "StatefulSet", statefulset),
    ("batch", "Job", job),
    ("rbac.authorization.k8s.io", "RoleBinding", binding_subjects),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding", binding_subjects),
    ("", "Namespace", namespace),
];

/// Metadata the server sets; never restored.
pub const SERVER_FIELDS: &[&str] = &[
    "/metadata/uid",
    "/metadata/resourceVersion",
    "/metadata/creationTimestamp",
    "/metadata/generation",
    "/metadata/managedFields",
    "/metadata/selfLink",
    "/metadata/deletionTimestamp",
    "/metadata/deletionGracePeriodSeconds",
];

/// Why an object is not restored, if a skip rule says so.
pub fn skip_reason(group: &str, kind: &str, obj: &Value) -> Option<String> {
    SKIPS.iter().filter(|(g, k, _)| *g == group && *k == kind).find_map(|(_, _, rule)| rule(obj))
}

/// Applies the generic and the kind's rules.
pub fn sanitize(group: &str, kind: &str, obj: &mut Value, ctx: &Context) {
    strip_server_fields(obj, ctx.opts.restore_status);
    if let Some(ns) = objects::namespace(obj).map(String::from) {
        obj["metadata"]["namespace"] = json!(ctx.mappings.namespace(&ns));
    }
    for (_, _, rule) in SANITIZERS.iter().filter(|(g, k, _)| *g == group && *k == kind) {
        rule(obj, ctx);
    }
}

pub fn strip_server_fields(obj: &mut Value, keep_status: bool) {
    for p in SERVER_FIELDS {
        remove_at(obj, p);
    }
    if !keep_status {
        remove_at(obj, "/status");
    }
}

fn controller_of(obj: &Value) -> Option<String> {
    let refs = obj.pointer("/metadata/ownerReferences")?.as_array()?;
    let c = refs.iter().find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))?;
    Some(format!("{}/{}", objects::str_at(c, "/kind")?.to_lowercase(), objects::str_at(c, "/name")?))
}

fn skip_controlled(obj: &Value) -> Option<String> {
    controller_of(obj).map(|c| format!("owned by controller {c}, which recreates it"))
}

fn skip_completed_pod(obj: &Value) -> Option<String> {
    match objects::str_at(obj, "/status/phase") {
        Some(p @ ("Succeeded" | "Failed")) => Some(format!("completed pod (phase {p})")),
        _ => None,
    }
}

fn skip_completed_job(obj: &Value) -> Option<String> {
    let conds = obj.pointer("/status/conditions")?.as_array()?;
    conds.iter().find_map(|c| {
        let t = objects::str_at(c, "/type")?;
        (matches!(t, "Complete" | "Failed") && objects::str_at(c, "/status") == Some("True"))
            .then(|| format!("completed job ({t})"))
    })
}

fn skip_token_secret(obj: &Value) -> Option<String> {
    (objects::str_at(obj, "/type") == Some("kubernetes.io/service-account-token"))
        .then(|| "service account token, recreated by the token controller".to_string())
}

/// A dynamically provisioned volume with reclaim policy `Delete` lost its
/// storage with its claim: recreating the PV would point at nothing (and the
/// volume controller deletes it again). Its claim provisions a new volume;
/// the data comes back through the volume data mover.
fn skip_deleted_dynamic_volume(obj: &Value) -> Option<String> {
    let dynamic = objects::str_at(obj, "/metadata/annotations/pv.kubernetes.io~1provisioned-by").is_some();
    let delete = objects::str_at(obj, "/spec/persistentVolumeReclaimPolicy") == Some("Delete");
    (dynamic && delete)
        .then(|| "dynamically provisioned with reclaim policy Delete; its claim provisions a new volume".to_string())
}

/// Node ports named in kubectl's last-applied configuration were chosen by a
/// person; the others were allocated by the server.
fn explicit_node_ports(obj: &Value) -> Vec<i64> {
    let Some(text) = objects::str_at(obj, "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration")
    else {
        return Vec::new();
    };
    let Ok(applied) = serde_json::from_str::<Value>(text) else {
        return Vec::new();
    };
    applied
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .map(|ps| ps.iter().filter_map(|p| p.get("nodePort")?.as_i64()).collect())
        .unwrap_or_default()
}

/// Services: cluster IPs are allocated per cluster (headless `None` kept);
/// node ports too, unless `--preserve-node-ports` or chosen explicitly.
fn service(obj: &mut Value, ctx: &Context) {
    if objects::str_at(obj, "/spec/clusterIP") != Some("None") {
        remove_at(obj, "/spec/clusterIP");
        remove_at(obj, "/spec/clusterIPs");
    }
    if ctx.opts.preserve_node_ports {
        return;
    }
    remove_at(obj, "/spec/healthCheckNodePort");
    let explicit = explicit_node_ports(obj);
    if let Some(ports) = obj.pointer_mut("/spec/ports").and_then(Value::as_array_mut) {
        for p in ports {
            let keep = p.get("nodePort").and_then(Value::as_i64).is_some_and(|n| explicit.contains(&n));
            if !keep {
                remove_at(p, "/nodePort");
            }
        }
    }
}

/// Pods: the node may not exist here; the service-account token volume is
/// injected again by admission.
fn pod(obj: &mut Value, _ctx: &Context) {
    remove_at(obj, "/spec/nodeName");
    let is_token = |name: &str| name.starts_with("kube-api-access-");
    if let Some(vols) = obj.pointer_mut("/spec/volumes").and_then(Value::as_array_mut) {
        vols.retain(|v| !objects::str_at(v, "/name").is_some_and(is_token));
    }
    for list in ["/spec/containers", "/spec/initContainers"] {
        for c in obj.pointer_mut(list).and_then(Value::as_array_mut).into_iter().flatten() {
            if let Some(mounts) = c.pointer_mut("/volumeMounts").and_then(Value::as_array_mut) {
                mounts.retain(|m| !objects::str_at(m, "/name").is_some_and(is_token));
            }
        }
    }
}

/// Service accounts: references to token secrets (recreated, not restored).
fn service_account(obj: &mut Value, _ctx: &Context) {
    let prefix = format!("{}-token-", objects::name(obj));
    if let Some(secrets) = obj.pointer_mut("/secrets").and_then(Value::as_array_mut) {
        secrets.retain(|s| !objects::str_at(s, "/name").is_some_and(|n| n.starts_with(&prefix)));
    }
}

const PVC_BINDING_ANNOTATIONS: &[&str] = &[
    "pv.kubernetes.io/bind-completed",
    "pv.kubernetes.io/bound-by-controller",
    "volume.kubernetes.io/selected-node",
    "volume.beta.kubernetes.io/storage-provisioner",
    "volume.kubernetes.io/storage-provisioner",
];

fn remove_annotations(obj: &mut Value, keys: &[&str]) {
    if let Some(a) = obj.pointer_mut("/metadata/annotations").and_then(Value::as_object_mut) {
        for k in keys {
            a.remove(*k);
        }
        if a.is_empty() {
            remove_at(obj, "/metadata/annotations");
        }
    }
}

fn map_storage_class(obj: &mut Value, pointer: &str, ctx: &Context) {
    if let Some(sc) = objects::str_at(obj, pointer).map(String::from) {
        if let Some(slot) = obj.pointer_mut(pointer) {
            *slot = json!(ctx.mappings.storage_class(&sc));
        }
    }
}

/// Claims: binding annotations are the controller's; the volume name stays
/// only when that volume is restored too (else provision anew).
fn pvc(obj: &mut Value, ctx: &Context) {
    remove_annotations(obj, PVC_BINDING_ANNOTATIONS);
    if let Some(v) = objects::str_at(obj, "/spec/volumeName") {
        if !(ctx.pv_restored)(v) {
            remove_at(obj, "/spec/volumeName");
        }
    }
    map_storage_class(obj, "/spec/storageClassName", ctx);
}

/// Volumes: the claim reference keeps namespace and name (mapped) so the
/// restored claim binds again; its uid and version are the old claim's.
fn pv(obj: &mut Value, ctx: &Context) {
    remove_annotations(obj, &["pv.kubernetes.io/bound-by-controller"]);
    remove_at(obj, "/spec/claimRef/uid");
    remove_at(obj, "/spec/claimRef/resourceVersion");
    if let Some(ns) = objects::str_at(obj, "/spec/claimRef/namespace").map(String::from) {
        obj["spec"]["claimRef"]["namespace"] = json!(ctx.mappings.namespace(&ns));
    }
    map_storage_class(obj, "/spec/storageClassName", ctx);
}

fn statefulset(obj: &mut Value, ctx: &Context) {
    let n = obj.pointer("/spec/volumeClaimTemplates").and_then(Value::as_array).map_or(0, Vec::len);
    for i in 0..n {
        map_storage_class(obj, &format!("/spec/volumeClaimTemplates/{i}/spec/storageClassName"), ctx);
    }
}

const JOB_UID_LABELS: &[&str] = &["controller-uid", "batch.kubernetes.io/controller-uid"];

/// Jobs: the generated selector names the old job's uid.
fn job(obj: &mut Value, _ctx: &Context) {
    let manual = obj.pointer("/spec/manualSelector").and_then(Value::as_bool) == Some(true);
    if !manual {
        remove_at(obj, "/spec/selector");
    }
    for p in ["/spec/selector/matchLabels", "/spec/template/metadata/labels"] {
        if let Some(l) = obj.pointer_mut(p).and_then(Value::as_object_mut) {
            for k in JOB_UID_LABELS {
                l.remove(*k);
            }
        }
    }
}

/// Bindings: subjects' namespaces follow the namespace mapping.
fn binding_subjects(obj: &mut Value, ctx: &Context) {
    for s in obj.pointer_mut("/subjects").and_then(Value::as_array_mut).into_iter().flatten() {
        if let Some(ns) = objects::str_at(s, "/namespace").map(String::from) {
            s["namespace"] = json!(ctx.mappings.namespace(&ns));
        }
    }
}

/// The label the API server sets on every namespace to its name (1.21+).
const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// Namespaces: renamed by the mapping, with the name label the server
/// would set anyway (a renamed namespace must not claim its old name to
/// selectors such as NetworkPolicies' `namespaceSelector`).
fn namespace(obj: &mut Value, ctx: &Context) {
    let name = objects::name(obj).to_string();
    let to = ctx.mappings.namespace(&name).to_string();
    if let Some(labels) = obj.pointer_mut("/metadata/labels").and_then(Value::as_object_mut) {
        if labels.contains_key(NAMESPACE_NAME_LABEL) {
            labels.insert(NAMESPACE_NAME_LABEL.into(), json!(to));
        }
    }
    obj["metadata"]["name"] = json!(to);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx<'a>(m: &'a Mappings, opts: SanitizeOptions, pvs: &'a dyn Fn(&str) -> bool) -> Context<'a> {
        Context { opts, mappings: m, pv_restored: pvs }
    }

    #[test]
    fn strips_server_metadata_and_status() {
        let m = Mappings::default();
        let no = |_: &str| false;
        let mut o = json!({"kind": "ConfigMap", "metadata": {"name": "c", "namespace": "a", "uid": "u", "resourceVersion": "1",
            "creationTimestamp": "t", "generation": 2, "managedFields": [], "labels": {"x": "y"}}, "data": {"k": "v"}, "status": {}});
        sanitize("", "ConfigMap", &mut o, &ctx(&m, SanitizeOptions::default(), &no));
        assert_eq!(
            o,
            json!({"kind": "ConfigMap", "metadata": {"name": "c", "namespace": "a", "labels": {"x": "y"}}, "data": {"k": "v"}})
        );
        let mut s = json!({"metadata": {"name": "d"}, "status": {"phase": "x"}});
        sanitize(
            "apps",
            "Deployment",
            &mut s,
            &ctx(&m, SanitizeOptions { restore_status: true, ..Default::default() }, &no),
        );
        assert!(s.get("status").is_some());
    }

    #[test]
    fn a_renamed_namespace_carries_its_new_name_label() {
        let m = Mappings { namespaces: [("shop".to_string(), "drill-shop".to_string())].into(), ..Default::default() };
        let no = |_: &str| false;
        let mut ns = json!({"kind": "Namespace", "metadata": {"name": "shop",
            "labels": {"kubernetes.io/metadata.name": "shop", "team": "a"}}});
        sanitize("", "Namespace", &mut ns, &ctx(&m, SanitizeOptions::default(), &no));
        assert_eq!(ns["metadata"]["name"], "drill-shop");
        assert_eq!(ns["metadata"]["labels"], json!({"kubernetes.io/metadata.name": "drill-shop", "team": "a"}));
    }

    #[test]
    fn services_lose_cluster_ips_and_auto_node_ports() {
        let m = Mappings::default();
        let no = |_: &str| false;
        let applied = r#"{"spec":{"ports":[{"port":81,"nodePort":30081}]}}"#;
        let svc = json!({"metadata": {"name": "s", "annotations": {"kubectl.kubernetes.io/last-applied-configuration": applied}},
            "spec": {"type": "NodePort", "clusterIP": "10.0.0.1", "clusterIPs": ["10.0.0.1"],
            "ports": [{"port": 80, "nodePort": 31000}, {"port": 81, "nodePort": 30081}]}});
        let mut a = svc.clone();
        sanitize("", "Service", &mut a, &ctx(&m, SanitizeOptions::default(), &no));
        assert_eq!(a["spec"]["ports"], json!([{"port": 80}, {"port": 81, "nodePort": 30081}]));
        assert!(a["spec"].get("clusterIP").is_none());
        let mut b = svc.clone();
        sanitize(
            "",
            "Service",
            &mut b,
            &ctx(&m, SanitizeOptions { preserve_node_ports: true, ..Default::default() }, &no),
        );
        assert_eq!(b["spec"]["ports"][0]["nodePort"], 31000);
        let mut headless = json!({"metadata": {"name": "h"}, "spec": {"clusterIP": "None"}});
        sanitize("", "Service", &mut headless, &ctx(&m, SanitizeOptions::default(), &no));
        assert_eq!(headless["spec"]["clusterIP"], "None");
    }

    #[test]
    fn skips_controlled_and_completed_and_tokens() {
        let owned =
            json!({"metadata": {"ownerReferences": [{"kind": "ReplicaSet", "name": "web-1", "controller": true}]}});
        assert!(skip_reason("", "Pod", &owned).is_some_and(|r| r.contains("replicaset/web-1")));
        assert!(skip_reason("", "Pod", &json!({"status": {"phase": "Succeeded"}})).is_some());
        assert!(skip_reason("", "Pod", &json!({"status": {"phase": "Running"}})).is_none());
        let done = json!({"status": {"conditions": [{"type": "Complete", "status": "True"}]}});
        assert!(skip_reason("batch", "Job", &done).is_some());
        assert!(skip_reason("", "Secret", &json!({"type": "kubernetes.io/service-account-token"})).is_some());
        assert!(skip_reason("", "Secret", &json!({"type": "Opaque"})).is_none());
        assert!(skip_reason("", "ConfigMap", &owned).is_none());
        let dynamic = json!({"metadata": {"annotations": {"pv.kubernetes.io/provisioned-by": "csi"}}, "spec": {"persistentVolumeReclaimPolicy": "Delete"}});
        assert!(skip_reason("", "PersistentVolume", &dynamic).is_some());
        let retained = json!({"metadata": {"annotations": {"pv.kubernetes.io/provisioned-by": "csi"}}, "spec": {"persistentVolumeReclaimPolicy": "Retain"}});
        assert!(skip_reason("", "PersistentVolume", &retained).is_none());
    }

    #[test]
    fn claims_and_volumes_follow_mappings_and_binding_rules() {
        let m = Mappings {
            namespaces: [("a".to_string(), "b".to_string())].into(),
            storage_classes: [("old".to_string(), "new".to_string())].into(),
        };
        let only_pv1 = |n: &str| n == "pv-1";
        let c = ctx(&m, SanitizeOptions::default(), &only_pv1);
        let mut claim = json!({"metadata": {"name": "d", "namespace": "a", "annotations": {"pv.kubernetes.io/bind-completed": "yes"}},
            "spec": {"volumeName": "pv-2", "storageClassName": "old"}});
        sanitize("", "PersistentVolumeClaim", &mut claim, &c);
        assert_eq!(claim, json!({"metadata": {"name": "d", "namespace": "b"}, "spec": {"storageClassName": "new"}}));
        let mut vol = json!({"metadata": {"name": "pv-1"}, "spec": {"storageClassName": "old",
            "claimRef": {"namespace": "a", "name": "d", "uid": "u", "resourceVersion": "3"}}});
        sanitize("", "PersistentVolume", &mut vol, &c);
        assert_eq!(vol["spec"], json!({"storageClassName": "new", "claimRef": {"namespace": "b", "name": "d"}}));
        let mut ns = json!({"metadata": {"name": "a"}});
        sanitize("", "Namespace", &mut ns, &c);
        assert_eq!(ns["metadata"]["name"], "b");
        let mut rb = json!({"metadata": {"name": "r", "namespace": "a"}, "subjects": [{"kind": "ServiceAccount", "name": "s", "namespace": "a"}]});
        sanitize("rbac.authorization.k8s.io", "RoleBinding", &mut rb, &c);
        assert_eq!(rb["subjects"][0]["namespace"], "b");
    }

    #[test]
    fn jobs_drop_generated_selectors() {
        let m = Mappings::default();
        let no = |_: &str| false;
        let mut j = json!({"metadata": {"name": "j"}, "spec": {"selector": {"matchLabels": {"controller-uid": "x"}},
            "template": {"metadata": {"labels": {"controller-uid": "x", "batch.kubernetes.io/controller-uid": "x", "app": "j"}}}}});
        sanitize("batch", "Job", &mut j, &ctx(&m, SanitizeOptions::default(), &no));
        assert!(j["spec"].get("selector").is_none());
        assert_eq!(j["spec"]["template"]["metadata"]["labels"], json!({"app": "j"}));
    }
}
