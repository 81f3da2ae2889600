//! Conversions of built-in objects between API versions, kept as data: one
//! row per (kind, from group/version, to group/version), chained. A backup
//! holds each object at the version its cluster preferred; a newer cluster
//! may no longer serve it (flowcontrol `v1beta2` is gone in 1.29, `v1beta3`
//! in 1.32). [`chain`] finds the rows leading to a version the target
//! serves, [`apply`] runs them. Each row follows the Kubernetes deprecated
//! API migration guide; rows marked "no field changes" only relabel.
//!
//! Left out: apiextensions v1beta1 → v1 does not make a non-structural
//! schema structural (the target refuses it, and the server-side dry run
//! before the write says so); admissionregistration v1beta1 → v1 cannot
//! choose `sideEffects` for a webhook that left it unset (same); workloads
//! of `extensions`/`apps/v1beta*` (gone since 1.16) and
//! CertificateSigningRequests `v1beta1` (no `signerName` to choose) have no
//! row, so they fail with the versions named.

use std::collections::VecDeque;

use serde_json::{Map, Value, json};

use crate::objects::{self, remove_at};

/// One conversion step.
#[derive(Debug)]
pub struct Rule {
    pub kind: &'static str,
    /// (group, version) converted from.
    pub from: (&'static str, &'static str),
    /// (group, version) converted to.
    pub to: (&'static str, &'static str),
    pub convert: fn(&mut Value),
    /// What changes, for the documentation and the report.
    pub changes: &'static str,
}

impl Rule {
    pub fn from_api_version(&self) -> String {
        objects::api_version(self.from.0, self.from.1)
    }

    pub fn to_api_version(&self) -> String {
        objects::api_version(self.to.0, self.to.1)
    }
}

const fn row(
    kind: &'static str,
    from: (&'static str, &'static str),
    to: (&'static str, &'static str),
    convert: fn(&mut Value),
    changes: &'static str,
) -> Rule {
    Rule { kind, from, to, convert, changes }
}

/// A row without field changes: the versions share their schema.
const fn relabel(kind: &'static str, group: &'static str, from: &'static str, to: &'static str) -> Rule {
    Rule { kind, from: (group, from), to: (group, to), convert: unchanged, changes: "no field changes" }
}

const APF: &str = "flowcontrol.apiserver.k8s.io";
const RBAC: &str = "rbac.authorization.k8s.io";
const ADMISSION: &str = "admissionregistration.k8s.io";
const NETWORKING: &str = "networking.k8s.io";
const STORAGE: &str = "storage.k8s.io";

