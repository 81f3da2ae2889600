//! The seam to application hooks around snapshots: a [`Freezer`] (Arca's
//! backup hooks, in `arca-apps`) freezes a pod before the snapshots of its
//! volumes are cut and thaws it right after. Which pods freeze around which
//! volumes is [`units`], pure: pods that share a volume freeze together.

use std::collections::{BTreeMap, BTreeSet};

use arca_kube::api::Kube;
use arca_kube::data::DataOutcome;
use futures::future::BoxFuture;
use serde_json::Value;

use crate::inventory::VolumeItem;

/// When pods are frozen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Consistency {
    /// Each pod around its own volumes' snapshots, one pod after another.
    #[default]
    Pod,
    /// Every pod first, then all snapshots at once, then every thaw.
    Group,
}

impl std::str::FromStr for Consistency {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "pod" => Ok(Consistency::Pod),
            "group" => Ok(Consistency::Group),
            other => Err(format!("--consistency {other:?} is neither pod nor group")),
        }
    }
}

/// Runs a pod's pre hooks (freeze) and post hooks (thaw).
pub trait Freezer: Send + Sync {
    /// Whether the pod has hooks.
    fn has_hooks(&self, pod: &Value) -> bool;
    /// Runs its pre hooks; `Err(reason)`: its volumes must not be snapshotted.
    /// `volumes` are the pod's names of the volumes being snapshotted.
    fn freeze<'a>(&'a self, kube: &'a Kube, pod: &'a Value, volumes: &'a [String])
    -> BoxFuture<'a, Result<(), String>>;
    /// Runs its post hooks (once, whatever the snapshots did).
    fn thaw<'a>(&'a self, pod: &'a str) -> BoxFuture<'a, ()>;
    /// The hook records, errors, warnings and log lines so far, taken out.
    fn outcome(&self) -> DataOutcome;
}

/// Pods frozen together and the volumes cut while they are.
#[derive(Debug, Clone, PartialEq)]
pub struct Unit {
    /// Each pod (`NAMESPACE/NAME`) with its names of the unit's volumes.
    pub pods: Vec<(String, Vec<String>)>,
    /// Indices of the unit's volumes in the items given to [`units`].
    pub items: Vec<usize>,
}

/// Groups the pods with hooks (`NAMESPACE/NAME`) with the volumes they
/// mount; pods that share a volume form one unit. A pod with hooks and no
/// volume is a unit of its own (its hooks still run).
pub fn units(hooked: &[String], items: &[VolumeItem]) -> Vec<Unit> {
    let hooked: BTreeSet<&str> = hooked.iter().map(String::as_str).collect();
    // Union-find over pods, joined by the volumes they share.
    let mut parent: BTreeMap<&str, &str> = hooked.iter().map(|p| (*p, *p)).collect();
    fn root<'a>(parent: &BTreeMap<&'a str, &'a str>, mut p: &'a str) -> &'a str {
        while parent[p] != p {
            p = parent[p];
        }
        p
    }
    let mut users: Vec<Vec<(String, String)>> = Vec::with_capacity(items.len());
    for item in items {
        let pods: Vec<(String, String)> = item
            .pods
            .iter()
            .map(|u| (format!("{}/{}", u.namespace, u.name), u.volume.clone()))
            .filter(|(k, _)| hooked.contains(k.as_str()))
            .collect();
        for pair in pods.windows(2) {
            let (Some(a), Some(b)) = (hooked.get(pair[0].0.as_str()), hooked.get(pair[1].0.as_str())) else { continue };
            let (ra, rb) = (root(&parent, a), root(&parent, b));
            if ra != rb {
                parent.insert(rb, ra);
            }
        }
        users.push(pods);
    }
    let mut by_root: BTreeMap<&str, Unit> = BTreeMap::new();
    for p in &hooked {
        let unit = by_root.entry(root(&parent, p)).or_insert(Unit { pods: Vec::new(), items: Vec::new() });
        unit.pods.push((p.to_string(), Vec::new()));
    }
    for (i, pods) in users.iter().enumerate() {
        let Some((first, _)) = pods.first() else { continue };
        let Some(p) = hooked.get(first.as_str()) else { continue };
        let Some(unit) = by_root.get_mut(root(&parent, p)) else { continue };
        unit.items.push(i);
        for (pod, volume) in pods {
            if let Some(entry) = unit.pods.iter_mut().find(|(k, _)| k == pod)
                && !entry.1.contains(volume)
            {
                entry.1.push(volume.clone());
            }
        }
    }
    by_root.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::PodUse;

    fn item(key: &str, pods: &[(&str, &str)]) -> VolumeItem {
        let pods = pods
            .iter()
            .map(|(p, v)| {
                let (ns, name) = p.split_once('/').unwrap_or_default();
                PodUse {
                    namespace: ns.into(),
                    name: name.into(),
                    uid: String::new(),
                    node: None,
                    volume: v.to_string(),
                    annotations: Default::default(),
                }
            })
            .collect();
        VolumeItem { key: key.into(), pods, ..Default::default() }
    }

    #[test]
    fn each_pod_with_its_own_volumes() {
        let items = [item("db/a", &[("db/pg", "data")]), item("db/b", &[("db/web", "www")]), item("db/c", &[])];
        let u = units(&["db/pg".into(), "db/web".into()], &items);
        assert_eq!(u.len(), 2);
        assert_eq!(u[0].pods, [("db/pg".to_string(), vec!["data".to_string()])]);
        assert_eq!(u[0].items, [0]);
        assert_eq!(u[1].items, [1]);
    }

    #[test]
    fn pods_sharing_a_volume_freeze_together() {
        let items = [item("db/shared", &[("db/a", "v"), ("db/b", "w")]), item("db/own", &[("db/b", "x")])];
        let u = units(&["db/a".into(), "db/b".into(), "db/c".into()], &items);
        assert_eq!(u.len(), 2, "{u:?}");
        let ab = u.iter().find(|x| x.pods.len() == 2).unwrap();
        assert_eq!(ab.items, [0, 1]);
        assert_eq!(ab.pods[1], ("db/b".to_string(), vec!["w".to_string(), "x".to_string()]));
        let c = u.iter().find(|x| x.pods[0].0 == "db/c").unwrap();
        assert!(c.items.is_empty(), "a pod with hooks and no volume still runs its hooks");
    }

    #[test]
    fn volumes_of_pods_without_hooks_are_in_no_unit() {
        let items = [item("db/a", &[("db/plain", "data")])];
        assert!(units(&[], &items).is_empty());
    }
}
