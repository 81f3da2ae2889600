//! GFS retention over a schedule's `Backup` objects (pure).
//!
//! The counting rules are the repository's (`arca_repo::count_rules`,
//! restic's semantics: each rule keeps the newest backup of each distinct
//! hour, day, ISO week, month or year until its count is used up), applied
//! to the backups' start times as wall-clock times of the schedule's zone,
//! so a 23- or 25-hour day is one daily bucket. On top of them:
//! - only final backups are candidates; one not final is never deleted;
//! - failed backups never fill a bucket (a failure must not push a good
//!   backup out); the newest run is kept even when it failed, to show it;
//! - the newest successful (`Completed`) backup is never deleted.

use arca_api::BackupPhase;
use arca_api::schedule::Retention;
use arca_repo::RetentionPolicy;
use chrono::{DateTime, NaiveDateTime, Utc};
use chrono_tz::Tz;

/// One Backup of the schedule, as retention sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub name: String,
    pub phase: BackupPhase,
    /// Its start time (else its creation time).
    pub time: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub name: String,
    pub keep: bool,
    /// Why it is kept or dropped.
    pub reason: String,
}

pub fn policy_of(r: &Retention) -> RetentionPolicy {
    RetentionPolicy {
        keep_last: r.keep_last,
        keep_hourly: r.keep_hourly,
        keep_daily: r.keep_daily,
        keep_weekly: r.keep_weekly,
        keep_monthly: r.keep_monthly,
        keep_yearly: r.keep_yearly,
        ..Default::default()
    }
}