/// Every conversion Arca knows.
pub const RULES: &[Rule] = &[
    relabel("FlowSchema", APF, "v1beta1", "v1beta2"),
    relabel("FlowSchema", APF, "v1beta2", "v1beta3"),
    relabel("FlowSchema", APF, "v1beta3", "v1"),
    relabel("PriorityLevelConfiguration", APF, "v1beta1", "v1beta2"),
    row(
        "PriorityLevelConfiguration",
        (APF, "v1beta2"),
        (APF, "v1beta3"),
        plc_assured_to_nominal,
        "spec.limited.assuredConcurrencyShares → nominalConcurrencyShares (0 meant the default, 30)",
    ),
    row(
        "PriorityLevelConfiguration",
        (APF, "v1beta3"),
        (APF, "v1"),
        plc_zero_shares_explicit,
        "nominalConcurrencyShares 0 meant 30 in v1beta3 (unless the preserve-zero annotation); v1 keeps 0, so 30 is written",
    ),
    row(
        "HorizontalPodAutoscaler",
        ("autoscaling", "v2beta1"),
        ("autoscaling", "v2beta2"),
        hpa_v2beta1_metrics,
        "metrics: target* fields → target {type, value|averageValue|averageUtilization}, metricName → metric.name; behavior from its annotation; status dropped (recomputed)",
    ),
    relabel("HorizontalPodAutoscaler", "autoscaling", "v2beta2", "v2"),
    relabel("CronJob", "batch", "v1beta1", "v1"),
    row(
        "PodDisruptionBudget",
        ("policy", "v1beta1"),
        ("policy", "v1"),
        pdb_selector,
        "an empty spec.selector selected no pods in v1beta1 and selects all in v1: written as the match-none selector",
    ),
    row("Ingress", (NETWORKING, "v1beta1"), (NETWORKING, "v1"), ingress_v1, INGRESS_CHANGES),
    row("Ingress", ("extensions", "v1beta1"), (NETWORKING, "v1"), ingress_v1, INGRESS_CHANGES),
    relabel("IngressClass", NETWORKING, "v1beta1", "v1"),
    row("NetworkPolicy", ("extensions", "v1beta1"), (NETWORKING, "v1"), unchanged, "no field changes"),
    row(
        "EndpointSlice",
        ("discovery.k8s.io", "v1beta1"),
        ("discovery.k8s.io", "v1"),
        endpoint_slice_topology,
        "endpoints[].topology: kubernetes.io/hostname → nodeName, topology.kubernetes.io/zone → zone, the rest dropped (not writable in v1)",
    ),
    relabel("CSIStorageCapacity", STORAGE, "v1beta1", "v1"),
    relabel("CSIDriver", STORAGE, "v1beta1", "v1"),
    relabel("CSINode", STORAGE, "v1beta1", "v1"),
    relabel("StorageClass", STORAGE, "v1beta1", "v1"),
    relabel("VolumeAttachment", STORAGE, "v1beta1", "v1"),
    relabel("Event", "events.k8s.io", "v1beta1", "v1"),
    relabel("RuntimeClass", "node.k8s.io", "v1beta1", "v1"),
    relabel("PriorityClass", "scheduling.k8s.io", "v1beta1", "v1"),
    relabel("PriorityClass", "scheduling.k8s.io", "v1alpha1", "v1"),
    relabel("Role", RBAC, "v1beta1", "v1"),
    relabel("ClusterRole", RBAC, "v1beta1", "v1"),
    relabel("RoleBinding", RBAC, "v1beta1", "v1"),
    relabel("ClusterRoleBinding", RBAC, "v1beta1", "v1"),
    row("MutatingWebhookConfiguration", (ADMISSION, "v1beta1"), (ADMISSION, "v1"), webhook_defaults, WEBHOOK_CHANGES),
    row("ValidatingWebhookConfiguration", (ADMISSION, "v1beta1"), (ADMISSION, "v1"), webhook_defaults, WEBHOOK_CHANGES),
    row(
        "CustomResourceDefinition",
        ("apiextensions.k8s.io", "v1beta1"),
        ("apiextensions.k8s.io", "v1"),
        crd_v1,
        "spec.version/validation/subresources/additionalPrinterColumns → per version (JSONPath → jsonPath), conversion webhook fields → conversion.webhook, scope defaults to Namespaced, preserveUnknownFields → x-kubernetes-preserve-unknown-fields",
    ),
    relabel("APIService", "apiregistration.k8s.io", "v1beta1", "v1"),
    relabel("Lease", "coordination.k8s.io", "v1beta1", "v1"),
];

const INGRESS_CHANGES: &str = "spec.backend → spec.defaultBackend; serviceName/servicePort → service.name and service.port.number|name; pathType defaults to ImplementationSpecific";
const WEBHOOK_CHANGES: &str = "v1beta1 defaults written out (failurePolicy Ignore, matchPolicy Exact, timeoutSeconds 30, admissionReviewVersions [v1beta1])";

/// The rows leading from `from` to the served version the target prefers
/// most, for `kind`. `served_rank` tells whether the target serves a
/// (group, version) of this kind and how much it prefers it (0 best).
/// `None` when no served version is reachable; an empty chain never.
pub fn chain(
    kind: &str,
    from: (&str, &str),
    served_rank: &dyn Fn(&str, &str) -> Option<usize>,
) -> Option<Vec<&'static Rule>> {
    let mut best: Option<(usize, Vec<&'static Rule>)> = None;
    let mut queue: VecDeque<((&str, &str), Vec<&'static Rule>)> = VecDeque::from([(from, Vec::new())]);
    while let Some((at, path)) = queue.pop_front() {
        // Rows only lead forward, but bound the walk against a cycle in the table.
        if path.len() > RULES.len() {
            break;
        }
        for rule in RULES.iter().filter(|r| r.kind == kind && r.from == at) {
            let mut next = path.clone();
            next.push(rule);
            if let Some(rank) = served_rank(rule.to.0, rule.to.1) {
                let better = best.as_ref().is_none_or(|(r, p)| (rank, next.len()) < (*r, p.len()));
                if better {
                    best = Some((rank, next.clone()));
                }
            }
            queue.push_back((rule.to, next));
        }
    }
    best.map(|(_, path)| path)
}

/// Runs the rows in order, relabelling the object at each step.
pub fn apply(obj: &mut Value, rules: &[&Rule]) {
    for rule in rules {
        (rule.convert)(obj);
        obj["apiVersion"] = json!(rule.to_api_version());
    }
}

/// `converted from A to B` for the report.
pub fn describe(rules: &[&Rule]) -> Option<String> {
    let (first, last) = (rules.first()?, rules.last()?);
    Some(format!("converted from {} to {}", first.from_api_version(), last.to_api_version()))
}

fn unchanged(_: &mut Value) {}

/// The fields' map at `pointer`, created when missing.
fn map_at<'a>(obj: &'a mut Value, pointer: &str) -> Option<&'a mut Map<String, Value>> {
    obj.pointer_mut(pointer).and_then(Value::as_object_mut)
}

