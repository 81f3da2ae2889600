//! The tree saver: turns a directory into a tree blob, bottom-up. The
//! entries of a directory are handled in parallel (files through the file
//! saver, subdirectories recursively); their nodes are sorted and saved as
//! one tree. The parent snapshot's matching directory is walked alongside.

use std::ffi::OsStr;
use std::fs::Metadata;
use std::path::Path;

use arca_repo::{Id, Node, NodeKind, Repository, Tree};
use rayon::prelude::*;

use super::ChangeDetection;
use super::exclude::Excludes;
use super::file_saver::{FileSaver, FileStatus};
use super::parent::ParentTree;
use super::summary::Counters;
use super::walker;
use crate::error::{Error, Result};
use crate::metadata::{OwnerNames, kind_of, node_from};
use crate::names;
use crate::progress::Progress;
use crate::xattrs;

pub(crate) struct TreeSaver<'a> {
    pub repo: &'a Repository,
    pub excludes: &'a Excludes,
    pub owners: &'a OwnerNames,
    pub counters: &'a Counters<'a>,
    pub progress: &'a dyn Progress,
    pub change_detection: ChangeDetection,
}

impl TreeSaver<'_> {
    /// Saves `dir` and everything below it; returns its tree id.
    pub(crate) fn save_dir(&self, dir: &Path, parent: Option<&ParentTree>) -> Result<Id> {
        let entries = walker::list(dir, self.excludes, self.counters)?;
        let nodes = entries
            .par_iter()
            .map(|e| self.save_child(&e.path, &e.name, &e.md, parent.and_then(|p| p.get(&e.name))))
            .collect::<Result<Vec<Option<Node>>>>()?;
        let mut nodes: Vec<Node> = nodes.into_iter().flatten().collect();
        names::sort_nodes(&mut nodes);
        Ok(self.repo.save_tree(&Tree { nodes })?)
    }

    /// Like [`Self::save_entry`], but an entry that cannot be read is warned
    /// about and left out (`None`) instead of failing the backup.
    fn save_child(&self, path: &Path, name: &OsStr, md: &Metadata, parent: Option<&Node>) -> Result<Option<Node>> {
        match self.save_entry(path, name, md, parent) {
            Ok(node) => Ok(Some(node)),
            Err(Error::Io { op, path, source }) => {
                self.counters.warn(&path, &format!("skipped: cannot {op}: {source}"));
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// One file system entry as a node. `Error::Io` means the entry itself
    /// could not be read; any other error is fatal.
    pub(crate) fn save_entry(&self, path: &Path, name: &OsStr, md: &Metadata, parent: Option<&Node>) -> Result<Node> {
        let kind = kind_of(md).ok_or_else(|| Error::io("back up", path, std::io::Error::other("unknown file type")))?;
        let mut node = node_from(name, kind, md, self.owners);
        self.read_xattrs(path, &mut node);
        if let Some(p) = parent.filter(|_| self.change_detection == ChangeDetection::Stable) {
            keep_parent_identity(&mut node, p);
        }
        match kind {
            NodeKind::File => self.save_file(path, &mut node, parent)?,
            NodeKind::Dir => {
                let parent_tree = parent
                    .filter(|p| p.kind == NodeKind::Dir)
                    .and_then(|p| p.subtree.as_ref())
                    .and_then(|id| ParentTree::load(self.repo, id, path, self.counters));
                let id = self.save_dir(path, parent_tree.as_ref())?;
                let counter = match parent.filter(|p| p.kind == NodeKind::Dir) {
                    None => &self.counters.dirs_new,
                    Some(p) if p.subtree == Some(id) => &self.counters.dirs_unchanged,
                    Some(_) => &self.counters.dirs_changed,
                };
                Counters::bump(counter);
                node.subtree = Some(id);
            }
            NodeKind::Symlink => {
                let target = std::fs::read_link(path).map_err(|e| Error::io("read symlink", path, e))?;
                let (text, b64) = names::encode(target.as_os_str());
                node.link_target = Some(text);
                node.link_target_b64 = b64;
                Counters::bump(&self.counters.other_nodes);
            }
            NodeKind::Fifo | NodeKind::Socket | NodeKind::Chardev | NodeKind::Blockdev => {
                Counters::bump(&self.counters.other_nodes);
            }
        }
        Ok(node)
    }

    fn save_file(&self, path: &Path, node: &mut Node, parent: Option<&Node>) -> Result<()> {
        let saver = FileSaver {
            repo: self.repo,
            counters: self.counters,
            progress: self.progress,
            change_detection: self.change_detection,
        };
        let status = saver.save(path, node, parent)?;
        let counter = match status {
            FileStatus::New => &self.counters.files_new,
            FileStatus::Changed => &self.counters.files_changed,
            FileStatus::Unchanged => &self.counters.files_unchanged,
        };
        Counters::bump(counter);
        Counters::add(&self.counters.total_bytes, node.size);
        self.progress.file_done(path, node.size);
        Ok(())
    }

    /// Xattrs are metadata: failing to read them keeps the entry and warns.
    fn read_xattrs(&self, path: &Path, node: &mut Node) {
        match xattrs::read(path) {
            Ok((attrs, skipped)) => {
                node.xattrs = attrs;
                for name in skipped {
                    self.counters.warn(path, &format!("xattr {name:?} not saved: name is not UTF-8"));
                }
            }
            Err(e) => self.counters.warn(path, &format!("xattrs not saved: {e}")),
        }
    }
}

/// Under the stable rule, an entry whose stable metadata matches the
/// parent's keeps the parent's inode, device, ctime and atime (reading a
/// file, copying the volume, or the backup before this one may have moved
/// its atime), so an unchanged clone of a volume gives identical trees and
/// stores nothing new.
/// Hard-linked files keep their own: restores group hard links by inode,
/// and only files with more than one link are grouped.
fn keep_parent_identity(node: &mut Node, parent: &Node) {
    let same = node.kind == parent.kind
        && node.links <= 1
        && node.size == parent.size
        && node.mtime_ns == parent.mtime_ns
        && node.mode == parent.mode
        && node.uid == parent.uid
        && node.gid == parent.gid;
    if same {
        node.inode = parent.inode;
        node.device = parent.device;
        node.ctime_ns = parent.ctime_ns;
        node.atime_ns = parent.atime_ns;
    }
}
