//! The PV controller: binding both ways, release, reclaim, and the events a
//! real controller manager records.

mod common;

use std::time::{Duration, Instant};

use arca_testcluster::TestCluster;
use common::{eventually, namespace, obj};
use k8s_openapi::api::core::v1::{Event, Namespace, PersistentVolume, PersistentVolumeClaim};
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(15);

async fn claim_phase(
    api: &Api<PersistentVolumeClaim>,
    name: &str,
    phase: &str,
) -> anyhow::Result<PersistentVolumeClaim> {
    eventually(WAIT, || async move {
        let c = api.get(name).await?;
        Ok((c.status.as_ref().and_then(|s| s.phase.as_deref()) == Some(phase)).then_some(c))
    })
    .await
}

async fn volume_phase(api: &Api<PersistentVolume>, name: &str, phase: &str) -> anyhow::Result<PersistentVolume> {
    eventually(WAIT, || async move {
        let v = api.get(name).await?;
        Ok((v.status.as_ref().and_then(|s| s.phase.as_deref()) == Some(phase)).then_some(v))
    })
    .await
}

fn claim(name: &str, volume: Option<&str>, class: &str) -> PersistentVolumeClaim {
    obj(json!({"metadata": {"name": name}, "spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
        "storageClassName": class, "volumeName": volume
    }}))
}

fn claim_ref(pv: &PersistentVolume) -> (String, String, String) {
    let r = pv.spec.as_ref().and_then(|s| s.claim_ref.clone()).unwrap_or_default();
    (r.namespace.unwrap_or_default(), r.name.unwrap_or_default(), r.uid.unwrap_or_default())
}

async fn retain_class(client: &Client) -> anyhow::Result<()> {
    let classes: Api<k8s_openapi::api::storage::v1::StorageClass> = Api::all(client.clone());
    let class = obj(json!({"metadata": {"name": "keep"}, "provisioner": arca_testcluster::TEST_PROVISIONER,
        "reclaimPolicy": "Retain", "volumeBindingMode": "Immediate"}));
    classes.create(&PostParams::default(), &class).await?;
    Ok(())
}

/// A namespace deleted with a bound claim of a Retain class: the PV stays
/// Released with the old claim's uid; the restored claim naming it stays
/// Pending with upstream's FailedBinding event until the uid is cleared.
#[tokio::test]
async fn retained_volume_stays_reserved_for_the_old_claim() -> anyhow::Result<()> {
    let (_c, client) = common::cluster().await?;
    retain_class(&client).await?;
    namespace(&client, "app").await?;
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "app");
    pvcs.create(&PostParams::default(), &claim("data", None, "keep")).await?;
    let bound = claim_phase(&pvcs, "data", "Bound").await?;
    let old_uid = bound.metadata.uid.clone().unwrap_or_default();
    let pv_name = bound.spec.and_then(|s| s.volume_name).unwrap_or_default();
    let pvs: Api<PersistentVolume> = Api::all(client.clone());
    let pv = pvs.get(&pv_name).await?;
    assert_eq!(pv.metadata.finalizers, Some(vec!["kubernetes.io/pv-protection".to_string()]));

    let nss: Api<Namespace> = Api::all(client.clone());
    nss.delete("app", &DeleteParams::default()).await?;
    eventually(WAIT, || {
        let nss = nss.clone();
        async move { Ok(nss.get_opt("app").await?.is_none().then_some(())) }
    })
    .await?;
    let released = volume_phase(&pvs, &pv_name, "Released").await?;
    assert_eq!(claim_ref(&released), ("app".into(), "data".into(), old_uid.clone()));

    namespace(&client, "app").await?;
    pvcs.create(&PostParams::default(), &claim("data", Some(&pv_name), "keep")).await?;
    let events: Api<Event> = Api::namespaced(client.clone(), "app");
    let text = format!("volume \"{pv_name}\" already bound to a different claim.");
    let event = eventually(WAIT, || {
        let (events, text) = (events.clone(), text.clone());
        async move {
            let list = events.list(&ListParams::default()).await?;
            Ok(list.items.into_iter().find(|e| e.message.as_deref() == Some(text.as_str())))
        }
    })
    .await?;
    assert_eq!(event.reason.as_deref(), Some("FailedBinding"));
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    assert_eq!(event.involved_object.kind.as_deref(), Some("PersistentVolumeClaim"));
    assert_eq!(event.involved_object.name.as_deref(), Some("data"));
    assert_eq!(event.source.and_then(|s| s.component).as_deref(), Some("persistentvolume-controller"));
    // The claim stays Pending, the volume keeps the old uid.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let pending = pvcs.get("data").await?;
    assert_eq!(pending.status.and_then(|s| s.phase).as_deref(), Some("Pending"));
    assert_eq!(claim_ref(&pvs.get(&pv_name).await?).2, old_uid);

    // Repeats bump the count of the one event (the claim is synced again when it changes).
    let p = Patch::Merge(json!({"metadata": {"labels": {"touched": "yes"}}}));
    pvcs.patch("data", &PatchParams::default(), &p).await?;
    eventually(WAIT, || {
        let (events, text) = (events.clone(), text.clone());
        async move {
            let list = events.list(&ListParams::default()).await?;
            let same: Vec<_> = list.items.into_iter().filter(|e| e.message.as_deref() == Some(text.as_str())).collect();
            Ok((same.len() == 1 && same[0].count == Some(2)).then_some(()))
        }
    })
    .await?;

    // What an administrator (or Arca's restore) does: clear the stale uid.
    let p = Patch::Merge(json!({"spec": {"claimRef": {"uid": null, "resourceVersion": null}}}));
    pvs.patch(&pv_name, &PatchParams::default(), &p).await?;
    let rebound = claim_phase(&pvcs, "data", "Bound").await?;
    let pv = volume_phase(&pvs, &pv_name, "Bound").await?;
    assert_eq!(claim_ref(&pv).2, rebound.metadata.uid.unwrap_or_default());
    let annotations = rebound.metadata.annotations.unwrap_or_default();
    assert_eq!(annotations.get("pv.kubernetes.io/bind-completed").map(String::as_str), Some("yes"));
    assert_eq!(
        rebound.status.and_then(|s| s.capacity).and_then(|c| c.get("storage").cloned()).map(|q| q.0).as_deref(),
        Some("1Gi")
    );
    Ok(())
}

