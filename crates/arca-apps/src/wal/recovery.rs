//! Point-in-time recovery: pick the base backup for a target time, check the
//! archive reaches it, unpack the backup into a data directory and set
//! PostgreSQL up to replay the archived WAL up to the target.

use std::io::{Read, Write};
use std::path::Path;

use arca_repo::{Repository, WalName};
use chrono::{DateTime, SecondsFormat, Utc};

use super::base_backup::BaseBackupRecord;
use super::error::{Result, WalError, io};
use super::names::WalFile;

/// The newest base backup that ended at or before `target` (pure).
pub fn choose_base_backup<'a>(
    backups: &'a [BaseBackupRecord],
    target: DateTime<Utc>,
    cluster: &str,
) -> Result<&'a BaseBackupRecord> {
    let mut ended: Vec<&BaseBackupRecord> = backups.iter().filter(|b| b.stop_time <= target).collect();
    ended.sort_by_key(|b| b.stop_time);
    if let Some(b) = ended.last() {
        return Ok(b);
    }
    Err(match backups.iter().map(|b| b.stop_time).min() {
        Some(first) => WalError::Invalid(format!(
            "--to-time {} is before the end of the oldest base backup of cluster {cluster} ({}); \
             a base backup can only recover to a time after it ended",
            rfc3339(target),
            rfc3339(first)
        )),
        None => WalError::Invalid(format!(
            "cluster {cluster} has no base backup in this repository; take one with `arca wal base-backup`"
        )),
    })
}

/// Refuses a target before the base backup's end, or after the newest
/// archived WAL file was pushed (`newest`: its name and push time).
pub fn check_target(
    base: &BaseBackupRecord,
    target: DateTime<Utc>,
    newest: Option<(&str, DateTime<Utc>)>,
) -> Result<()> {
    if target < base.stop_time {
        return Err(WalError::Invalid(format!(
            "--to-time {} is before the end of base backup {} ({}); pick a later time or an older base backup",
            rfc3339(target),
            base.snapshot.as_deref().map(short).unwrap_or("?"),
            rfc3339(base.stop_time)
        )));
    }
    match newest {
        Some((_, pushed)) if target <= pushed => Ok(()),
        Some((name, pushed)) => Err(WalError::Invalid(format!(
            "--to-time {} is after the newest archived WAL ({name}, archived {}): the archive cannot \
             prove what happened later; pick an earlier time, or wait for the next segment to be archived",
            rfc3339(target),
            rfc3339(pushed)
        ))),
        None => Err(WalError::Invalid(format!(
            "cluster {} has no archived WAL; check archive_command (see `arca wal list`)",
            base.cluster
        ))),
    }
}

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The newest archived segment of a cluster (highest timeline, then
/// position) and when it was pushed.
pub fn newest_segment(repo: &Repository, cluster: &str) -> Result<Option<(String, DateTime<Utc>)>> {
    let names: Vec<WalName> = repo.list_wal()?;
    let newest = names
        .iter()
        .filter(|n| n.cluster == cluster)
        .filter_map(|n| match WalFile::parse(&n.name)? {
            f @ WalFile::Segment { .. } => Some((f, n)),
            _ => None,
        })
        .max_by_key(|(f, _)| *f)
        .map(|(_, n)| n);
    let Some(n) = newest else { return Ok(None) };
    Ok(repo.wal_entry(cluster, &n.name)?.map(|e| (e.name, e.time)))
}

/// Settings PostgreSQL reads at start to replay WAL up to `target`.
pub fn recovery_settings(restore_command: &str, target: DateTime<Utc>) -> String {
    format!(
        "\n# Point-in-time recovery set up by Arca\nrestore_command = '{}'\nrecovery_target_time = '{}'\nrecovery_target_action = 'promote'\n",
        restore_command.replace('\'', "''"),
        target.format("%Y-%m-%d %H:%M:%S%.6f+00")
    )
}

/// Unpacks a base backup tar stream into `dir` (which must be empty or
/// absent) and writes `recovery.signal` and the recovery settings.
pub fn prepare_data_dir(tar: impl Read, dir: &Path, restore_command: &str, target: DateTime<Utc>) -> Result<u64> {
    ensure_empty(dir)?;
    let counting = Counting { inner: tar, bytes: 0 };
    let mut archive = tar::Archive::new(counting);
    archive.set_preserve_permissions(true);
    // Root (a restore mover) gives the files back to the database's user;
    // anyone else keeps them (the DBA's own `arca wal restore`).
    archive.set_preserve_ownerships(running_as_root());
    archive.unpack(dir).map_err(io("cannot unpack the base backup into", dir))?;
    let bytes = archive.into_inner().bytes;
    // pg_basebackup leaves these out; a stale one would stop the server.
    let _ = std::fs::remove_file(dir.join("postmaster.pid"));
    std::fs::write(dir.join("recovery.signal"), b"").map_err(io("cannot write", dir.join("recovery.signal")))?;
    let conf = dir.join("postgresql.auto.conf");
    let mut file =
        std::fs::OpenOptions::new().create(true).append(true).open(&conf).map_err(io("cannot open", &conf))?;
    file.write_all(recovery_settings(restore_command, target).as_bytes()).map_err(io("cannot write", &conf))?;
    set_private(dir)?;
    Ok(bytes)
}

fn ensure_empty(dir: &Path) -> Result<()> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            // A claim's root often holds `lost+found` only.
            let busy = entries.any(|e| e.map(|e| e.file_name() != "lost+found").unwrap_or(true));
            if busy {
                return Err(WalError::Invalid(format!(
                    "target directory {} is not empty; restore into an empty directory",
                    dir.display()
                )));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(io("cannot create", dir))
        }
        Err(e) => Err(WalError::Io { what: "cannot read", path: dir.to_path_buf(), source: e }),
    }
}

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn set_private(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    // PostgreSQL refuses a data directory others can read.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io("cannot chmod", dir))
}

