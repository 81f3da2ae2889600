//! Claims and the volumes kept for them. A backed-up claim names its volume
//! (`spec.volumeName`); before the claim is created, the volume of that
//! name is read from the target cluster and [`decide`] says what to do.
//!
//! The PV binder (kube-controller-manager `pv_controller.go`) binds a claim
//! pre-bound by `spec.volumeName` only if the volume's `claimRef` is empty
//! or names the claim — namespace, name and, **when set, uid**
//! (`IsVolumeBoundToClaim`). A volume kept with reclaim policy `Retain`
//! after its claim was deleted is `Released` and still holds the old
//! claim's uid, so a restored claim (a new uid) would stay `Pending` with
//! `volume "X" already bound to a different claim.` Rows, first match wins:
//!
//! | # | the volume in the target cluster | the claim | why |
//! |---|---|---|---|
//! | 1 | absent, restored by this restore (in the plan) | keeps `volumeName` | binds to it (if its restore failed, that is in the report) |
//! | 2 | absent, not restored | drops `volumeName`, reported | a dynamically provisioned `Delete` volume is skipped by the sanitizer: a fresh volume is provisioned, the data comes back through the volume restore |
//! | 3 | has a `deletionTimestamp` | drops `volumeName`, reported | it is going away; binding to it would lose the claim with it |
//! | 4 | `Released` with reclaim policy `Delete` or `Recycle`, or `Failed` | drops `volumeName`, reported | its provisioner is deleting (or scrubbing) it: a race right after the namespace was deleted |
//! | 5 | no `claimRef` | keeps `volumeName` | the binder binds it |
//! | 6 | `claimRef` names the claim without a uid | keeps `volumeName` | pre-bound (a volume this restore created) |
//! | 7 | `claimRef` names the claim, `Bound` | keeps `volumeName` | the claim exists: the create meets it as any existing object |
//! | 8 | `claimRef` names the claim with a stale uid, `Released` or `Available`, reclaim `Retain` (or `Recycle` and `Available`) | keeps `volumeName`; the volume's `claimRef.uid` and `resourceVersion` are cleared first; reported `rebound to retained volume X` | the binder then binds the new claim |
//! | 9 | `claimRef` names the claim's namespace in the backup, the claim is restored elsewhere (namespace mapping) | drops `volumeName`, reported | a clone gets its own volume; the original keeps its data (as `plan` skips such volumes) |
//! | 10 | `claimRef` names another claim | not created: failed, naming the volume and its claim | never taken from its owner; the user decides (free the volume, or drop `spec.volumeName` with a resource modifier) |
//!
//! Claims without `spec.volumeName` are not looked at.

use serde_json::{Value, json};

use crate::api::Kube;
use crate::error::Result;
use crate::objects;
use crate::restore::plan::PlanItem;

/// The claim as restored and as backed up.
#[derive(Debug, Clone, Copy)]
pub struct Claim<'a> {
    pub name: &'a str,
    /// Namespace it is restored into.
    pub namespace: &'a str,
    /// Namespace in the backup.
    pub source_namespace: &'a str,
}

/// What to do with a claim's `spec.volumeName`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Binding {
    /// Keep it; nothing to say.
    Keep,
    /// Keep it after clearing the volume's stale claim uid.
    Rebind,
    /// Drop it (a fresh volume is provisioned), and why.
    Fresh(String),
    /// Do not create the claim, and why.
    Conflict(String),
}

/// The binding decision for a claim whose backup names volume `volume`
/// (module table). `live` is the volume of that name in the target cluster.
pub fn decide(claim: Claim, volume: &str, in_plan: bool, live: Option<&Value>) -> Binding {
    let Some(pv) = live else {
        return if in_plan { Binding::Keep } else { Binding::Fresh(format!("{NEW}: {volume} is not in the cluster")) };
    };
    if let Some(why) = going_away(pv) {
        return Binding::Fresh(format!("{NEW}: {volume} {why}"));
    }
    let Some(claim_ref) = pv.pointer("/spec/claimRef").filter(|r| !r.is_null()) else {
        return Binding::Keep;
    };
    let (ref_ns, ref_name) = (str_of(claim_ref, "/namespace"), str_of(claim_ref, "/name"));
    if ref_name == claim.name && ref_ns == claim.namespace {
        return same_claim(claim_ref, pv);
    }
    if ref_name == claim.name && ref_ns == claim.source_namespace {
        return Binding::Fresh(format!(
            "{NEW}: {volume} belongs to claim {ref_ns}/{ref_name}, restored here into namespace {}",
            claim.namespace
        ));
    }
    Binding::Conflict(format!(
        "volume {volume} is bound to claim {ref_ns}/{ref_name} ({}), not to this one; it is not taken from it: \
         free the volume, or drop spec.volumeName with a resource modifier to provision a new one",
        phase(pv)
    ))
}

