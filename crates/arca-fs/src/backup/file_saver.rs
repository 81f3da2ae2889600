//! The file saver: turns one regular file into a list of content ids —
//! reused from the parent snapshot when the file is unchanged (without
//! opening it), otherwise read, chunked and deduplicated by the repository.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use arca_repo::{Node, NodeKind, Repository};
use nix::libc;

use super::ChangeDetection;
use super::summary::Counters;
use crate::error::{Error, Result};
use crate::progress::Progress;

/// How a file compares with the parent snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileStatus {
    New,
    Changed,
    Unchanged,
}

pub(crate) struct FileSaver<'a> {
    pub repo: &'a Repository,
    pub counters: &'a Counters<'a>,
    pub progress: &'a dyn Progress,
    pub change_detection: ChangeDetection,
}

/// The change test. `Full`: a file whose size, mtime, ctime, inode and
/// device all match is taken to have the same content; ctime catches
/// `touch -d` and metadata-preserving copies that mtime alone misses.
/// `Stable`: size, mtime, mode, uid and gid, which a snapshot clone keeps.
pub(crate) fn unchanged(node: &Node, parent: &Node, rule: ChangeDetection) -> bool {
    let common = parent.kind == NodeKind::File
        && parent.size == node.size
        && parent.mtime_ns == node.mtime_ns
        && (parent.size == 0 || !parent.content.is_empty());
    common
        && match rule {
            ChangeDetection::Full => {
                parent.ctime_ns == node.ctime_ns && parent.inode == node.inode && parent.device == node.device
            }
            ChangeDetection::Stable => parent.mode == node.mode && parent.uid == node.uid && parent.gid == node.gid,
        }
}

impl FileSaver<'_> {
    /// Fills `node.content` and `node.size` for the file at `path`. Problems
    /// with the file itself are `Error::Io`; anything else is the repository.
    pub(crate) fn save(&self, path: &Path, node: &mut Node, parent: Option<&Node>) -> Result<FileStatus> {
        if let Some(p) = parent.filter(|p| unchanged(node, p, self.change_detection)) {
            node.content = p.content.clone();
            self.progress.bytes_processed(node.size);
            return Ok(FileStatus::Unchanged);
        }
        let file = open_source(path)?;
        let mut reader = CountingReader { inner: file, counters: self.counters, progress: self.progress, error: None };
        let saved = self.repo.save_stream(&mut reader, &path.to_string_lossy());
        if let Some(e) = reader.error.take() {
            return Err(Error::io("read", path, e));
        }
        let saved = saved?;
        if saved.size != node.size {
            self.counters.warn(
                path,
                &format!("file changed while being read ({} bytes at stat, {} read)", node.size, saved.size),
            );
        }
        node.size = saved.size;
        node.content = saved.content;
        Ok(if parent.is_some_and(|p| p.kind == NodeKind::File) { FileStatus::Changed } else { FileStatus::New })
    }
}

/// Opens a file for reading without following a symlink swapped in after
/// the walk, without blocking on a fifo swapped in, and without touching
/// its access time where the kernel allows.
pub(crate) fn open_source(path: &Path) -> Result<File> {
    let open = |flags: libc::c_int| {
        std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | flags).open(path)
    };
    // O_NOATIME needs ownership or CAP_FOWNER; fall back without it.
    let file = match open(libc::O_NOATIME) {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => open(0),
        other => other,
    }
    .map_err(|e| Error::io("open", path, e))?;
    let md = file.metadata().map_err(|e| Error::io("stat", path, e))?;
    if !md.is_file() {
        return Err(Error::io(
            "read",
            path,
            std::io::Error::other(format!("no longer a regular file (mode {:o})", md.mode())),
        ));
    }
    Ok(file)
}

/// Counts bytes read for the summary and the progress bar, and keeps the
/// first read error so it can be told apart from repository errors.
struct CountingReader<'a> {
    inner: File,
    counters: &'a Counters<'a>,
    progress: &'a dyn Progress,
    error: Option<std::io::Error>,
}

impl Read for CountingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                Counters::add(&self.counters.bytes_read, n as u64);
                self.progress.bytes_processed(n as u64);
                Ok(n)
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                let copy = std::io::Error::new(e.kind(), e.to_string());
                self.error = Some(e);
                Err(copy)
            }
        }
    }
}
