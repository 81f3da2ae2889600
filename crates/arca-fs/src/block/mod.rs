//! Block volumes as one sparse image: a block device (or a regular file
//! standing in for one) is stored as a `files` snapshot whose root tree
//! holds a single file node [`IMAGE_NAME`], cut into fixed-size chunks so an
//! unchanged region of the device always gives the same blobs. All-zero
//! chunks are one blob per length, stored once; a regular file's holes are
//! not even read (`SEEK_DATA`).
//!
//! Stages: [`reader`] turns the device into chunks, [`writer`] writes an
//! image back to a device or file.

pub(crate) mod reader;
mod writer;

use std::path::Path;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use arca_repo::snapshot::KIND_FILES;
use arca_repo::{Id, Node, NodeKind, Repository, Snapshot, Tree};

use crate::backup::{BackupOptions, BackupResult, BackupSummary, to_map};
use crate::error::{Error, Result};
use crate::progress::Progress;

pub use self::writer::BlockRestoreSummary;

/// Name of the image file in a block volume's snapshot.
pub const IMAGE_NAME: &str = "volume.img";
/// `meta` key marking a snapshot as a block volume image (`true`).
pub const META_BLOCK: &str = "block";
/// Size of the fixed chunks a block image is cut into.
pub const BLOCK_CHUNK: usize = 1024 * 1024;

/// Reads `device` (a block device or a regular file) end to end and stores
/// it as a `files` snapshot holding one file node [`IMAGE_NAME`]. The
/// parent, if any, is recorded and decides whether the image counts as
/// changed; every byte is read regardless (devices have no mtimes), and
/// unchanged chunks deduplicate. `opts.paths` is ignored.
pub fn backup_block(
    repo: &Repository,
    device: &Path,
    opts: &BackupOptions,
    progress: &dyn Progress,
) -> Result<BackupResult> {
    let started = Instant::now();
    let _lock = repo.lock(false, "block backup")?;
    repo.load_index()?;
    let parent_node = match &opts.parent {
        Some(id) => Some(image_node(repo, id)?),
        None => None,
    };
    let read = reader::read_image(repo, device, progress)?;
    // The device's own mtime: an unchanged image then gives the same tree.
    let mtime_ns = device_mtime_ns(device);
    let node = Node {
        name: IMAGE_NAME.to_string(),
        kind: NodeKind::File,
        mode: 0o600,
        mtime_ns,
        atime_ns: mtime_ns,
        ctime_ns: mtime_ns,
        size: read.size,
        content: read.content,
        ..Node::default()
    };
    let changed = parent_node.as_ref().map(|p| p.content != node.content);
    let tree = repo.save_tree(&Tree { nodes: vec![node] })?;
    let stats = repo.flush()?;
    let summary = BackupSummary {
        files_new: u64::from(changed.is_none()),
        files_changed: u64::from(changed == Some(true)),
        files_unchanged: u64::from(changed == Some(false)),
        total_files: 1,
        total_bytes: read.size,
        bytes_read: read.bytes_read,
        blobs_added: stats.blobs_added,
        packs_written: stats.packs_written,
        bytes_added_raw: stats.bytes_added_raw,
        bytes_stored: stats.bytes_stored,
        duration_secs: started.elapsed().as_secs_f64(),
        ..BackupSummary::default()
    };
    let paths = opts.recorded_paths.clone().unwrap_or_else(|| vec![device.to_string_lossy().into_owned()]);
    let mut snapshot = Snapshot::new(KIND_FILES, paths.clone(), tree);
    snapshot.tags = opts.tags.clone();
    snapshot.parent = opts.parent;
    snapshot.summary = to_map(&summary);
    snapshot.meta = opts.meta.clone();
    snapshot.meta.insert(META_BLOCK.into(), serde_json::Value::Bool(true));
    let snapshot_id = repo.save_snapshot(&snapshot)?;
    Ok(BackupResult { snapshot_id, parent: opts.parent, paths, summary })
}

/// Writes the image of block snapshot `snapshot_id` to `target`. A block
/// device must be at least as large as the image (it is refused otherwise,
/// naming both sizes); every byte is written, holes as zeros, since the
/// device may hold old data. Anything else is a regular file, created or
/// truncated, whose holes stay holes.
pub fn restore_block(
    repo: &Repository,
    snapshot_id: &Id,
    target: &Path,
    progress: &dyn Progress,
) -> Result<BlockRestoreSummary> {
    let started = Instant::now();
    let _lock = repo.lock(false, "block restore")?;
    repo.load_index()?;
    let node = image_node(repo, snapshot_id)?;
    let mut summary = writer::write_image(repo, &node, target, progress)?;
    summary.duration_secs = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// The image node of a block snapshot; a snapshot of anything else is refused.
pub(crate) fn image_node(repo: &Repository, id: &Id) -> Result<Node> {
    let snapshot: Snapshot = repo.load_json("snapshots", id)?;
    if snapshot.kind != KIND_FILES {
        return Err(Error::WrongKind { id: id.short(), found: snapshot.kind, expected: KIND_FILES });
    }
    let mut tree = repo.load_tree(&snapshot.tree)?;
    match tree.nodes.as_slice() {
        [node] if node.kind == NodeKind::File && node.name == IMAGE_NAME => Ok(tree.nodes.remove(0)),
        _ => Err(Error::Invalid(format!(
            "snapshot {} is not a block volume image (its root must hold exactly one file {IMAGE_NAME:?}); restore it with `arca fs restore` or `arca mover restore --target DIR`",
            id.short()
        ))),
    }
}

/// Whether snapshot `snapshot` holds a block volume image.
pub fn is_block_snapshot(snapshot: &Snapshot) -> bool {
    snapshot.meta.get(META_BLOCK).and_then(serde_json::Value::as_bool) == Some(true)
}

fn device_mtime_ns(device: &Path) -> i64 {
    use std::os::unix::fs::MetadataExt;
    match std::fs::metadata(device) {
        Ok(md) => crate::metadata::to_ns(md.mtime(), md.mtime_nsec()),
        Err(_) => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
            .unwrap_or(0),
    }
}
