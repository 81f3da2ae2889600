//! Volume group snapshots (`groupsnapshot.storage.k8s.io`, external-snapshotter
//! 8.0+): the claims of one namespace and driver cut at one point in time.
//! The members are labelled for the group's selector, the group is created
//! and waited for, and each member claim's VolumeSnapshot (owned by the
//! group) is found through its content's volume handle; the labels go again.

use std::collections::BTreeMap;
use std::time::Duration;

use arca_kube::api::Kube;
use serde_json::{Value, json};

use crate::limits::Deadline;
use crate::run::human;

pub const GROUP: &str = "groupsnapshot.storage.k8s.io";
/// Label putting a claim into a group snapshot's selector while it is taken.
pub const MEMBER_LABEL: &str = "arca.io/group-snapshot";

/// The served version of the group snapshot API and its classes' drivers, if served.
#[derive(Debug, Clone, Default)]
pub struct GroupApi {
    /// e.g. `groupsnapshot.storage.k8s.io/v1beta1` (8.0–8.2) or `…/v1beta2`.
    pub group_version: String,
    /// Class name per driver.
    pub classes: BTreeMap<String, String>,
}

impl GroupApi {
    /// Reads discovery and the classes; `None` when the API is not served.
    pub async fn discover(kube: &Kube, log: &mut Vec<String>) -> Option<GroupApi> {
        let group = match kube.get_opt(&format!("/apis/{GROUP}"), "the group snapshot API").await {
            Ok(Some(g)) => g,
            Ok(None) => return None,
            Err(e) => {
                log.push(format!("the group snapshot API could not be read ({e}): snapshots are taken one by one"));
                return None;
            }
        };
        let group_version = group["preferredVersion"]["groupVersion"].as_str()?.to_string();
        let path = format!("/apis/{group_version}/volumegroupsnapshotclasses");
        let classes = match kube.get(&path, "volume group snapshot classes").await {
            Ok(list) => list["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| Some((c["driver"].as_str()?.to_string(), c["metadata"]["name"].as_str()?.to_string())))
                .collect(),
            Err(e) => {
                log.push(format!("volume group snapshot classes could not be listed ({e})"));
                BTreeMap::new()
            }
        };
        Some(GroupApi { group_version, classes })
    }
}

/// A member claim: its name and its PV's name.
pub struct Member<'a> {
    pub claim: &'a str,
    pub pv: &'a str,
}

/// Takes the group snapshot `name` of `members` (claims of `ns`) with `class`
/// and waits until it is cut; returns each member claim's VolumeSnapshot name.
pub async fn take(
    kube: &Kube,
    api: &GroupApi,
    (ns, name): (&str, &str),
    class: &str,
    members: &[Member<'_>],
    labels: &BTreeMap<String, String>,
    deadline: &Deadline,
) -> Result<BTreeMap<String, String>, String> {
    for m in members {
        label(kube, ns, m.claim, Some(name)).await?;
    }
    let result = create_and_map(kube, api, (ns, name), class, members, labels, deadline).await;
    for m in members {
        // The selector's label must not stay behind on the application's claims.
        if let Err(e) = label(kube, ns, m.claim, None).await {
            tracing::warn!("{e}");
        }
    }
    result
}

async fn create_and_map(
    kube: &Kube,
    api: &GroupApi,
    (ns, name): (&str, &str),
    class: &str,
    members: &[Member<'_>],
    labels: &BTreeMap<String, String>,
    deadline: &Deadline,
) -> Result<BTreeMap<String, String>, String> {
    let gv = &api.group_version;
    let collection = format!("/apis/{gv}/namespaces/{ns}/volumegroupsnapshots");
    let path = format!("{collection}/{name}");
    let what = format!("VolumeGroupSnapshot {ns}/{name}");
    if let Ok(Some(_)) = kube.get_opt(&path, &what).await {
        let _ = kube.delete(&path, &what).await;
    }
    let body = json!({
        "apiVersion": gv, "kind": "VolumeGroupSnapshot",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {"volumeGroupSnapshotClassName": class,
                 "source": {"selector": {"matchLabels": {MEMBER_LABEL: name}}}},
    });
    kube.create(&collection, &body, &what).await.map_err(|e| format!("could not create {what}: {e}"))?;
    let group = loop {
        match kube.get_opt(&path, &what).await {
            Ok(Some(g)) if g["status"]["readyToUse"] == true || !g["status"]["creationTime"].is_null() => break g,
            Ok(Some(g)) => {
                if let Some(m) = g["status"]["error"]["message"].as_str() {
                    return Err(format!("{what} failed: {m}"));
                }
            }
            Ok(None) => return Err(format!("{what} was deleted before it was cut")),
            Err(e) => tracing::info!("{what}: reading its status: {e}"),
        }
        if deadline.passed() {
            return Err(format!("{what} was not cut within {}", human(deadline.total)));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let uid = group["metadata"]["uid"].as_str().unwrap_or_default();
    let snaps = kube
        .get(&format!("/apis/snapshot.storage.k8s.io/v1/namespaces/{ns}/volumesnapshots"), "volume snapshots")
        .await
        .map_err(|e| format!("{what} is cut but its member snapshots could not be listed: {e}"))?;
    let owned: Vec<&Value> = snaps["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["metadata"]["ownerReferences"].as_array().into_iter().flatten().any(|o| o["uid"] == uid))
        .collect();
    let mut out = BTreeMap::new();
    for m in members {
        let pv = kube
            .get(&format!("/api/v1/persistentvolumes/{}", m.pv), &format!("PersistentVolume {}", m.pv))
            .await
            .map_err(|e| format!("reading the volume of claim {ns}/{}: {e}", m.claim))?;
        let handle = pv["spec"]["csi"]["volumeHandle"].as_str().unwrap_or_default();
        let mut found = None;
        for s in &owned {
            let content = s["status"]["boundVolumeSnapshotContentName"]
                .as_str()
                .or_else(|| s["spec"]["source"]["volumeSnapshotContentName"].as_str())
                .unwrap_or_default();
            let path = format!("/apis/snapshot.storage.k8s.io/v1/volumesnapshotcontents/{content}");
            let Ok(c) = kube.get(&path, "volume snapshot content").await else { continue };
            if c["spec"]["source"]["volumeHandle"] == handle {
                found = s["metadata"]["name"].as_str().map(String::from);
                break;
            }
        }
        let snap = found.ok_or_else(|| format!("{what} has no member snapshot of claim {ns}/{}", m.claim))?;
        out.insert(m.claim.to_string(), snap);
    }
    Ok(out)
}

async fn label(kube: &Kube, ns: &str, claim: &str, value: Option<&str>) -> Result<(), String> {
    let what = format!("claim {ns}/{claim}");
    let body = json!({"metadata": {"labels": {MEMBER_LABEL: value}}});
    kube.merge_patch(&format!("/api/v1/namespaces/{ns}/persistentvolumeclaims/{claim}"), &body, &what)
        .await
        .map(drop)
        .map_err(|e| format!("could not label {what} for its group snapshot: {e}"))
}

/// Deletes a group snapshot (its members go with it).
pub async fn delete(kube: &Kube, api: &GroupApi, ns: &str, name: &str) {
    let path = format!("/apis/{}/namespaces/{ns}/volumegroupsnapshots/{name}", api.group_version);
    if let Err(e) = kube.delete(&path, "volume group snapshot").await
        && e.api_code() != Some(404)
    {
        tracing::warn!("VolumeGroupSnapshot {ns}/{name}: could not delete it: {e}");
    }
}
