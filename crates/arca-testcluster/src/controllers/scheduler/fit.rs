//! The scheduler's decision for one pod, a pure function of the pod, the
//! nodes and the pod's claims. Filters run in upstream's order (the first
//! that fails names a node's reason): `NodeUnschedulable`, `NodeAffinity`
//! (`nodeSelector` and required node affinity), `VolumeBinding` (the node
//! affinity of bound volumes). Among fitting nodes the one with the fewest
//! unfinished pods wins, ties by name. Messages are upstream's `FitError`.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::meta;

/// A node and how many unfinished pods it runs.
pub struct NodeView<'a> {
    pub node: &'a Value,
    pub pods: usize,
}

/// What the scheduler sees of one claim a pod uses.
pub enum ClaimView<'a> {
    Missing,
    Deleting,
    /// Not bound, its class binds `Immediate`: the PV controller's job first.
    UnboundImmediate,
    /// Not bound, its class binds `WaitForFirstConsumer`: on the chosen node it
    /// binds to the first of these free volumes that fits the node, else (if
    /// its class has a provisioner) to a volume provisioned there.
    UnboundDelayed {
        free: Vec<&'a Value>,
        provisionable: bool,
    },
    /// Bound to this volume.
    Bound(&'a Value),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Bind to the node; the claims in `select` get the `selected-node`
    /// annotation, those in `prebind` the named free volume.
    Bind {
        node: String,
        select: Vec<String>,
        prebind: Vec<(String, String)>,
    },
    Unschedulable(String),
}

const AFFINITY: &str = "node(s) didn't match Pod's node affinity/selector";
const VOLUME_AFFINITY: &str = "node(s) had volume node affinity conflict";
const UNSCHEDULABLE: &str = "node(s) were unschedulable";
const NO_VOLUMES: &str = "node(s) didn't find available persistent volumes to bind";

pub fn decide(pod: &Value, nodes: &[NodeView<'_>], claims: &[(String, ClaimView<'_>)]) -> Decision {
    let n = nodes.len();
    if n == 0 {
        return Decision::Unschedulable("no nodes available to schedule pods".into());
    }
    if let Some(why) = pre_filter(claims) {
        return Decision::Unschedulable(fit_error(n, &why));
    }
    let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
    let mut fitting: Vec<&NodeView<'_>> = Vec::new();
    for view in nodes {
        match filter(pod, view.node, claims) {
            Some(reason) => *reasons.entry(reason).or_default() += 1,
            None => fitting.push(view),
        }
    }
    let Some(best) = fitting.into_iter().min_by(|a, b| (a.pods, meta::name(a.node)).cmp(&(b.pods, meta::name(b.node))))
    else {
        let mut parts: Vec<String> = reasons.iter().map(|(r, c)| format!("{c} {r}")).collect();
        parts.sort();
        return Decision::Unschedulable(fit_error(n, &parts.join(", ")));
    };
    let (mut select, mut prebind) = (Vec::new(), Vec::new());
    for (name, claim) in claims {
        if let ClaimView::UnboundDelayed { free, .. } = claim {
            match free.iter().find(|pv| fits_volume(pv, best.node)) {
                Some(pv) => prebind.push((name.clone(), meta::name(pv).to_string())),
                None => select.push(name.clone()),
            }
        }
    }
    Decision::Bind { node: meta::name(best.node).to_string(), select, prebind }
}

/// A volume without node affinity fits every node.
fn fits_volume(pv: &Value, node: &Value) -> bool {
    pv.pointer("/spec/nodeAffinity/required")
        .filter(|r| !r.is_null())
        .is_none_or(|required| node_selector_matches(required, node))
}

fn fit_error(n: usize, reasons: &str) -> String {
    format!(
        "0/{n} nodes are available: {reasons}. preemption: 0/{n} nodes are available: {n} Preemption is not helpful for scheduling."
    )
}

