//! What one viewer may see: Arca's objects listed with the server's
//! identity, then kept only where the viewer's access review allows.

use std::collections::BTreeSet;

use arca_api::{Backup, BackupLocation, Restore, Schedule};
use arca_ui::model::{BackupRow, ClaimRow, LocationRow, RestoreRow, ScheduleRow};
use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::{Namespace, PersistentVolumeClaim};
use kube::api::ListParams;
use kube::{Api, Client, ResourceExt};

use super::access::{Access, Viewer};
use super::views;
use crate::error::Result;

/// Namespaces of the cluster's own machinery, left out of the overview.
const SYSTEM_NAMESPACES: [&str; 3] = ["kube-system", "kube-public", "kube-node-lease"];

/// Everything the pages are built from, already filtered for a viewer.
#[derive(Default)]
pub struct Seen {
    pub backups: Vec<BackupRow>,
    pub restores: Vec<RestoreRow>,
    pub schedules: Vec<ScheduleRow>,
    pub locations: Vec<LocationRow>,
    /// App namespaces shown in the overview.
    pub namespaces: Vec<String>,
    pub claims: Vec<ClaimRow>,
}

async fn list<K>(client: &Client) -> Result<Vec<K>>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    Ok(Api::<K>::all(client.clone()).list(&ListParams::default()).await?.items)
}

/// Keeps the objects whose namespace `viewer` may `get` `resource` in.
async fn visible<K: ResourceExt>(access: &Access, viewer: &Viewer, resource: &'static str, items: Vec<K>) -> Vec<K> {
    let mut kept = Vec::with_capacity(items.len());
    for item in items {
        let ns = item.namespace().unwrap_or_default();
        if access.may_get(viewer, arca_api::GROUP, resource, &ns).await {
            kept.push(item);
        }
    }
    kept
}

/// Reads and filters everything once per page view.
pub async fn seen(client: &Client, access: &Access, viewer: &Viewer, now: DateTime<Utc>) -> Result<Seen> {
    let (backups, restores, schedules, locations) = futures::try_join!(
        list::<Backup>(client),
        list::<Restore>(client),
        list::<Schedule>(client),
        list::<BackupLocation>(client),
    )?;
    let backups = visible(access, viewer, "backups", backups).await;
    let restores = visible(access, viewer, "restores", restores).await;
    let schedules = visible(access, viewer, "schedules", schedules).await;
    let locations = visible(access, viewer, "backuplocations", locations).await;
    let mut seen = Seen {
        backups: newest_first(backups.iter().map(views::backup_row).collect(), |b| b.begun()),
        restores: newest_first(restores.iter().map(views::restore_row).collect(), |r| r.started),
        schedules: schedules.iter().map(|s| views::schedule_row(s, now)).collect(),
        locations: locations.iter().map(views::location_row).collect(),
        ..Default::default()
    };
    seen.namespaces = app_namespaces(client, access, viewer, &seen.backups).await?;
    seen.claims = claims(client, access, viewer, &seen.namespaces).await?;
    Ok(seen)
}

fn newest_first<T>(mut rows: Vec<T>, at: impl Fn(&T) -> Option<DateTime<Utc>>) -> Vec<T> {
    rows.sort_by_key(|r| std::cmp::Reverse(at(r)));
    rows
}

/// Live namespaces and those backups name, that `viewer` may list Backups in.
async fn app_namespaces(
    client: &Client,
    access: &Access,
    viewer: &Viewer,
    backups: &[BackupRow],
) -> Result<Vec<String>> {
    let live = Api::<Namespace>::all(client.clone()).list(&ListParams::default()).await?.items;
    let mut all: BTreeSet<String> = live.iter().map(|n| n.name_any()).collect();
    all.extend(backups.iter().flat_map(|b| b.include_namespaces.iter().filter(|n| *n != "*").cloned()));
    let mut shown = Vec::new();
    for ns in all {
        if SYSTEM_NAMESPACES.contains(&ns.as_str()) {
            continue;
        }
        let allowed = access.may(viewer, "list", arca_api::GROUP, "backups", "", "").await
            || access.may(viewer, "list", arca_api::GROUP, "backups", &ns, "").await;
        if allowed {
            shown.push(ns);
        }
    }
    Ok(shown)
}

async fn claims(client: &Client, access: &Access, viewer: &Viewer, namespaces: &[String]) -> Result<Vec<ClaimRow>> {
    let wanted: BTreeSet<&String> = namespaces.iter().collect();
    let all = list::<PersistentVolumeClaim>(client).await?;
    let mut rows = Vec::new();
    for c in all {
        let ns = c.namespace().unwrap_or_default();
        if !wanted.contains(&ns) || !access.may_get(viewer, "", "persistentvolumeclaims", &ns).await {
            continue;
        }
        let capacity = c
            .spec
            .as_ref()
            .and_then(|s| s.resources.as_ref())
            .and_then(|r| r.requests.as_ref())
            .and_then(|r| r.get("storage"))
            .map(|q| q.0.clone())
            .unwrap_or_default();
        rows.push(ClaimRow { namespace: ns, name: c.name_any(), capacity });
    }
    rows.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    Ok(rows)
}
