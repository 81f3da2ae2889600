//! Reading a file's metadata into a tree node, and the time conversions both
//! directions need. Owner names are looked up once per id and cached: NSS
//! lookups are slow, and a tree has few distinct owners.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::Metadata;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

use arca_repo::{Node, NodeKind};
use filetime::FileTime;
use nix::unistd::{Gid, Group, Uid, User};
use parking_lot::Mutex;

use crate::names;

const NANOS: i64 = 1_000_000_000;

/// Nanoseconds since the epoch from a (seconds, nanoseconds) stat pair.
pub(crate) fn to_ns(secs: i64, nsec: i64) -> i64 {
    secs.saturating_mul(NANOS).saturating_add(nsec)
}

/// A stored nanosecond time as a settable file time.
pub(crate) fn to_filetime(ns: i64) -> FileTime {
    // rem_euclid keeps the nanosecond part in 0..1e9 for times before 1970.
    FileTime::from_unix_time(ns.div_euclid(NANOS), ns.rem_euclid(NANOS) as u32)
}

/// The node kind of a file type; `None` for types Unix does not have.
pub(crate) fn kind_of(md: &Metadata) -> Option<NodeKind> {
    let ft = md.file_type();
    Some(if ft.is_dir() {
        NodeKind::Dir
    } else if ft.is_symlink() {
        NodeKind::Symlink
    } else if ft.is_file() {
        NodeKind::File
    } else if ft.is_fifo() {
        NodeKind::Fifo
    } else if ft.is_socket() {
        NodeKind::Socket
    } else if ft.is_char_device() {
        NodeKind::Chardev
    } else if ft.is_block_device() {
        NodeKind::Blockdev
    } else {
        return None;
    })
}

/// A node with everything `lstat` tells; content, subtree, link target and
/// xattrs are filled in by the stage that reads them.
pub(crate) fn node_from(name: &OsStr, kind: NodeKind, md: &Metadata, owners: &OwnerNames) -> Node {
    let (name, name_b64) = names::encode(name);
    let is_dir = kind == NodeKind::Dir;
    let is_dev = matches!(kind, NodeKind::Chardev | NodeKind::Blockdev);
    Node {
        name,
        name_b64,
        kind,
        mode: md.mode() & 0o7777,
        uid: md.uid(),
        gid: md.gid(),
        user: owners.user(md.uid()),
        group: owners.group(md.gid()),
        mtime_ns: to_ns(md.mtime(), md.mtime_nsec()),
        // Listing a directory updates its atime, so a recorded one would make
        // every directory differ from its parent snapshot; restore uses mtime.
        atime_ns: if is_dir { 0 } else { to_ns(md.atime(), md.atime_nsec()) },
        ctime_ns: to_ns(md.ctime(), md.ctime_nsec()),
        size: if kind == NodeKind::File { md.size() } else { 0 },
        inode: md.ino(),
        device: md.dev(),
        // A directory's link count only counts its subdirectories.
        links: if is_dir { 0 } else { md.nlink() },
        rdev: if is_dev { md.rdev() } else { 0 },
        ..Node::default()
    }
}

/// Cached uid → user name and gid → group name lookups.
#[derive(Default)]
pub(crate) struct OwnerNames {
    users: Mutex<HashMap<u32, Option<String>>>,
    groups: Mutex<HashMap<u32, Option<String>>>,
}

impl OwnerNames {
    pub(crate) fn user(&self, uid: u32) -> Option<String> {
        self.users
            .lock()
            .entry(uid)
            .or_insert_with(|| User::from_uid(Uid::from_raw(uid)).ok().flatten().map(|u| u.name))
            .clone()
    }

    pub(crate) fn group(&self, gid: u32) -> Option<String> {
        self.groups
            .lock()
            .entry(gid)
            .or_insert_with(|| Group::from_gid(Gid::from_raw(gid)).ok().flatten().map(|g| g.name))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_before_and_after_epoch() {
        for ns in [0, 1, 1_700_000_000_123_456_789, -1, -1_500_000_001] {
            let ft = to_filetime(ns);
            assert_eq!(to_ns(ft.unix_seconds(), i64::from(ft.nanoseconds())), ns);
        }
    }
}
