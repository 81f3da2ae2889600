//! The overview: per namespace (an "app"), is it protected? The last
//! restorable backup and its age against the schedule, the claims it
//! holds data of, and the failed items of the last run.

use chrono::{DateTime, Duration, Utc};
use maud::{Markup, html};
use serde::Serialize;

use crate::format;
use crate::layout::{self, Nav, PageContext, badge, maybe_link, segment};
use crate::model::{BackupRow, ClaimRow, IssueRow, LocationRow, ScheduleRow, Severity};

/// How often a namespace without a schedule is expected to be backed up:
/// daily, so a backup older than two days stands out.
pub const UNSCHEDULED_INTERVAL: Duration = Duration::hours(24);

/// A namespace's protection at a glance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// A recent restorable backup, last run fine.
    Protected,
    /// The last restorable backup is older than two intervals.
    Stale,
    /// The last run failed, or no run ever succeeded.
    Failing,
    /// No backup or schedule covers it.
    Unprotected,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Protected => "protected",
            State::Stale => "stale",
            State::Failing => "failing",
            State::Unprotected => "unprotected",
        }
    }
}

/// A claim and whether the last restorable backup holds its data.
#[derive(Clone, Debug, Serialize)]
pub struct ClaimProtection {
    pub name: String,
    pub capacity: String,
    /// How its data was captured (`snapshot`, `mover`, …), `None` if it wasn't.
    pub method: Option<String>,
    pub phase: Option<String>,
    pub taken: Option<DateTime<Utc>>,
    pub bytes: u64,
}

/// A Backup object, by namespace and name, and when it finished.
#[derive(Clone, Debug, Serialize)]
pub struct BackupRef {
    pub namespace: String,
    pub name: String,
    pub at: DateTime<Utc>,
}

/// One row of the overview.
#[derive(Clone, Debug, Serialize)]
pub struct AppProtection {
    pub namespace: String,
    pub state: State,
    pub schedules: Vec<String>,
    pub expected_interval: Option<Duration>,
    /// The newest restorable backup covering it.
    pub last_success: Option<BackupRef>,
    /// The newest run covering it, and its phase.
    pub last_run: Option<(String, String)>,
    /// What failed in the last run (errors only).
    pub failed_items: Vec<IssueRow>,
    pub claims: Vec<ClaimProtection>,
}

/// Everything the overview is computed from.
pub struct Inputs<'a> {
    pub now: DateTime<Utc>,
    /// Namespaces to show (live ones, and those backups name).
    pub namespaces: &'a [String],
    pub backups: &'a [BackupRow],
    pub schedules: &'a [ScheduleRow],
    pub claims: &'a [ClaimRow],
}

/// The protection of each namespace, worst first, then by name.
pub fn protection(inputs: &Inputs) -> Vec<AppProtection> {
    let mut rows: Vec<AppProtection> = inputs.namespaces.iter().map(|ns| protection_of(inputs, ns)).collect();
    rows.sort_by(|a, b| rank(a.state).cmp(&rank(b.state)).then_with(|| a.namespace.cmp(&b.namespace)));
    rows
}

fn rank(s: State) -> u8 {
    match s {
        State::Failing => 0,
        State::Stale => 1,
        State::Unprotected => 2,
        State::Protected => 3,
    }
}

fn when(b: &BackupRow) -> Option<DateTime<Utc>> {
    b.finished.or(b.started)
}

