//! Base backups: `pg_basebackup` in tar format on its stdout, streamed into
//! the repository as a `stream` snapshot tagged `base-backup`, with what a
//! recovery needs to know in its `meta.base_backup`.

use std::io::Read;
use std::process::{Command, Stdio};

use arca_repo::snapshot::KIND_STREAM;
use arca_repo::{Id, Node, NodeKind, Repository, Snapshot, SnapshotEntry, Tree};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::{Result, WalError};
use super::names::{DEFAULT_SEGMENT_SIZE, Lsn, segment_name};

/// The tag every base-backup snapshot carries.
pub const TAG: &str = "base-backup";
/// The stream's file name inside the snapshot.
pub const STREAM_NAME: &str = "base.tar";

/// What a base backup is, for restores, retention and reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaseBackupRecord {
    /// The WAL archive area the backup belongs to.
    pub cluster: String,
    pub timeline: u32,
    pub start_lsn: String,
    pub stop_lsn: String,
    /// The first WAL segment a recovery from this backup needs.
    pub start_segment: String,
    pub start_time: DateTime<Utc>,
    /// When the backup was complete: the earliest time it can recover to.
    pub stop_time: DateTime<Utc>,
    pub label: String,
    /// Bytes of the tar stream.
    pub size: u64,
    /// The `stream` snapshot holding the tar (set once stored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
}

/// The start and end of a base backup as `pg_basebackup -v` prints them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalPoints {
    pub start: Lsn,
    pub timeline: u32,
    pub end: Lsn,
}

/// Reads `write-ahead log start point: 0/2000028 on timeline 1` and
/// `write-ahead log end point: 0/2000100` from pg_basebackup's verbose log.
pub fn parse_wal_points(log: &str) -> Option<WalPoints> {
    let mut start = None;
    let mut end = None;
    for line in log.lines() {
        if let Some(rest) = line.split("write-ahead log start point: ").nth(1) {
            let mut words = rest.split_whitespace();
            let lsn = words.next().and_then(Lsn::parse);
            let timeline = rest.split("on timeline ").nth(1).and_then(|t| t.trim().parse::<u32>().ok());
            start = lsn.zip(timeline);
        } else if let Some(rest) = line.split("write-ahead log end point: ").nth(1) {
            end = rest.split_whitespace().next().and_then(Lsn::parse);
        }
    }
    let ((start, timeline), end) = (start?, end?);
    Some(WalPoints { start, timeline, end })
}

/// The arguments Arca gives pg_basebackup: tar to stdout, the WAL the
/// backup needs inside it (self-contained), a fast checkpoint, a verbose
/// log (the start and end positions are read from it).
pub fn pg_basebackup_args(label: &str) -> Vec<String> {
    ["-D", "-", "-F", "t", "-X", "fetch", "-c", "fast", "-v", "-l", label].iter().map(|s| s.to_string()).collect()
}

/// Saves a tar stream as a base-backup snapshot once the producer has
/// succeeded: `finish` is called after the stream ended and returns the
/// producer's log (or its failure); only then is the snapshot written.
pub fn store(
    repo: &Repository,
    cluster: &str,
    label: &str,
    stream: impl Read,
    finish: impl FnOnce() -> Result<String>,
) -> Result<(Id, BaseBackupRecord)> {
    let start_time = Utc::now();
    let _lock = repo.lock(false, "wal base-backup")?;
    repo.load_index()?;
    let saved = save_tar(repo, stream)?;
    let log = finish()?;
    commit(repo, cluster, label, saved, &log, start_time)
}

/// The tar stream's data, saved but not yet a snapshot. The caller holds
/// the repository lock and has loaded the index.
pub struct SavedTar {
    content: Vec<Id>,
    size: u64,
}

pub fn save_tar(repo: &Repository, stream: impl Read) -> Result<SavedTar> {
    let saved = repo.save_stream(stream, "base backup stream")?;
    Ok(SavedTar { content: saved.content, size: saved.size })
}

