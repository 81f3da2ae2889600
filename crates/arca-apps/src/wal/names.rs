//! PostgreSQL's archive file names and log sequence numbers (pure).
//!
//! A segment is `TTTTTTTTXXXXXXXXYYYYYYYY`: timeline, then the segment
//! number split in a high part (`XXXXXXXX`, the "log") and a low part
//! (`YYYYYYYY`, below `0x1_0000_0000 / segment size`).

use std::fmt;

/// PostgreSQL's default WAL segment size (`initdb --wal-segsize` changes it).
pub const DEFAULT_SEGMENT_SIZE: u64 = 16 * 1024 * 1024;

/// What an archived file is, by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum WalFile {
    /// A WAL segment (also `….partial`, written at a timeline switch).
    Segment { timeline: u32, log: u32, seg: u32, partial: bool },
    /// `TTTTTTTT.history`: how a timeline branched off its parent.
    History { timeline: u32 },
    /// `<segment>.XXXXXXXX.backup`: a base backup's start and stop.
    BackupHistory { timeline: u32, log: u32, seg: u32, offset: u32 },
}

fn hex8(s: &str) -> Option<u32> {
    if s.len() == 8 && s.bytes().all(|b| b.is_ascii_hexdigit()) { u32::from_str_radix(s, 16).ok() } else { None }
}

fn segment_parts(s: &str) -> Option<(u32, u32, u32)> {
    if s.len() != 24 {
        return None;
    }
    Some((hex8(s.get(0..8)?)?, hex8(s.get(8..16)?)?, hex8(s.get(16..24)?)?))
}

impl WalFile {
    /// Parses an archive file name; `None` for anything PostgreSQL does not archive.
    pub fn parse(name: &str) -> Option<WalFile> {
        let parts: Vec<&str> = name.split('.').collect();
        match parts.as_slice() {
            [seg] => {
                segment_parts(seg).map(|(timeline, log, seg)| WalFile::Segment { timeline, log, seg, partial: false })
            }
            [seg, "partial"] => {
                segment_parts(seg).map(|(timeline, log, seg)| WalFile::Segment { timeline, log, seg, partial: true })
            }
            [tli, "history"] => hex8(tli).map(|timeline| WalFile::History { timeline }),
            [seg, offset, "backup"] => {
                let (timeline, log, seg) = segment_parts(seg)?;
                Some(WalFile::BackupHistory { timeline, log, seg, offset: hex8(offset)? })
            }
            _ => None,
        }
    }

    pub fn timeline(&self) -> u32 {
        match *self {
            WalFile::Segment { timeline, .. }
            | WalFile::History { timeline }
            | WalFile::BackupHistory { timeline, .. } => timeline,
        }
    }

    /// The absolute segment number this file belongs to (none for history files).
    pub fn segment_number(&self, segment_size: u64) -> Option<u64> {
        match *self {
            WalFile::Segment { log, seg, .. } | WalFile::BackupHistory { log, seg, .. } => {
                Some(u64::from(log) * segments_per_log(segment_size) + u64::from(seg))
            }
            WalFile::History { .. } => None,
        }
    }
}

fn segments_per_log(segment_size: u64) -> u64 {
    0x1_0000_0000 / segment_size.max(1)
}

/// The name of the segment with number `number` on `timeline`.
pub fn segment_name(timeline: u32, number: u64, segment_size: u64) -> String {
    let per = segments_per_log(segment_size);
    format!("{timeline:08X}{:08X}{:08X}", number / per, number % per)
}

/// A log sequence number, written `HI/LO` in hex like PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Lsn(pub u64);

impl Lsn {
    pub fn parse(s: &str) -> Option<Lsn> {
        let (hi, lo) = s.trim().split_once('/')?;
        let valid = |p: &str| !p.is_empty() && p.len() <= 8 && p.bytes().all(|b| b.is_ascii_hexdigit());
        if !valid(hi) || !valid(lo) {
            return None;
        }
        Some(Lsn((u64::from(u32::from_str_radix(hi, 16).ok()?) << 32) | u64::from(u32::from_str_radix(lo, 16).ok()?)))
    }

    /// The segment number holding this position.
    pub fn segment_number(self, segment_size: u64) -> u64 {
        self.0 / segment_size.max(1)
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xFFFF_FFFF)
    }
}

