//! Who runs the pods that use a claim, and scaling them: pod →
//! ReplicaSet → Deployment, StatefulSet, ReplicaSet, ReplicationController
//! are scaled through their `scale` subresource; other owners (DaemonSet,
//! Job, none) cannot be stopped by Arca.

use arca_kube::api::Kube;
use serde_json::{Value, json};

/// Annotation on a workload Arca scaled to zero for a data-only restore:
/// its replicas before. A restore that died leaves it; scale the workload
/// back to this number by hand and remove the annotation.
pub const SCALED_FROM_ANNOTATION: &str = "arca.io/restore-scaled-from";

/// A workload that can be scaled.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Workload {
    /// `deployment/NS/NAME`.
    pub shown: String,
    /// Its object path.
    pub path: String,
}

/// The kind and name of an object's controller (`ownerReferences` entry with `controller: true`).
pub fn controller(obj: &Value) -> Option<(String, String)> {
    let refs = obj["metadata"]["ownerReferences"].as_array()?;
    let r = refs.iter().find(|r| r["controller"] == true).or_else(|| refs.first())?;
    Some((r["kind"].as_str()?.to_string(), r["name"].as_str()?.to_string()))
}

/// The object path of a scalable workload kind.
pub fn workload(kind: &str, ns: &str, name: &str) -> Option<Workload> {
    let (api, plural) = match kind {
        "Deployment" => ("/apis/apps/v1", "deployments"),
        "StatefulSet" => ("/apis/apps/v1", "statefulsets"),
        "ReplicaSet" => ("/apis/apps/v1", "replicasets"),
        "ReplicationController" => ("/api/v1", "replicationcontrollers"),
        _ => return None,
    };
    Some(Workload {
        shown: format!("{}/{ns}/{name}", kind.to_lowercase()),
        path: format!("{api}/namespaces/{ns}/{plural}/{name}"),
    })
}

/// Pods of `ns` that mount `claim` and have not ended.
pub async fn pods_using(kube: &Kube, ns: &str, claim: &str) -> Result<Vec<Value>, String> {
    let list = kube
        .get(&format!("/api/v1/namespaces/{ns}/pods"), &format!("listing the pods of {ns}"))
        .await
        .map_err(|e| e.reason())?;
    Ok(list["items"].as_array().cloned().unwrap_or_default().into_iter().filter(|p| uses(p, claim)).collect())
}

/// Whether a pod that has not ended mounts `claim`.
pub fn uses(pod: &Value, claim: &str) -> bool {
    let ended = matches!(pod["status"]["phase"].as_str(), Some("Succeeded" | "Failed"));
    let volumes = pod["spec"]["volumes"].as_array().map(Vec::as_slice).unwrap_or_default();
    !ended && volumes.iter().any(|v| v["persistentVolumeClaim"]["claimName"] == claim)
}

/// The workload to scale for a pod, or why there is none.
pub async fn owner_of(kube: &Kube, pod: &Value) -> Result<Workload, String> {
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or_default();
    let name = pod["metadata"]["name"].as_str().unwrap_or_default();
    let Some((kind, owner)) = controller(pod) else {
        return Err(format!("pod {ns}/{name} has no owner that can be scaled down"));
    };
    let Some(w) = workload(&kind, ns, &owner) else {
        return Err(format!("pod {ns}/{name} is run by {kind} {owner}, which Arca does not scale down"));
    };
    if kind != "ReplicaSet" {
        return Ok(w);
    }
    // A Deployment's ReplicaSet is scaled through the Deployment (it would scale it back).
    let rs = kube.get_opt(&w.path, &format!("reading {}", w.shown)).await.map_err(|e| e.reason())?;
    let deployment = rs.as_ref().and_then(controller);
    if let Some(d) = deployment.as_ref().filter(|(k, _)| k == "Deployment").and_then(|(k, d)| workload(k, ns, d)) {
        return Ok(d);
    }
    match deployment {
        Some((k, o)) => {
            Err(format!("pod {ns}/{name} is run by ReplicaSet {owner} of {k} {o}, which Arca does not scale down"))
        }
        None => Ok(w),
    }
}

/// Scales `w` to zero; returns the replicas it had. The owner is annotated
/// first, so a restore that dies leaves the number behind.
pub async fn scale_down(kube: &Kube, w: &Workload) -> Result<i64, String> {
    let scale_path = format!("{}/scale", w.path);
    let scale = kube.get(&scale_path, &format!("reading the scale of {}", w.shown)).await.map_err(|e| e.reason())?;
    let replicas = scale["spec"]["replicas"].as_i64().unwrap_or(0);
    let ann = json!({"metadata": {"annotations": {SCALED_FROM_ANNOTATION: replicas.to_string()}}});
    kube.merge_patch(&w.path, &ann, &format!("annotating {}", w.shown)).await.map_err(|e| e.reason())?;
    set_replicas(kube, w, 0).await?;
    Ok(replicas)
}

/// Scales `w` back to `replicas` and removes the annotation.
pub async fn scale_back(kube: &Kube, w: &Workload, replicas: i64) -> Result<(), String> {
    set_replicas(kube, w, replicas).await?;
    let ann = json!({"metadata": {"annotations": {SCALED_FROM_ANNOTATION: null}}});
    kube.merge_patch(&w.path, &ann, &format!("annotating {}", w.shown)).await.map_err(|e| e.reason())?;
    Ok(())
}

async fn set_replicas(kube: &Kube, w: &Workload, replicas: i64) -> Result<(), String> {
    let body = json!({"spec": {"replicas": replicas}});
    kube.merge_patch(&format!("{}/scale", w.path), &body, &format!("scaling {} to {replicas}", w.shown))
        .await
        .map(drop)
        .map_err(|e| format!("scaling {} to {replicas}: {}", w.shown, e.reason()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controllers_and_workloads() {
        let pod = json!({"metadata": {"ownerReferences": [{"kind": "ReplicaSet", "name": "web-5d", "controller": true}]},
            "spec": {"volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]}, "status": {"phase": "Running"}});
        assert_eq!(controller(&pod), Some(("ReplicaSet".into(), "web-5d".into())));
        assert!(uses(&pod, "data") && !uses(&pod, "other"));
        let mut done = pod.clone();
        done["status"]["phase"] = json!("Succeeded");
        assert!(!uses(&done, "data"));
        let w = workload("StatefulSet", "shop", "db").unwrap();
        assert_eq!(w.path, "/apis/apps/v1/namespaces/shop/statefulsets/db");
        assert_eq!(w.shown, "statefulset/shop/db");
        assert!(workload("DaemonSet", "shop", "agent").is_none());
    }
}
