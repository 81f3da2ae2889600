//! Verifying a restored copy against its snapshot without trusting the
//! restore that wrote it: the snapshot's trees are walked beside the
//! directory, and every file on disk is cut again with the repository's
//! own chunker and each chunk hashed with the repository's key
//! ([`Repository::hash_stream`]). A file whose id sequence equals the
//! node's content list holds exactly the backed-up bytes. No file data is
//! read from the repository, only trees.
//!
//! Compared for every entry: type, permission bits (not of symlinks, which
//! have none), optionally owners; size and content of files; targets of
//! symlinks; device numbers of devices; hard links (names of one file in
//! the snapshot must be one inode on disk). Entries only in the snapshot
//! are `missing`, entries only on disk `extra`; `lost+found` at the root
//! is ignored on both sides (a fresh file system makes its own). Times and
//! extended attributes are not compared.
//!
//! A block volume's image is cut into fixed chunks ([`crate::BLOCK_CHUNK`])
//! and compared the same way, against a device or an image file
//! ([`compare_block`]) or as `volume.img` in a directory ([`verify`]).
//!
//! Stages: [`walk`] (trees and directories), [`content`] (hashing files).

mod content;
mod walk;

use std::path::Path;
use std::time::Instant;

use arca_repo::snapshot::KIND_FILES;
use arca_repo::{Id, Repository, Snapshot};
use serde::{Deserialize, Serialize};

use self::content::Chunking;
use crate::block;
use crate::error::{Error, Result};

/// How to verify.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// Mismatches listed in [`DirCheck::mismatches`]; the rest are only
    /// counted in [`DirCheck::mismatches_omitted`].
    pub max_mismatches: usize,
    /// Also compare owners (uid and gid): right when the restore ran as
    /// root (only root can give files away).
    pub owners: bool,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions { max_mismatches: 100, owners: false }
    }
}

/// One difference between the snapshot and the disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mismatch {
    /// Relative to the compared directory (`volume.img` for a block image).
    pub path: String,
    /// What differs, with both sides' values.
    pub what: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.what)
    }
}

/// The outcome of a verification. Missing and extra entries are counted
/// in `missing` and `extra` and listed among the mismatches too, so each
/// one's path is named.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DirCheck {
    /// Files whose content was read and compared.
    pub files: u64,
    /// Bytes read and compared.
    pub bytes: u64,
    /// Snapshot entries found on disk and compared.
    pub entries_compared: u64,
    /// The first differences, in walk order.
    pub mismatches: Vec<Mismatch>,
    /// Differences beyond [`VerifyOptions::max_mismatches`].
    pub mismatches_omitted: u64,
    /// Entries on disk that the snapshot does not hold.
    pub extra: u64,
    /// Entries of the snapshot not on disk.
    pub missing: u64,
    pub duration_secs: f64,
}

impl DirCheck {
    /// Whether the disk holds exactly what the snapshot holds.
    pub fn passed(&self) -> bool {
        self.mismatches.is_empty() && self.mismatches_omitted == 0 && self.extra == 0 && self.missing == 0
    }

    /// Every difference found, listed or not.
    pub fn differences(&self) -> u64 {
        self.mismatches.len() as u64 + self.mismatches_omitted
    }

    /// Records a difference (listed while there is room).
    pub(crate) fn mismatch(&mut self, max: usize, path: impl Into<String>, what: impl Into<String>) {
        if self.mismatches.len() < max {
            self.mismatches.push(Mismatch { path: path.into(), what: what.into() });
        } else {
            self.mismatches_omitted += 1;
        }
    }
}

/// Compares directory `dir` with the snapshot tree `tree` (a snapshot's
/// root tree: what a restore of it into `dir` writes). Differences are
/// the result; an error means the comparison could not be made (the
/// repository or a tree cannot be read, `dir` is not a directory).
///
/// Takes a shared repository lock and loads the index itself.
pub fn compare_dir(repo: &Repository, tree: Id, dir: &Path, opts: &VerifyOptions) -> Result<DirCheck> {
    let started = Instant::now();
    let _lock = repo.lock(false, "verify")?;
    repo.load_index()?;
    finish(walk::compare(repo, &tree, dir, opts, Chunking::Content), started)
}

/// Compares snapshot `snapshot_id` with directory `target`, where a
/// restore of it was written: [`compare_dir`] for a directory snapshot;
/// for a block volume's snapshot the directory holds its image as
/// [`crate::IMAGE_NAME`], compared in fixed chunks.
///
/// Takes a shared repository lock and loads the index itself.
pub fn verify(repo: &Repository, snapshot_id: &Id, target: &Path, opts: &VerifyOptions) -> Result<DirCheck> {
    let started = Instant::now();
    let _lock = repo.lock(false, "verify")?;
    repo.load_index()?;
    let snapshot: Snapshot = repo.load_json("snapshots", snapshot_id)?;
    if snapshot.kind != KIND_FILES {
        return Err(Error::WrongKind { id: snapshot_id.short(), found: snapshot.kind, expected: KIND_FILES });
    }
    let chunking = if block::is_block_snapshot(&snapshot) { Chunking::Fixed } else { Chunking::Content };
    finish(walk::compare(repo, &snapshot.tree, target, opts, chunking), started)
}

/// Compares a block volume's snapshot with a block device or an image
/// file. A device may be larger than the image (a restore needs one at
/// least as large): only the image's length is read. A file must have
/// the image's length.
///
/// Takes a shared repository lock and loads the index itself.
pub fn compare_block(repo: &Repository, snapshot_id: &Id, device: &Path, opts: &VerifyOptions) -> Result<DirCheck> {
    let started = Instant::now();
    let _lock = repo.lock(false, "verify")?;
    repo.load_index()?;
    let node = block::image_node(repo, snapshot_id)?;
    let mut check = DirCheck { entries_compared: 1, ..DirCheck::default() };
    content::compare_image(repo, &node, device, opts, &mut check)?;
    finish(Ok(check), started)
}

fn finish(check: Result<DirCheck>, started: Instant) -> Result<DirCheck> {
    check.map(|mut c| {
        c.duration_secs = started.elapsed().as_secs_f64();
        c
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_stops_at_the_limit_and_counts_the_rest() {
        let mut c = DirCheck::default();
        assert!(c.passed());
        for i in 0..5 {
            c.mismatch(3, format!("f{i}"), "size");
        }
        assert_eq!(c.mismatches.len(), 3);
        assert_eq!(c.mismatches_omitted, 2);
        assert_eq!(c.differences(), 5);
        assert!(!c.passed());
        assert_eq!(c.mismatches[0].to_string(), "f0: size");
        let extra_only = DirCheck { extra: 1, ..DirCheck::default() };
        assert!(!extra_only.passed());
        // Fields missing from an older result read as zero.
        let old: DirCheck = serde_json::from_str(r#"{"files": 2}"#).unwrap();
        assert_eq!(old.files, 2);
        assert!(old.passed());
    }
}
