//! Walking a snapshot's trees beside a directory, one directory at a time:
//! memory holds one directory's entries, the queue of directories still to
//! compare, and the first names of hard-link groups. Entries are compared
//! in tree order; the files of a directory are hashed in parallel.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use arca_repo::{Id, Node, NodeKind, Repository};
use parking_lot::Mutex;
use rayon::prelude::*;

use super::content::{self, Chunking};
use super::{DirCheck, VerifyOptions};
use crate::error::{Error, Result};
use crate::{metadata, names};

/// Ignored at the root of the compared directory, on both sides: a fresh
/// file system makes its own, and fsck may put files in it.
const LOST_FOUND: &str = "lost+found";

/// Compares the tree `tree` with directory `dir`.
pub(crate) fn compare(
    repo: &Repository,
    tree: &Id,
    dir: &Path,
    opts: &VerifyOptions,
    chunking: Chunking,
) -> Result<DirCheck> {
    // The directory itself may be reached through a symlink (a kubelet's
    // volume path); nothing below it is followed.
    match std::fs::metadata(dir) {
        Ok(md) if md.is_dir() => {}
        Ok(_) => {
            return Err(Error::Invalid(format!(
                "{} is not a directory: give the directory the snapshot was restored into (a block volume's device is compared with compare_block, `--block`)",
                dir.display()
            )));
        }
        Err(e) => return Err(Error::io("open", dir, e)),
    }
    let mut walk = Walk { repo, root: dir, opts, chunking, check: DirCheck::default(), links: HashMap::new() };
    let mut queue = vec![(PathBuf::new(), *tree)];
    while let Some((rel, id)) = queue.pop() {
        walk.dir(&rel, &id, &mut queue)?;
    }
    Ok(walk.check)
}

struct Walk<'a> {
    repo: &'a Repository,
    root: &'a Path,
    opts: &'a VerifyOptions,
    chunking: Chunking,
    check: DirCheck,
    /// Hard-link groups of the snapshot (device, inode) → the first name
    /// compared and its (device, inode) on disk.
    links: HashMap<(u64, u64), (String, (u64, u64))>,
}

/// A file whose content is to be hashed.
struct FileJob {
    shown: String,
    path: PathBuf,
    node: Node,
}

