//! The list and detail pages of backups and restores, the drift page, and
//! the sections they share with the report file.

use maud::{Markup, html};

use crate::format;
use crate::layout::{self, Nav, PageContext, badge, maybe_link, segment};
use crate::model::{BackupRow, CatalogView, DriftView, IssueRow, RestoreRow, RestoredItem, StepRow, VolumeRow};

/// Names longer lists show per type before folding the rest away.
const NAMES_SHOWN: usize = 500;

fn backup_link(ctx: &PageContext, b: &BackupRow) -> Option<String> {
    ctx.link(&format!("backups/{}/{}", segment(&b.namespace), segment(&b.name)))
}

fn restore_link(ctx: &PageContext, r: &RestoreRow) -> Option<String> {
    ctx.link(&format!("restores/{}/{}", segment(&r.namespace), segment(&r.name)))
}

fn opt_time(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(format::time).unwrap_or_default()
}

fn opt_duration(d: Option<chrono::Duration>) -> String {
    d.map(format::duration).unwrap_or_default()
}

fn filter_box(table: &str) -> Markup {
    html! { input.filter type="search" placeholder="Filter…" data-filter=(table) aria-label="Filter rows"; }
}

/// All backups, newest first.
pub fn backups(ctx: &PageContext, rows: &[BackupRow]) -> Markup {
    let body = html! {
        (filter_box("backups"))
        table #backups {
            thead { tr {
                th { "Backup" } th { "Phase" } th { "Started" } th.num { "Duration" } th.num { "Objects" }
                th.num { "Volumes" } th.num { "Added" } th.num { "Errors" } th { "Schedule" }
            } }
            tbody {
                @for b in rows {
                    tr data-backup=(b.name) {
                        td { (maybe_link(backup_link(ctx, b), &b.name)) br; span.muted { (b.namespace) } }
                        td { (badge("phase", &b.phase)) }
                        td { (opt_time(b.started)) }
                        td.num { (opt_duration(b.duration())) }
                        td.num { (b.objects) }
                        td.num { (b.volumes.len()) }
                        td.num { (format::bytes(b.bytes_added)) }
                        td.num { (b.error_count) }
                        td { (b.schedule.as_deref().unwrap_or("")) }
                    }
                }
            }
        }
        @if rows.is_empty() { p.empty { "No backups." } }
    };
    layout::page(ctx, Nav::Backups, "Backups", body)
}

/// One backup: summary, volumes, hooks and dumps, issues, catalog.
pub fn backup(ctx: &PageContext, b: &BackupRow, catalog: Result<&CatalogView, &str>) -> Markup {
    let body = html! {
        (backup_summary(ctx, b))
        (volumes_table(&b.volumes))
        (steps_table(&b.steps))
        (issues_table(&b.issues))
        h2 { "Catalog" }
        @match catalog {
            Ok(c) => (catalog_tree(c)),
            Err(why) => p.empty #catalog-unavailable { (why) },
        }
    };
    layout::page(ctx, Nav::Backups, &format!("Backup {}/{}", b.namespace, b.name), body)
}

/// The summary cards of a backup.
pub fn backup_summary(ctx: &PageContext, b: &BackupRow) -> Markup {
    html! {
        div.cards {
            div.card #phase { div.value { (badge("phase", &b.phase)) } div.label { "phase" } }
            div.card #objects { div.value { (b.objects) } div.label { "objects" } }
            div.card #volumes { div.value { (b.volumes.len()) } div.label { "volumes" } }
            div.card #bytes { div.value { (format::bytes(b.bytes)) } div.label { "read" } }
            div.card #added { div.value { (format::bytes(b.bytes_added)) } div.label { "added to the repository" } }
            div.card #duration { div.value { (opt_duration(b.duration())) } div.label { "duration" } }
        }
        table.facts {
            tbody {
                tr { th { "Location" } td { (b.location) } }
                tr { th { "Namespaces" } td { @if b.include_namespaces.is_empty() { "all" } @else { (b.include_namespaces.join(", ")) } } }
                @if !b.exclude_namespaces.is_empty() { tr { th { "Excluded" } td { (b.exclude_namespaces.join(", ")) } } }
                tr { th { "Started" } td { (opt_time(b.started)) @if let Some(t) = b.started { " (" (format::age(t, ctx.now)) ")" } } }
                tr { th { "Finished" } td { (opt_time(b.finished)) } }
                tr { th { "Snapshot" } td { code { (b.snapshot.as_deref().unwrap_or("none")) } } }
                @if let Some(s) = &b.schedule { tr { th { "Schedule" } td { (s) } } }
                @if !b.message.is_empty() { tr { th { "Message" } td { (b.message) } } }
            }
        }
    }
}