fn pre_filter(claims: &[(String, ClaimView<'_>)]) -> Option<String> {
    for (name, claim) in claims {
        match claim {
            ClaimView::Missing => return Some(format!("persistentvolumeclaim \"{name}\" not found")),
            ClaimView::Deleting => return Some(format!("persistentvolumeclaim \"{name}\" is being deleted")),
            _ => {}
        }
    }
    claims
        .iter()
        .any(|(_, c)| matches!(c, ClaimView::UnboundImmediate))
        .then(|| "pod has unbound immediate PersistentVolumeClaims".to_string())
}

fn filter(pod: &Value, node: &Value, claims: &[(String, ClaimView<'_>)]) -> Option<&'static str> {
    if node.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        return Some(UNSCHEDULABLE);
    }
    if !selector_fits(pod, node) || !required_affinity_fits(pod, node) {
        return Some(AFFINITY);
    }
    let volume_conflict = claims.iter().any(|(_, c)| matches!(c, ClaimView::Bound(pv) if !fits_volume(pv, node)));
    if volume_conflict {
        return Some(VOLUME_AFFINITY);
    }
    let unbindable = claims.iter().any(|(_, c)| match c {
        ClaimView::UnboundDelayed { free, provisionable } => {
            !provisionable && !free.iter().any(|pv| fits_volume(pv, node))
        }
        _ => false,
    });
    unbindable.then_some(NO_VOLUMES)
}

fn labels(node: &Value) -> BTreeMap<String, String> {
    node.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
        .unwrap_or_default()
}

fn selector_fits(pod: &Value, node: &Value) -> bool {
    let labels = labels(node);
    pod.pointer("/spec/nodeSelector")
        .and_then(Value::as_object)
        .is_none_or(|m| m.iter().all(|(k, v)| labels.get(k).map(String::as_str) == v.as_str()))
}

fn required_affinity_fits(pod: &Value, node: &Value) -> bool {
    match pod.pointer("/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution") {
        Some(required) if !required.is_null() => node_selector_matches(required, node),
        _ => true,
    }
}

/// A `NodeSelector`: its terms are ORed; a term's expressions and fields are
/// ANDed; a term without any matches nothing.
pub fn node_selector_matches(selector: &Value, node: &Value) -> bool {
    let terms = selector.get("nodeSelectorTerms").and_then(Value::as_array).cloned().unwrap_or_default();
    let labels = labels(node);
    let fields = BTreeMap::from([("metadata.name".to_string(), meta::name(node).to_string())]);
    terms.iter().any(|term| {
        let list = |k: &str| term.get(k).and_then(Value::as_array).cloned().unwrap_or_default();
        let (exprs, field_exprs) = (list("matchExpressions"), list("matchFields"));
        !(exprs.is_empty() && field_exprs.is_empty())
            && exprs.iter().all(|e| requirement_matches(e, &labels))
            && field_exprs.iter().all(|e| requirement_matches(e, &fields))
    })
}

fn requirement_matches(expr: &Value, values_of: &BTreeMap<String, String>) -> bool {
    let key = meta::str_at(expr, "/key").unwrap_or_default();
    let values: Vec<&str> = expr
        .get("values")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let value = values_of.get(key).map(String::as_str);
    let number = |s: &str| s.parse::<i64>().ok();
    let compare = |f: fn(i64, i64) -> bool| match (value.and_then(number), values.first().and_then(|v| number(v))) {
        (Some(have), Some(limit)) if values.len() == 1 => f(have, limit),
        _ => false,
    };
    match meta::str_at(expr, "/operator").unwrap_or_default() {
        "In" => value.is_some_and(|v| values.contains(&v)),
        "NotIn" => value.is_none_or(|v| !values.contains(&v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" => compare(|a, b| a > b),
        "Lt" => compare(|a, b| a < b),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str, zone: &str, extra: Value) -> Value {
        let mut labels = json!({"kubernetes.io/hostname": name, "topology.kubernetes.io/zone": zone});
        if let Some(m) = extra.as_object() {
            labels.as_object_mut().expect("labels").extend(m.clone());
        }
        json!({"metadata": {"name": name, "labels": labels}})
    }

    fn nodes() -> Vec<Value> {
        vec![
            node("n1", "zone-a", json!({"cores": "4"})),
            node("n2", "zone-b", json!({"cores": "16"})),
            node("n3", "zone-a", json!({})),
        ]
    }

    fn views<'a>(nodes: &'a [Value], pods: &[usize]) -> Vec<NodeView<'a>> {
        nodes.iter().zip(pods).map(|(node, pods)| NodeView { node, pods: *pods }).collect()
    }

    fn bind(node: &str) -> Decision {
        Decision::Bind { node: node.into(), select: vec![], prebind: vec![] }
    }

    fn affinity(terms: Value) -> Value {
        json!({"spec": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}}})
    }

    #[test]
    fn spreads_by_unfinished_pods_then_name() {
        let ns = nodes();
        assert_eq!(decide(&json!({}), &views(&ns, &[0, 0, 0]), &[]), bind("n1"));
        assert_eq!(decide(&json!({}), &views(&ns, &[2, 1, 1]), &[]), bind("n2"));
    }

    #[test]
    fn honours_node_selector_and_required_affinity() {
        let ns = nodes();
        let v = views(&ns, &[0, 5, 0]);
        let selector = json!({"spec": {"nodeSelector": {"topology.kubernetes.io/zone": "zone-b"}}});
        assert_eq!(decide(&selector, &v, &[]), bind("n2"));
        let not_in = affinity(
            json!([{"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "NotIn", "values": ["zone-a"]}]}]),
        );
        assert_eq!(decide(&not_in, &v, &[]), bind("n2"));
        let gt = affinity(json!([{"matchExpressions": [{"key": "cores", "operator": "Gt", "values": ["8"]}]}]));
        assert_eq!(decide(&gt, &v, &[]), bind("n2"));
        let lt_or_missing = affinity(json!([
            {"matchExpressions": [{"key": "cores", "operator": "Lt", "values": ["8"]}]},
            {"matchExpressions": [{"key": "cores", "operator": "DoesNotExist"}]}]));
        assert_eq!(decide(&lt_or_missing, &v, &[]), bind("n1"));
        let anded = affinity(json!([{"matchExpressions": [
            {"key": "cores", "operator": "Exists"}, {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["zone-a"]}]}]));
        assert_eq!(decide(&anded, &views(&ns, &[3, 0, 0]), &[]), bind("n1"));
        let by_field =
            affinity(json!([{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n3"]}]}]));
        assert_eq!(decide(&by_field, &v, &[]), bind("n3"));
        let empty_term = affinity(json!([{}]));
        assert!(matches!(decide(&empty_term, &v, &[]), Decision::Unschedulable(_)));
    }

    #[test]
    fn unschedulable_messages_are_upstreams() {
        let ns = nodes();
        let v = views(&ns, &[0, 0, 0]);
        let nowhere = json!({"spec": {"nodeSelector": {"disk": "ssd"}}});
        assert_eq!(
            decide(&nowhere, &v, &[]),
            Decision::Unschedulable("0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.".into())
        );
        let pv = json!({"spec": {"nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "kubernetes.io/hostname", "operator": "In", "values": ["n3"]}]}]}}}});
        let zone_b = json!({"spec": {"nodeSelector": {"topology.kubernetes.io/zone": "zone-a"}}});
        let claims = [("data".to_string(), ClaimView::Bound(&pv))];
        assert_eq!(decide(&json!({}), &v, &claims), bind("n3"));
        let mut cordoned = ns.clone();
        cordoned[2]["spec"] = json!({"unschedulable": true});
        assert_eq!(
            decide(&zone_b, &views(&cordoned, &[0, 0, 0]), &claims),
            Decision::Unschedulable("0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) had volume node affinity conflict, 1 node(s) were unschedulable. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.".into())
        );
        let immediate = [("data".to_string(), ClaimView::UnboundImmediate)];
        assert_eq!(
            decide(&json!({}), &v, &immediate),
            Decision::Unschedulable("0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.".into())
        );
        let missing = [("gone".to_string(), ClaimView::Missing)];
        assert!(
            matches!(decide(&json!({}), &v, &missing), Decision::Unschedulable(m) if m.contains("persistentvolumeclaim \"gone\" not found"))
        );
        let delayed = [("data".to_string(), ClaimView::UnboundDelayed { free: vec![], provisionable: true })];
        assert_eq!(
            decide(&json!({}), &v, &delayed),
            Decision::Bind { node: "n1".into(), select: vec!["data".into()], prebind: vec![] }
        );
    }

    #[test]
    fn delayed_claims_take_a_free_volume_of_the_node_or_are_provisioned() {
        let ns = nodes();
        let v = views(&ns, &[0, 0, 0]);
        let on_n2 = json!({"metadata": {"name": "pv-n2"}, "spec": {"nodeAffinity": {"required": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["n2"]}]}]}}}});
        let static_only =
            [("data".to_string(), ClaimView::UnboundDelayed { free: vec![&on_n2], provisionable: false })];
        assert_eq!(
            decide(&json!({}), &v, &static_only),
            Decision::Bind { node: "n2".into(), select: vec![], prebind: vec![("data".into(), "pv-n2".into())] }
        );
        let none = [("data".to_string(), ClaimView::UnboundDelayed { free: vec![], provisionable: false })];
        assert_eq!(
            decide(&json!({}), &v, &none),
            Decision::Unschedulable("0/3 nodes are available: 3 node(s) didn't find available persistent volumes to bind. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.".into())
        );
        let either = [("data".to_string(), ClaimView::UnboundDelayed { free: vec![&on_n2], provisionable: true })];
        assert_eq!(
            decide(&json!({}), &v, &either),
            Decision::Bind { node: "n1".into(), select: vec!["data".into()], prebind: vec![] }
        );
    }
}