impl Walk<'_> {
    fn mismatch(&mut self, path: &str, what: impl Into<String>) {
        self.check.mismatch(self.opts.max_mismatches, path, what);
    }

    /// Compares the entries of one directory (tree `id` at `rel`); queues
    /// its subdirectories.
    fn dir(&mut self, rel: &Path, id: &Id, queue: &mut Vec<(PathBuf, Id)>) -> Result<()> {
        let tree = self.repo.load_tree(id)?;
        let at_root = rel.as_os_str().is_empty();
        let Some(mut on_disk) = self.list(rel) else {
            return Ok(());
        };
        if at_root {
            on_disk.remove(std::ffi::OsStr::new(LOST_FOUND));
        }
        let mut files = Vec::new();
        for node in tree.nodes {
            let name = names::node_name(&node, rel)?;
            if at_root && name == LOST_FOUND {
                continue;
            }
            let entry = rel.join(&name);
            let shown = entry.to_string_lossy().into_owned();
            match on_disk.remove(&name) {
                None => {
                    self.check.missing += 1;
                    self.mismatch(&shown, format!("missing: the snapshot has a {} here", kind_name(node.kind)));
                }
                Some(md) => {
                    self.check.entries_compared += 1;
                    if let Some(job) = self.entry(&entry, shown, node, &md, queue)? {
                        files.push(job);
                    }
                }
            }
        }
        let mut extra: Vec<(OsString, Metadata)> = on_disk.into_iter().collect();
        extra.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, md) in extra {
            self.check.extra += 1;
            let kind = metadata::kind_of(&md).map_or("entry of unknown type", kind_name);
            self.mismatch(&rel.join(name).to_string_lossy(), format!("extra: a {kind} the snapshot does not hold"));
        }
        self.hash_files(files);
        Ok(())
    }

    /// The entries of directory `rel` on disk by name, without following
    /// symlinks; `None` (and a mismatch) when it cannot be listed.
    fn list(&mut self, rel: &Path) -> Option<HashMap<OsString, Metadata>> {
        let path = self.root.join(rel);
        let shown = if rel.as_os_str().is_empty() { ".".to_string() } else { rel.to_string_lossy().into_owned() };
        let read = std::fs::read_dir(&path).and_then(|entries| {
            entries
                .map(|e| {
                    let e = e?;
                    Ok((e.file_name(), std::fs::symlink_metadata(e.path())?))
                })
                .collect::<std::io::Result<HashMap<_, _>>>()
        });
        match read {
            Ok(found) => Some(found),
            Err(e) => {
                self.mismatch(&shown, format!("cannot be listed: {e}"));
                None
            }
        }
    }

    /// Compares one entry found on both sides. A file comes back as a job
    /// when its content is to be hashed.
    fn entry(
        &mut self,
        rel: &Path,
        shown: String,
        node: Node,
        md: &Metadata,
        queue: &mut Vec<(PathBuf, Id)>,
    ) -> Result<Option<FileJob>> {
        let Some(kind) = metadata::kind_of(md) else {
            self.mismatch(
                &shown,
                format!("type: the snapshot has a {}, the disk an unknown type", kind_name(node.kind)),
            );
            return Ok(None);
        };
        if kind != node.kind {
            let what = format!("type: the snapshot has a {}, the disk a {}", kind_name(node.kind), kind_name(kind));
            self.mismatch(&shown, what);
            return Ok(None);
        }
        let mode = md.mode() & 0o7777;
        if kind != NodeKind::Symlink && mode != node.mode {
            self.mismatch(&shown, format!("mode: the snapshot has {:04o}, the disk {mode:04o}", node.mode));
        }
        if self.opts.owners && (md.uid(), md.gid()) != (node.uid, node.gid) {
            let what = format!("owner: the snapshot has {}:{}, the disk {}:{}", node.uid, node.gid, md.uid(), md.gid());
            self.mismatch(&shown, what);
        }
        match kind {
            NodeKind::Dir => {
                let subtree = node.subtree.ok_or_else(|| Error::CorruptTree {
                    path: rel.to_path_buf(),
                    detail: "directory without a subtree".into(),
                })?;
                queue.push((rel.to_path_buf(), subtree));
            }
            NodeKind::Symlink => self.symlink(rel, &shown, &node)?,
            NodeKind::Chardev | NodeKind::Blockdev if md.rdev() != node.rdev => {
                let what = format!("device number: the snapshot has {}, the disk {}", node.rdev, md.rdev());
                self.mismatch(&shown, what);
            }
            NodeKind::File => return Ok(self.file(rel, shown, node, md)),
            _ => {}
        }
        Ok(None)
    }

    fn symlink(&mut self, rel: &Path, shown: &str, node: &Node) -> Result<()> {
        let want = names::link_target(node, rel)?;
        match std::fs::read_link(self.root.join(rel)) {
            Ok(have) if have.as_os_str() == want => {}
            Ok(have) => {
                let what = format!("symlink target: the snapshot has {want:?}, the disk {:?}", have.as_os_str());
                self.mismatch(shown, what);
            }
            Err(e) => self.mismatch(shown, format!("symlink cannot be read: {e}")),
        }
        Ok(())
    }

    /// Size and hard links of a file; its content is hashed later, once
    /// per inode.
    fn file(&mut self, rel: &Path, shown: String, node: Node, md: &Metadata) -> Option<FileJob> {
        if md.size() != node.size {
            let what = format!("size: the snapshot has {} bytes, the disk {}", node.size, md.size());
            self.mismatch(&shown, what);
            return None;
        }
        if node.links > 1 && node.inode != 0 {
            let on_disk = (md.dev(), md.ino());
            match self.links.get(&(node.device, node.inode)) {
                Some((_, inode)) if *inode == on_disk => return None,
                Some((first, _)) => {
                    let what = format!(
                        "hard link: the snapshot has it as another name of {first}, the disk as a file of its own"
                    );
                    self.mismatch(&shown, what);
                }
                None => {
                    self.links.insert((node.device, node.inode), (shown.clone(), on_disk));
                }
            }
        }
        Some(FileJob { shown, path: self.root.join(rel), node })
    }

    /// Hashes the files of one directory in parallel.
    fn hash_files(&mut self, files: Vec<FileJob>) {
        let found = Mutex::new(Vec::new());
        files.par_iter().for_each(|job| {
            let outcome = content::compare_file(self.repo, &job.path, &job.node, self.chunking);
            found.lock().push((job.shown.clone(), outcome));
        });
        let mut found = found.into_inner();
        found.sort_by(|a, b| a.0.cmp(&b.0));
        for (shown, outcome) in found {
            match outcome {
                Ok(read) => {
                    self.check.files += 1;
                    self.check.bytes += read.bytes;
                    if let Some(what) = read.difference {
                        self.mismatch(&shown, what);
                    }
                }
                Err(what) => self.mismatch(&shown, what),
            }
        }
    }
}

/// A node kind as a person says it.
pub(crate) fn kind_name(kind: NodeKind) -> &'static str {
    match kind {
        NodeKind::File => "file",
        NodeKind::Dir => "directory",
        NodeKind::Symlink => "symlink",
        NodeKind::Fifo => "fifo",
        NodeKind::Socket => "socket",
        NodeKind::Chardev => "character device",
        NodeKind::Blockdev => "block device",
    }
}
