//! Whether a schedule runs now: a pure decision from its spec, its status
//! and the time, so every rule is table-tested.
//!
//! - The baseline is the last due time handled (run or skipped), else the
//!   unpause time, else the creation time: a new or unpaused schedule runs
//!   at its next due time, never at once.
//! - Due times missed during downtime run once (`RunOnce`) or not at all
//!   (`Skip`), never once each.
//! - While a previous run is going, a due run is skipped (`Skip`, the
//!   default) or started anyway (`Allow`).

use arca_api::schedule::{MissedRunPolicy, OverlapPolicy};
use chrono::{DateTime, Duration, Utc};

use super::cron::CronSchedule;

/// A due time later than this is "missed" for `MissedRunPolicy::Skip`.
pub const MISSED_GRACE: Duration = Duration::minutes(5);

/// Bound on due times walked to find the latest one (a minutely schedule
/// down for two months); beyond it the walk resumes next reconcile.
const MAX_WALK: usize = 100_000;

pub struct Inputs<'a> {
    pub cron: &'a CronSchedule,
    pub paused: bool,
    pub overlap: OverlapPolicy,
    pub missed: MissedRunPolicy,
    /// `status.lastScheduleTime`.
    pub last_schedule_time: Option<DateTime<Utc>>,
    /// `status.resumedAt`: when the schedule was last unpaused.
    pub resumed_at: Option<DateTime<Utc>>,
    pub created: DateTime<Utc>,
    pub now: DateTime<Utc>,
    /// A Backup of this schedule that is not final yet.
    pub running: Option<&'a str>,
}

/// Why a due run was not started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// The named Backup of the previous run is still going.
    Overlap(String),
    /// `missedRunPolicy: Skip` and the due time passed during downtime.
    Missed { missed: usize },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Start a run for this due time.
    pub run_at: Option<DateTime<Utc>>,
    /// This due time is handled without a run.
    pub skip: Option<(DateTime<Utc>, SkipReason)>,
    /// The next due time after this decision (none while paused).
    pub next: Option<DateTime<Utc>>,
}

impl Decision {
    /// The due time this decision handled (the new `lastScheduleTime`).
    pub fn handled(&self) -> Option<DateTime<Utc>> {
        self.run_at.or(self.skip.as_ref().map(|(t, _)| *t))
    }
}

pub fn baseline(i: &Inputs<'_>) -> DateTime<Utc> {
    [i.last_schedule_time, i.resumed_at].into_iter().flatten().max().unwrap_or(i.created)
}

