//! `forget`: retention policies. Which snapshots to keep is decided by a pure
//! function ([`apply_policy`]) with restic's semantics; [`forget`] applies it
//! to a repository by deleting the snapshot files of the others. Their data
//! stays until `prune` removes what no snapshot uses any more.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDateTime, Timelike, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::id::Id;
use crate::repository::Repository;
use crate::snapshot::SnapshotEntry;

/// How many snapshots to keep. A count of `None` or `Some(0)` means the rule
/// is not used; `Some(u32::MAX)` keeps every period. A policy with no rule
/// keeps everything (forgetting everything takes an explicit list of ids).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionPolicy {
    pub keep_last: Option<u32>,
    pub keep_hourly: Option<u32>,
    pub keep_daily: Option<u32>,
    pub keep_weekly: Option<u32>,
    pub keep_monthly: Option<u32>,
    pub keep_yearly: Option<u32>,
    /// Keep snapshots taken less than this long before the newest snapshot
    /// of their group (not before now: a stalled schedule must not let
    /// retention remove everything).
    pub keep_within: Option<Duration>,
    /// Keep snapshots carrying any of these tags; an entry `a,b` needs both.
    pub keep_tags: Vec<String>,
}

impl RetentionPolicy {
    /// True when no rule is set.
    pub fn is_empty(&self) -> bool {
        let counts =
            [self.keep_last, self.keep_hourly, self.keep_daily, self.keep_weekly, self.keep_monthly, self.keep_yearly];
        counts.iter().all(|c| c.unwrap_or(0) == 0)
            && self.keep_within.is_none_or(|d| d.is_zero())
            && self.keep_tags.iter().all(|t| t.trim().is_empty())
    }
}

/// Snapshots are retained per group: same kind, host and (sorted) paths.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct SnapshotGroup {
    pub kind: String,
    pub hostname: String,
    pub paths: Vec<String>,
}

impl SnapshotGroup {
    pub fn of(entry: &SnapshotEntry) -> Self {
        let mut paths = entry.snapshot.paths.clone();
        paths.sort();
        SnapshotGroup { kind: entry.snapshot.kind.clone(), hostname: entry.snapshot.hostname.clone(), paths }
    }
}

/// What the policy decided for one snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub id: Id,
    pub time: DateTime<Utc>,
    pub group: SnapshotGroup,
    pub keep: bool,
    /// Why it is kept (empty when it is removed).
    pub reasons: Vec<String>,
}

/// The period a snapshot falls in, from its wall-clock time and its
/// position (newest first) in its group.
type Period = fn(NaiveDateTime, usize) -> i64;

/// A counting rule: keeps the newest snapshot of each distinct period until
/// its count is used up.
struct Bucket {
    remaining: u32,
    period: Period,
    last: Option<i64>,
    reason: &'static str,
}

/// Decides which snapshots to keep, restic-style: within each group, walk
/// snapshots newest first; each rule keeps the newest snapshot of every
/// distinct period (hour, day, ISO week, month, year; for `keep_last` every
/// snapshot) until its count is used up. Periods are calendar periods in UTC.
/// Returns one decision per snapshot, groups in order, newest first.
pub fn apply_policy(snapshots: &[SnapshotEntry], policy: &RetentionPolicy) -> Vec<Decision> {
    let mut groups: BTreeMap<SnapshotGroup, Vec<&SnapshotEntry>> = BTreeMap::new();
    for s in snapshots {
        groups.entry(SnapshotGroup::of(s)).or_default().push(s);
    }
    let mut out = Vec::with_capacity(snapshots.len());
    for (group, mut members) in groups {
        members.sort_by(|a, b| b.snapshot.time.cmp(&a.snapshot.time).then(b.id.cmp(&a.id)));
        out.extend(apply_to_group(&group, &members, policy));
    }
    out
}

fn apply_to_group(group: &SnapshotGroup, newest_first: &[&SnapshotEntry], policy: &RetentionPolicy) -> Vec<Decision> {
    let decide = |s: &SnapshotEntry, reasons: Vec<String>| Decision {
        id: s.id,
        time: s.snapshot.time,
        group: group.clone(),
        keep: !reasons.is_empty(),
        reasons,
    };
    if policy.is_empty() {
        return newest_first.iter().map(|s| decide(s, vec!["policy is empty".into()])).collect();
    }
    let within = policy.keep_within.filter(|d| !d.is_zero()).map(|d| {
        let newest = newest_first.first().map(|s| s.snapshot.time).unwrap_or_default();
        let cutoff = chrono::Duration::from_std(d).ok().and_then(|d| newest.checked_sub_signed(d));
        (cutoff.unwrap_or(DateTime::<Utc>::MIN_UTC), humantime::format_duration(d).to_string())
    });
    let times: Vec<NaiveDateTime> = newest_first.iter().map(|s| s.snapshot.time.naive_utc()).collect();
    let counted = count_rules(&times, policy);
    newest_first
        .iter()
        .zip(counted)
        .map(|(s, counted)| {
            let mut reasons = Vec::new();
            if has_tags(s, &policy.keep_tags) {
                reasons.push("has tags".to_string());
            }
            reasons.extend(counted.into_iter().map(str::to_string));
            if let Some((cutoff, text)) = &within {
                if s.snapshot.time > *cutoff {
                    reasons.push(format!("within {text}"));
                }
            }
            decide(s, reasons)
        })
        .collect()
}

