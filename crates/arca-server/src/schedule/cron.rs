//! Cron expressions read in an IANA time zone (the tz database is compiled
//! in, so no tzdata is needed where Arca runs).

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

const FIELDS: [&str; 5] = ["minute", "hour", "day-of-month", "month", "day-of-week"];

/// A parsed schedule: when runs are due.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    cron: Cron,
    zone: Tz,
}

impl CronSchedule {
    /// Parse a 5-field expression or macro (`@daily`) read in `zone`
    /// (an IANA name, default `UTC`). Errors name the bad field or zone.
    pub fn parse(expression: &str, zone: Option<&str>) -> Result<Self, String> {
        let zone = parse_zone(zone)?;
        let cron = parse_cron(expression)?;
        Ok(CronSchedule { cron, zone })
    }

    pub fn zone(&self) -> Tz {
        self.zone
    }

    /// The first due time strictly after `t`. Over a DST gap a run whose
    /// wall time does not exist runs once, at the first valid instant after
    /// the gap; over a fold it runs once, at the first of the two instants.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = t.with_timezone(&self.zone);
        self.cron.find_next_occurrence(&local, false).ok().map(|n| n.with_timezone(&Utc))
    }
}

/// An IANA zone name such as `Europe/Berlin`; none means UTC.
pub fn parse_zone(zone: Option<&str>) -> Result<Tz, String> {
    let name = zone.map(str::trim).filter(|z| !z.is_empty()).unwrap_or("UTC");
    name.parse::<Tz>().map_err(|_| {
        format!(
            "unknown time zone {name:?}: use an IANA name such as \"UTC\", \"Europe/Berlin\" or \"America/New_York\" \
             (Area/City, case-sensitive)"
        )
    })
}

fn parser() -> CronParser {
    CronParser::builder().seconds(Seconds::Disallowed).year(Year::Disallowed).build()
}

fn parse_cron(expression: &str) -> Result<Cron, String> {
    let text = expression.trim();
    if text.is_empty() {
        return Err("empty cron expression: give 5 fields (minute hour day-of-month month day-of-week), \
                    e.g. \"0 2 * * *\", or a macro such as \"@daily\""
            .to_string());
    }
    if !text.starts_with('@') {
        let fields: Vec<&str> = text.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!(
                "cron expression {text:?} has {} fields: give exactly 5 (minute hour day-of-month month \
                 day-of-week; no seconds or year field), e.g. \"0 2 * * *\"",
                fields.len()
            ));
        }
        if let Some(bad) = first_bad_field(&fields) {
            return Err(format!("cron expression {text:?}: the {} field {:?} is not valid", FIELDS[bad], fields[bad]));
        }
    }
    parser().parse(text).map_err(|e| format!("cron expression {text:?}: {e}"))
}

/// Which field alone makes the expression fail (the others set to `*`).
fn first_bad_field(fields: &[&str]) -> Option<usize> {
    (0..fields.len()).find(|&i| {
        let probe: Vec<&str> = (0..fields.len()).map(|j| if j == i { fields[j] } else { "*" }).collect();
        parser().parse(&probe.join(" ")).is_err()
    })
}

/// Validate an expression and zone (what `arca schedule create` checks
/// before it writes the object).
pub fn validate(expression: &str, zone: Option<&str>) -> Result<(), String> {
    CronSchedule::parse(expression, zone).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(t: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(t).map(|t| t.with_timezone(&Utc)).unwrap()
    }

    #[test]
    fn next_runs_in_the_schedules_zone() {
        let cases: &[(&str, Option<&str>, &str, &str)] = &[
            ("0 2 * * *", None, "2025-01-01T01:00:00Z", "2025-01-01T02:00:00Z"),
            ("0 2 * * *", None, "2025-01-01T02:00:00Z", "2025-01-02T02:00:00Z"),
            ("@hourly", Some("UTC"), "2025-01-01T01:30:00Z", "2025-01-01T02:00:00Z"),
            ("@daily", Some("Europe/Berlin"), "2025-01-01T12:00:00Z", "2025-01-01T23:00:00Z"),
            ("0 2 * * *", Some("America/New_York"), "2025-07-01T00:00:00Z", "2025-07-01T06:00:00Z"),
            ("0 2 * * *", Some("America/New_York"), "2025-01-01T00:00:00Z", "2025-01-01T07:00:00Z"),
            ("30 1 * * 1", Some("UTC"), "2025-01-01T00:00:00Z", "2025-01-06T01:30:00Z"),
            // Spring forward in Berlin (2025-03-30 02:00 → 03:00): 02:30 does not exist; runs once at 03:00 CEST.
            ("30 2 * * *", Some("Europe/Berlin"), "2025-03-29T23:00:00Z", "2025-03-30T01:00:00Z"),
            // ... and the next day at 02:30 CEST again.
            ("30 2 * * *", Some("Europe/Berlin"), "2025-03-30T01:00:00Z", "2025-03-31T00:30:00Z"),
            // Spring forward in New York (2025-03-09 02:00 → 03:00).
            ("30 2 * * *", Some("America/New_York"), "2025-03-09T05:00:00Z", "2025-03-09T07:00:00Z"),
        ];
        for (expr, zone, after, want) in cases {
            let s = CronSchedule::parse(expr, *zone).unwrap();
            assert_eq!(s.next_after(utc(after)), Some(utc(want)), "{expr} in {zone:?} after {after}");
        }
    }

    #[test]
    fn a_run_in_a_fold_runs_once() {
        // Fall back in Berlin (2025-10-26 03:00 CEST → 02:00 CET): 02:30 happens twice.
        let s = CronSchedule::parse("30 2 * * *", Some("Europe/Berlin")).unwrap();
        let first = s.next_after(utc("2025-10-25T22:00:00Z")).unwrap();
        assert_eq!(first, utc("2025-10-26T00:30:00Z"), "the first 02:30 (CEST)");
        let second = s.next_after(first).unwrap();
        assert_eq!(second, utc("2025-10-27T01:30:00Z"), "not again at 02:30 CET, but the next day");
    }

    #[test]
    fn bad_expressions_name_the_field() {
        let cases: &[(&str, &str)] = &[
            ("0 0 2 * * *", "has 6 fields"),
            ("0 2 * *", "has 4 fields"),
            ("", "empty cron expression"),
            ("61 2 * * *", "minute field \"61\""),
            ("0 25 * * *", "hour field \"25\""),
            ("0 2 32 * *", "day-of-month field \"32\""),
            ("0 2 * 13 *", "month field \"13\""),
            ("0 2 * * MOO", "day-of-week field \"MOO\""),
            ("@sometimes", "\"@sometimes\""),
        ];
        for (expr, want) in cases {
            let err = CronSchedule::parse(expr, None).unwrap_err();
            assert!(err.contains(want), "{expr:?}: {err}");
        }
    }

    #[test]
    fn unknown_zones_say_how_to_spell_one() {
        let err = CronSchedule::parse("@daily", Some("Mars/Olympus")).unwrap_err();
        assert!(err.contains("Mars/Olympus") && err.contains("Europe/Berlin"), "{err}");
        assert!(CronSchedule::parse("@daily", Some("europe/berlin")).is_err());
        assert_eq!(CronSchedule::parse("@daily", Some("")).unwrap().zone(), Tz::UTC);
    }
}
