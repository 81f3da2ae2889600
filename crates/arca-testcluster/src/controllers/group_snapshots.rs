//! The group snapshot controller for the test driver, as external-snapshotter
//! does it: a VolumeGroupSnapshot selects claims of its namespace by
//! `spec.source.selector`; all their volumes are copied under one lock (one
//! point in time), and for each member a VolumeSnapshotContent (with the
//! volume's handle and the copy's `snapshotHandle`) and a VolumeSnapshot
//! bound to it are created, owned by the group; then a
//! VolumeGroupSnapshotContent and the group's status (`readyToUse`,
//! `creationTime`, and on `v1beta1` the `pvcVolumeSnapshotRefList`).

use serde_json::{Value, json};

use super::volumes::{claim_volume, pv_path};
use super::{fsutil, log_err, objects, opts};
use crate::cluster::Cluster;
use crate::group_snapshot_crds::GROUP;
use crate::meta;
use crate::seed::TEST_PROVISIONER;
use crate::selectors::LabelSelector;
use crate::state::State;

const SNAP_GROUP: &str = "snapshot.storage.k8s.io";
const MANAGER: &str = "snapshot-controller";

pub fn reconcile(cluster: &Cluster) {
    let mut state = cluster.lock();
    let Some(rt) = state.resource_any(GROUP, "volumegroupsnapshots") else { return };
    let classes = objects(&state, GROUP, "volumegroupsnapshotclasses");
    for group in state.all(&rt, None) {
        if meta::is_deleting(&group) || group.pointer("/status/boundVolumeGroupSnapshotContentName").is_some() {
            continue;
        }
        let class = meta::str_at(&group, "/spec/volumeGroupSnapshotClassName")
            .and_then(|n| classes.iter().find(|c| meta::name(c) == n));
        let Some(class) = class.filter(|c| meta::str_at(c, "/driver") == Some(TEST_PROVISIONER)) else {
            let msg = "no VolumeGroupSnapshotClass of the test driver by that name";
            set_error(&mut state, &group, msg);
            continue;
        };
        let deletion = meta::str_at(class, "/deletionPolicy").unwrap_or("Delete").to_string();
        take(&mut state, cluster, &group, &deletion);
    }
}

fn set_error(state: &mut State, group: &Value, message: &str) {
    let Some(rt) = state.resource_any(GROUP, "volumegroupsnapshots") else { return };
    if group.pointer("/status/error/message").and_then(Value::as_str) == Some(message) {
        return;
    }
    let st = json!({"status": {"readyToUse": false, "error": {"message": message, "time": meta::now()}}});
    log_err("group status", state.update(&rt, meta::namespace(group), meta::name(group), st, "status", &opts(MANAGER)));
}