const NEW: &str = "provisioning a new volume (its data comes back with the volume restore)";

/// Why a volume must not be bound to: it is being deleted or scrubbed.
fn going_away(pv: &Value) -> Option<String> {
    if pv.pointer("/metadata/deletionTimestamp").is_some_and(|t| !t.is_null()) {
        return Some("is being deleted".into());
    }
    let policy = reclaim_policy(pv);
    match phase(pv) {
        "Released" if matches!(policy, "Delete" | "Recycle") => {
            Some(format!("is Released with reclaim policy {policy}: its provisioner is removing it"))
        }
        "Failed" => Some("is Failed (its reclaim did not complete)".into()),
        _ => None,
    }
}

/// Rows 6–8: the volume's claim reference names this claim.
fn same_claim(claim_ref: &Value, pv: &Value) -> Binding {
    let stale_uid = !str_of(claim_ref, "/uid").is_empty();
    let reusable =
        matches!((phase(pv), reclaim_policy(pv)), ("Released" | "Available", "Retain") | ("Available", "Recycle"));
    if stale_uid && reusable { Binding::Rebind } else { Binding::Keep }
}

fn str_of<'a>(v: &'a Value, pointer: &str) -> &'a str {
    objects::str_at(v, pointer).unwrap_or_default()
}

fn phase(pv: &Value) -> &str {
    objects::str_at(pv, "/status/phase").unwrap_or("Pending")
}

fn reclaim_policy(pv: &Value) -> &str {
    // The API's default for volumes created without one.
    objects::str_at(pv, "/spec/persistentVolumeReclaimPolicy").unwrap_or("Retain")
}

/// The merge patch that clears a volume's stale claim uid (the binder then
/// treats the volume as pre-bound to the claim by name).
pub fn clear_claim_uid() -> Value {
    json!({"spec": {"claimRef": {"uid": null, "resourceVersion": null}}})
}

/// What the apply step does with a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prepared {
    /// Create it; the note (if any) goes to the item's report.
    Create(Option<String>),
    /// Do not create it: the item fails with this reason.
    Refuse(String),
}