/// v1beta2's `assuredConcurrencyShares` is v1beta3's `nominalConcurrencyShares`;
/// 0 (or unset) was defaulted to 30 by both.
fn plc_assured_to_nominal(obj: &mut Value) {
    let Some(limited) = map_at(obj, "/spec/limited") else {
        return;
    };
    let shares = limited.remove("assuredConcurrencyShares").and_then(|v| v.as_i64()).unwrap_or(0);
    limited.insert("nominalConcurrencyShares".into(), json!(if shares == 0 { 30 } else { shares }));
}

const PRESERVE_ZERO: &str = "flowcontrol.k8s.io/v1beta3-preserve-zero-concurrency-shares";

/// v1beta3 read 0 as "the default, 30" unless the round-trip annotation was
/// set; v1 keeps an explicit 0 and refuses the annotation.
fn plc_zero_shares_explicit(obj: &mut Value) {
    let preserve_zero = map_at(obj, "/metadata/annotations").and_then(|a| a.remove(PRESERVE_ZERO)).is_some();
    if obj.pointer("/metadata/annotations").and_then(Value::as_object).is_some_and(Map::is_empty) {
        remove_at(obj, "/metadata/annotations");
    }
    let Some(limited) = map_at(obj, "/spec/limited") else {
        return;
    };
    let shares = limited.get("nominalConcurrencyShares").and_then(Value::as_i64).unwrap_or(0);
    if shares == 0 && !preserve_zero {
        limited.insert("nominalConcurrencyShares".into(), json!(30));
    }
}

/// A v2 `MetricTarget` from v2beta1's separate target fields.
fn metric_target(m: &mut Map<String, Value>) -> Value {
    if let Some(u) = m.remove("targetAverageUtilization") {
        return json!({"type": "Utilization", "averageUtilization": u});
    }
    if let Some(v) = m.remove("targetAverageValue").or_else(|| m.remove("averageValue")) {
        m.remove("targetValue");
        return json!({"type": "AverageValue", "averageValue": v});
    }
    json!({"type": "Value", "value": m.remove("targetValue").unwrap_or(Value::Null)})
}

/// A v2 `MetricIdentifier` from `metricName` and a selector field.
fn metric_identifier(m: &mut Map<String, Value>, selector_field: &str) -> Value {
    let mut id = json!({"name": m.remove("metricName").unwrap_or(Value::Null)});
    if let Some(sel) = m.remove(selector_field) {
        id["selector"] = sel;
    }
    id
}

fn hpa_metric(metric: &mut Value) {
    let Some(kind) = objects::str_at(metric, "/type").map(str::to_ascii_lowercase) else {
        return;
    };
    let key = match kind.as_str() {
        "containerresource" => "containerResource",
        other => other,
    };
    let Some(m) = metric.get_mut(key).and_then(Value::as_object_mut) else {
        return;
    };
    match key {
        "resource" | "containerResource" => {
            let target = metric_target(m);
            m.insert("target".into(), target);
        }
        "pods" => {
            let id = metric_identifier(m, "selector");
            let target = metric_target(m);
            m.insert("metric".into(), id);
            m.insert("target".into(), target);
        }
        "object" => {
            let described = m.remove("target").unwrap_or(Value::Null);
            let id = metric_identifier(m, "selector");
            let target = metric_target(m);
            m.insert("describedObject".into(), described);
            m.insert("metric".into(), id);
            m.insert("target".into(), target);
        }
        "external" => {
            let id = metric_identifier(m, "metricSelector");
            let target = metric_target(m);
            m.insert("metric".into(), id);
            m.insert("target".into(), target);
        }
        _ => {}
    }
}

const HPA_BEHAVIOR: &str = "autoscaling.alpha.kubernetes.io/behavior";
const HPA_CONDITIONS: &str = "autoscaling.alpha.kubernetes.io/conditions";

