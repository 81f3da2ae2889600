//! Numbers and times as people read them.

use chrono::{DateTime, Duration, Utc};

/// `1.5 GiB`, `320 B`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// `2h 5m`, `40s`, `3d 4h`.
pub fn duration(d: Duration) -> String {
    let secs = d.num_seconds().max(0);
    let (days, hours, minutes, seconds) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match () {
        _ if days > 0 => format!("{days}d {hours}h"),
        _ if hours > 0 => format!("{hours}h {minutes}m"),
        _ if minutes > 0 => format!("{minutes}m {seconds}s"),
        _ => format!("{seconds}s"),
    }
}

/// `3h 2m ago` (or `in 5m` for a time ahead of `now`).
pub fn age(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    if t > now { format!("in {}", duration(t - now)) } else { format!("{} ago", duration(now - t)) }
}

/// RFC 3339 to the second, UTC.
pub fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%SZ").to_string()
}

/// `12.3×`, or `–` when nothing was added.
pub fn ratio(total: u64, added: u64) -> String {
    if added == 0 { "–".into() } else { format!("{:.1}×", total as f64 / added as f64) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_in_binary_units() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }

    #[test]
    fn durations_keep_two_units() {
        assert_eq!(duration(Duration::seconds(40)), "40s");
        assert_eq!(duration(Duration::seconds(125)), "2m 5s");
        assert_eq!(duration(Duration::seconds(7500)), "2h 5m");
        assert_eq!(duration(Duration::seconds(3 * 86_400 + 4 * 3600 + 5)), "3d 4h");
        assert_eq!(duration(Duration::seconds(-5)), "0s");
    }

    #[test]
    fn ages_and_ratios() {
        let now = DateTime::parse_from_rfc3339("2026-12-02T12:00:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(age(now - Duration::minutes(90), now), "1h 30m ago");
        assert_eq!(age(now + Duration::minutes(5), now), "in 5m 0s");
        assert_eq!(ratio(100, 0), "–");
        assert_eq!(ratio(1000, 100), "10.0×");
    }
}
