//! `/metrics`: numbers computed from the repositories' catalogs at each
//! catalog sync (so they are right after a restart or a pod move, never
//! counted up in memory), cached here per location and rendered in the
//! Prometheus/OpenMetrics text format with prometheus-client.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Per-backup (and per-volume) series are kept for this many of the newest
/// backups of each location: label cardinality stays bounded.
pub const PER_BACKUP_SERIES: usize = 20;

/// The phases a stored backup or restore report can end in.
pub const FINAL_PHASES: [&str; 3] = ["Completed", "PartiallyFailed", "Failed"];

/// What the last sync of one location read from its repository.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LocationStats {
    /// The repository opened at the last sync.
    pub available: bool,
    pub repository_bytes: Option<u64>,
    /// The last successful sync.
    pub last_sync: Option<DateTime<Utc>>,
    /// Every backup in the repository, oldest first.
    pub backups: Vec<BackupStats>,
    /// Every stored restore report (dry runs left out).
    pub restores: Vec<RestoreStats>,
    /// Every stored restore drill, oldest first.
    pub drills: Vec<DrillStats>,
}

/// One stored restore drill.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DrillStats {
    pub name: String,
    /// The backup's namespaces it restored.
    pub namespaces: Vec<String>,
    pub passed: bool,
    pub finished: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct BackupStats {
    pub name: String,
    /// `Completed`, `PartiallyFailed` or `Failed`.
    pub phase: String,
    pub started: Option<DateTime<Utc>>,
    pub finished: Option<DateTime<Utc>>,
    pub objects: u64,
    /// Bytes the backup added to the repository (after dedup and compression).
    pub bytes_added: u64,
    /// The `Schedule` that made it (tag `schedule=<name>`, or its name
    /// `<schedule>-<YYYYMMDDHHMMSS>`).
    pub schedule: Option<String>,
    pub volumes: Vec<VolumeStats>,
}

impl BackupStats {
    fn duration_seconds(&self) -> Option<f64> {
        let (s, f) = (self.started?, self.finished?);
        Some((f - s).num_milliseconds().max(0) as f64 / 1000.0)
    }
}

/// One volume record of a backup: what the data mover did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VolumeStats {
    /// `namespace/claim`.
    pub claim: String,
    /// Bytes read from the volume.
    pub bytes: u64,
    /// Bytes the repository grew by for it.
    pub bytes_added: u64,
    pub duration_seconds: f64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RestoreStats {
    pub name: String,
    pub phase: String,
}

/// A location by namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LocationKey {
    pub namespace: String,
    pub name: String,
}

/// The server's metrics; thread-safe, shared as `Arc<Metrics>`.
#[derive(Default)]
pub struct Metrics {
    locations: Mutex<BTreeMap<LocationKey, LocationStats>>,
}