/// v2beta1 metrics → v2beta2 shape; v2beta1 kept `behavior` (and the
/// status conditions) in annotations.
fn hpa_v2beta1_metrics(obj: &mut Value) {
    for m in obj.pointer_mut("/spec/metrics").and_then(Value::as_array_mut).into_iter().flatten() {
        hpa_metric(m);
    }
    let behavior = map_at(obj, "/metadata/annotations").and_then(|a| {
        a.remove(HPA_CONDITIONS);
        a.remove(HPA_BEHAVIOR)
    });
    if let Some(b) = behavior.as_ref().and_then(Value::as_str).and_then(|t| serde_json::from_str::<Value>(t).ok()) {
        if let Some(spec) = map_at(obj, "/spec") {
            spec.insert("behavior".into(), b);
        }
    }
    if obj.pointer("/metadata/annotations").and_then(Value::as_object).is_some_and(Map::is_empty) {
        remove_at(obj, "/metadata/annotations");
    }
    remove_at(obj, "/status");
}

const PDB_V1BETA1_LABEL: &str = "pdb.kubernetes.io/deprecated-v1beta1-empty-selector-match";

fn is_empty_selector(sel: &Value) -> bool {
    let empty = |k: &str| {
        sel.get(k).is_none_or(|v| v.as_object().is_some_and(Map::is_empty) || v.as_array().is_some_and(Vec::is_empty))
    };
    sel.is_object() && empty("matchLabels") && empty("matchExpressions")
}

/// The selector v1beta1 shows for a v1 "match all": only the marker label
/// required absent.
fn is_v1beta1_match_all(sel: &Value) -> bool {
    let exprs = sel.get("matchExpressions").and_then(Value::as_array);
    sel.get("matchLabels").is_none_or(|l| l.as_object().is_some_and(Map::is_empty))
        && exprs.is_some_and(|e| {
            e.len() == 1
                && objects::str_at(&e[0], "/key") == Some(PDB_V1BETA1_LABEL)
                && objects::str_at(&e[0], "/operator") == Some("DoesNotExist")
        })
}

/// As the API server converts: v1beta1 `{}` matches no pods (in v1 it would
/// match all), and the marker "does not exist" selector is v1's `{}`.
fn pdb_selector(obj: &mut Value) {
    let Some(sel) = obj.pointer_mut("/spec/selector") else {
        return;
    };
    if is_empty_selector(sel) {
        *sel = json!({"matchExpressions": [{"key": PDB_V1BETA1_LABEL, "operator": "Exists"}]});
    } else if is_v1beta1_match_all(sel) {
        *sel = json!({});
    }
}

/// A v1beta1 Ingress backend in v1 shape (`resource` backends are the same).
fn ingress_backend(b: &mut Value) {
    let Some(m) = b.as_object_mut() else {
        return;
    };
    let Some(name) = m.remove("serviceName") else {
        return;
    };
    let port = match m.remove("servicePort") {
        Some(Value::String(s)) => match s.parse::<i64>() {
            // A port name is never all digits: "80" meant the number.
            Ok(n) => json!({"number": n}),
            Err(_) => json!({"name": s}),
        },
        Some(n @ Value::Number(_)) => json!({"number": n}),
        _ => json!({}),
    };
    m.insert("service".into(), json!({"name": name, "port": port}));
}

fn ingress_v1(obj: &mut Value) {
    if let Some(mut backend) = remove_at(obj, "/spec/backend") {
        ingress_backend(&mut backend);
        if let Some(spec) = map_at(obj, "/spec") {
            spec.insert("defaultBackend".into(), backend);
        }
    }
    for rule in obj.pointer_mut("/spec/rules").and_then(Value::as_array_mut).into_iter().flatten() {
        for path in rule.pointer_mut("/http/paths").and_then(Value::as_array_mut).into_iter().flatten() {
            if let Some(b) = path.get_mut("backend") {
                ingress_backend(b);
            }
            if let Some(p) = path.as_object_mut() {
                p.entry("pathType").or_insert_with(|| json!("ImplementationSpecific"));
            }
        }
    }
}

fn endpoint_slice_topology(obj: &mut Value) {
    for ep in obj.pointer_mut("/endpoints").and_then(Value::as_array_mut).into_iter().flatten() {
        let Some(m) = ep.as_object_mut() else {
            continue;
        };
        let Some(Value::Object(topology)) = m.remove("topology") else {
            continue;
        };
        if let Some(host) = topology.get("kubernetes.io/hostname") {
            m.entry("nodeName").or_insert_with(|| host.clone());
        }
        if let Some(zone) = topology.get("topology.kubernetes.io/zone") {
            m.entry("zone").or_insert_with(|| zone.clone());
        }
    }
}