/// The counting rules (`keep_last`, hourly … yearly) over a series of
/// wall-clock times, newest first: for each time, the rules that keep it.
/// Periods are calendar periods of the given times, so a caller passing
/// local times of a zone gets that zone's days (a 23- or 25-hour day is one
/// day). `keep_within` and `keep_tags` are not applied here.
pub fn count_rules(newest_first: &[NaiveDateTime], policy: &RetentionPolicy) -> Vec<Vec<&'static str>> {
    let mut buckets = buckets(policy);
    newest_first
        .iter()
        .enumerate()
        .map(|(nr, t)| {
            let mut reasons = Vec::new();
            for b in &mut buckets {
                if b.remaining == 0 {
                    continue;
                }
                let period = (b.period)(*t, nr);
                if b.last != Some(period) {
                    b.last = Some(period);
                    b.remaining = b.remaining.saturating_sub(u32::from(b.remaining != u32::MAX));
                    reasons.push(b.reason);
                }
            }
            reasons
        })
        .collect()
}

fn buckets(p: &RetentionPolicy) -> Vec<Bucket> {
    let rules: [(Option<u32>, Period, &'static str); 6] = [
        (p.keep_last, |_, nr| nr as i64, "last snapshot"),
        (p.keep_hourly, |t, _| day(t) * 100 + i64::from(t.hour()), "hourly snapshot"),
        (p.keep_daily, |t, _| day(t), "daily snapshot"),
        (
            p.keep_weekly,
            |t, _| i64::from(t.iso_week().year()) * 100 + i64::from(t.iso_week().week()),
            "weekly snapshot",
        ),
        (p.keep_monthly, |t, _| i64::from(t.year()) * 100 + i64::from(t.month()), "monthly snapshot"),
        (p.keep_yearly, |t, _| i64::from(t.year()), "yearly snapshot"),
    ];
    rules
        .into_iter()
        .filter_map(|(count, period, reason)| {
            count.filter(|c| *c > 0).map(|remaining| Bucket { remaining, period, last: None, reason })
        })
        .collect()
}

fn day(t: NaiveDateTime) -> i64 {
    i64::from(t.year()) * 10_000 + i64::from(t.month()) * 100 + i64::from(t.day())
}

/// True when the snapshot has every tag of at least one `a,b,…` entry.
fn has_tags(s: &SnapshotEntry, keep_tags: &[String]) -> bool {
    keep_tags.iter().any(|entry| {
        let wanted: Vec<&str> = entry.split(',').map(str::trim).filter(|t| !t.is_empty()).collect();
        !wanted.is_empty() && wanted.iter().all(|w| s.snapshot.tags.iter().any(|t| t == w))
    })
}

/// What `forget` did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ForgetReport {
    pub dry_run: bool,
    pub decisions: Vec<Decision>,
    pub kept: Vec<Id>,
    pub removed: Vec<Id>,
}

/// Applies `policy` to every snapshot and deletes the snapshot files of those
/// it does not keep. Takes an exclusive lock, as restic does: forgetting
/// changes which data is used, so it must not overlap a prune deciding that.
pub fn forget(repo: &Repository, policy: &RetentionPolicy, dry_run: bool) -> Result<ForgetReport> {
    if !dry_run {
        repo.ensure_may_delete("forget snapshots of")?;
    }
    let _lock = repo.lock(true, "forget")?;
    let snapshots = repo.list_snapshots()?;
    let decisions = apply_policy(&snapshots, policy);
    finish(repo, decisions, dry_run)
}

/// Deletes the given snapshots (explicit `arca repo forget ID…`); fails
/// before deleting anything when an id is not a snapshot.
pub fn forget_snapshots(repo: &Repository, ids: &[Id], dry_run: bool) -> Result<ForgetReport> {
    if !dry_run {
        repo.ensure_may_delete("forget snapshots of")?;
    }
    let _lock = repo.lock(true, "forget")?;
    let snapshots = repo.list_snapshots()?;
    if let Some(missing) = ids.iter().find(|id| !snapshots.iter().any(|s| s.id == **id)) {
        return Err(Error::SnapshotNotFound { query: missing.to_hex() });
    }
    let decisions = snapshots
        .iter()
        .rev()
        .map(|s| {
            let keep = !ids.contains(&s.id);
            let reasons = if keep { vec!["not named".to_string()] } else { Vec::new() };
            Decision { id: s.id, time: s.snapshot.time, group: SnapshotGroup::of(s), keep, reasons }
        })
        .collect();
    finish(repo, decisions, dry_run)
}