/// Per-volume results.
pub fn volumes_table(volumes: &[VolumeRow]) -> Markup {
    html! {
        h2 { "Volumes" }
        @if volumes.is_empty() { p.empty { "No volume data in this backup." } } @else {
            table #volume-results {
                thead { tr { th { "Claim" } th { "Method" } th { "Phase" } th.num { "Bytes" } th.num { "Duration" } th { "Message" } } }
                tbody {
                    @for v in volumes {
                        tr data-claim=(v.claim) {
                            td { (v.claim) } td { (v.method) } td { (badge("phase", &v.phase)) }
                            td.num { (format::bytes(v.bytes)) }
                            td.num { (v.duration_seconds.map(|s| format!("{s:.1}s")).unwrap_or_default()) }
                            td { (v.message) }
                        }
                    }
                }
            }
        }
    }
}

/// Hook runs and database dumps.
pub fn steps_table(steps: &[StepRow]) -> Markup {
    html! {
        h2 { "Hooks and dumps" }
        @if steps.is_empty() { p.empty { "No hook ran and no dump was taken." } } @else {
            table #steps {
                thead { tr { th { "Kind" } th { "Name" } th { "Target" } th { "Phase" } th.num { "Bytes" } th.num { "Duration" } th { "Message" } } }
                tbody {
                    @for s in steps {
                        tr {
                            td { (s.kind) } td { (s.name) } td { (s.target) } td { (badge("phase", &s.phase)) }
                            td.num { (s.bytes.map(format::bytes).unwrap_or_default()) }
                            td.num { (s.duration_seconds.map(|s| format!("{s:.1}s")).unwrap_or_default()) }
                            td { (s.message) }
                        }
                    }
                }
            }
        }
    }
}

/// Errors and warnings with their reasons.
pub fn issues_table(issues: &[IssueRow]) -> Markup {
    html! {
        h2 { "Errors and warnings" }
        @if issues.is_empty() { p.empty { "None." } } @else {
            table #issues {
                thead { tr { th { "Severity" } th { "Reason" } th { "Object" } th { "Message" } } }
                tbody {
                    @for i in issues {
                        @let sev = match i.severity { crate::model::Severity::Error => "error", crate::model::Severity::Warning => "warning" };
                        tr.issue class=(sev) {
                            td { (badge("sev", sev)) } td.reason { (i.reason) }
                            td { (i.object.as_deref().unwrap_or("")) } td { (i.message) }
                        }
                    }
                }
            }
        }
    }
}

/// Namespaces → types → object names, folded.
pub fn catalog_tree(c: &CatalogView) -> Markup {
    html! {
        div #catalog data-objects=(c.object_count()) {
            @for g in &c.groups {
                @let count: usize = g.types.iter().map(|t| t.names.len()).sum();
                details.namespace data-namespace=(g.namespace) {
                    summary { @if g.namespace.is_empty() { "cluster-scoped" } @else { (g.namespace) } " " span.muted { "(" (count) ")" } }
                    @for t in &g.types {
                        details.type data-type=(t.resource) {
                            summary { (t.resource) " " span.muted { "(" (t.names.len()) ")" } }
                            ul.names {
                                @for n in t.names.iter().take(NAMES_SHOWN) { li { (n) } }
                                @if t.names.len() > NAMES_SHOWN { li.muted { "… and " (t.names.len() - NAMES_SHOWN) " more" } }
                            }
                        }
                    }
                }
            }
            @if c.groups.is_empty() { p.empty { "No objects." } }
        }
    }
}