/// v1 changed the defaults; writing v1beta1's keeps the webhook's behaviour.
fn webhook_defaults(obj: &mut Value) {
    let defaults = [
        ("failurePolicy", json!("Ignore")),
        ("matchPolicy", json!("Exact")),
        ("timeoutSeconds", json!(30)),
        ("admissionReviewVersions", json!(["v1beta1"])),
    ];
    for hook in obj.pointer_mut("/webhooks").and_then(Value::as_array_mut).into_iter().flatten() {
        let Some(h) = hook.as_object_mut() else {
            continue;
        };
        for (field, value) in &defaults {
            h.entry(*field).or_insert_with(|| value.clone());
        }
    }
}

fn printer_columns(mut cols: Value) -> Value {
    for c in cols.as_array_mut().into_iter().flatten() {
        if let Some(m) = c.as_object_mut() {
            if let Some(p) = m.remove("JSONPath") {
                m.insert("jsonPath".into(), p);
            }
        }
    }
    cols
}

/// apiextensions v1beta1 → v1: top-level per-CRD settings move into every
/// version; v1beta1 preserved unknown fields unless told not to.
fn crd_v1(obj: &mut Value) {
    let Some(spec) = map_at(obj, "/spec") else {
        return;
    };
    spec.entry("scope").or_insert_with(|| json!("Namespaced"));
    let version = spec.remove("version");
    let schema = spec.remove("validation").and_then(|v| v.get("openAPIV3Schema").cloned());
    let subresources = spec.remove("subresources");
    let columns = spec.remove("additionalPrinterColumns").map(printer_columns);
    let preserve = spec.remove("preserveUnknownFields").is_none_or(|p| p.as_bool() != Some(false));
    let versions = spec
        .entry("versions")
        .or_insert_with(|| json!([{"name": version.clone().unwrap_or(Value::Null), "served": true, "storage": true}]));
    for v in versions.as_array_mut().into_iter().flatten() {
        let Some(v) = v.as_object_mut() else {
            continue;
        };
        let mut own_schema = v
            .remove("schema")
            .and_then(|s| s.get("openAPIV3Schema").cloned())
            .or_else(|| schema.clone())
            .unwrap_or_else(|| json!({"type": "object"}));
        if preserve {
            own_schema["x-kubernetes-preserve-unknown-fields"] = json!(true);
        }
        v.insert("schema".into(), json!({"openAPIV3Schema": own_schema}));
        if let (None, Some(s)) = (v.get("subresources"), &subresources) {
            v.insert("subresources".into(), s.clone());
        }
        match (v.remove("additionalPrinterColumns"), &columns) {
            (Some(own), _) => {
                v.insert("additionalPrinterColumns".into(), printer_columns(own));
            }
            (None, Some(c)) => {
                v.insert("additionalPrinterColumns".into(), c.clone());
            }
            (None, None) => {}
        }
    }
    crd_conversion_webhook(spec);
}

