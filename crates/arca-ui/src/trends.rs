//! Trends over the backups shown: bytes read and added per day, durations
//! and dedup ratio per schedule, each location's repository size over time
//! and the bytes added summed.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use maud::{Markup, html};

use crate::chart::{Kind, Series, Unit, chart};
use crate::format;
use crate::layout::{self, Nav, PageContext};
use crate::model::{BackupRow, LocationRow};

/// Backups made by hand are grouped under this name.
pub const MANUAL: &str = "(no schedule)";

/// The series of the trends page.
#[derive(Debug, Default)]
pub struct Trends {
    pub added_per_day: Vec<Series>,
    pub read_per_day: Vec<Series>,
    pub durations: Vec<Series>,
    pub dedup_per_day: Vec<Series>,
    /// Per location (`namespace/name`): the repository's size when each
    /// backup finished, from the Backups that recorded it.
    pub size_per_location: Vec<Series>,
    pub growth: Vec<Series>,
}

fn day_of(t: DateTime<Utc>) -> DateTime<Utc> {
    let secs = t.timestamp();
    DateTime::from_timestamp(secs - secs.rem_euclid(86_400), 0).unwrap_or(t)
}

fn schedule_of(b: &BackupRow) -> String {
    b.schedule.clone().unwrap_or_else(|| MANUAL.to_string())
}

/// Per schedule, per day: (bytes read, bytes added).
type Daily = BTreeMap<String, BTreeMap<DateTime<Utc>, (u64, u64)>>;

/// Each location's repository size at the finish of the backups that
/// recorded it (whatever their phase: the size was measured), oldest first.
fn sizes(backups: &[BackupRow]) -> Vec<Series> {
    let mut per: BTreeMap<String, Vec<(DateTime<Utc>, f64)>> = BTreeMap::new();
    for b in backups {
        if let (Some(finished), Some(bytes)) = (b.finished, b.repository_bytes) {
            per.entry(format!("{}/{}", b.namespace, b.location)).or_default().push((finished, bytes as f64));
        }
    }
    per.into_iter()
        .map(|(name, mut points)| {
            points.sort_by_key(|p| p.0);
            Series { name, points }
        })
        .collect()
}

/// Computes the series from restorable backups that finished.
pub fn compute(backups: &[BackupRow]) -> Trends {
    let mut done: Vec<&BackupRow> = backups.iter().filter(|b| b.restorable() && b.finished.is_some()).collect();
    done.sort_by_key(|b| b.finished);
    let mut daily: Daily = BTreeMap::new();
    let mut durations: BTreeMap<String, Vec<(DateTime<Utc>, f64)>> = BTreeMap::new();
    let mut growth = Vec::new();
    let mut total = 0u64;
    for b in &done {
        let Some(finished) = b.finished else { continue };
        let day = daily.entry(schedule_of(b)).or_default().entry(day_of(finished)).or_default();
        day.0 += b.bytes;
        day.1 += b.bytes_added;
        if let Some(d) = b.duration() {
            durations.entry(schedule_of(b)).or_default().push((finished, d.num_milliseconds() as f64 / 1000.0));
        }
        total += b.bytes_added;
        growth.push((finished, total as f64));
    }
    let per_day = |pick: fn(&(u64, u64)) -> f64| -> Vec<Series> {
        daily
            .iter()
            .map(|(name, days)| Series {
                name: name.clone(),
                points: days.iter().map(|(d, v)| (*d, pick(v))).collect(),
            })
            .collect()
    };
    Trends {
        added_per_day: per_day(|v| v.1 as f64),
        read_per_day: per_day(|v| v.0 as f64),
        dedup_per_day: per_day(|v| if v.1 == 0 { 0.0 } else { v.0 as f64 / v.1 as f64 }),
        durations: durations.into_iter().map(|(name, points)| Series { name, points }).collect(),
        size_per_location: sizes(backups),
        growth: if growth.is_empty() { vec![] } else { vec![Series { name: "repository".into(), points: growth }] },
    }
}

/// The trends page.
pub fn page(ctx: &PageContext, trends: &Trends, locations: &[LocationRow]) -> Markup {
    let stored: u64 = locations.iter().filter_map(|l| l.repository_bytes).sum();
    let body = html! {
        (charts(trends))
        p.muted {
            "A location's repository size is measured when each backup finishes (Backups from before that was "
            "recorded, or made by catalog sync, have no point), so pruning shows as a drop; the sum of bytes added "
            "leaves pruning out. The locations hold " (format::bytes(stored)) " of packs now."
        }
    };
    layout::page(ctx, Nav::Trends, "Trends", body)
}