/// Writes the snapshot of a saved tar, after its producer exited 0 with
/// `log` (pg_basebackup's verbose log, naming the WAL start and end).
pub fn commit(
    repo: &Repository,
    cluster: &str,
    label: &str,
    saved: SavedTar,
    log: &str,
    start_time: DateTime<Utc>,
) -> Result<(Id, BaseBackupRecord)> {
    let points = parse_wal_points(log).ok_or_else(|| WalError::Command {
        command: "pg_basebackup".into(),
        detail: format!("its log names no start and end point; nothing stored. Log: {}", tail(log, 2000)),
    })?;
    let stop_time = Utc::now();
    let node = Node {
        name: STREAM_NAME.to_string(),
        kind: NodeKind::File,
        mode: 0o600,
        mtime_ns: stop_time.timestamp_nanos_opt().unwrap_or(0),
        size: saved.size,
        content: saved.content,
        ..Node::default()
    };
    let tree = repo.save_tree(&Tree { nodes: vec![node] })?;
    repo.flush()?;
    let mut record = BaseBackupRecord {
        cluster: cluster.to_string(),
        timeline: points.timeline,
        start_lsn: points.start.to_string(),
        stop_lsn: points.end.to_string(),
        start_segment: segment_name(
            points.timeline,
            points.start.segment_number(DEFAULT_SEGMENT_SIZE),
            DEFAULT_SEGMENT_SIZE,
        ),
        start_time,
        stop_time,
        label: label.to_string(),
        size: saved.size,
        snapshot: None,
    };
    let mut snapshot = Snapshot::new(KIND_STREAM, vec![format!("{cluster}/{STREAM_NAME}")], tree);
    snapshot.tags = vec![TAG.to_string()];
    let value = serde_json::to_value(&record).map_err(|e| WalError::Invalid(format!("base backup record: {e}")))?;
    snapshot.meta.insert("base_backup".into(), value);
    let id = repo.save_snapshot(&snapshot)?;
    record.snapshot = Some(id.to_hex());
    Ok((id, record))
}

/// Runs pg_basebackup on this machine (connection from libpq's `PG*`
/// environment or `extra` arguments such as `-h HOST -p PORT -U USER`).
pub fn run_local(
    repo: &Repository,
    cluster: &str,
    program: &str,
    label: &str,
    extra: &[String],
) -> Result<(Id, BaseBackupRecord)> {
    let mut child = Command::new(program)
        .args(pg_basebackup_args(label))
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| WalError::Command { command: program.to_string(), detail: format!("cannot start it: {e}") })?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let log_reader = std::thread::spawn(move || {
        let mut log = String::new();
        if let Some(mut s) = stderr {
            let _ = s.read_to_string(&mut log);
        }
        log
    });
    let Some(stdout) = stdout else {
        let _ = child.kill();
        return Err(WalError::Command { command: program.into(), detail: "no stdout pipe".into() });
    };
    let program = program.to_string();
    store(repo, cluster, label, stdout, || {
        let status = child
            .wait()
            .map_err(|e| WalError::Command { command: program.clone(), detail: format!("cannot wait for it: {e}") })?;
        let log = log_reader.join().unwrap_or_default();
        if status.success() {
            Ok(log)
        } else {
            Err(WalError::Command {
                command: program.clone(),
                detail: format!("exited with {status}; nothing stored. Log: {}", tail(&log, 2000)),
            })
        }
    })
}

/// The last `max` bytes of a log, cut at a character boundary, trimmed.
pub fn tail(log: &str, max: usize) -> &str {
    arca_kube::exec::tail(log, max).trim()
}

/// Every base backup of `cluster` in the repository, oldest first.
pub fn list(repo: &Repository, cluster: Option<&str>) -> Result<Vec<(SnapshotEntry, BaseBackupRecord)>> {
    Ok(repo
        .list_snapshots()?
        .into_iter()
        .filter(|s| s.snapshot.tags.iter().any(|t| t == TAG))
        .filter_map(|s| {
            let mut record: BaseBackupRecord =
                serde_json::from_value(s.snapshot.meta.get("base_backup")?.clone()).ok()?;
            record.snapshot = Some(s.id.to_hex());
            Some((s, record))
        })
        .filter(|(_, r)| cluster.is_none_or(|c| r.cluster == c))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_start_and_end_from_the_verbose_log() {
        let log = "pg_basebackup: initiating base backup, waiting for checkpoint to complete\n\
                   pg_basebackup: checkpoint completed\n\
                   pg_basebackup: write-ahead log start point: 0/2000028 on timeline 1\n\
                   pg_basebackup: write-ahead log end point: 0/2000138\n\
                   pg_basebackup: base backup completed\n";
        assert_eq!(
            parse_wal_points(log),
            Some(WalPoints { start: Lsn(0x200_0028), timeline: 1, end: Lsn(0x200_0138) })
        );
        assert_eq!(parse_wal_points("pg_basebackup: error: connection failed"), None);
    }

    #[test]
    fn tails_cut_at_characters() {
        assert_eq!(tail("aé", 1), "");
        assert_eq!(tail("abc", 2), "bc");
    }
}
