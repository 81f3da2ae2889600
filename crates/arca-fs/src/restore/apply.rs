//! Applies a node's metadata to a restored entry, in the order that makes
//! each step stick: owner first (chown clears setuid/setgid), then xattrs,
//! then permission bits, then times last (every other change bumps them).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use arca_repo::{Node, NodeKind};
use nix::unistd::{getegid, geteuid};

use super::summary::Counters;
use crate::error::{Error, Result};
use crate::metadata::to_filetime;
use crate::xattrs;

pub(crate) struct Applier<'a> {
    pub counters: &'a Counters<'a>,
    /// Only root may give files away; others keep their own ownership.
    pub is_root: bool,
}

impl Applier<'_> {
    pub(crate) fn new<'a>(counters: &'a Counters<'a>) -> Applier<'a> {
        Applier { counters, is_root: geteuid().is_root() }
    }

    pub(crate) fn apply(&self, path: &Path, node: &Node) -> Result<()> {
        let symlink = node.kind == NodeKind::Symlink;
        self.set_owner(path, node)?;
        for attr in &node.xattrs {
            if let Err(e) = xattrs::write(path, attr) {
                self.counters.warn(path, &format!("xattr {} not restored: {e}", attr.name));
            }
        }
        // Symlinks have no permission bits of their own on Linux.
        if !symlink {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(node.mode))
                .map_err(|e| Error::io("set permissions of", path, e))?;
        }
        // Directories have no recorded atime (see `metadata::node_from`).
        let atime_ns = if node.atime_ns == 0 { node.mtime_ns } else { node.atime_ns };
        let (atime, mtime) = (to_filetime(atime_ns), to_filetime(node.mtime_ns));
        // utimensat without following links: never opens the entry (opening
        // a fifo would block) and sets a symlink's own times.
        let set = filetime::set_symlink_file_times(path, atime, mtime);
        set.map_err(|e| Error::io("set times of", path, e))
    }

    fn set_owner(&self, path: &Path, node: &Node) -> Result<()> {
        if self.is_root {
            return std::os::unix::fs::lchown(path, Some(node.uid), Some(node.gid))
                .map_err(|e| Error::io("change owner of", path, e));
        }
        if node.uid != geteuid().as_raw() || node.gid != getegid().as_raw() {
            Counters::add(&self.counters.ownership_skipped, 1);
        }
        Ok(())
    }
}