/// The charts alone (the report file shows them too).
pub fn charts(trends: &Trends) -> Markup {
    html! {
        (chart("chart-added", "Bytes added to the repository per day", Unit::Bytes, Kind::Bars, &trends.added_per_day))
        (chart("chart-read", "Bytes backed up per day", Unit::Bytes, Kind::Bars, &trends.read_per_day))
        (chart("chart-durations", "Backup durations", Unit::Seconds, Kind::Line, &trends.durations))
        (chart("chart-dedup", "Dedup and compression ratio per day (read ÷ added)", Unit::Ratio, Kind::Line, &trends.dedup_per_day))
        (chart("chart-repository-size", "Repository size per location", Unit::Bytes, Kind::Line, &trends.size_per_location))
        (chart("chart-growth", "Bytes added, summed", Unit::Bytes, Kind::Line, &trends.growth))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn b(schedule: Option<&str>, day: i64, hour: i64, bytes: u64, added: u64) -> BackupRow {
        let start = DateTime::<Utc>::from_timestamp(1_800_000_000 - 1_800_000_000 % 86_400, 0).unwrap()
            + Duration::days(day)
            + Duration::hours(hour);
        BackupRow {
            phase: "Completed".into(),
            schedule: schedule.map(str::to_string),
            started: Some(start),
            finished: Some(start + Duration::seconds(90)),
            bytes,
            bytes_added: added,
            ..Default::default()
        }
    }

    #[test]
    fn days_sum_per_schedule_and_growth_accumulates() {
        let mut failed = b(Some("nightly"), 1, 3, 999, 999);
        failed.phase = "Failed".into();
        let backups = vec![
            b(Some("nightly"), 0, 1, 1000, 100),
            b(Some("nightly"), 0, 13, 1000, 10),
            b(None, 1, 2, 500, 50),
            failed,
        ];
        let t = compute(&backups);
        let nightly = t.added_per_day.iter().find(|s| s.name == "nightly").unwrap();
        assert_eq!(nightly.points.len(), 1);
        assert_eq!(nightly.points[0].1, 110.0);
        let dedup = t.dedup_per_day.iter().find(|s| s.name == "nightly").unwrap();
        assert!((dedup.points[0].1 - 2000.0 / 110.0).abs() < 1e-9);
        assert!(t.added_per_day.iter().any(|s| s.name == MANUAL));
        assert_eq!(t.growth[0].points.last().unwrap().1, 160.0);
        assert_eq!(t.durations.iter().map(|s| s.points.len()).sum::<usize>(), 3);
        assert!(t.durations.iter().all(|s| s.points.iter().all(|p| p.1 == 90.0)));
        assert!(t.size_per_location.is_empty(), "no Backup recorded a size");
    }

    fn sized(ns: &str, location: &str, day: i64, bytes: Option<u64>) -> BackupRow {
        BackupRow { namespace: ns.into(), location: location.into(), repository_bytes: bytes, ..b(None, day, 0, 0, 0) }
    }

    #[test]
    fn repository_sizes_are_a_line_per_location_in_time_order() {
        let mut failed = sized("shop", "main", 3, Some(700));
        failed.phase = "Failed".into();
        let mut running = sized("shop", "main", 5, Some(9_999));
        running.finished = None;
        // Newest first, as the pages list them; a prune between day 1 and 2.
        let backups = vec![
            running,
            failed,
            sized("shop", "main", 2, Some(600)),
            sized("blog", "main", 1, Some(50)),
            sized("shop", "main", 1, Some(900)),
            sized("shop", "main", 0, Some(400)),
            sized("shop", "archive", 4, None),
        ];
        let t = compute(&backups);
        let names: Vec<&str> = t.size_per_location.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["blog/main", "shop/main"], "a line per location that recorded a size");
        let shop: Vec<f64> = t.size_per_location[1].points.iter().map(|p| p.1).collect();
        assert_eq!(shop, [400.0, 900.0, 600.0, 700.0], "oldest first, the drop kept, unfinished left out");
        assert!(t.size_per_location[1].points.windows(2).all(|w| w[0].0 < w[1].0));

        let ctx = PageContext { now: backups[0].started.unwrap(), user: None, base: Some("/ui".into()) };
        let html = page(&ctx, &t, &[]).into_string();
        let chart = &html[html.find("id=\"chart-repository-size\"").unwrap()..];
        let chart = &chart[..chart.find("</figure>").unwrap()];
        assert_eq!(chart.matches("class=\"point").count(), 5);
        assert!(chart.contains("data-value=\"900\"") && chart.contains("shop/main"), "{chart}");
        assert!(chart.contains("<polyline"), "drawn as lines");
    }
}