/// Reads the volume a claim names, decides, and readies both: sets or drops
/// `desired`'s `spec.volumeName`, and (unless a dry run) clears a retained
/// volume's stale claim uid. Not a claim, or no volume named: `Create(None)`.
pub async fn prepare(
    kube: &Kube,
    item: &PlanItem,
    original: &Value,
    desired: &mut Value,
    in_plan: &dyn Fn(&str) -> bool,
    dry_run: bool,
) -> Result<Prepared> {
    let is_claim = item.group.is_empty() && item.kind == "PersistentVolumeClaim";
    let Some(volume) = objects::str_at(original, "/spec/volumeName").filter(|v| is_claim && !v.is_empty()) else {
        return Ok(Prepared::Create(None));
    };
    let path = format!("/api/v1/persistentvolumes/{volume}");
    let live = kube.get_opt(&path, &format!("reading persistentvolume/{volume}, named by {}", item.display())).await?;
    let claim = Claim {
        name: &item.name,
        namespace: item.namespace.as_deref().unwrap_or_default(),
        source_namespace: item.source_namespace.as_deref().unwrap_or_default(),
    };
    let keep = |desired: &mut Value| desired["spec"]["volumeName"] = json!(volume);
    match decide(claim, volume, in_plan(volume), live.as_ref()) {
        Binding::Keep => {
            keep(desired);
            Ok(Prepared::Create(None))
        }
        Binding::Rebind => {
            keep(desired);
            if dry_run {
                return Ok(Prepared::Create(Some(format!("would rebind to retained volume {volume}"))));
            }
            let what = format!("clearing the stale claim uid of persistentvolume/{volume}");
            kube.merge_patch(&path, &clear_claim_uid(), &what).await?;
            Ok(Prepared::Create(Some(format!("rebound to retained volume {volume}"))))
        }
        Binding::Fresh(why) => {
            objects::remove_at(desired, "/spec/volumeName");
            Ok(Prepared::Create(Some(why)))
        }
        Binding::Conflict(why) => Ok(Prepared::Refuse(why)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLAIM: Claim = Claim { name: "data", namespace: "shop", source_namespace: "shop" };
    const MAPPED: Claim = Claim { name: "data", namespace: "shop-qa", source_namespace: "shop" };

    fn pv(phase: &str, policy: &str, claim_ref: Value) -> Value {
        json!({"metadata": {"name": "pv-x"}, "spec": {"persistentVolumeReclaimPolicy": policy, "claimRef": claim_ref},
               "status": {"phase": phase}})
    }

    fn named(ns: &str, name: &str, uid: Option<&str>) -> Value {
        let mut r = json!({"kind": "PersistentVolumeClaim", "namespace": ns, "name": name});
        if let Some(u) = uid {
            r["uid"] = json!(u);
        }
        r
    }

    fn kind(b: &Binding) -> &'static str {
        match b {
            Binding::Keep => "keep",
            Binding::Rebind => "rebind",
            Binding::Fresh(_) => "fresh",
            Binding::Conflict(_) => "conflict",
        }
    }

    #[test]
    fn the_table_of_cases() {
        let mut deleting = pv("Bound", "Retain", named("shop", "data", Some("old")));
        deleting["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        let no_ref = json!({"spec": {"persistentVolumeReclaimPolicy": "Retain"}, "status": {"phase": "Available"}});
        let cases: Vec<(&str, Claim, bool, Option<Value>, &str)> = vec![
            ("1 absent, restored too", CLAIM, true, None, "keep"),
            ("2 absent, not restored", CLAIM, false, None, "fresh"),
            ("3 being deleted", CLAIM, false, Some(deleting), "fresh"),
            (
                "4 Released Delete (race)",
                CLAIM,
                false,
                Some(pv("Released", "Delete", named("shop", "data", Some("old")))),
                "fresh",
            ),
            (
                "4 Released Recycle",
                CLAIM,
                false,
                Some(pv("Released", "Recycle", named("shop", "data", Some("old")))),
                "fresh",
            ),
            ("4 Failed", CLAIM, false, Some(pv("Failed", "Retain", named("shop", "data", Some("old")))), "fresh"),
            ("5 no claimRef", CLAIM, false, Some(no_ref), "keep"),
            ("6 pre-bound by name", CLAIM, true, Some(pv("Available", "Retain", named("shop", "data", None))), "keep"),
            (
                "7 Bound to the same claim",
                CLAIM,
                false,
                Some(pv("Bound", "Retain", named("shop", "data", Some("live")))),
                "keep",
            ),
            (
                "8 Released Retain",
                CLAIM,
                false,
                Some(pv("Released", "Retain", named("shop", "data", Some("old")))),
                "rebind",
            ),
            (
                "8 Released Retain, in plan",
                CLAIM,
                true,
                Some(pv("Released", "Retain", named("shop", "data", Some("old")))),
                "rebind",
            ),
            (
                "8 Available stale Retain",
                CLAIM,
                false,
                Some(pv("Available", "Retain", named("shop", "data", Some("old")))),
                "rebind",
            ),
            (
                "8 Available stale Recycle",
                CLAIM,
                false,
                Some(pv("Available", "Recycle", named("shop", "data", Some("old")))),
                "rebind",
            ),
            (
                "9 a clone's claim",
                MAPPED,
                false,
                Some(pv("Bound", "Retain", named("shop", "data", Some("live")))),
                "fresh",
            ),
            (
                "9 a clone's claim, Released",
                MAPPED,
                false,
                Some(pv("Released", "Retain", named("shop", "data", Some("old")))),
                "fresh",
            ),
            (
                "10 another claim",
                CLAIM,
                false,
                Some(pv("Bound", "Retain", named("shop", "other", Some("u")))),
                "conflict",
            ),
            (
                "10 another namespace",
                CLAIM,
                false,
                Some(pv("Released", "Retain", named("web", "data", Some("u")))),
                "conflict",
            ),
        ];
        for (case, claim, in_plan, live, want) in cases {
            let got = decide(claim, "pv-x", in_plan, live.as_ref());
            assert_eq!(kind(&got), want, "case {case}: {got:?}");
        }
    }

    #[test]
    fn reasons_name_the_volume_and_its_claim() {
        let other = pv("Bound", "Retain", named("shop", "other", Some("u")));
        let Binding::Conflict(why) = decide(CLAIM, "pv-x", false, Some(&other)) else {
            panic!("a conflict");
        };
        assert!(why.contains("pv-x") && why.contains("shop/other") && why.contains("Bound"), "{why}");
        let racing = pv("Released", "Delete", named("shop", "data", Some("old")));
        let Binding::Fresh(why) = decide(CLAIM, "pv-x", false, Some(&racing)) else {
            panic!("a fresh volume");
        };
        assert!(why.contains("new volume") && why.contains("pv-x") && why.contains("Delete"), "{why}");
    }

    #[test]
    fn the_patch_clears_only_uid_and_version() {
        let mut live = pv("Released", "Retain", named("shop", "data", Some("old")));
        live["spec"]["claimRef"]["resourceVersion"] = json!("12");
        json_patch::merge(&mut live, &clear_claim_uid());
        assert_eq!(live["spec"]["claimRef"], named("shop", "data", None));
        assert_eq!(live["spec"]["persistentVolumeReclaimPolicy"], "Retain");
    }
}