fn protection_of(inputs: &Inputs, ns: &str) -> AppProtection {
    let covering: Vec<&BackupRow> = inputs.backups.iter().filter(|b| b.covers(ns)).collect();
    let schedules: Vec<&ScheduleRow> = inputs.schedules.iter().filter(|s| s.covers(ns)).collect();
    let last_success = covering.iter().filter(|b| b.restorable()).copied().max_by_key(|b| when(b));
    let last_run = covering.iter().filter(|b| b.begun().is_some()).copied().max_by_key(|b| b.begun());
    let expected_interval =
        schedules.iter().filter(|s| !s.paused).filter_map(|s| s.interval_seconds).min().map(Duration::seconds);
    let state = state_of(inputs.now, last_success, last_run, expected_interval, !schedules.is_empty());
    let failed_items = last_run
        .filter(|b| b.failed())
        .map(|b| b.issues.iter().filter(|i| i.severity == Severity::Error && concerns(i, ns)).cloned().collect())
        .unwrap_or_default();
    AppProtection {
        namespace: ns.to_string(),
        state,
        schedules: schedules.iter().map(|s| format!("{}/{}", s.namespace, s.name)).collect(),
        expected_interval,
        last_success: last_success
            .and_then(|b| Some(BackupRef { namespace: b.namespace.clone(), name: b.name.clone(), at: when(b)? })),
        last_run: last_run.map(|b| (b.name.clone(), b.phase.clone())),
        failed_items,
        claims: claims_of(inputs.claims, ns, last_success),
    }
}

fn state_of(
    now: DateTime<Utc>,
    last_success: Option<&BackupRow>,
    last_run: Option<&BackupRow>,
    interval: Option<Duration>,
    scheduled: bool,
) -> State {
    let Some(success) = last_success else {
        return if last_run.is_some() { State::Failing } else { State::Unprotected };
    };
    if last_run.is_some_and(|r| r.failed()) {
        return State::Failing;
    }
    let interval = interval.unwrap_or(UNSCHEDULED_INTERVAL);
    match when(success) {
        Some(t) if now - t > interval * 2 => State::Stale,
        Some(_) => State::Protected,
        None if scheduled => State::Stale,
        None => State::Unprotected,
    }
}

/// Whether an issue is about `ns` (or names no object, so may be).
fn concerns(issue: &IssueRow, ns: &str) -> bool {
    match &issue.object {
        None => true,
        Some(o) => o.split('/').any(|part| part == ns),
    }
}

fn claims_of(claims: &[ClaimRow], ns: &str, backup: Option<&BackupRow>) -> Vec<ClaimProtection> {
    claims
        .iter()
        .filter(|c| c.namespace == ns)
        .map(|c| {
            let key = format!("{}/{}", c.namespace, c.name);
            let volume = backup.and_then(|b| b.volumes.iter().find(|v| v.claim == key));
            ClaimProtection {
                name: c.name.clone(),
                capacity: c.capacity.clone(),
                method: volume.map(|v| v.method.clone()),
                phase: volume.map(|v| v.phase.clone()),
                taken: volume.and(backup).and_then(when),
                bytes: volume.map(|v| v.bytes).unwrap_or(0),
            }
        })
        .collect()
}

/// The overview page.
pub fn page(ctx: &PageContext, rows: &[AppProtection], locations: &[LocationRow], backups: &[BackupRow]) -> Markup {
    let count = |s: State| rows.iter().filter(|r| r.state == s).count();
    let day_ago = ctx.now - Duration::hours(24);
    let failed_today = backups.iter().filter(|b| b.failed() && b.begun().is_some_and(|t| t > day_ago)).count();
    let stored: u64 = locations.iter().filter_map(|l| l.repository_bytes).sum();
    let body = html! {
        div.cards {
            (card("protected", count(State::Protected), "apps protected"))
            (card("stale", count(State::Stale), "stale"))
            (card("failing", count(State::Failing), "failing"))
            (card("unprotected", count(State::Unprotected), "unprotected"))
            (card("failed-24h", failed_today, "failed runs, last 24 h"))
            div.card #stored { div.value { (format::bytes(stored)) } div.label { "in " (locations.len()) " location(s)" } }
        }
        h2 { "Protection per namespace" }
        @if rows.is_empty() {
            p.empty { "No namespaces to show." }
        } @else {
            (table(ctx, rows))
        }
        h2 { "Locations" }
        (locations_table(ctx, locations))
    };
    layout::page(ctx, Nav::Overview, "Overview", body)
}

fn card(id: &str, n: usize, label: &str) -> Markup {
    html! { div.card id={"count-" (id)} { div.value { (n) } div.label { (label) } } }
}