fn finish(repo: &Repository, decisions: Vec<Decision>, dry_run: bool) -> Result<ForgetReport> {
    let kept = decisions.iter().filter(|d| d.keep).map(|d| d.id).collect();
    let removed: Vec<Id> = decisions.iter().filter(|d| !d.keep).map(|d| d.id).collect();
    if !dry_run {
        repo.remove_snapshots(&removed, "forget")?;
    }
    Ok(ForgetReport { dry_run, decisions, kept, removed })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{KIND_FILES, Snapshot};

    fn at(time: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(time).map(|t| t.with_timezone(&Utc)).unwrap()
    }

    fn snap_on(host: &str, paths: &[&str], time: &str, tags: &[&str]) -> SnapshotEntry {
        let mut s = Snapshot::new(KIND_FILES, paths.iter().map(|p| p.to_string()).collect(), Id::random());
        s.time = at(time);
        s.hostname = host.into();
        s.tags = tags.iter().map(|t| t.to_string()).collect();
        SnapshotEntry { id: Id::random(), snapshot: s }
    }

    fn snap(time: &str) -> SnapshotEntry {
        snap_on("h", &["/data"], time, &[])
    }

    /// Times of the kept snapshots, newest first.
    fn kept(times: &[&str], policy: &RetentionPolicy) -> Vec<String> {
        let list: Vec<SnapshotEntry> = times.iter().map(|t| snap(t)).collect();
        apply_policy(&list, policy)
            .into_iter()
            .filter(|d| d.keep)
            .map(|d| d.time.format("%Y-%m-%dT%H:%M").to_string())
            .collect()
    }

    const DAYS: &[&str] = &[
        "2025-03-01T10:00:00Z",
        "2025-03-01T20:00:00Z",
        "2025-03-02T09:00:00Z",
        "2025-03-03T08:00:00Z",
        "2025-03-03T23:00:00Z",
        "2025-03-04T12:00:00Z",
    ];

    #[test]
    fn keep_last_keeps_the_newest_n() {
        let p = RetentionPolicy { keep_last: Some(3), ..Default::default() };
        assert_eq!(kept(DAYS, &p), ["2025-03-04T12:00", "2025-03-03T23:00", "2025-03-03T08:00"]);
    }

    #[test]
    fn keep_daily_keeps_the_newest_of_each_day() {
        let p = RetentionPolicy { keep_daily: Some(3), ..Default::default() };
        assert_eq!(kept(DAYS, &p), ["2025-03-04T12:00", "2025-03-03T23:00", "2025-03-02T09:00"]);
        let all = RetentionPolicy { keep_daily: Some(u32::MAX), ..Default::default() };
        assert_eq!(kept(DAYS, &all), ["2025-03-04T12:00", "2025-03-03T23:00", "2025-03-02T09:00", "2025-03-01T20:00"]);
    }

    #[test]
    fn keep_hourly_distinguishes_hours_of_different_days() {
        let times = ["2025-03-01T10:05:00Z", "2025-03-01T10:55:00Z", "2025-03-01T11:01:00Z", "2025-03-02T10:30:00Z"];
        let p = RetentionPolicy { keep_hourly: Some(10), ..Default::default() };
        assert_eq!(kept(&times, &p), ["2025-03-02T10:30", "2025-03-01T11:01", "2025-03-01T10:55"]);
    }

    #[test]
    fn keep_weekly_uses_iso_weeks_across_new_year() {
        // 2024-12-28/29 are in 2024-W52; 2024-12-30 and 2025-01-05 in 2025-W01.
        let times = ["2024-12-28T12:00:00Z", "2024-12-29T12:00:00Z", "2024-12-30T12:00:00Z", "2025-01-05T12:00:00Z"];
        let p = RetentionPolicy { keep_weekly: Some(5), ..Default::default() };
        assert_eq!(kept(&times, &p), ["2025-01-05T12:00", "2024-12-29T12:00"]);
        let one = RetentionPolicy { keep_weekly: Some(1), ..Default::default() };
        assert_eq!(kept(&times, &one), ["2025-01-05T12:00"]);
    }

    #[test]
    fn keep_monthly_and_yearly() {
        let times = [
            "2023-06-15T00:00:00Z",
            "2023-12-31T23:59:00Z",
            "2024-01-01T00:00:00Z",
            "2024-01-20T00:00:00Z",
            "2024-02-10T00:00:00Z",
        ];
        let monthly = RetentionPolicy { keep_monthly: Some(3), ..Default::default() };
        assert_eq!(kept(&times, &monthly), ["2024-02-10T00:00", "2024-01-20T00:00", "2023-12-31T23:59"]);
        let yearly = RetentionPolicy { keep_yearly: Some(5), ..Default::default() };
        assert_eq!(kept(&times, &yearly), ["2024-02-10T00:00", "2023-12-31T23:59"]);
    }

    #[test]
    fn rules_combine_and_name_their_reasons() {
        let list: Vec<SnapshotEntry> = DAYS.iter().map(|t| snap(t)).collect();
        let p = RetentionPolicy { keep_last: Some(1), keep_daily: Some(2), ..Default::default() };
        let d = apply_policy(&list, &p);
        assert_eq!(d.len(), DAYS.len());
        assert_eq!(d[0].reasons, ["last snapshot", "daily snapshot"]);
        assert_eq!(d[1].reasons, ["daily snapshot"]);
        assert!(d[2..].iter().all(|d| !d.keep && d.reasons.is_empty()));
    }

    #[test]
    fn keep_within_counts_back_from_the_newest_snapshot_not_now() {
        // Years old: a "now"-based rule would remove everything.
        let times = [
            "2020-01-10T00:00:00Z",
            "2020-01-09T00:00:00Z",
            "2020-01-08T01:00:00Z",
            "2020-01-07T23:00:00Z",
            "2019-12-01T00:00:00Z",
        ];
        let p = RetentionPolicy { keep_within: Some(Duration::from_secs(2 * 86_400)), ..Default::default() };
        assert_eq!(kept(&times, &p), ["2020-01-10T00:00", "2020-01-09T00:00", "2020-01-08T01:00"]);
        let list: Vec<SnapshotEntry> = times.iter().map(|t| snap(t)).collect();
        assert_eq!(apply_policy(&list, &p)[0].reasons, ["within 2days"]);
    }

    #[test]
    fn keep_tags_any_entry_all_of_its_tags() {
        let list = vec![
            snap_on("h", &["/d"], "2025-01-01T00:00:00Z", &["a"]),
            snap_on("h", &["/d"], "2025-01-02T00:00:00Z", &["b"]),
            snap_on("h", &["/d"], "2025-01-03T00:00:00Z", &["b", "c"]),
            snap_on("h", &["/d"], "2025-01-04T00:00:00Z", &[]),
        ];
        let p = RetentionPolicy { keep_tags: vec!["a".into(), "b,c".into()], ..Default::default() };
        let d = apply_policy(&list, &p);
        let keep: Vec<bool> = d.iter().map(|d| d.keep).collect();
        // Newest first: 01-04 (none), 01-03 (b,c), 01-02 (b only), 01-01 (a).
        assert_eq!(keep, [false, true, false, true]);
        assert_eq!(d[1].reasons, ["has tags"]);
    }

    #[test]
    fn groups_by_kind_host_and_sorted_paths() {
        let list = vec![
            snap_on("a", &["/x", "/y"], "2025-01-01T00:00:00Z", &[]),
            snap_on("a", &["/y", "/x"], "2025-01-02T00:00:00Z", &[]),
            snap_on("b", &["/x", "/y"], "2025-01-01T00:00:00Z", &[]),
            snap_on("a", &["/z"], "2025-01-01T00:00:00Z", &[]),
        ];
        let mut stream = snap_on("a", &["/z"], "2025-01-03T00:00:00Z", &[]);
        stream.snapshot.kind = crate::snapshot::KIND_STREAM.into();
        let list = [list, vec![stream]].concat();
        let p = RetentionPolicy { keep_last: Some(1), ..Default::default() };
        let d = apply_policy(&list, &p);
        let removed: Vec<Id> = d.iter().filter(|d| !d.keep).map(|d| d.id).collect();
        assert_eq!(removed, vec![list[0].id], "only the older of host a's /x,/y snapshots goes");
        assert_eq!(d.iter().filter(|d| d.keep).count(), 4);
    }

    #[test]
    fn empty_policy_keeps_everything() {
        let p = RetentionPolicy { keep_last: Some(0), keep_tags: vec![" ".into()], ..Default::default() };
        assert!(p.is_empty());
        assert_eq!(kept(DAYS, &p).len(), DAYS.len());
        assert!(apply_policy(&[], &p).is_empty());
    }

    #[test]
    fn ties_in_time_are_ordered_deterministically() {
        let list = vec![snap("2025-01-01T00:00:00Z"), snap("2025-01-01T00:00:00Z")];
        let p = RetentionPolicy { keep_last: Some(1), ..Default::default() };
        let a = apply_policy(&list, &p);
        let b = apply_policy(&[list[1].clone(), list[0].clone()], &p);
        assert_eq!(a, b);
    }
}
