//! `arca report --html`: one self-contained file (style inline, charts as
//! SVG, no script needed, no link out) for a ticket or an audit trail.

use maud::{Markup, html};

use crate::chart::{self, Bar, Unit};
use crate::layout::{self, Nav, PageContext};
use crate::model::{BackupRow, CatalogView, RestoreRow, RestoredItem};
use crate::pages;

/// A backup: what was captured (counts per namespace and type, volumes,
/// hooks and dumps), what failed and why, and every object's name.
pub fn backup(ctx: &PageContext, b: &BackupRow, catalog: &CatalogView) -> Markup {
    let file = PageContext { base: None, ..ctx.clone() };
    let body = html! {
        (pages::backup_summary(&file, b))
        h2 { "Objects per namespace and type" }
        (counts_table(catalog))
        (pages::volumes_table(&b.volumes))
        @if b.volumes.len() > 1 {
            (chart::ranking("chart-volumes", "Bytes read per volume", Unit::Bytes, &volume_bars(b)))
        }
        (pages::steps_table(&b.steps))
        (pages::issues_table(&b.issues))
        h2 { "Catalog" }
        (pages::catalog_tree(catalog))
    };
    layout::page(&file, Nav::None, &format!("Backup report: {}", b.name), body)
}

/// A restore: what came back, what was skipped or failed and why.
pub fn restore(ctx: &PageContext, r: &RestoreRow, items: &[RestoredItem]) -> Markup {
    let file = PageContext { base: None, ..ctx.clone() };
    let body = html! {
        (pages::restore_summary(r))
        (pages::issues_table(&r.issues))
        h2 { "Objects" }
        (pages::items_table(items))
    };
    layout::page(&file, Nav::None, &format!("Restore report: {}", r.name), body)
}

fn volume_bars(b: &BackupRow) -> Vec<Bar> {
    b.volumes.iter().map(|v| Bar { label: v.claim.clone(), value: v.bytes as f64 }).collect()
}

fn counts_table(c: &CatalogView) -> Markup {
    html! {
        table #counts {
            thead { tr { th { "Namespace" } th { "Type" } th.num { "Objects" } } }
            tbody {
                @for g in &c.groups {
                    @for t in &g.types {
                        tr data-namespace=(g.namespace) data-type=(t.resource) {
                            td { @if g.namespace.is_empty() { span.muted { "cluster-scoped" } } @else { (g.namespace) } }
                            td { (t.resource) }
                            td.num.count { (t.names.len()) }
                        }
                    }
                }
            }
            tfoot { tr { th colspan="2" { "Total" } th.num #total-objects { (c.object_count()) } } }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::VolumeRow;
    use chrono::{DateTime, Utc};

    #[test]
    fn a_report_is_one_file_without_links_out() {
        let ctx = PageContext {
            now: DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap(),
            user: None,
            base: Some("/ui".into()),
        };
        let catalog = CatalogView::from_objects([
            ("shop".into(), "configmaps".into(), "a".into()),
            ("shop".into(), "configmaps".into(), "b".into()),
        ]);
        let html = backup(&ctx, &BackupRow { name: "nightly".into(), ..Default::default() }, &catalog).into_string();
        assert!(html.contains("<style>"));
        assert!(!html.contains("href="));
        assert!(!html.contains("src="));
        assert!(html.contains("id=\"total-objects\">2<"));
        assert!(!html.contains("chart-volumes"), "no chart without volumes");
    }

    #[test]
    fn several_volumes_get_a_size_chart() {
        let ctx =
            PageContext { now: DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap(), user: None, base: None };
        let volume = |claim: &str, bytes| VolumeRow { claim: claim.into(), bytes, ..Default::default() };
        let b = BackupRow {
            name: "nightly".into(),
            volumes: vec![volume("shop/data", 2048), volume("shop/logs", 512)],
            ..Default::default()
        };
        let html = backup(&ctx, &b, &CatalogView::default()).into_string();
        assert!(html.contains("id=\"chart-volumes\" data-points=\"2\""), "{html}");
        assert!(html.contains("data-value=\"2048\""));
        assert!(!html.contains("href=") && !html.contains("src="));
    }
}