/// The claims the group selects, with their PVs.
fn members(state: &State, group: &Value) -> Result<Vec<(Value, Value)>, String> {
    let ns = meta::namespace(group);
    let selector = group.pointer("/spec/source/selector").cloned().unwrap_or(Value::Null);
    let mut parts: Vec<String> = selector["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| v.as_str().map(|v| format!("{k}={v}")))
        .collect();
    for e in selector["matchExpressions"].as_array().into_iter().flatten() {
        let key = e["key"].as_str().unwrap_or_default();
        let values: Vec<&str> = e["values"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        parts.push(match e["operator"].as_str().unwrap_or_default() {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_string(),
            _ => format!("!{key}"),
        });
    }
    if parts.is_empty() {
        return Err("spec.source.selector selects nothing".into());
    }
    let selector = LabelSelector::parse(&parts.join(",")).map_err(|e| e.message.clone())?;
    let claims = objects(state, "", "persistentvolumeclaims");
    let mut out = Vec::new();
    for claim in claims.into_iter().filter(|c| meta::namespace(c) == ns && selector.matches_object(c)) {
        let pv = claim_volume(state, ns, meta::name(&claim))
            .ok_or_else(|| format!("claim {} is not bound", meta::name(&claim)))?;
        if meta::str_at(&pv, "/spec/csi/driver") != Some(TEST_PROVISIONER) {
            return Err(format!("claim {}'s volume is not of the group's driver", meta::name(&claim)));
        }
        out.push((claim, pv));
    }
    if out.is_empty() {
        return Err("no claim matches spec.source.selector".into());
    }
    Ok(out)
}

fn take(state: &mut State, cluster: &Cluster, group: &Value, deletion: &str) {
    let members = match members(state, group) {
        Ok(m) => m,
        Err(e) => return set_error(state, group, &e),
    };
    let (Some(vs_rt), Some(vsc_rt), Some(g_rt), Some(gc_rt)) = (
        state.resource_any(SNAP_GROUP, "volumesnapshots"),
        state.resource_any(SNAP_GROUP, "volumesnapshotcontents"),
        state.resource_any(GROUP, "volumegroupsnapshots"),
        state.resource_any(GROUP, "volumegroupsnapshotcontents"),
    ) else {
        return set_error(state, group, "the snapshot.storage.k8s.io API is not served");
    };
    let version = meta::str_at(group, "/apiVersion").unwrap_or("groupsnapshot.storage.k8s.io/v1beta1").to_string();
    let (ns, name, uid) =
        (meta::namespace(group).to_string(), meta::name(group).to_string(), meta::uid(group).to_string());
    let now = chrono::Utc::now();
    let owner =
        json!([{"apiVersion": version, "kind": "VolumeGroupSnapshot", "name": name, "uid": uid, "controller": true}]);
    let mut pairs = Vec::new();
    let mut refs = Vec::new();
    for (i, (claim, pv)) in members.iter().enumerate() {
        let Some(source) = pv_path(pv) else { continue };
        let member = format!("snapshot-{}-{i}", &uid[..uid.len().min(8)]);
        let content = format!("snapcontent-{uid}-{i}");
        let dir = cluster.data_dir.join("snapshots").join(&content);
        // Copied while the store is locked: every member is of the same moment.
        if let Err(e) = fsutil::copy_volume(&source, &dir) {
            return set_error(state, group, &format!("copying {}: {e}", source.display()));
        }
        let handle = meta::str_at(pv, "/spec/csi/volumeHandle").unwrap_or_default().to_string();
        let size = fsutil::dir_size(&dir);
        let vsc = json!({
            "apiVersion": format!("{SNAP_GROUP}/v1"), "kind": "VolumeSnapshotContent",
            "metadata": {"name": content},
            "spec": {"deletionPolicy": deletion, "driver": TEST_PROVISIONER,
                     "source": {"volumeHandle": handle},
                     "volumeSnapshotRef": {"apiVersion": format!("{SNAP_GROUP}/v1"), "kind": "VolumeSnapshot", "name": member, "namespace": ns}},
        });
        if log_err("member content", state.create(&vsc_rt, "", vsc, &opts(MANAGER))).is_none() {
            return;
        }
        let st = json!({"status": {"snapshotHandle": dir.to_string_lossy(), "readyToUse": true, "restoreSize": size,
            "creationTime": now.timestamp_nanos_opt().unwrap_or_default(), "volumeGroupSnapshotHandle": uid}});
        log_err("member content status", state.update(&vsc_rt, "", &content, st, "status", &opts("csi-snapshotter")));
        let vs = json!({
            "apiVersion": format!("{SNAP_GROUP}/v1"), "kind": "VolumeSnapshot",
            "metadata": {"name": member, "namespace": ns, "ownerReferences": owner,
                         "labels": {"groupsnapshot.storage.kubernetes.io/volume-group-snapshot-name": name}},
            "spec": {"source": {"volumeSnapshotContentName": content}},
        });
        let Some(created) = log_err("member snapshot", state.create(&vs_rt, &ns, vs, &opts(MANAGER))) else { return };
        let st = json!({"status": {"boundVolumeSnapshotContentName": content, "readyToUse": true,
            "restoreSize": size.to_string(), "volumeGroupSnapshotName": name,
            "creationTime": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)}});
        log_err("member status", state.update(&vs_rt, &ns, meta::name(&created), st, "status", &opts(MANAGER)));
        pairs.push(json!({"volumeHandle": handle, "snapshotHandle": dir.to_string_lossy()}));
        refs.push(
            json!({"persistentVolumeClaimRef": {"name": meta::name(claim)}, "volumeSnapshotRef": {"name": member}}),
        );
    }
    let group_content = format!("groupsnapcontent-{uid}");
    let gc = json!({
        "apiVersion": version, "kind": "VolumeGroupSnapshotContent",
        "metadata": {"name": group_content},
        "spec": {"deletionPolicy": deletion, "driver": TEST_PROVISIONER,
                 "volumeGroupSnapshotClassName": meta::str_at(group, "/spec/volumeGroupSnapshotClassName"),
                 "source": {"volumeHandles": pairs.iter().map(|p| p["volumeHandle"].clone()).collect::<Vec<_>>()},
                 "volumeGroupSnapshotRef": {"apiVersion": version, "kind": "VolumeGroupSnapshot", "name": name, "namespace": ns, "uid": uid}},
    });
    if log_err("group content", state.create(&gc_rt, "", gc, &opts(MANAGER))).is_none() {
        return;
    }
    let st = json!({"status": {"volumeGroupSnapshotHandle": uid, "readyToUse": true,
        "creationTime": now.timestamp_nanos_opt().unwrap_or_default(), "volumeSnapshotHandlePairList": pairs}});
    log_err("group content status", state.update(&gc_rt, "", &group_content, st, "status", &opts("csi-snapshotter")));
    let mut st = json!({"status": {"boundVolumeGroupSnapshotContentName": group_content, "readyToUse": true,
        "creationTime": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)}});
    if version.ends_with("v1beta1") {
        st["status"]["pvcVolumeSnapshotRefList"] = json!(refs);
    }
    log_err("group status", state.update(&g_rt, &ns, &name, st, "status", &opts(MANAGER)));
}