fn table(ctx: &PageContext, rows: &[AppProtection]) -> Markup {
    html! {
        table #protection {
            thead { tr {
                th { "Namespace" } th { "State" } th { "Last restorable backup" } th { "Schedule" }
                th { "Claims" } th { "Failed items of the last run" }
            } }
            tbody {
                @for r in rows {
                    tr class=(r.state.as_str()) data-namespace=(r.namespace) {
                        td { (r.namespace) }
                        td { (badge("state", r.state.as_str())) }
                        td.last-backup {
                            @if let Some(b) = &r.last_success {
                                (maybe_link(ctx.link(&format!("backups/{}/{}", segment(&b.namespace), segment(&b.name))), &b.name))
                                br; span.muted.age { (format::age(b.at, ctx.now)) }
                            } @else { span.muted { "never" } }
                        }
                        td {
                            @if r.schedules.is_empty() { span.muted { "none" } }
                            @for s in &r.schedules { div { (s) } }
                            @if let Some(i) = r.expected_interval { span.muted { "every " (format::duration(i)) } }
                        }
                        td.claims {
                            @if r.claims.is_empty() { span.muted { "–" } }
                            @for c in &r.claims {
                                div.claim data-claim=(c.name) {
                                    (c.name) " "
                                    @match &c.method {
                                        Some(m) => span.muted { (m) ", " (c.phase.as_deref().unwrap_or("")) ", " (format::bytes(c.bytes)) }
                                        None => (badge("state", "unprotected"))
                                    }
                                }
                            }
                        }
                        td.failed-items {
                            @if let Some((run, phase)) = &r.last_run {
                                @if r.failed_items.is_empty() && phase != "Completed" { span.muted { (run) ": " (phase) } }
                            }
                            @for i in &r.failed_items {
                                div.failed-item {
                                    span.reason { (i.reason) } ": " (i.message)
                                    @if let Some(o) = &i.object { " " span.muted { "(" (o) ")" } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn locations_table(ctx: &PageContext, locations: &[LocationRow]) -> Markup {
    html! {
        @if locations.is_empty() { p.empty { "No BackupLocation." } } @else {
            table #locations {
                thead { tr { th { "Location" } th { "Phase" } th.num { "Backups" } th.num { "Stored" } th { "Last sync" } th { "Message" } } }
                tbody {
                    @for l in locations {
                        tr {
                            td { (l.namespace) "/" (l.name) br; span.muted { (l.url) } }
                            td { (badge("phase", &l.phase)) }
                            td.num { (l.backups.map(|n| n.to_string()).unwrap_or_default()) }
                            td.num { (l.repository_bytes.map(format::bytes).unwrap_or_default()) }
                            td { (l.last_sync.map(|t| format::age(t, ctx.now)).unwrap_or_default()) }
                            td { (l.message) }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::VolumeRow;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-02T12:00:00Z").unwrap().with_timezone(&Utc)
    }

    fn backup(name: &str, ns: &[&str], phase: &str, hours_ago: i64) -> BackupRow {
        BackupRow {
            namespace: "arca-system".into(),
            name: name.into(),
            phase: phase.into(),
            include_namespaces: ns.iter().map(|s| s.to_string()).collect(),
            started: Some(now() - Duration::hours(hours_ago) - Duration::minutes(5)),
            finished: Some(now() - Duration::hours(hours_ago)),
            ..Default::default()
        }
    }

    fn schedule(ns: &str, hours: i64) -> ScheduleRow {
        ScheduleRow {
            namespace: "arca-system".into(),
            name: format!("{ns}-every-{hours}h"),
            include_namespaces: vec![ns.into()],
            interval_seconds: Some(hours * 3600),
            ..Default::default()
        }
    }

    fn run(backups: &[BackupRow], schedules: &[ScheduleRow], claims: &[ClaimRow]) -> Vec<AppProtection> {
        let namespaces: Vec<String> = ["shop", "blog", "wiki", "crm"].iter().map(|s| s.to_string()).collect();
        protection(&Inputs { now: now(), namespaces: &namespaces, backups, schedules, claims })
    }

    fn state(rows: &[AppProtection], ns: &str) -> State {
        rows.iter().find(|r| r.namespace == ns).unwrap().state
    }

    #[test]
    fn states_follow_age_against_schedule_and_last_run() {
        let mut failed = backup("blog-2", &["blog"], "Failed", 1);
        failed.issues.push(IssueRow {
            severity: Severity::Error,
            reason: "HookFailed".into(),
            message: "pre hook exited 1".into(),
            object: Some("blog/pods/web-0".into()),
        });
        let backups = vec![
            backup("shop-1", &["shop"], "Completed", 2),
            backup("blog-1", &["blog"], "Completed", 25),
            failed,
            backup("wiki-1", &["wiki"], "Completed", 30),
        ];
        let schedules = vec![schedule("shop", 24), schedule("wiki", 12), schedule("blog", 24)];
        let rows = run(&backups, &schedules, &[]);
        assert_eq!(state(&rows, "shop"), State::Protected);
        assert_eq!(state(&rows, "blog"), State::Failing);
        // 30 h old against a 12 h schedule.
        assert_eq!(state(&rows, "wiki"), State::Stale);
        assert_eq!(state(&rows, "crm"), State::Unprotected);
        // Worst first.
        assert_eq!(rows[0].namespace, "blog");
        let blog = &rows[0];
        assert_eq!(blog.failed_items.len(), 1);
        assert_eq!(blog.failed_items[0].reason, "HookFailed");
        assert_eq!(blog.last_success.as_ref().unwrap().name, "blog-1");
    }

    #[test]
    fn a_backup_of_every_namespace_covers_all_but_the_excluded() {
        let mut all = backup("all", &[], "Completed", 1);
        all.exclude_namespaces = vec!["crm".into()];
        let rows = run(&[all], &[], &[]);
        assert_eq!(state(&rows, "shop"), State::Protected);
        assert_eq!(state(&rows, "crm"), State::Unprotected);
        // Without a schedule, daily is expected: 49 h is stale.
        let rows = run(&[backup("old", &[], "Completed", 49)], &[], &[]);
        assert_eq!(state(&rows, "shop"), State::Stale);
    }

    #[test]
    fn claims_show_whether_the_last_backup_holds_their_data() {
        let mut b = backup("shop-1", &["shop"], "Completed", 1);
        b.volumes.push(VolumeRow {
            claim: "shop/data".into(),
            method: "snapshot".into(),
            phase: "Completed".into(),
            bytes: 4096,
            ..Default::default()
        });
        let claims = vec![
            ClaimRow { namespace: "shop".into(), name: "data".into(), capacity: "1Gi".into() },
            ClaimRow { namespace: "shop".into(), name: "cache".into(), capacity: "1Gi".into() },
        ];
        let rows = run(&[b], &[], &claims);
        let shop = rows.iter().find(|r| r.namespace == "shop").unwrap();
        assert_eq!(shop.claims[0].method.as_deref(), Some("snapshot"));
        assert_eq!(shop.claims[0].bytes, 4096);
        assert_eq!(shop.claims[1].method, None);
        let html =
            page(&PageContext { now: now(), user: None, base: Some("/ui".into()) }, &rows, &[], &[]).into_string();
        assert!(html.contains("data-namespace=\"shop\""));
        assert!(html.contains("data-claim=\"cache\""));
    }

    #[test]
    fn a_schedule_that_never_ran_is_unprotected_and_a_failing_first_run_is_failing() {
        let rows = run(&[], &[schedule("shop", 24)], &[]);
        assert_eq!(state(&rows, "shop"), State::Unprotected);
        assert_eq!(rows.iter().find(|r| r.namespace == "shop").unwrap().schedules.len(), 1);
        let rows = run(&[backup("shop-1", &["shop"], "Failed", 1)], &[], &[]);
        assert_eq!(state(&rows, "shop"), State::Failing);
    }
}