struct Counting<R> {
    inner: R,
    bytes: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backup(stop: &str) -> BaseBackupRecord {
        let stop_time = stop.parse().unwrap_or_default();
        BaseBackupRecord {
            cluster: "c".into(),
            timeline: 1,
            start_lsn: "0/2000028".into(),
            stop_lsn: "0/2000100".into(),
            start_segment: "000000010000000000000002".into(),
            start_time: stop_time,
            stop_time,
            label: "l".into(),
            size: 1,
            snapshot: Some(format!("{stop}-snapshot")),
        }
    }

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap_or_default()
    }

    #[test]
    fn picks_the_newest_backup_ended_before_the_target() {
        let backups = [backup("2026-01-01T10:00:00Z"), backup("2026-01-02T10:00:00Z")];
        let chosen = choose_base_backup(&backups, t("2026-01-02T12:00:00Z"), "c").map(|b| b.stop_time);
        assert_eq!(chosen.ok(), Some(t("2026-01-02T10:00:00Z")));
        let chosen = choose_base_backup(&backups, t("2026-01-01T12:00:00Z"), "c").map(|b| b.stop_time);
        assert_eq!(chosen.ok(), Some(t("2026-01-01T10:00:00Z")));
        let err = choose_base_backup(&backups, t("2026-01-01T09:00:00Z"), "c").err().map(|e| e.to_string());
        assert!(err.unwrap_or_default().contains("before the end of the oldest base backup"));
        let err = choose_base_backup(&[], t("2026-01-01T09:00:00Z"), "c").err().map(|e| e.to_string());
        assert!(err.unwrap_or_default().contains("no base backup"));
    }

    #[test]
    fn targets_outside_the_archive_are_refused() {
        let b = backup("2026-01-01T10:00:00Z");
        let newest = Some(("000000010000000000000009", t("2026-01-01T11:00:00Z")));
        assert!(check_target(&b, t("2026-01-01T10:30:00Z"), newest).is_ok());
        let early = check_target(&b, t("2026-01-01T09:00:00Z"), newest).err().map(|e| e.to_string());
        assert!(early.unwrap_or_default().contains("before the end of base backup"));
        let late = check_target(&b, t("2026-01-01T12:00:00Z"), newest).err().map(|e| e.to_string());
        assert!(late.unwrap_or_default().contains("after the newest archived WAL (000000010000000000000009"));
        assert!(check_target(&b, t("2026-01-01T10:30:00Z"), None).is_err());
    }

    #[test]
    fn settings_quote_the_command_and_name_the_target_in_utc() {
        let s = recovery_settings("arca wal fetch --cluster 'x' %f %p", t("2026-01-01T10:30:00.25Z"));
        assert!(s.contains("restore_command = 'arca wal fetch --cluster ''x'' %f %p'"), "{s}");
        assert!(s.contains("recovery_target_time = '2026-01-01 10:30:00.250000+00'"), "{s}");
        assert!(s.contains("recovery_target_action = 'promote'"));
    }
}