/// Contiguous runs of segments on one timeline, for `arca wal list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentRun {
    pub timeline: u32,
    pub first: String,
    pub last: String,
    pub count: u64,
}

/// Groups segment names into runs per timeline; a gap starts a new run.
pub fn segment_runs<'a>(names: impl IntoIterator<Item = &'a str>, segment_size: u64) -> Vec<SegmentRun> {
    let mut segs: Vec<(u32, u64, &str)> = names
        .into_iter()
        .filter_map(|n| match WalFile::parse(n)? {
            f @ WalFile::Segment { partial: false, .. } => Some((f.timeline(), f.segment_number(segment_size)?, n)),
            _ => None,
        })
        .collect();
    segs.sort();
    let mut runs: Vec<(SegmentRun, u64)> = Vec::new();
    for (timeline, number, name) in segs {
        match runs.last_mut() {
            Some((run, last)) if run.timeline == timeline && *last + 1 == number => {
                run.last = name.to_string();
                run.count += 1;
                *last = number;
            }
            _ => {
                runs.push((SegmentRun { timeline, first: name.to_string(), last: name.to_string(), count: 1 }, number))
            }
        }
    }
    runs.into_iter().map(|(r, _)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_archived_name() {
        assert_eq!(
            WalFile::parse("00000001000000000000000A"),
            Some(WalFile::Segment { timeline: 1, log: 0, seg: 10, partial: false })
        );
        assert_eq!(
            WalFile::parse("000000020000000100000003.partial"),
            Some(WalFile::Segment { timeline: 2, log: 1, seg: 3, partial: true })
        );
        assert_eq!(WalFile::parse("00000002.history"), Some(WalFile::History { timeline: 2 }));
        assert_eq!(
            WalFile::parse("000000010000000000000002.00000028.backup"),
            Some(WalFile::BackupHistory { timeline: 1, log: 0, seg: 2, offset: 0x28 })
        );
        for bad in ["", "0000000100000000000000", "00000001000000000000000G", "x.history", "a.b.c.d", "RECOVERYXLOG"] {
            assert_eq!(WalFile::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn segment_numbers_cross_the_log_boundary() {
        let size = DEFAULT_SEGMENT_SIZE;
        let last_of_log0 = WalFile::parse("0000000100000000000000FF").and_then(|f| f.segment_number(size));
        let first_of_log1 = WalFile::parse("000000010000000100000000").and_then(|f| f.segment_number(size));
        assert_eq!(last_of_log0.map(|n| n + 1), first_of_log1);
        assert_eq!(segment_name(1, 0x100, size), "000000010000000100000000");
        assert_eq!(segment_name(3, 2, 64 * 1024 * 1024), "000000030000000000000002");
    }

    #[test]
    fn lsns_parse_and_print_like_postgres() {
        let lsn = Lsn::parse("0/2000028").unwrap_or(Lsn(0));
        assert_eq!(lsn, Lsn(0x200_0028));
        assert_eq!(lsn.to_string(), "0/2000028");
        assert_eq!(lsn.segment_number(DEFAULT_SEGMENT_SIZE), 2);
        assert_eq!(Lsn::parse("1/0").map(|l| l.0), Some(1 << 32));
        for bad in ["", "0", "/1", "g/1", "0/123456789"] {
            assert_eq!(Lsn::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn runs_split_at_gaps_and_timelines() {
        let names = [
            "000000010000000000000001",
            "000000010000000000000002",
            "000000010000000000000004",
            "00000002.history",
            "000000020000000000000004",
            "000000010000000000000002.00000028.backup",
        ];
        let runs = segment_runs(names.iter().copied(), DEFAULT_SEGMENT_SIZE);
        let summary: Vec<(u32, &str, &str, u64)> =
            runs.iter().map(|r| (r.timeline, r.first.as_str(), r.last.as_str(), r.count)).collect();
        assert_eq!(
            summary,
            vec![
                (1, "000000010000000000000001", "000000010000000000000002", 2),
                (1, "000000010000000000000004", "000000010000000000000004", 1),
                (2, "000000020000000000000004", "000000020000000000000004", 1),
            ]
        );
    }
}