fn crd_conversion_webhook(spec: &mut Map<String, Value>) {
    let Some(conv) = spec.get_mut("conversion").and_then(Value::as_object_mut) else {
        return;
    };
    let client = conv.remove("webhookClientConfig");
    let review = conv.remove("conversionReviewVersions");
    if objects::str_at(&Value::Object(conv.clone()), "/strategy") != Some("Webhook") {
        return;
    }
    let mut webhook = json!({"conversionReviewVersions": review.unwrap_or_else(|| json!(["v1beta1"]))});
    if let Some(c) = client {
        webhook["clientConfig"] = c;
    }
    conv.insert("webhook".into(), webhook);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The target serves these (group, version)s, most preferred first.
    fn serves<'a>(list: &'a [(&'a str, &'a str)]) -> impl Fn(&str, &str) -> Option<usize> + 'a {
        move |g, v| list.iter().position(|(lg, lv)| *lg == g && *lv == v)
    }

    fn convert(obj: &mut Value, kind: &str, from: (&str, &str), target: &[(&str, &str)]) -> Option<String> {
        let rules = chain(kind, from, &serves(target))?;
        apply(obj, &rules);
        describe(&rules)
    }

    #[test]
    fn every_row_leads_to_a_different_version_and_is_documented() {
        for r in RULES {
            assert_ne!(r.from, r.to, "{r:?}");
            assert!(!r.changes.is_empty(), "{r:?}");
        }
    }

    #[test]
    fn flowcontrol_chains_to_the_most_preferred_served_version() {
        let target = [(APF, "v1"), (APF, "v1beta3")];
        let rules = chain("FlowSchema", (APF, "v1beta2"), &serves(&target)).unwrap_or_default();
        let steps: Vec<String> = rules.iter().map(|r| r.to_api_version()).collect();
        assert_eq!(steps, [format!("{APF}/v1beta3"), format!("{APF}/v1")]);
        // A 1.26 target serves v1beta3 at best.
        let older = [(APF, "v1beta3"), (APF, "v1beta2")];
        assert!(chain("FlowSchema", (APF, "v1beta1"), &serves(&older)).is_some_and(|r| r.len() == 2));
        assert!(chain("FlowSchema", (APF, "v1beta2"), &serves(&[("apps", "v1")])).is_none());
    }

    #[test]
    fn priority_level_from_v1beta2_to_v1_keeps_its_shares() {
        let mut plc = json!({"apiVersion": "flowcontrol.apiserver.k8s.io/v1beta2", "kind": "PriorityLevelConfiguration",
            "metadata": {"name": "shop-batch"},
            "spec": {"type": "Limited", "limited": {"assuredConcurrencyShares": 5,
                "limitResponse": {"type": "Queue", "queuing": {"queues": 16, "handSize": 4, "queueLengthLimit": 50}}}}});
        let note = convert(&mut plc, "PriorityLevelConfiguration", (APF, "v1beta2"), &[(APF, "v1")]);
        assert_eq!(
            note.as_deref(),
            Some("converted from flowcontrol.apiserver.k8s.io/v1beta2 to flowcontrol.apiserver.k8s.io/v1")
        );
        assert_eq!(
            plc,
            json!({"apiVersion": "flowcontrol.apiserver.k8s.io/v1", "kind": "PriorityLevelConfiguration",
                "metadata": {"name": "shop-batch"},
                "spec": {"type": "Limited", "limited": {"nominalConcurrencyShares": 5,
                    "limitResponse": {"type": "Queue", "queuing": {"queues": 16, "handSize": 4, "queueLengthLimit": 50}}}}})
        );
    }

    #[test]
    fn zero_shares_mean_the_default_unless_preserved() {
        let plc = |shares: i64, annotations: Value| {
            json!({"apiVersion": "flowcontrol.apiserver.k8s.io/v1beta3", "kind": "PriorityLevelConfiguration",
                "metadata": {"name": "p", "annotations": annotations},
                "spec": {"type": "Limited", "limited": {"nominalConcurrencyShares": shares}}})
        };
        let mut defaulted = plc(0, json!({}));
        convert(&mut defaulted, "PriorityLevelConfiguration", (APF, "v1beta3"), &[(APF, "v1")]);
        assert_eq!(defaulted["spec"]["limited"]["nominalConcurrencyShares"], 30);
        assert!(defaulted["metadata"].get("annotations").is_none());
        let mut zero = plc(0, json!({PRESERVE_ZERO: "", "team": "shop"}));
        convert(&mut zero, "PriorityLevelConfiguration", (APF, "v1beta3"), &[(APF, "v1")]);
        assert_eq!(zero["spec"]["limited"]["nominalConcurrencyShares"], 0);
        assert_eq!(zero["metadata"]["annotations"], json!({"team": "shop"}));
        let mut v1beta2_zero =
            json!({"kind": "PriorityLevelConfiguration", "spec": {"limited": {"assuredConcurrencyShares": 0}}});
        convert(&mut v1beta2_zero, "PriorityLevelConfiguration", (APF, "v1beta2"), &[(APF, "v1beta3")]);
        assert_eq!(v1beta2_zero["spec"]["limited"], json!({"nominalConcurrencyShares": 30}));
    }

    #[test]
    fn hpa_v2beta1_metrics_take_the_v2_shape() {
        let mut hpa = json!({"apiVersion": "autoscaling/v2beta1", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": "shop", "annotations": {
                HPA_BEHAVIOR: "{\"scaleDown\":{\"stabilizationWindowSeconds\":60}}",
                HPA_CONDITIONS: "[]"}},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minReplicas": 2, "maxReplicas": 10, "metrics": [
                {"type": "Resource", "resource": {"name": "cpu", "targetAverageUtilization": 70}},
                {"type": "ContainerResource", "containerResource": {"name": "memory", "container": "app", "targetAverageValue": "500Mi"}},
                {"type": "Pods", "pods": {"metricName": "rps", "targetAverageValue": "100"}},
                {"type": "Object", "object": {"target": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "web"},
                    "metricName": "hits", "targetValue": "2k"}},
                {"type": "External", "external": {"metricName": "queue", "metricSelector": {"matchLabels": {"q": "jobs"}},
                    "targetAverageValue": "30"}}]},
            "status": {"currentReplicas": 2, "desiredReplicas": 2, "currentMetrics": []}});
        let note = convert(
            &mut hpa,
            "HorizontalPodAutoscaler",
            ("autoscaling", "v2beta1"),
            &[("autoscaling", "v2"), ("autoscaling", "v1")],
        );
        assert_eq!(note.as_deref(), Some("converted from autoscaling/v2beta1 to autoscaling/v2"));
        assert_eq!(
            hpa,
            json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "web", "namespace": "shop"},
                "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                    "minReplicas": 2, "maxReplicas": 10,
                    "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}},
                    "metrics": [
                    {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}},
                    {"type": "ContainerResource", "containerResource": {"name": "memory", "container": "app",
                        "target": {"type": "AverageValue", "averageValue": "500Mi"}}},
                    {"type": "Pods", "pods": {"metric": {"name": "rps"}, "target": {"type": "AverageValue", "averageValue": "100"}}},
                    {"type": "Object", "object": {
                        "describedObject": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "web"},
                        "metric": {"name": "hits"}, "target": {"type": "Value", "value": "2k"}}},
                    {"type": "External", "external": {"metric": {"name": "queue", "selector": {"matchLabels": {"q": "jobs"}}},
                        "target": {"type": "AverageValue", "averageValue": "30"}}}]}})
        );
    }

    #[test]
    fn pdb_selectors_keep_their_meaning() {
        let pdb = |sel: Value| {
            json!({"apiVersion": "policy/v1beta1", "kind": "PodDisruptionBudget",
            "metadata": {"name": "web", "namespace": "shop"}, "spec": {"minAvailable": 1, "selector": sel}})
        };
        let target = [("policy", "v1")];
        let mut none = pdb(json!({}));
        convert(&mut none, "PodDisruptionBudget", ("policy", "v1beta1"), &target);
        assert_eq!(none["apiVersion"], "policy/v1");
        assert_eq!(
            none["spec"]["selector"],
            json!({"matchExpressions": [{"key": PDB_V1BETA1_LABEL, "operator": "Exists"}]})
        );
        let mut all = pdb(json!({"matchExpressions": [{"key": PDB_V1BETA1_LABEL, "operator": "DoesNotExist"}]}));
        convert(&mut all, "PodDisruptionBudget", ("policy", "v1beta1"), &target);
        assert_eq!(all["spec"]["selector"], json!({}));
        let mut labelled = pdb(json!({"matchLabels": {"app": "web"}}));
        convert(&mut labelled, "PodDisruptionBudget", ("policy", "v1beta1"), &target);
        assert_eq!(labelled["spec"]["selector"], json!({"matchLabels": {"app": "web"}}));
    }

    #[test]
    fn ingress_backends_move_to_v1_fields() {
        let mut ing = json!({"apiVersion": "extensions/v1beta1", "kind": "Ingress", "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"backend": {"serviceName": "fallback", "servicePort": 8080},
                "rules": [{"host": "shop.example.com", "http": {"paths": [
                    {"path": "/", "backend": {"serviceName": "web", "servicePort": "http"}},
                    {"path": "/api", "pathType": "Prefix", "backend": {"serviceName": "api", "servicePort": "9000"}},
                    {"path": "/static", "backend": {"resource": {"apiGroup": "k8s.example.com", "kind": "Bucket", "name": "assets"}}}]}}]}});
        let note = convert(&mut ing, "Ingress", ("extensions", "v1beta1"), &[(NETWORKING, "v1")]);
        assert_eq!(note.as_deref(), Some("converted from extensions/v1beta1 to networking.k8s.io/v1"));
        assert_eq!(
            ing,
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "web", "namespace": "shop"},
                "spec": {"defaultBackend": {"service": {"name": "fallback", "port": {"number": 8080}}},
                    "rules": [{"host": "shop.example.com", "http": {"paths": [
                        {"path": "/", "pathType": "ImplementationSpecific", "backend": {"service": {"name": "web", "port": {"name": "http"}}}},
                        {"path": "/api", "pathType": "Prefix", "backend": {"service": {"name": "api", "port": {"number": 9000}}}},
                        {"path": "/static", "pathType": "ImplementationSpecific",
                         "backend": {"resource": {"apiGroup": "k8s.example.com", "kind": "Bucket", "name": "assets"}}}]}}]}})
        );
    }

    #[test]
    fn endpoint_slice_topology_becomes_fields() {
        let mut slice = json!({"apiVersion": "discovery.k8s.io/v1beta1", "kind": "EndpointSlice", "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.0.0.5"], "topology": {"kubernetes.io/hostname": "node-a",
                "topology.kubernetes.io/zone": "eu-1a", "rack": "r7"}}]});
        convert(&mut slice, "EndpointSlice", ("discovery.k8s.io", "v1beta1"), &[("discovery.k8s.io", "v1")]);
        assert_eq!(slice["endpoints"][0], json!({"addresses": ["10.0.0.5"], "nodeName": "node-a", "zone": "eu-1a"}));
    }

    #[test]
    fn webhooks_keep_their_v1beta1_defaults() {
        let mut cfg = json!({"apiVersion": "admissionregistration.k8s.io/v1beta1", "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": "policy"}, "webhooks": [{"name": "check.example.com", "sideEffects": "None", "timeoutSeconds": 5,
                "clientConfig": {"service": {"name": "policy", "namespace": "policy"}}}]});
        convert(&mut cfg, "ValidatingWebhookConfiguration", (ADMISSION, "v1beta1"), &[(ADMISSION, "v1")]);
        assert_eq!(cfg["webhooks"][0]["failurePolicy"], "Ignore");
        assert_eq!(cfg["webhooks"][0]["matchPolicy"], "Exact");
        assert_eq!(cfg["webhooks"][0]["timeoutSeconds"], 5, "explicit values stay");
        assert_eq!(cfg["webhooks"][0]["admissionReviewVersions"], json!(["v1beta1"]));
    }

    #[test]
    fn crd_v1beta1_settings_move_into_each_version() {
        let mut crd = json!({"apiVersion": "apiextensions.k8s.io/v1beta1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "version": "v1", "names": {"plural": "widgets", "kind": "Widget"},
                "validation": {"openAPIV3Schema": {"type": "object", "properties": {"size": {"type": "integer"}}}},
                "subresources": {"status": {}},
                "additionalPrinterColumns": [{"name": "Size", "type": "integer", "JSONPath": ".spec.size"}],
                "conversion": {"strategy": "None"}}});
        convert(
            &mut crd,
            "CustomResourceDefinition",
            ("apiextensions.k8s.io", "v1beta1"),
            &[("apiextensions.k8s.io", "v1")],
        );
        assert_eq!(
            crd["spec"],
            json!({"group": "example.com", "names": {"plural": "widgets", "kind": "Widget"}, "scope": "Namespaced",
                "conversion": {"strategy": "None"},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "properties": {"size": {"type": "integer"}},
                        "x-kubernetes-preserve-unknown-fields": true}},
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [{"name": "Size", "type": "integer", "jsonPath": ".spec.size"}]}]})
        );
        let mut webhook = json!({"kind": "CustomResourceDefinition", "spec": {"preserveUnknownFields": false,
            "versions": [{"name": "v1", "served": true, "storage": true}],
            "conversion": {"strategy": "Webhook", "webhookClientConfig": {"url": "https://conv.example.com"}}}});
        convert(
            &mut webhook,
            "CustomResourceDefinition",
            ("apiextensions.k8s.io", "v1beta1"),
            &[("apiextensions.k8s.io", "v1")],
        );
        assert_eq!(
            webhook["spec"]["conversion"],
            json!({"strategy": "Webhook",
            "webhook": {"clientConfig": {"url": "https://conv.example.com"}, "conversionReviewVersions": ["v1beta1"]}})
        );
        assert_eq!(webhook["spec"]["versions"][0]["schema"], json!({"openAPIV3Schema": {"type": "object"}}));
    }

    #[test]
    fn relabelled_kinds_change_only_their_api_version() {
        let mut cron = json!({"apiVersion": "batch/v1beta1", "kind": "CronJob", "metadata": {"name": "report", "namespace": "shop"},
            "spec": {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "r", "image": "r"}]}}}}}});
        let before = cron.clone();
        convert(&mut cron, "CronJob", ("batch", "v1beta1"), &[("batch", "v1")]);
        assert_eq!(cron["apiVersion"], "batch/v1");
        assert_eq!(cron["spec"], before["spec"]);
        assert!(chain("PodSecurityPolicy", ("policy", "v1beta1"), &serves(&[("policy", "v1")])).is_none());
    }
}
