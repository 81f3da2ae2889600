//! The volumes in a backup's selection: claims the filter selects or a
//! selected pod mounts, with their PVs, storage classes, snapshot classes
//! and the running pods mounting them; plus the inline `hostPath` volumes of
//! selected running pods. Reading the cluster is [`read`]; putting the
//! pieces together is [`assemble`], pure.

use std::collections::{BTreeMap, HashMap};

use arca_kube::api::Kube;
use arca_kube::filter::Filter;
use arca_kube::objects;
use serde_json::Value;

use crate::method::PodView;

/// The label choosing Arca's snapshot class for a driver.
pub const ARCA_DEFAULT_CLASS: &str = "arca.io/default-class";
/// The annotation marking a driver's default snapshot class (external-snapshotter's).
pub const DEFAULT_CLASS_ANNOTATION: &str = "snapshot.storage.kubernetes.io/is-default-class";

/// The objects an inventory is built from.
#[derive(Debug, Default)]
pub struct ClusterState {
    pub claims: Vec<Value>,
    pub pods: Vec<Value>,
    pub volumes: Vec<Value>,
    pub storage_classes: Vec<Value>,
    /// `None` when the snapshot API is not served.
    pub snapshot_classes: Option<Vec<Value>>,
}

/// A running pod mounting a volume.
#[derive(Debug, Clone, PartialEq)]
pub struct PodUse {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub node: Option<String>,
    /// The pod's name for the volume.
    pub volume: String,
    pub annotations: BTreeMap<String, String>,
}

impl PodUse {
    pub fn view(&self) -> PodView {
        PodView {
            pod: format!("{}/{}", self.namespace, self.name),
            volume: self.volume.clone(),
            annotations: self.annotations.clone(),
        }
    }
}

/// One volume to protect.
#[derive(Debug, Clone, Default)]
pub struct VolumeItem {
    /// `NAMESPACE/CLAIM`, or `NAMESPACE/POD/VOLUME` for inline volumes.
    pub key: String,
    pub namespace: String,
    /// The claim's name (empty for inline volumes).
    pub claim: String,
    pub claim_annotations: BTreeMap<String, String>,
    /// The bound PV's name; empty when not bound.
    pub pv: String,
    pub storage_class: String,
    pub driver: String,
    /// The claim's requested size.
    pub capacity: String,
    pub capacity_bytes: Option<f64>,
    pub access_modes: Vec<String>,
    pub volume_mode: String,
    /// `csi`, `hostPath`, `local`, `nfs`, …
    pub volume_type: String,
    pub host_path: Option<String>,
    pub node_affinity: Option<Value>,
    /// The snapshot class serving the driver.
    pub snapshot_class: Option<String>,
    /// Running pods mounting the volume.
    pub pods: Vec<PodUse>,
    /// Pods (running or not) whose annotations count for the choice.
    pub annotating_pods: Vec<PodUse>,
    pub inline: bool,
}

impl VolumeItem {
    pub fn is_block(&self) -> bool {
        self.volume_mode == "Block"
    }
}

/// Cluster-scoped objects the credentials may not list (a tenant's) are
/// read as none, with a line in `log`.
async fn list_cluster_scoped(
    kube: &Kube,
    prefix: &str,
    resource: &str,
    what: &str,
    log: &mut Vec<String>,
) -> arca_kube::Result<Vec<Value>> {
    match kube.list_all_in(prefix, resource, None, what).await {
        Err(e) if e.api_code() == Some(403) => {
            log.push(format!("{what} could not be listed ({e}): read as none"));
            Ok(Vec::new())
        }
        other => other,
    }
}

/// Reads what [`assemble`] needs: claims and pods of `namespaces` only when
/// they are named exactly (else of the whole cluster). `log` gets one line
/// when the snapshot API is not served.
pub async fn read(
    kube: &Kube,
    namespaces: Option<&[String]>,
    log: &mut Vec<String>,
) -> arca_kube::Result<ClusterState> {
    let claims = kube.list_all_in("/api/v1", "persistentvolumeclaims", namespaces, "persistent volume claims").await?;
    let pods = kube.list_all_in("/api/v1", "pods", namespaces, "pods").await?;
    let volumes = list_cluster_scoped(kube, "/api/v1", "persistentvolumes", "persistent volumes", log).await?;
    let storage_classes =
        list_cluster_scoped(kube, "/apis/storage.k8s.io/v1", "storageclasses", "storage classes", log).await?;
    let snapshot_classes = match kube
        .list_all_in("/apis/snapshot.storage.k8s.io/v1", "volumesnapshotclasses", None, "volume snapshot classes")
        .await
    {
        Ok(c) => Some(c),
        Err(e) if e.api_code() == Some(404) => {
            log.push(
                "the snapshot.storage.k8s.io/v1 API is not served: no VolumeSnapshotClass, so no move or snapshot"
                    .into(),
            );
            None
        }
        Err(e) => {
            // Claims can still be read in place; each move or snapshot asked for fails naming the missing class.
            log.push(format!("volume snapshot classes could not be listed ({e}): no move or snapshot"));
            None
        }
    };
    Ok(ClusterState { claims, pods, volumes, storage_classes, snapshot_classes })
}