/// All restores, newest first.
pub fn restores(ctx: &PageContext, rows: &[RestoreRow]) -> Markup {
    let body = html! {
        (filter_box("restores"))
        table #restores {
            thead { tr {
                th { "Restore" } th { "From backup" } th { "Phase" } th { "Started" } th.num { "Duration" }
                th.num { "Restored" } th.num { "Skipped" } th.num { "Failed" } th.num { "Volumes" }
            } }
            tbody {
                @for r in rows {
                    tr data-restore=(r.name) {
                        td { (maybe_link(restore_link(ctx, r), &r.name)) br; span.muted { (r.namespace) } }
                        td { (r.backup) }
                        td { (badge("phase", &r.phase)) }
                        td { (opt_time(r.started)) }
                        td.num { (opt_duration(r.duration())) }
                        td.num { (r.restored) } td.num { (r.skipped) } td.num { (r.failed) } td.num { (r.volumes) }
                    }
                }
            }
        }
        @if rows.is_empty() { p.empty { "No restores." } }
    };
    layout::page(ctx, Nav::Restores, "Restores", body)
}

/// One restore and its per-object report.
pub fn restore(ctx: &PageContext, r: &RestoreRow, items: Result<&[RestoredItem], &str>) -> Markup {
    let body = html! {
        (restore_summary(r))
        (issues_table(&r.issues))
        h2 { "Objects" }
        @match items {
            Ok(items) => (items_table(items)),
            Err(why) => p.empty #report-unavailable { (why) },
        }
    };
    layout::page(ctx, Nav::Restores, &format!("Restore {}/{}", r.namespace, r.name), body)
}

/// The summary cards of a restore.
pub fn restore_summary(r: &RestoreRow) -> Markup {
    html! {
        div.cards {
            div.card #phase { div.value { (badge("phase", &r.phase)) } div.label { "phase" } }
            div.card #restored { div.value { (r.restored) } div.label { "restored" } }
            div.card #skipped { div.value { (r.skipped) } div.label { "skipped" } }
            div.card #failed { div.value { (r.failed) } div.label { "failed" } }
            div.card #volumes { div.value { (r.volumes) } div.label { "volumes" } }
            div.card #duration { div.value { (opt_duration(r.duration())) } div.label { "duration" } }
        }
        table.facts { tbody {
            tr { th { "From backup" } td { (r.backup) } }
            tr { th { "Started" } td { (opt_time(r.started)) } }
            tr { th { "Finished" } td { (opt_time(r.finished)) } }
            @if !r.message.is_empty() { tr { th { "Message" } td { (r.message) } } }
        } }
    }
}

/// The per-object outcome of a restore, failures first.
pub fn items_table(items: &[RestoredItem]) -> Markup {
    let mut sorted: Vec<&RestoredItem> = items.iter().collect();
    sorted.sort_by_key(|i| (i.outcome != "failed", i.object.clone()));
    html! {
        (filter_box("items"))
        table #items {
            thead { tr { th { "Object" } th { "Outcome" } th { "Message" } } }
            tbody {
                @for i in sorted {
                    tr.item data-outcome=(i.outcome) {
                        td { (i.object) } td { (badge("outcome", &i.outcome)) } td { (i.message) }
                    }
                }
            }
        }
        @if items.is_empty() { p.empty { "The report lists no objects." } }
    }
}