pub fn decide(i: &Inputs<'_>) -> Decision {
    let idle = |next| Decision { run_at: None, skip: None, next };
    if i.paused {
        return idle(None);
    }
    let Some(first) = i.cron.next_after(baseline(i)) else { return idle(None) };
    if first > i.now {
        return idle(Some(first));
    }
    // Walk to the latest due time that has passed: one run stands for all.
    let (mut due, mut passed) = (first, 1usize);
    while passed < MAX_WALK {
        match i.cron.next_after(due) {
            Some(n) if n <= i.now => {
                due = n;
                passed += 1;
            }
            _ => break,
        }
    }
    let next = i.cron.next_after(due);
    let late = i.now - due > MISSED_GRACE || passed > 1;
    let skip = if i.missed == MissedRunPolicy::Skip && late {
        Some(SkipReason::Missed { missed: passed })
    } else if let (Some(name), OverlapPolicy::Skip) = (i.running, i.overlap) {
        Some(SkipReason::Overlap(name.to_string()))
    } else {
        None
    };
    match skip {
        Some(reason) => Decision { run_at: None, skip: Some((due, reason)), next },
        None => Decision { run_at: Some(due), skip: None, next },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)).unwrap()
    }

    struct Case {
        name: &'static str,
        cron: &'static str,
        paused: bool,
        overlap: OverlapPolicy,
        missed: MissedRunPolicy,
        last: Option<&'static str>,
        resumed: Option<&'static str>,
        created: &'static str,
        now: &'static str,
        running: Option<&'static str>,
        run_at: Option<&'static str>,
        skip: Option<(&'static str, SkipReason)>,
        next: Option<&'static str>,
    }

    const BASE: Case = Case {
        name: "",
        cron: "0 * * * *",
        paused: false,
        overlap: OverlapPolicy::Skip,
        missed: MissedRunPolicy::RunOnce,
        last: None,
        resumed: None,
        created: "2025-01-01T00:10:00Z",
        now: "2025-01-01T00:20:00Z",
        running: None,
        run_at: None,
        skip: None,
        next: Some("2025-01-01T01:00:00Z"),
    };

    #[test]
    fn decisions() {
        let cases = [
            Case { name: "new schedule: nothing at once", ..BASE },
            Case {
                name: "new schedule created on a due minute: not at once either",
                created: "2025-01-01T00:00:00Z",
                now: "2025-01-01T00:00:30Z",
                ..BASE
            },
            Case { name: "before the due time", now: "2025-01-01T00:59:59Z", ..BASE },
            Case {
                name: "at the due time",
                now: "2025-01-01T01:00:00Z",
                run_at: Some("2025-01-01T01:00:00Z"),
                next: Some("2025-01-01T02:00:00Z"),
                ..BASE
            },
            Case {
                name: "already handled",
                last: Some("2025-01-01T01:00:00Z"),
                now: "2025-01-01T01:00:10Z",
                next: Some("2025-01-01T02:00:00Z"),
                ..BASE
            },
            Case {
                name: "3-hour outage: one run, for the latest due time",
                last: Some("2025-01-01T01:00:00Z"),
                now: "2025-01-01T04:30:00Z",
                run_at: Some("2025-01-01T04:00:00Z"),
                next: Some("2025-01-01T05:00:00Z"),
                ..BASE
            },
            Case {
                name: "3-hour outage with missedRunPolicy Skip: none",
                missed: MissedRunPolicy::Skip,
                last: Some("2025-01-01T01:00:00Z"),
                now: "2025-01-01T04:30:00Z",
                skip: Some(("2025-01-01T04:00:00Z", SkipReason::Missed { missed: 3 })),
                next: Some("2025-01-01T05:00:00Z"),
                ..BASE
            },
            Case {
                name: "missedRunPolicy Skip still runs on time",
                missed: MissedRunPolicy::Skip,
                last: Some("2025-01-01T01:00:00Z"),
                now: "2025-01-01T02:00:05Z",
                run_at: Some("2025-01-01T02:00:00Z"),
                next: Some("2025-01-01T03:00:00Z"),
                ..BASE
            },
            Case {
                name: "paused: no run, no next",
                paused: true,
                last: Some("2025-01-01T01:00:00Z"),
                now: "2025-01-01T04:30:00Z",
                next: None,
                ..BASE
            },
            Case {
                name: "unpaused after due times passed: nothing at once",
                last: Some("2025-01-01T01:00:00Z"),
                resumed: Some("2025-01-01T04:30:00Z"),
                now: "2025-01-01T04:30:01Z",
                next: Some("2025-01-01T05:00:00Z"),
                ..BASE
            },
            Case {
                name: "unpaused: runs at its next due time",
                last: Some("2025-01-01T01:00:00Z"),
                resumed: Some("2025-01-01T04:30:00Z"),
                now: "2025-01-01T05:00:00Z",
                run_at: Some("2025-01-01T05:00:00Z"),
                next: Some("2025-01-01T06:00:00Z"),
                ..BASE
            },
            Case {
                name: "overlap Skip: the due run is skipped, naming the running backup",
                last: Some("2025-01-01T01:00:00Z"),
                now: "2025-01-01T02:00:01Z",
                running: Some("nightly-20250101010000"),
                skip: Some(("2025-01-01T02:00:00Z", SkipReason::Overlap("nightly-20250101010000".into()))),
                next: Some("2025-01-01T03:00:00Z"),
                ..BASE
            },
            Case {
                name: "overlap Allow: runs anyway",
                overlap: OverlapPolicy::Allow,
                last: Some("2025-01-01T01:00:00Z"),
                now: "2025-01-01T02:00:01Z",
                running: Some("nightly-20250101010000"),
                run_at: Some("2025-01-01T02:00:00Z"),
                next: Some("2025-01-01T03:00:00Z"),
                ..BASE
            },
            Case {
                name: "a running backup does not matter before the due time",
                last: Some("2025-01-01T01:00:00Z"),
                now: "2025-01-01T01:30:00Z",
                running: Some("nightly-20250101010000"),
                next: Some("2025-01-01T02:00:00Z"),
                ..BASE
            },
        ];
        for c in cases {
            let cron = CronSchedule::parse(c.cron, None).unwrap();
            let inputs = Inputs {
                cron: &cron,
                paused: c.paused,
                overlap: c.overlap,
                missed: c.missed,
                last_schedule_time: c.last.map(t),
                resumed_at: c.resumed.map(t),
                created: t(c.created),
                now: t(c.now),
                running: c.running,
            };
            let want = Decision { run_at: c.run_at.map(t), skip: c.skip.map(|(d, r)| (t(d), r)), next: c.next.map(t) };
            assert_eq!(decide(&inputs), want, "{}", c.name);
        }
    }
}