type Labels = Vec<(String, String)>;
type FloatGauge = Gauge<f64, AtomicU64>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn timestamp(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<LocationKey, LocationStats>> {
        self.locations.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Replaces what is known of a location after a successful sync.
    pub fn update_location(&self, namespace: &str, name: &str, stats: LocationStats) {
        self.lock().insert(LocationKey { namespace: namespace.into(), name: name.into() }, stats);
    }

    /// A location that could not be read: available 0, its last numbers kept.
    pub fn mark_unavailable(&self, namespace: &str, name: &str) {
        let mut all = self.lock();
        let entry = all.entry(LocationKey { namespace: namespace.into(), name: name.into() }).or_default();
        entry.available = false;
    }

    /// Forgets locations that no longer exist.
    pub fn retain_locations(&self, keep: impl Fn(&LocationKey) -> bool) {
        self.lock().retain(|k, _| keep(k));
    }

    /// A copy of what is known of a location.
    pub fn location(&self, namespace: &str, name: &str) -> Option<LocationStats> {
        self.lock().get(&LocationKey { namespace: namespace.into(), name: name.into() }).cloned()
    }

    /// The text exposition (OpenMetrics text, which Prometheus scrapes).
    pub fn render(&self) -> String {
        let snapshot = self.lock().clone();
        let registry = build_registry(&snapshot);
        let mut out = String::new();
        // Writing into a String cannot fail; an encoder error would be a bug
        // in a label, so it is reported in the output rather than panicking.
        if let Err(e) = encode(&mut out, &registry) {
            out = format!("# metrics could not be encoded: {e}\n# EOF\n");
        }
        out
    }
}

/// The families of one render.
#[derive(Default)]
struct Families {
    backups: Family<Labels, Gauge>,
    backup_duration: Family<Labels, FloatGauge>,
    backup_bytes_added: Family<Labels, Gauge>,
    backup_objects: Family<Labels, Gauge>,
    volume_bytes: Family<Labels, Gauge>,
    volume_bytes_added: Family<Labels, Gauge>,
    volume_duration: Family<Labels, FloatGauge>,
    restores: Family<Labels, Gauge>,
    schedule_last_success: Family<Labels, FloatGauge>,
    schedule_last_status: Family<Labels, Gauge>,
    repository_bytes: Family<Labels, Gauge>,
    location_available: Family<Labels, Gauge>,
    sync_timestamp: Family<Labels, FloatGauge>,
    drill_last_passed: Family<Labels, Gauge>,
    drill_last_timestamp: Family<Labels, FloatGauge>,
}

impl Families {
    fn register(&self, r: &mut Registry) {
        r.register("arca_backups", "Backups in the location's repository by phase", self.backups.clone());
        r.register(
            "arca_backup_duration_seconds",
            "Duration of each of the newest backups of a location",
            self.backup_duration.clone(),
        );
        r.register(
            "arca_backup_bytes_added",
            "Bytes each of the newest backups added to the repository (after dedup and compression)",
            self.backup_bytes_added.clone(),
        );
        r.register("arca_backup_objects", "Objects in each of the newest backups", self.backup_objects.clone());
        r.register("arca_volume_bytes", "Bytes the data mover read from each volume", self.volume_bytes.clone());
        r.register(
            "arca_volume_bytes_added",
            "Bytes the repository grew by for each volume",
            self.volume_bytes_added.clone(),
        );
        r.register(
            "arca_volume_duration_seconds",
            "How long each volume's data took to back up",
            self.volume_duration.clone(),
        );
        r.register("arca_restores", "Stored restore reports by phase", self.restores.clone());
        r.register(
            "arca_schedule_last_success_timestamp_seconds",
            "Completion time of a schedule's newest Completed backup",
            self.schedule_last_success.clone(),
        );
        r.register(
            "arca_schedule_last_status",
            "1 for the phase of a schedule's newest finished backup, 0 for the others",
            self.schedule_last_status.clone(),
        );
        r.register("arca_repository_bytes", "Bytes of pack files in the repository", self.repository_bytes.clone());
        r.register(
            "arca_location_available",
            "1 when the location's repository opened",
            self.location_available.clone(),
        );
        r.register(
            "arca_catalog_sync_timestamp_seconds",
            "Time of the location's last successful catalog sync",
            self.sync_timestamp.clone(),
        );
        r.register(
            "arca_drill_last_passed",
            "1 when the newest restore drill of an application namespace (label app) passed, 0 when it failed",
            self.drill_last_passed.clone(),
        );
        r.register(
            "arca_drill_last_timestamp_seconds",
            "When the newest restore drill of an application namespace (label app) finished",
            self.drill_last_timestamp.clone(),
        );
    }
}

fn build_registry(all: &BTreeMap<LocationKey, LocationStats>) -> Registry {
    let mut registry = Registry::default();
    let f = Families::default();
    f.register(&mut registry);
    for (key, stats) in all {
        location_series(&f, key, stats);
    }
    schedule_series(&f, all);
    registry
}

fn location_series(f: &Families, key: &LocationKey, stats: &LocationStats) {
    let (ns, loc) = (key.namespace.as_str(), key.name.as_str());
    let at = labels(&[("namespace", ns), ("location", loc)]);
    f.location_available.get_or_create(&at).set(i64::from(stats.available));
    if let Some(bytes) = stats.repository_bytes {
        f.repository_bytes.get_or_create(&at).set(clamp(bytes));
    }
    if let Some(t) = stats.last_sync {
        f.sync_timestamp.get_or_create(&at).set(timestamp(t));
    }
    for phase in FINAL_PHASES {
        let n = stats.backups.iter().filter(|b| b.phase == phase).count();
        f.backups.get_or_create(&labels(&[("namespace", ns), ("location", loc), ("phase", phase)])).set(n as i64);
        let n = stats.restores.iter().filter(|r| r.phase == phase).count();
        f.restores.get_or_create(&labels(&[("namespace", ns), ("location", loc), ("phase", phase)])).set(n as i64);
    }
    drill_series(f, ns, loc, &stats.drills);
    for b in newest(&stats.backups, PER_BACKUP_SERIES) {
        let bl = labels(&[("namespace", ns), ("location", loc), ("backup", b.name.as_str())]);
        if let Some(d) = b.duration_seconds() {
            f.backup_duration.get_or_create(&bl).set(d);
        }
        f.backup_bytes_added.get_or_create(&bl).set(clamp(b.bytes_added));
        f.backup_objects.get_or_create(&bl).set(clamp(b.objects));
        for v in &b.volumes {
            let vl = labels(&[
                ("namespace", ns),
                ("location", loc),
                ("backup", b.name.as_str()),
                ("claim", v.claim.as_str()),
            ]);
            f.volume_bytes.get_or_create(&vl).set(clamp(v.bytes));
            f.volume_bytes_added.get_or_create(&vl).set(clamp(v.bytes_added));
            f.volume_duration.get_or_create(&vl).set(v.duration_seconds);
        }
    }
}

/// Per application namespace, the newest drill that covered it.
fn drill_series(f: &Families, ns: &str, loc: &str, drills: &[DrillStats]) {
    let mut newest: BTreeMap<&str, &DrillStats> = BTreeMap::new();
    for d in drills {
        for app in &d.namespaces {
            if newest.get(app.as_str()).is_none_or(|seen| d.finished >= seen.finished) {
                newest.insert(app, d);
            }
        }
    }
    for (app, d) in newest {
        let l = labels(&[("namespace", ns), ("location", loc), ("app", app)]);
        f.drill_last_passed.get_or_create(&l).set(i64::from(d.passed));
        if let Some(t) = d.finished {
            f.drill_last_timestamp.get_or_create(&l).set(timestamp(t));
        }
    }
}

/// The newest `n` backups (by start time; the list is oldest first).
fn newest(backups: &[BackupStats], n: usize) -> Vec<&BackupStats> {
    let mut sorted: Vec<&BackupStats> = backups.iter().collect();
    sorted.sort_by_key(|b| std::cmp::Reverse(b.started));
    sorted.truncate(n);
    sorted
}

fn clamp(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// What the catalogs say of one schedule (over every location of its namespace).
#[derive(Debug, Default, PartialEq)]
struct ScheduleSummary<'a> {
    /// The newest finished backup.
    last: Option<&'a BackupStats>,
    /// The newest Completed backup.
    last_success: Option<&'a BackupStats>,
}

fn schedule_summaries(all: &BTreeMap<LocationKey, LocationStats>) -> BTreeMap<(String, String), ScheduleSummary<'_>> {
    let mut out: BTreeMap<(String, String), ScheduleSummary<'_>> = BTreeMap::new();
    for (key, stats) in all {
        for b in &stats.backups {
            let Some(schedule) = &b.schedule else { continue };
            let s = out.entry((key.namespace.clone(), schedule.clone())).or_default();
            if s.last.is_none_or(|l| l.started < b.started) {
                s.last = Some(b);
            }
            if b.phase == "Completed" && s.last_success.is_none_or(|l| l.started < b.started) {
                s.last_success = Some(b);
            }
        }
    }
    out
}