/// Drift of each namespace against its last backup.
pub fn drift(ctx: &PageContext, views: &[DriftView]) -> Markup {
    let body = html! {
        p.muted { "Live objects compared with the newest restorable backup of their namespace. Only field paths are shown, never values." }
        @if views.is_empty() { p.empty { "No namespace has a backup to compare with." } }
        @for v in views {
            section.drift data-namespace=(v.namespace) {
                h2 { (v.namespace) " " span.muted { "against " (v.backup) @if let Some(t) = v.taken { ", " (format::age(t, ctx.now)) } } }
                @if let Some(why) = &v.unavailable {
                    p.empty { (why) }
                } @else if v.rows.is_empty() {
                    p { "No drift: " (v.compared) " objects match the backup." }
                } @else {
                    p { (v.rows.len()) " of " (v.compared) " objects differ." }
                    table.drift-rows {
                        thead { tr { th { "Object" } th { "Change" } th { "Fields" } } }
                        tbody {
                            @for r in &v.rows {
                                tr data-change=(r.change) { td { (r.object) } td { (r.change) } td { (r.fields.join(", ")) } }
                            }
                        }
                    }
                }
            }
        }
    };
    layout::page(ctx, Nav::Drift, "Drift", body)
}

/// The form asking for a bearer token (stored in a same-site cookie).
pub fn login(ctx: &PageContext, problem: Option<&str>) -> Markup {
    let body = html! {
        @if let Some(p) = problem { p.sev-error #login-problem { (p) } }
        form.login method="post" action=(ctx.link("login").unwrap_or_default()) {
            p { "Paste a Kubernetes bearer token (for example from " code { "kubectl create token NAME -n NAMESPACE" } "). "
                "Pages then show what that identity may read." }
            textarea name="token" required autocomplete="off" spellcheck="false" {}
            p { button type="submit" { "Sign in" } }
        }
    };
    layout::page(ctx, Nav::None, "Sign in", body)
}

/// A page saying what went wrong.
pub fn problem(ctx: &PageContext, title: &str, message: &str) -> Markup {
    layout::page(ctx, Nav::None, title, html! { p #problem { (message) } })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Severity;
    use chrono::{DateTime, Utc};

    fn ctx() -> PageContext {
        PageContext {
            now: DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap(),
            user: None,
            base: Some("/ui".into()),
        }
    }

    #[test]
    fn a_backup_page_shows_volumes_issues_and_catalog() {
        let b = BackupRow {
            namespace: "arca-system".into(),
            name: "nightly".into(),
            phase: "PartiallyFailed".into(),
            volumes: vec![VolumeRow { claim: "shop/data".into(), method: "mover".into(), ..Default::default() }],
            issues: vec![IssueRow {
                severity: Severity::Error,
                reason: "DumpFailed".into(),
                message: "pg_dump: connection refused".into(),
                object: None,
            }],
            ..Default::default()
        };
        let catalog = CatalogView::from_objects([
            ("shop".into(), "secrets".into(), "db".into()),
            ("shop".into(), "deployments.apps".into(), "web".into()),
            (String::new(), "namespaces".into(), "shop".into()),
        ]);
        let html = backup(&ctx(), &b, Ok(&catalog)).into_string();
        assert!(html.contains("data-claim=\"shop/data\""));
        assert!(html.contains("DumpFailed"));
        assert!(html.contains("data-objects=\"3\""));
        assert!(html.contains("cluster-scoped"));
        let unavailable = backup(&ctx(), &b, Err("repository unavailable")).into_string();
        assert!(unavailable.contains("catalog-unavailable"));
    }

    #[test]
    fn restore_items_list_failures_first() {
        let items = vec![
            RestoredItem { object: "a/x".into(), outcome: "created".into(), message: String::new() },
            RestoredItem { object: "b/y".into(), outcome: "failed".into(), message: "forbidden".into() },
        ];
        let html = items_table(&items).into_string();
        assert!(html.find("b/y").unwrap() < html.find("a/x").unwrap());
    }

    #[test]
    fn lists_link_to_their_pages_only_in_the_dashboard() {
        let b = BackupRow { namespace: "arca-system".into(), name: "n 1".into(), ..Default::default() };
        let html = backups(&ctx(), std::slice::from_ref(&b)).into_string();
        assert!(html.contains("href=\"/ui/backups/arca-system/n%201\""));
        let file = PageContext { base: None, ..ctx() };
        assert!(!backups(&file, &[b]).into_string().contains("href=\"/ui"));
    }
}
