//! Drift: each shown namespace's live objects against its newest
//! restorable backup, computed when the page is asked for (one comparison
//! per backup, however many namespaces it covers). Field paths only: the
//! comparison redacts Secret values, and the page shows no values at all.

use std::collections::BTreeMap;
use std::time::Duration;

use arca_kube::sources::{self, Drift, Source};
use arca_ui::model::{BackupRow, DriftRow, DriftView};

use super::Ui;
use super::data::Seen;

/// How long one comparison may take.
const COMPARE_TIMEOUT: Duration = Duration::from_secs(60);

/// The newest restorable backup covering `ns`.
fn last_backup<'a>(seen: &'a Seen, ns: &str) -> Option<&'a BackupRow> {
    seen.backups.iter().filter(|b| b.restorable() && b.covers(ns) && b.snapshot.is_some()).max_by_key(|b| b.finished)
}

pub async fn views(ui: &Ui, seen: &Seen) -> Vec<DriftView> {
    let mut by_backup: BTreeMap<(String, String), (&BackupRow, Vec<String>)> = BTreeMap::new();
    for ns in &seen.namespaces {
        if let Some(b) = last_backup(seen, ns) {
            by_backup.entry((b.namespace.clone(), b.name.clone())).or_insert((b, Vec::new())).1.push(ns.clone());
        }
    }
    let mut out = Vec::new();
    for (b, namespaces) in by_backup.into_values() {
        let drift = compare(ui, b).await;
        for ns in namespaces {
            out.push(view_of(b, &ns, &drift));
        }
    }
    out.sort_by(|a, b| a.namespace.cmp(&b.namespace));
    out
}

async fn compare(ui: &Ui, b: &BackupRow) -> Result<Drift, String> {
    let location = (b.location != "(default)").then_some(b.location.as_str());
    let client = ui.client_for(&b.namespace).map_err(|e| e.to_string())?;
    let loc = crate::backup::resolve_location(&client, &b.namespace, location).await?;
    let opened = crate::location::open(&client, &loc).await.map_err(|e| e.to_string())?;
    let snapshot = b.snapshot.clone().unwrap_or_default();
    let stored = Source::Backup { repo: opened.repo, name: snapshot };
    let live = Source::Live(arca_kube::api::Kube::new(ui.client.clone(), 8));
    // The backup side reads the repository synchronously.
    let job = tokio::task::block_in_place(|| {
        tokio::runtime::Handle::current()
            .block_on(tokio::time::timeout(COMPARE_TIMEOUT, sources::compare(&stored, &live)))
    });
    match job {
        Ok(Ok(d)) => Ok(d),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("the comparison took longer than {COMPARE_TIMEOUT:?}")),
    }
}

/// The namespace part of a `group/kind/namespace/name` key.
fn namespace_of(key: &str) -> Option<&str> {
    key.split('/').nth(2)
}

/// `namespace/Kind/name` for people (`group/` dropped when core).
fn shown(key: &str) -> String {
    let parts: Vec<&str> = key.splitn(4, '/').collect();
    match parts.as_slice() {
        ["core", kind, ns, name] => format!("{ns}/{kind}/{name}"),
        [group, kind, ns, name] => format!("{ns}/{kind}.{group}/{name}"),
        _ => key.to_string(),
    }
}

fn view_of(b: &BackupRow, ns: &str, drift: &Result<Drift, String>) -> DriftView {
    let mut view =
        DriftView { namespace: ns.to_string(), backup: b.name.clone(), taken: b.finished, ..Default::default() };
    let d = match drift {
        Ok(d) => d,
        Err(e) => {
            view.unavailable = Some(format!("No comparison: {e}"));
            return view;
        }
    };
    let ours = |k: &&String| namespace_of(k) == Some(ns);
    for k in d.added.iter().filter(ours) {
        // `compare(backup, live)`: added = only live.
        view.rows.push(DriftRow { object: shown(k), change: "added".into(), fields: vec![] });
    }
    for k in d.removed.iter().filter(ours) {
        view.rows.push(DriftRow { object: shown(k), change: "removed".into(), fields: vec![] });
    }
    for (k, changes) in d.changed.iter().filter(|(k, _)| namespace_of(k) == Some(ns)) {
        let fields = changes.iter().map(|c| c.path().to_string()).collect();
        view.rows.push(DriftRow { object: shown(k), change: "changed".into(), fields });
    }
    view.compared = view.rows.len() + d.unchanged_in(ns);
    view
}