fn schedule_series(f: &Families, all: &BTreeMap<LocationKey, LocationStats>) {
    for ((ns, schedule), s) in schedule_summaries(all) {
        if let Some(t) = s.last_success.and_then(|b| b.finished.or(b.started)) {
            f.schedule_last_success
                .get_or_create(&labels(&[("namespace", ns.as_str()), ("schedule", schedule.as_str())]))
                .set(timestamp(t));
        }
        if let Some(last) = s.last {
            for phase in FINAL_PHASES {
                f.schedule_last_status
                    .get_or_create(&labels(&[
                        ("namespace", ns.as_str()),
                        ("schedule", schedule.as_str()),
                        ("phase", phase),
                    ]))
                    .set(i64::from(last.phase == phase));
            }
        }
    }
}

/// The schedule a backup belongs to: its tag `schedule=<name>`, else a name
/// of the form `<schedule>-<YYYYMMDDHHMMSS>` (how schedules name their runs).
pub fn schedule_of(name: &str, tags: &[String]) -> Option<String> {
    if let Some(s) = tags.iter().find_map(|t| t.strip_prefix("schedule=")).filter(|s| !s.is_empty()) {
        return Some(s.to_string());
    }
    let (prefix, stamp) = name.rsplit_once('-')?;
    (stamp.len() == 14 && stamp.bytes().all(|b| b.is_ascii_digit()) && !prefix.is_empty()).then(|| prefix.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
    }

    fn backup(name: &str, phase: &str, started: &str, schedule: Option<&str>) -> BackupStats {
        BackupStats {
            name: name.into(),
            phase: phase.into(),
            started: at(started),
            finished: at(started).map(|t| t + chrono::Duration::seconds(30)),
            objects: 7,
            bytes_added: 100,
            schedule: schedule.map(String::from),
            volumes: vec![],
        }
    }

    #[test]
    fn a_backups_schedule_comes_from_its_tag_or_its_name() {
        let cases: &[(&str, &[&str], Option<&str>)] = &[
            ("nightly-20260101020000", &[], Some("nightly")),
            ("team-a-nightly-20260101020000", &[], Some("team-a-nightly")),
            ("whatever", &["schedule=hourly"], Some("hourly")),
            ("nightly-20260101020000", &["schedule=other"], Some("other")),
            ("nightly-2026", &[], None),
            ("manual", &[], None),
            ("-20260101020000", &[], None),
            ("x-2026010102000a", &[], None),
        ];
        for (name, tags, want) in cases {
            let tags: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
            assert_eq!(schedule_of(name, &tags).as_deref(), *want, "{name} {tags:?}");
        }
    }

    #[test]
    fn the_last_status_is_the_newest_finished_backup_and_success_the_newest_completed() {
        let mut all = BTreeMap::new();
        let key = LocationKey { namespace: "shop".into(), name: "main".into() };
        all.insert(
            key,
            LocationStats {
                available: true,
                backups: vec![
                    backup("n-20260101000000", "Completed", "2026-01-01T00:00:00Z", Some("n")),
                    backup("n-20260102000000", "Failed", "2026-01-02T00:00:00Z", Some("n")),
                    backup("manual", "Completed", "2026-01-03T00:00:00Z", None),
                ],
                ..Default::default()
            },
        );
        let s = schedule_summaries(&all);
        assert_eq!(s.len(), 1);
        let n = &s[&("shop".to_string(), "n".to_string())];
        assert_eq!(n.last.map(|b| b.name.as_str()), Some("n-20260102000000"));
        assert_eq!(n.last_success.map(|b| b.name.as_str()), Some("n-20260101000000"));
    }

    #[test]
    fn per_backup_series_are_bounded_to_the_newest() {
        let backups: Vec<BackupStats> = (0..30)
            .map(|i| backup(&format!("b{i:02}"), "Completed", &format!("2026-01-{:02}T00:00:00Z", i + 1), None))
            .collect();
        let top = newest(&backups, PER_BACKUP_SERIES);
        assert_eq!(top.len(), PER_BACKUP_SERIES);
        assert_eq!(top[0].name, "b29");
        assert!(top.iter().all(|b| b.name.as_str() >= "b10"));
    }

    #[test]
    fn render_writes_every_phase_and_an_unavailable_location() {
        let m = Metrics::new();
        m.update_location(
            "shop",
            "main",
            LocationStats {
                available: true,
                repository_bytes: Some(1234),
                last_sync: at("2026-01-05T00:00:00Z"),
                backups: vec![backup("n-20260101000000", "Completed", "2026-01-01T00:00:00Z", Some("n"))],
                restores: vec![RestoreStats { name: "r".into(), phase: "Failed".into() }],
                drills: vec![
                    DrillStats {
                        name: "d1".into(),
                        namespaces: vec!["shop".into(), "blog".into()],
                        passed: true,
                        finished: at("2026-01-02T00:00:00Z"),
                    },
                    DrillStats {
                        name: "d2".into(),
                        namespaces: vec!["shop".into()],
                        passed: false,
                        finished: at("2026-01-03T00:00:00Z"),
                    },
                ],
            },
        );
        m.mark_unavailable("shop", "broken");
        let text = m.render();
        for want in [
            r#"arca_backups{namespace="shop",location="main",phase="Completed"} 1"#,
            r#"arca_backups{namespace="shop",location="main",phase="Failed"} 0"#,
            r#"arca_restores{namespace="shop",location="main",phase="Failed"} 1"#,
            r#"arca_repository_bytes{namespace="shop",location="main"} 1234"#,
            r#"arca_location_available{namespace="shop",location="broken"} 0"#,
            r#"arca_schedule_last_status{namespace="shop",schedule="n",phase="Completed"} 1"#,
            r#"arca_backup_duration_seconds{namespace="shop",location="main",backup="n-20260101000000"} 30.0"#,
            r#"arca_drill_last_passed{namespace="shop",location="main",app="shop"} 0"#,
            r#"arca_drill_last_passed{namespace="shop",location="main",app="blog"} 1"#,
            r#"arca_drill_last_timestamp_seconds{namespace="shop",location="main",app="shop"} 1767398400.0"#,
        ] {
            assert!(text.contains(want), "{want} missing in\n{text}");
        }
        m.retain_locations(|k| k.name == "main");
        assert!(!m.render().contains("broken"));
    }
}
