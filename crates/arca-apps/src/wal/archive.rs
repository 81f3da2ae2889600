//! `archive_command` and `restore_command`: one WAL file into the
//! repository's WAL area, and back out by name.

use std::io::Write;
use std::path::Path;

use arca_repo::{Repository, WalEntry};

use super::error::{Result, WalError, io};
use super::names::WalFile;

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pushed {
    /// Stored now.
    Stored { size: u64 },
    /// The archive had this file with identical content (PostgreSQL
    /// re-runs `archive_command` after a crash); nothing written.
    AlreadyArchived { size: u64 },
}

/// Archives the file at `path` under its file name. Succeeds only once the
/// data, its index and the entry are written; an identical re-push
/// succeeds, a different file under an archived name fails.
pub fn push(repo: &Repository, cluster: &str, path: &Path) -> Result<Pushed> {
    let name =
        path.file_name().and_then(|n| n.to_str()).ok_or_else(|| WalError::NotWalName(path.display().to_string()))?;
    if WalFile::parse(name).is_none() {
        return Err(WalError::NotWalName(name.to_string()));
    }
    // A segment is 16 MiB by default (1 GiB at most): read whole, so its
    // content id can be compared with an archived copy before uploading.
    let data = std::fs::read(path).map_err(io("cannot read WAL file", path))?;
    let _lock = repo.lock(false, "wal push")?;
    if let Some(existing) = repo.wal_entry(cluster, name)? {
        return same_or_conflict(repo, cluster, &existing, &data);
    }
    let entry = repo.save_wal_data(name, &data)?;
    if repo.put_wal_entry(cluster, &entry)? {
        return Ok(Pushed::Stored { size: entry.size });
    }
    // A concurrent push of the same name won the create-only write.
    match repo.wal_entry(cluster, name)? {
        Some(existing) => same_or_conflict(repo, cluster, &existing, &data),
        None => Err(WalError::Invalid(format!("{name}: entry vanished while it was written; push again"))),
    }
}

fn same_or_conflict(repo: &Repository, cluster: &str, existing: &WalEntry, data: &[u8]) -> Result<Pushed> {
    if existing.size == data.len() as u64 && existing.content_id == repo.blob_id(data) {
        Ok(Pushed::AlreadyArchived { size: existing.size })
    } else {
        Err(WalError::Conflict {
            cluster: cluster.to_string(),
            name: existing.name.clone(),
            archived: existing.size,
            offered: data.len() as u64,
        })
    }
}

/// Writes archived file `name` to `dest` (through a temporary file renamed
/// into place, so PostgreSQL never sees half a segment). Returns its size.
pub fn fetch(repo: &Repository, cluster: &str, name: &str, dest: &Path) -> Result<u64> {
    if WalFile::parse(name).is_none() {
        return Err(WalError::NotWalName(name.to_string()));
    }
    let _lock = repo.lock(false, "wal fetch")?;
    let entry = repo
        .wal_entry(cluster, name)?
        .ok_or_else(|| WalError::NotArchived { cluster: cluster.to_string(), name: name.to_string() })?;
    let tmp = dest.with_file_name(format!(
        ".{}.arca-{}",
        dest.file_name().and_then(|n| n.to_str()).unwrap_or("wal"),
        std::process::id()
    ));
    let written = write_entry(repo, &entry, &tmp);
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    std::fs::rename(&tmp, dest).map_err(io("cannot move the fetched file into place at", dest))?;
    Ok(entry.size)
}

fn write_entry(repo: &Repository, entry: &WalEntry, path: &Path) -> Result<()> {
    let mut file = std::fs::File::create(path).map_err(io("cannot create", path))?;
    let mut size = 0u64;
    for chunk in &entry.chunks {
        let data = repo.read_wal_chunk(chunk)?;
        size += data.len() as u64;
        file.write_all(&data).map_err(io("cannot write", path))?;
    }
    if size != entry.size {
        return Err(WalError::Invalid(format!(
            "archived {} has {size} bytes, its entry says {}; run `arca repo check`",
            entry.name, entry.size
        )));
    }
    file.sync_all().map_err(io("cannot sync", path))
}