/// A Delete volume of the test provisioner is Released for the deletion delay
/// after its claim is gone, then deleted with its directory.
#[tokio::test]
async fn delete_volume_lingers_released_for_the_delay() -> anyhow::Result<()> {
    let delay = Duration::from_millis(1500);
    let cluster = TestCluster::builder().volume_deletion_delay(delay).start().await?;
    let client = cluster.client().await?;
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    pvcs.create(&PostParams::default(), &claim("scratch", None, arca_testcluster::TEST_STORAGE_CLASS)).await?;
    let bound = claim_phase(&pvcs, "scratch", "Bound").await?;
    let pv_name = bound.spec.and_then(|s| s.volume_name).unwrap_or_default();
    let pvs: Api<PersistentVolume> = Api::all(client.clone());
    let dir = pvs.get(&pv_name).await?.spec.and_then(|s| s.csi).map(|c| c.volume_handle).unwrap_or_default();
    assert!(std::path::Path::new(&dir).is_dir());

    pvcs.delete("scratch", &DeleteParams::default()).await?;
    eventually(WAIT, || {
        let pvcs = pvcs.clone();
        async move { Ok(pvcs.get_opt("scratch").await?.is_none().then_some(())) }
    })
    .await?;
    let gone_at = Instant::now();
    let released = volume_phase(&pvs, &pv_name, "Released").await?;
    assert!(!claim_ref(&released).2.is_empty(), "a released volume keeps its claimRef");
    assert!(gone_at.elapsed() < delay, "the volume must still exist, Released, inside the delay");
    assert!(std::path::Path::new(&dir).is_dir());
    eventually(WAIT, || {
        let pvs = pvs.clone();
        let name = pv_name.clone();
        async move { Ok(pvs.get_opt(&name).await?.is_none().then_some(())) }
    })
    .await?;
    assert!(gone_at.elapsed() >= delay - Duration::from_millis(200), "deleted too early: {:?}", gone_at.elapsed());
    assert!(!std::path::Path::new(&dir).exists());
    Ok(())
}

fn static_pv(name: &str, claim_ref: serde_json::Value, dir: &std::path::Path) -> PersistentVolume {
    obj(json!({"metadata": {"name": name}, "spec": {
        "capacity": {"storage": "2Gi"}, "accessModes": ["ReadWriteOnce"], "storageClassName": "manual",
        "persistentVolumeReclaimPolicy": "Retain", "hostPath": {"path": dir.to_string_lossy()},
        "claimRef": claim_ref
    }}))
}