fn string_map(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| m.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string()))).collect())
        .unwrap_or_default()
}

fn running(pod: &Value) -> bool {
    pod["status"]["phase"] == "Running" && pod["metadata"]["deletionTimestamp"].is_null()
}

fn pod_use(pod: &Value, volume: &str) -> PodUse {
    PodUse {
        namespace: objects::namespace(pod).unwrap_or_default().to_string(),
        name: objects::name(pod).to_string(),
        uid: objects::uid(pod).unwrap_or_default().to_string(),
        node: pod["spec"]["nodeName"].as_str().map(String::from),
        volume: volume.to_string(),
        annotations: string_map(&pod["metadata"]["annotations"]),
    }
}

/// The snapshot class for `driver`: labelled `arca.io/default-class: "true"`,
/// else annotated as the default, else none.
pub fn snapshot_class_for(classes: &[Value], driver: &str) -> Option<String> {
    let of_driver: Vec<&Value> = classes.iter().filter(|c| c["driver"] == driver).collect();
    let labelled = of_driver.iter().find(|c| objects::label(c, ARCA_DEFAULT_CLASS) == Some("true"));
    let default = || of_driver.iter().find(|c| c["metadata"]["annotations"][DEFAULT_CLASS_ANNOTATION] == "true");
    labelled.or_else(default).map(|c| objects::name(c).to_string())
}

/// Source keys of a PV's spec, the first present is its volume type (also
/// the volume types a policy may name).
pub const PV_SOURCES: &[&str] = &[
    "csi",
    "hostPath",
    "local",
    "nfs",
    "iscsi",
    "fc",
    "rbd",
    "cephfs",
    "glusterfs",
    "awsElasticBlockStore",
    "gcePersistentDisk",
    "azureDisk",
    "azureFile",
    "vsphereVolume",
    "portworxVolume",
    "flexVolume",
    "cinder",
];

fn volume_type(pv: &Value) -> String {
    PV_SOURCES.iter().find(|k| pv["spec"].get(**k).is_some()).map(|k| k.to_string()).unwrap_or_else(|| "unknown".into())
}

/// The volumes of the selection, sorted by key.
pub fn assemble(state: &ClusterState, filter: &Filter) -> Vec<VolumeItem> {
    // Arca's own temporary claims and mover pods (of a run going on now) are no application's data.
    let ours = |o: &Value| objects::label(o, crate::CREATED_BY_LABEL) == Some(crate::CREATED_BY);
    let selected = |o: &Value| filter.object_namespace_included(o) && filter.object_selected(o) && !ours(o);
    let pvs: HashMap<&str, &Value> = state.volumes.iter().map(|v| (objects::name(v), v)).collect();
    let classes: HashMap<&str, &Value> = state.storage_classes.iter().map(|c| (objects::name(c), c)).collect();
    // Pods by the claims they mount (whether each is selected); running ones are picked below.
    let mut mounting: HashMap<(String, String), Vec<(bool, PodUse)>> = HashMap::new();
    let mut inline = Vec::new();
    for pod in state.pods.iter().filter(|p| !ours(p)) {
        let ns = objects::namespace(pod).unwrap_or_default();
        for v in pod["spec"]["volumes"].as_array().into_iter().flatten() {
            let vname = v["name"].as_str().unwrap_or_default();
            if let Some(claim) = v["persistentVolumeClaim"]["claimName"].as_str() {
                mounting
                    .entry((ns.to_string(), claim.to_string()))
                    .or_default()
                    .push((selected(pod), pod_use(pod, vname)));
            }
            if let Some(path) = v["hostPath"]["path"].as_str()
                && running(pod)
                && selected(pod)
            {
                inline.push(inline_item(pod, vname, path));
            }
        }
    }
    let running_set: std::collections::HashSet<(String, String)> = state
        .pods
        .iter()
        .filter(|p| running(p))
        .map(|p| (objects::namespace(p).unwrap_or_default().to_string(), objects::name(p).to_string()))
        .collect();
    let mut out = Vec::new();
    for claim in state.claims.iter().filter(|c| !ours(c)) {
        let ns = objects::namespace(claim).unwrap_or_default().to_string();
        let name = objects::name(claim).to_string();
        let users = mounting.get(&(ns.clone(), name.clone())).cloned().unwrap_or_default();
        let by_pod = users.iter().any(|(sel, _)| *sel);
        if !(selected(claim) || (by_pod && filter.namespace_included(&ns))) {
            continue;
        }
        let mut item = claim_item(claim, &pvs, &classes, state.snapshot_classes.as_deref().unwrap_or_default());
        let mut pods: Vec<PodUse> = users.iter().map(|(_, p)| p.clone()).collect();
        pods.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        item.annotating_pods = pods.clone();
        item.pods = pods.into_iter().filter(|p| running_set.contains(&(p.namespace.clone(), p.name.clone()))).collect();
        out.push(item);
    }
    out.extend(inline);
    out.sort_by(|a, b| a.key.cmp(&b.key));
    out
}

