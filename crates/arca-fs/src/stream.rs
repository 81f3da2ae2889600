//! Streams: a byte stream (a database dump, an archive) saved as a snapshot
//! of kind `stream` whose tree holds one file node, and written back out.
//! Same chunking and deduplication as files, so consecutive dumps of a
//! slowly changing database share most of their chunks.

use std::io::{Read, Write};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use arca_repo::snapshot::KIND_STREAM;
use arca_repo::{Id, Node, NodeKind, Repository, Snapshot, Tree};
use serde::{Deserialize, Serialize};

use crate::backup::to_map;
use crate::error::{Error, Result};

/// Counts and sizes of one stream backup.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamSummary {
    /// Bytes read from the stream.
    pub size: u64,
    pub chunks: u64,
    pub blobs_added: u64,
    pub bytes_added_raw: u64,
    pub bytes_stored: u64,
    pub duration_secs: f64,
}

/// The one file node of a stream snapshot's tree: the stream's chunks,
/// owner-only, timed now.
pub fn stream_node(name: &str, size: u64, content: Vec<Id>) -> Node {
    let now_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    Node {
        name: name.to_string(),
        kind: NodeKind::File,
        mode: 0o600,
        mtime_ns: now_ns,
        atime_ns: now_ns,
        ctime_ns: now_ns,
        size,
        content,
        ..Node::default()
    }
}

/// Saves everything `reader` yields as a `stream` snapshot named `name`.
/// Takes a shared lock and loads the index itself.
pub fn backup_stream<R: Read>(
    repo: &Repository,
    name: &str,
    reader: R,
    tags: &[String],
) -> Result<(Id, StreamSummary)> {
    let started = Instant::now();
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(Error::Invalid(format!("stream name {name:?} must be a plain name (no `/`), e.g. `pg-dump`")));
    }
    let _lock = repo.lock(false, "stream backup")?;
    repo.load_index()?;
    let saved = repo.save_stream(reader, &format!("stream {name}"))?;
    let node = stream_node(name, saved.size, saved.content);
    let chunks = node.content.len() as u64;
    let tree = repo.save_tree(&Tree { nodes: vec![node] })?;
    let stats = repo.flush()?;
    let summary = StreamSummary {
        size: saved.size,
        chunks,
        blobs_added: stats.blobs_added,
        bytes_added_raw: stats.bytes_added_raw,
        bytes_stored: stats.bytes_stored,
        duration_secs: started.elapsed().as_secs_f64(),
    };
    let mut snapshot = Snapshot::new(KIND_STREAM, vec![name.to_string()], tree);
    snapshot.tags = tags.to_vec();
    snapshot.summary = to_map(&summary);
    let id = repo.save_snapshot(&snapshot)?;
    Ok((id, summary))
}

/// Writes the stream of snapshot `snapshot_id` to `writer`; returns the
/// number of bytes written. Takes a shared lock and loads the index itself.
pub fn restore_stream<W: Write>(repo: &Repository, snapshot_id: &Id, mut writer: W) -> Result<u64> {
    let _lock = repo.lock(false, "stream restore")?;
    repo.load_index()?;
    let snapshot: Snapshot = repo.load_json("snapshots", snapshot_id)?;
    if snapshot.kind != KIND_STREAM {
        return Err(Error::WrongKind { id: snapshot_id.short(), found: snapshot.kind, expected: KIND_STREAM });
    }
    let tree = repo.load_tree(&snapshot.tree)?;
    let node = match tree.nodes.as_slice() {
        [node] if node.kind == NodeKind::File => node,
        _ => {
            return Err(Error::CorruptTree {
                path: snapshot.paths.join(",").into(),
                detail: "a stream snapshot's tree must hold exactly one file".into(),
            });
        }
    };
    let mut written = 0u64;
    for id in &node.content {
        let data = repo.load_blob(id)?;
        writer.write_all(&data).map_err(|e| Error::io("write stream to", "output", e))?;
        written += data.len() as u64;
    }
    writer.flush().map_err(|e| Error::io("write stream to", "output", e))?;
    if written != node.size {
        return Err(Error::CorruptTree {
            path: node.name.clone().into(),
            detail: format!("content holds {written} bytes, node says {}", node.size),
        });
    }
    Ok(written)
}
