//! Restore drills: the last one per application namespace (passed or
//! failed, when, and what it compared), then every drill read.

use chrono::{DateTime, Utc};
use maud::{Markup, html};
use serde::Serialize;

use crate::format;
use crate::layout::{self, Nav, PageContext};

/// One drill, as the page shows it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct DrillRow {
    pub name: String,
    pub backup: String,
    /// The location whose repository holds it (`namespace/name`).
    pub location: String,
    pub passed: bool,
    pub started: Option<DateTime<Utc>>,
    pub finished: Option<DateTime<Utc>>,
    /// The backup's namespaces the drill restored.
    pub namespaces: Vec<String>,
    pub objects_compared: u64,
    pub objects_equal: u64,
    pub volumes_checked: u64,
    pub volumes_passed: u64,
    pub dumps: u64,
    /// Why it failed, one line each.
    pub problems: Vec<String>,
    pub warnings: Vec<String>,
}

impl DrillRow {
    /// What was compared, in a line.
    pub fn compared(&self) -> String {
        let mut parts = vec![format!("{}/{} objects equal", self.objects_equal, self.objects_compared)];
        if self.volumes_checked > 0 {
            parts.push(format!("{}/{} volumes verified", self.volumes_passed, self.volumes_checked));
        }
        if self.dumps > 0 {
            parts.push(format!("{} dump(s) restored", self.dumps));
        }
        parts.join(", ")
    }

    fn result(&self) -> &'static str {
        if self.passed { "Passed" } else { "Failed" }
    }
}

/// The newest drill of each namespace any drill covered, by namespace.
pub fn last_per_namespace(drills: &[DrillRow]) -> Vec<(String, &DrillRow)> {
    let mut last: std::collections::BTreeMap<&str, &DrillRow> = std::collections::BTreeMap::new();
    for d in drills {
        for ns in &d.namespaces {
            let newer = last.get(ns.as_str()).is_none_or(|seen| d.started > seen.started);
            if newer {
                last.insert(ns, d);
            }
        }
    }
    last.into_iter().map(|(ns, d)| (ns.to_string(), d)).collect()
}

/// The drills page; `unreadable` names the locations (or records) that could not be read.
pub fn page(ctx: &PageContext, drills: &[DrillRow], unreadable: &[String]) -> Markup {
    let mut newest: Vec<&DrillRow> = drills.iter().collect();
    newest.sort_by_key(|d| std::cmp::Reverse(d.started));
    let body = html! {
        p.muted { "A drill restores a backup into scratch namespaces, compares every object and volume with the backup, and removes them again ("
            code { "arca verify BACKUP --drill" } ")." }
        @for why in unreadable { p.sev-warning.unreadable { (why) } }
        h2 { "Last drill per application" }
        @let last = last_per_namespace(drills);
        @if last.is_empty() {
            p.empty #no-drills { "No drill has been run yet: a backup nobody restored is a hope, not a plan." }
        } @else {
            table #last-drills {
                thead { tr { th { "Namespace" } th { "Result" } th { "When" } th { "Compared" } th { "Why" } } }
                tbody {
                    @for (ns, d) in &last {
                        tr data-namespace=(ns) data-result=(d.result()) {
                            td { (ns) }
                            td { (layout::badge("phase", d.result())) }
                            td { @if let Some(t) = d.started { (format::age(t, ctx.now)) } }
                            td { (d.compared()) }
                            td { (d.problems.join("; ")) }
                        }
                    }
                }
            }
        }
        h2 { "All drills" }
        table #drills {
            thead { tr { th { "Drill" } th { "Backup" } th { "Result" } th { "Started" } th { "Duration" } th { "Compared" } th { "Location" } } }
            tbody {
                @for d in &newest {
                    tr data-result=(d.result()) {
                        td { (d.name) }
                        td { (d.backup) }
                        td { (layout::badge("phase", d.result())) }
                        td { @if let Some(t) = d.started { (format::time(t)) } }
                        td { @if let (Some(a), Some(b)) = (d.started, d.finished) { (format::duration(b - a)) } }
                        td { (d.compared())
                            @for w in &d.warnings { br; span.muted { (w) } } }
                        td { (d.location) }
                    }
                }
            }
        }
    };
    layout::page(ctx, Nav::Drills, "Drills", body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Option<DateTime<Utc>> {
        DateTime::<Utc>::from_timestamp(1_800_000_000 + secs, 0)
    }

    fn drill(name: &str, ns: &[&str], secs: i64, passed: bool) -> DrillRow {
        DrillRow {
            name: name.into(),
            backup: "b".into(),
            passed,
            started: at(secs),
            finished: at(secs + 30),
            namespaces: ns.iter().map(|s| s.to_string()).collect(),
            objects_compared: 5,
            objects_equal: if passed { 5 } else { 4 },
            volumes_checked: 1,
            volumes_passed: 1,
            problems: if passed { vec![] } else { vec!["objects: 1 missing".into()] },
            ..Default::default()
        }
    }

    #[test]
    fn the_newest_drill_of_each_namespace_wins() {
        let drills =
            [drill("a", &["shop"], 0, true), drill("b", &["shop", "blog"], 60, false), drill("c", &["blog"], 30, true)];
        let last = last_per_namespace(&drills);
        let names: Vec<(&str, &str)> = last.iter().map(|(ns, d)| (ns.as_str(), d.name.as_str())).collect();
        assert_eq!(names, [("blog", "b"), ("shop", "b")]);
    }

    #[test]
    fn the_page_shows_results_and_what_was_compared() {
        let ctx = PageContext { now: at(3600).unwrap_or_default(), user: None, base: Some("/ui".into()) };
        let html = page(&ctx, &[drill("d1", &["shop"], 0, true), drill("d2", &["blog"], 10, false)], &[]).into_string();
        assert!(html.contains("data-namespace=\"shop\" data-result=\"Passed\""), "{html}");
        assert!(html.contains("data-namespace=\"blog\" data-result=\"Failed\""));
        assert!(html.contains("5/5 objects equal, 1/1 volumes verified"));
        assert!(html.contains("objects: 1 missing"));
        let empty = page(&ctx, &[], &["location shop/default: unreachable".into()]).into_string();
        assert!(empty.contains("no-drills") && empty.contains("unreachable"));
    }
}
