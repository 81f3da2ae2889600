//! A backup's or a restore's own page: its object, plus what only the
//! repository holds (the catalog, hook and dump records, the per-object
//! restore report). The object alone is shown when the repository can't be
//! read, with the reason.

use arca_api::{Backup, Restore, labels};
use arca_repo::Repository;
use arca_ui::model::{BackupRow, CatalogView, RestoreRow, RestoredItem};
use kube::{Api, ResourceExt};

use super::{Ui, report_views, views};
use crate::error::Result;

/// How long reading the repository for one page may take.
const REPOSITORY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// The repository of the location `named` (or the default) in `ns`.
pub(super) async fn repository(ui: &Ui, ns: &str, named: Option<&str>) -> std::result::Result<Repository, String> {
    let client = ui.client_for(ns).map_err(|e| e.to_string())?;
    let location = crate::backup::resolve_location(&client, ns, named).await?;
    let opened = crate::location::open(&client, &location).await.map_err(|e| e.to_string())?;
    Ok(opened.repo)
}

/// Runs blocking repository reads off the async threads, with a timeout.
pub(super) async fn read<T: Send + 'static>(
    repo: Repository,
    f: impl FnOnce(&Repository) -> std::result::Result<T, String> + Send + 'static,
) -> std::result::Result<T, String> {
    let job = tokio::task::spawn_blocking(move || f(&repo));
    match tokio::time::timeout(REPOSITORY_TIMEOUT, job).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => Err(format!("reading the repository stopped: {e}")),
        Err(_) => Err(format!("reading the repository took longer than {REPOSITORY_TIMEOUT:?}")),
    }
}

/// A Backup object and, from its snapshot, the catalog (or why not).
pub async fn backup(
    ui: &Ui,
    ns: &str,
    name: &str,
) -> Result<Option<(BackupRow, std::result::Result<CatalogView, String>)>> {
    let Some(b) = Api::<Backup>::namespaced(ui.client.clone(), ns).get_opt(name).await? else { return Ok(None) };
    let mut row = views::backup_row(&b);
    let Some(snapshot) = row.snapshot.clone() else {
        return Ok(Some((row, Err("This backup has no snapshot (yet): nothing to list.".into()))));
    };
    let named = b.labels().get(labels::LOCATION).cloned().or_else(|| b.spec.location.clone());
    let stored = match repository(ui, ns, named.as_deref()).await {
        Ok(repo) => read(repo, move |repo| stored_backup(repo, &snapshot)).await,
        Err(e) => Err(e),
    };
    let catalog = stored.map(|(steps, catalog)| {
        row.steps = steps;
        catalog
    });
    Ok(Some((row, catalog.map_err(|e| format!("The catalog could not be read: {e}")))))
}

fn stored_backup(
    repo: &Repository,
    snapshot: &str,
) -> std::result::Result<(Vec<arca_ui::model::StepRow>, CatalogView), String> {
    let entry = arca_kube::backup::find_backup(repo, snapshot).map_err(|e| e.to_string())?;
    let report = arca_kube::backup::BackupReport::from_snapshot(&entry).map_err(|e| e.to_string())?;
    let steps = report_views::backup_row(&report, &entry.id.to_hex()).steps;
    let catalog = report_views::catalog_view(repo, &entry.snapshot.tree).map_err(|e| e.to_string())?;
    Ok((steps, catalog))
}

/// A Restore object and its stored per-object report (or why not).
pub async fn restore(
    ui: &Ui,
    ns: &str,
    name: &str,
) -> Result<Option<(RestoreRow, std::result::Result<Vec<RestoredItem>, String>)>> {
    let Some(r) = Api::<Restore>::namespaced(ui.client.clone(), ns).get_opt(name).await? else { return Ok(None) };
    let row = views::restore_row(&r);
    let Some(report) = r.status.as_ref().and_then(|s| s.report.clone()) else {
        return Ok(Some((row, Err("No report stored for this restore (a ReadOnly location keeps it in status only, or it has not finished).".into()))));
    };
    let backup = Api::<Backup>::namespaced(ui.client.clone(), ns).get_opt(&r.spec.backup).await?;
    let named =
        backup.as_ref().and_then(|b| b.labels().get(labels::LOCATION).cloned().or_else(|| b.spec.location.clone()));
    let items = match repository(ui, ns, named.as_deref()).await {
        Ok(repo) => {
            read(repo, move |repo| report_views::restored_items(repo, &report).map_err(|e| e.to_string())).await
        }
        Err(e) => Err(e),
    };
    Ok(Some((row, items.map_err(|e| format!("The report could not be read: {e}")))))
}