/// A PV pre-bound to a claim by name is reserved for it: `Available`, only
/// that claim gets it, and it binds without naming the volume.
#[tokio::test]
async fn prebound_volume_binds_its_claim() -> anyhow::Result<()> {
    let (c, client) = common::cluster().await?;
    let dir = c.data_dir().join("static");
    std::fs::create_dir_all(&dir)?;
    let pvs: Api<PersistentVolume> = Api::all(client.clone());
    let reserved = static_pv("reserved", json!({"namespace": "default", "name": "mine"}), &dir);
    pvs.create(&PostParams::default(), &reserved).await?;
    volume_phase(&pvs, "reserved", "Available").await?;

    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    // Another claim of the class does not get the reserved volume.
    pvcs.create(&PostParams::default(), &claim("other", None, "manual")).await?;
    pvcs.create(&PostParams::default(), &claim("mine", None, "manual")).await?;
    let mine = claim_phase(&pvcs, "mine", "Bound").await?;
    assert_eq!(mine.spec.and_then(|s| s.volume_name).as_deref(), Some("reserved"));
    let pv = volume_phase(&pvs, "reserved", "Bound").await?;
    assert_eq!(claim_ref(&pv).2, mine.metadata.uid.unwrap_or_default());
    // The user pre-bound it: the controller does not claim the binding.
    let annotations = pv.metadata.annotations.unwrap_or_default();
    assert!(!annotations.contains_key("pv.kubernetes.io/bound-by-controller"));
    let other = pvcs.get("other").await?;
    assert_eq!(other.status.and_then(|s| s.phase).as_deref(), Some("Pending"));
    // (It would take the next free volume of its class, as upstream's would.)
    pvcs.delete("other", &DeleteParams::default()).await?;
    eventually(WAIT, || {
        let pvcs = pvcs.clone();
        async move { Ok(pvcs.get_opt("other").await?.is_none().then_some(())) }
    })
    .await?;

    // A claim naming a free volume binds it, the controller records that it did.
    pvs.create(&PostParams::default(), &static_pv("free", serde_json::Value::Null, &dir)).await?;
    volume_phase(&pvs, "free", "Available").await?;
    pvcs.create(&PostParams::default(), &claim("named", Some("free"), "manual")).await?;
    claim_phase(&pvcs, "named", "Bound").await?;
    let pv = volume_phase(&pvs, "free", "Bound").await?;
    assert_eq!(
        pv.metadata.annotations.unwrap_or_default().get("pv.kubernetes.io/bound-by-controller").map(String::as_str),
        Some("yes")
    );
    Ok(())
}

/// A claim naming a volume that does not exist waits Pending; one naming a
/// volume too small gets upstream's VolumeMismatch event.
#[tokio::test]
async fn requested_volume_missing_or_mismatched() -> anyhow::Result<()> {
    let (c, client) = common::cluster().await?;
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    pvcs.create(&PostParams::default(), &claim("waits", Some("nowhere"), "manual")).await?;
    let mut small: PersistentVolume = static_pv("small", serde_json::Value::Null, c.data_dir());
    if let Some(spec) = small.spec.as_mut() {
        spec.capacity = Some(
            [("storage".to_string(), k8s_openapi::apimachinery::pkg::api::resource::Quantity("500Mi".into()))].into(),
        );
    }
    let pvs: Api<PersistentVolume> = Api::all(client.clone());
    pvs.create(&PostParams::default(), &small).await?;
    pvcs.create(&PostParams::default(), &claim("big", Some("small"), "manual")).await?;
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    let event = eventually(WAIT, || {
        let events = events.clone();
        async move {
            let list = events.list(&ListParams::default()).await?;
            Ok(list.items.into_iter().find(|e| e.reason.as_deref() == Some("VolumeMismatch")))
        }
    })
    .await?;
    assert_eq!(event.message.as_deref(), Some("Cannot bind to requested volume \"small\": requested PV is too small"));
    assert_eq!(event.involved_object.name.as_deref(), Some("big"));
    let waits = pvcs.get("waits").await?;
    assert_eq!(waits.status.and_then(|s| s.phase).as_deref(), Some("Pending"));
    let list = events.list(&ListParams::default()).await?;
    assert!(list.items.iter().all(|e| e.involved_object.name.as_deref() != Some("waits")), "upstream records no event");
    Ok(())
}

/// Deleting a bound PV waits on `kubernetes.io/pv-protection` until the claim lets go.
#[tokio::test]
async fn bound_volume_deletion_waits_for_its_claim() -> anyhow::Result<()> {
    let (c, client) = common::cluster().await?;
    let pvs: Api<PersistentVolume> = Api::all(client.clone());
    pvs.create(&PostParams::default(), &static_pv("held", serde_json::Value::Null, c.data_dir())).await?;
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    pvcs.create(&PostParams::default(), &claim("holder", Some("held"), "manual")).await?;
    claim_phase(&pvcs, "holder", "Bound").await?;
    pvs.delete("held", &DeleteParams::default()).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let held = pvs.get("held").await?;
    assert!(held.metadata.deletion_timestamp.is_some());
    pvcs.delete("holder", &DeleteParams::default()).await?;
    eventually(WAIT, || {
        let pvs = pvs.clone();
        async move { Ok(pvs.get_opt("held").await?.is_none().then_some(())) }
    })
    .await?;
    Ok(())
}