/// Decide every backup's fate, newest first. An empty retention keeps all.
pub fn apply(backups: &[Candidate], retention: &Retention, zone: Tz) -> Vec<Verdict> {
    let mut newest_first: Vec<&Candidate> = backups.iter().collect();
    newest_first.sort_by(|a, b| b.time.cmp(&a.time).then(b.name.cmp(&a.name)));
    let policy = policy_of(retention);
    let successful: Vec<&Candidate> = newest_first.iter().copied().filter(|c| c.phase.is_successful()).collect();
    let local: Vec<NaiveDateTime> = successful.iter().map(|c| c.time.with_timezone(&zone).naive_local()).collect();
    let counted = arca_repo::count_rules(&local, &policy);
    let newest_name = newest_first.first().map(|c| c.name.as_str());
    newest_first
        .iter()
        .map(|c| {
            let verdict = |keep: bool, reason: &str| Verdict { name: c.name.clone(), keep, reason: reason.to_string() };
            if !c.phase.is_final() {
                return verdict(true, "not finished");
            }
            if policy.is_empty() {
                return verdict(true, "no retention policy");
            }
            if let Some(i) = successful.iter().position(|s| s.name == c.name) {
                if !counted[i].is_empty() {
                    let reasons: Vec<String> = counted[i].iter().map(|r| r.replace("snapshot", "backup")).collect();
                    return verdict(true, &reasons.join(", "));
                }
                if i == 0 {
                    return verdict(true, "the newest successful backup (never deleted)");
                }
                return verdict(false, "outside every retention rule");
            }
            if Some(c.name.as_str()) == newest_name {
                return verdict(true, "the newest run (kept to show its failure)");
            }
            verdict(false, &format!("{} (failed backups never count toward retention)", c.phase))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use BackupPhase::*;

    fn c(name: &str, phase: BackupPhase, time: &str) -> Candidate {
        let time = DateTime::parse_from_rfc3339(time).map(|t| t.with_timezone(&Utc)).unwrap();
        Candidate { name: name.to_string(), phase, time }
    }

    fn ok(name: &str, time: &str) -> Candidate {
        c(name, Completed, time)
    }

    /// Names kept, newest first.
    fn kept(backups: &[Candidate], r: Retention, zone: &str) -> Vec<String> {
        let zone: Tz = zone.parse().unwrap();
        apply(backups, &r, zone).into_iter().filter(|v| v.keep).map(|v| v.name).collect()
    }

    fn daily(n: u32) -> Retention {
        Retention { keep_daily: Some(n), ..Default::default() }
    }

    #[test]
    fn gfs_tables() {
        struct Case {
            name: &'static str,
            zone: &'static str,
            retention: Retention,
            backups: Vec<Candidate>,
            kept: &'static [&'static str],
        }
        let monthly = |n| Retention { keep_monthly: Some(n), ..Default::default() };
        let weekly = |n| Retention { keep_weekly: Some(n), ..Default::default() };
        let yearly = |n| Retention { keep_yearly: Some(n), ..Default::default() };
        let cases = vec![
            Case {
                name: "month ends: Jan 31, Feb 28, Mar 31 are three months",
                zone: "UTC",
                retention: monthly(12),
                backups: vec![
                    ok("jan30", "2025-01-30T12:00:00Z"),
                    ok("jan31", "2025-01-31T23:30:00Z"),
                    ok("feb28", "2025-02-28T23:30:00Z"),
                    ok("mar01", "2025-03-01T00:30:00Z"),
                    ok("mar31", "2025-03-31T12:00:00Z"),
                ],
                kept: &["mar31", "feb28", "jan31"],
            },
            Case {
                name: "leap year: Feb 29 is February's last backup",
                zone: "UTC",
                retention: monthly(2),
                backups: vec![
                    ok("feb28", "2024-02-28T12:00:00Z"),
                    ok("feb29", "2024-02-29T12:00:00Z"),
                    ok("mar01", "2024-03-01T12:00:00Z"),
                ],
                kept: &["mar01", "feb29"],
            },
            Case {
                name: "month end in the schedule's zone, not UTC",
                zone: "Europe/Berlin",
                retention: monthly(2),
                backups: vec![
                    ok("jan31-local", "2025-01-31T22:00:00Z"),
                    ok("feb01-local", "2025-01-31T23:30:00Z"),
                    ok("feb02", "2025-02-02T12:00:00Z"),
                ],
                kept: &["feb02", "jan31-local"],
            },
            Case {
                name: "Berlin spring forward (23-hour day) is one daily bucket",
                zone: "Europe/Berlin",
                retention: daily(3),
                backups: vec![
                    ok("29th-late", "2025-03-29T22:30:00Z"),
                    ok("30th-early", "2025-03-29T23:30:00Z"),
                    ok("30th-late", "2025-03-30T21:30:00Z"),
                    ok("31st", "2025-03-30T22:30:00Z"),
                ],
                kept: &["31st", "30th-late", "29th-late"],
            },
            Case {
                name: "New York fall back (25-hour day) is one daily bucket",
                zone: "America/New_York",
                retention: daily(2),
                backups: vec![
                    ok("2nd-early", "2025-11-02T04:30:00Z"),
                    ok("2nd-fold-1", "2025-11-02T05:30:00Z"),
                    ok("2nd-fold-2", "2025-11-02T06:30:00Z"),
                    ok("2nd-late", "2025-11-03T04:30:00Z"),
                    ok("3rd", "2025-11-03T05:30:00Z"),
                ],
                kept: &["3rd", "2nd-late"],
            },
            Case {
                name: "year end",
                zone: "UTC",
                retention: yearly(3),
                backups: vec![
                    ok("2023", "2023-06-01T00:00:00Z"),
                    ok("dec31", "2024-12-31T23:59:00Z"),
                    ok("jan01", "2025-01-01T00:01:00Z"),
                ],
                kept: &["jan01", "dec31", "2023"],
            },
            Case {
                name: "ISO week 53 (2020-W53 runs into 2021-01-03)",
                zone: "UTC",
                retention: weekly(3),
                backups: vec![
                    ok("w52", "2020-12-26T12:00:00Z"),
                    ok("w53-mon", "2020-12-28T12:00:00Z"),
                    ok("w53-sun", "2021-01-03T12:00:00Z"),
                    ok("w01", "2021-01-04T12:00:00Z"),
                ],
                kept: &["w01", "w53-sun", "w52"],
            },
            Case {
                name: "the last successful is kept when all newer ones failed",
                zone: "UTC",
                retention: Retention { keep_last: Some(1), ..Default::default() },
                backups: vec![
                    ok("good-old", "2025-01-01T00:00:00Z"),
                    ok("good", "2025-01-02T00:00:00Z"),
                    c("bad1", Failed, "2025-01-03T00:00:00Z"),
                    c("bad2", PartiallyFailed, "2025-01-04T00:00:00Z"),
                    c("bad3", Failed, "2025-01-05T00:00:00Z"),
                ],
                kept: &["bad3", "good"],
            },
            Case {
                name: "failed backups never fill a bucket",
                zone: "UTC",
                retention: daily(2),
                backups: vec![
                    ok("1st", "2025-01-01T10:00:00Z"),
                    ok("2nd", "2025-01-02T10:00:00Z"),
                    c("3rd-failed", Failed, "2025-01-03T10:00:00Z"),
                    ok("4th", "2025-01-04T10:00:00Z"),
                ],
                kept: &["4th", "2nd"],
            },
            Case {
                name: "backups not finished are never deleted",
                zone: "UTC",
                retention: Retention { keep_last: Some(1), ..Default::default() },
                backups: vec![
                    ok("old", "2025-01-01T00:00:00Z"),
                    ok("done", "2025-01-02T00:00:00Z"),
                    c("running", InProgress, "2025-01-03T00:00:00Z"),
                    c("queued", Queued, "2025-01-03T01:00:00Z"),
                ],
                kept: &["queued", "running", "done"],
            },
            Case {
                name: "no retention keeps everything",
                zone: "UTC",
                retention: Retention::default(),
                backups: vec![ok("a", "2025-01-01T00:00:00Z"), c("b", Failed, "2025-01-02T00:00:00Z")],
                kept: &["b", "a"],
            },
            Case {
                name: "last and daily combine",
                zone: "UTC",
                retention: Retention { keep_last: Some(2), keep_daily: Some(2), ..Default::default() },
                backups: vec![
                    ok("d1", "2025-01-01T10:00:00Z"),
                    ok("d2a", "2025-01-02T10:00:00Z"),
                    ok("d2b", "2025-01-02T11:00:00Z"),
                    ok("d3a", "2025-01-03T10:00:00Z"),
                    ok("d3b", "2025-01-03T11:00:00Z"),
                ],
                kept: &["d3b", "d3a", "d2b"],
            },
        ];
        for case in cases {
            assert_eq!(kept(&case.backups, case.retention, case.zone), case.kept, "{}", case.name);
        }
    }

    #[test]
    fn verdicts_say_why() {
        let backups =
            [ok("a", "2025-01-01T00:00:00Z"), ok("b", "2025-01-02T00:00:00Z"), c("x", Failed, "2025-01-03T00:00:00Z")];
        let r = Retention { keep_last: Some(1), ..Default::default() };
        let v = apply(&backups, &r, Tz::UTC);
        assert_eq!(v[0].reason, "the newest run (kept to show its failure)");
        assert_eq!(v[1].reason, "last backup");
        assert_eq!((v[2].keep, v[2].reason.as_str()), (false, "outside every retention rule"));
    }
}