fn claim_item(
    claim: &Value,
    pvs: &HashMap<&str, &Value>,
    classes: &HashMap<&str, &Value>,
    snapshot_classes: &[Value],
) -> VolumeItem {
    let ns = objects::namespace(claim).unwrap_or_default().to_string();
    let name = objects::name(claim).to_string();
    let pv_name = claim["spec"]["volumeName"].as_str().unwrap_or_default();
    let pv = pvs.get(pv_name).copied().filter(|_| claim["status"]["phase"] == "Bound");
    let storage_class = claim["spec"]["storageClassName"]
        .as_str()
        .or_else(|| pv.and_then(|p| p["spec"]["storageClassName"].as_str()))
        .unwrap_or_default()
        .to_string();
    let driver = pv
        .and_then(|p| p["spec"]["csi"]["driver"].as_str())
        .or_else(|| {
            classes.get(storage_class.as_str()).and_then(|c| c["provisioner"].as_str()).filter(|_| pv.is_none())
        })
        .unwrap_or_default()
        .to_string();
    let capacity = claim["spec"]["resources"]["requests"]["storage"].as_str().unwrap_or_default().to_string();
    let capacity_bytes = claim["status"]["capacity"]["storage"]
        .as_str()
        .or(Some(capacity.as_str()))
        .and_then(|q| crate::policy::parse_quantity(q).ok());
    let host_path = pv.and_then(|p| p["spec"]["hostPath"]["path"].as_str().or(p["spec"]["local"]["path"].as_str()));
    let access_modes = claim["spec"]["accessModes"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
        .unwrap_or_default();
    VolumeItem {
        key: format!("{ns}/{name}"),
        claim_annotations: string_map(&claim["metadata"]["annotations"]),
        namespace: ns,
        claim: name,
        pv: pv.map(|p| objects::name(p).to_string()).unwrap_or_default(),
        snapshot_class: (!driver.is_empty()).then(|| snapshot_class_for(snapshot_classes, &driver)).flatten(),
        storage_class,
        driver: if pv.is_some() { driver } else { String::new() },
        capacity,
        capacity_bytes,
        access_modes,
        volume_mode: claim["spec"]["volumeMode"].as_str().unwrap_or("Filesystem").to_string(),
        volume_type: pv.map(volume_type).unwrap_or_else(|| "unbound".into()),
        host_path: host_path.map(String::from),
        node_affinity: pv.and_then(|p| p["spec"]["nodeAffinity"].as_object().map(|o| Value::Object(o.clone()))),
        ..Default::default()
    }
}

fn inline_item(pod: &Value, volume: &str, path: &str) -> VolumeItem {
    let user = pod_use(pod, volume);
    VolumeItem {
        key: format!("{}/{}/{volume}", user.namespace, user.name),
        namespace: user.namespace.clone(),
        volume_mode: "Filesystem".into(),
        volume_type: "hostPath".into(),
        host_path: Some(path.to_string()),
        pods: vec![user.clone()],
        annotating_pods: vec![user],
        inline: true,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arca_kube::filter::FilterSpec;
    use serde_json::json;

    fn claim(ns: &str, name: &str, pv: &str, labels: Value) -> Value {
        json!({"metadata": {"namespace": ns, "name": name, "labels": labels},
            "spec": {"volumeName": pv, "storageClassName": "fast", "resources": {"requests": {"storage": "1Gi"}}, "accessModes": ["ReadWriteOnce"]},
            "status": {"phase": "Bound"}})
    }

    fn pod(ns: &str, name: &str, phase: &str, volumes: Value) -> Value {
        json!({"metadata": {"namespace": ns, "name": name, "uid": format!("uid-{name}"), "annotations": {"a": "b"}},
            "spec": {"nodeName": "n1", "volumes": volumes}, "status": {"phase": phase}})
    }

    fn state() -> ClusterState {
        ClusterState {
            claims: vec![
                claim("shop", "data", "pv-1", json!({"app": "db"})),
                claim("shop", "cache", "pv-2", json!({"app": "cache"})),
                claim("other", "x", "pv-3", json!({})),
            ],
            pods: vec![
                pod(
                    "shop",
                    "db-0",
                    "Running",
                    json!([{"name": "d", "persistentVolumeClaim": {"claimName": "data"}},
                    {"name": "logs", "hostPath": {"path": "/var/log/db"}}]),
                ),
                pod("shop", "web", "Pending", json!([{"name": "c", "persistentVolumeClaim": {"claimName": "cache"}}])),
            ],
            volumes: vec![
                json!({"metadata": {"name": "pv-1"}, "spec": {"csi": {"driver": "d.csi", "volumeHandle": "h"}}}),
                json!({"metadata": {"name": "pv-2"}, "spec": {"hostPath": {"path": "/srv/cache"}}}),
                json!({"metadata": {"name": "pv-3"}, "spec": {"csi": {"driver": "d.csi"}}}),
            ],
            storage_classes: vec![json!({"metadata": {"name": "fast"}, "provisioner": "d.csi"})],
            snapshot_classes: Some(vec![
                json!({"metadata": {"name": "plain"}, "driver": "d.csi"}),
                json!({"metadata": {"name": "default", "annotations": {DEFAULT_CLASS_ANNOTATION: "true"}}, "driver": "d.csi"}),
            ]),
        }
    }

    #[test]
    fn claims_pods_and_inline_volumes_of_the_selection() {
        let filter = Filter::new(FilterSpec { include_namespaces: vec!["shop".into()], ..Default::default() }).unwrap();
        let items = assemble(&state(), &filter);
        let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, ["shop/cache", "shop/data", "shop/db-0/logs"]);
        let data = &items[1];
        assert_eq!((data.driver.as_str(), data.volume_type.as_str()), ("d.csi", "csi"));
        assert_eq!(data.snapshot_class.as_deref(), Some("default"));
        assert_eq!(data.pods.len(), 1);
        assert_eq!((data.pods[0].uid.as_str(), data.pods[0].node.as_deref()), ("uid-db-0", Some("n1")));
        let cache = &items[0];
        assert_eq!((cache.volume_type.as_str(), cache.host_path.as_deref()), ("hostPath", Some("/srv/cache")));
        assert!(cache.pods.is_empty(), "a pending pod is no running pod");
        assert_eq!(cache.annotating_pods.len(), 1);
        assert!(items[2].inline);
    }

    #[test]
    fn arcas_own_claims_and_movers_are_left_out() {
        let mut s = state();
        s.claims[1]["metadata"]["labels"] = json!({crate::CREATED_BY_LABEL: crate::CREATED_BY});
        s.pods[0]["metadata"]["labels"] = json!({crate::CREATED_BY_LABEL: crate::CREATED_BY});
        let items = assemble(&s, &Filter::new(FilterSpec::default()).unwrap());
        let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, ["other/x", "shop/data"]);
        assert!(items[1].pods.is_empty(), "a mover is not the app's running pod");
    }

    #[test]
    fn a_selected_pod_brings_its_claims() {
        let spec = FilterSpec { selector: Some("app=db".into()), ..Default::default() };
        let mut s = state();
        s.claims[0]["metadata"]["labels"] = json!({});
        s.pods[0]["metadata"]["labels"] = json!({"app": "db"});
        let items = assemble(&s, &Filter::new(spec).unwrap());
        let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, ["shop/data", "shop/db-0/logs"]);
    }

    #[test]
    fn snapshot_class_prefers_arca_label() {
        let mut classes = state().snapshot_classes.unwrap_or_default();
        assert_eq!(snapshot_class_for(&classes, "d.csi").as_deref(), Some("default"));
        classes[0]["metadata"]["labels"] = json!({ARCA_DEFAULT_CLASS: "true"});
        assert_eq!(snapshot_class_for(&classes, "d.csi").as_deref(), Some("plain"));
        assert_eq!(snapshot_class_for(&classes, "other"), None);
    }
}
