//! The parent snapshot: found automatically (latest `files` snapshot of this
//! host with the same paths) or given, and walked alongside the source so
//! unchanged files reuse their stored content without being read.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::Path;

use arca_repo::snapshot::KIND_FILES;
use arca_repo::{Id, Node, Repository, Snapshot, Tree};

use super::summary::Counters;
use crate::error::Result;
use crate::names;

/// The latest `files` snapshot from this host over exactly `paths`.
pub(crate) fn find_latest(repo: &Repository, paths: &[String]) -> Result<Option<Id>> {
    // The repository records the host name through `Snapshot::new`; asking
    // it keeps both sides of the comparison identical.
    let hostname = Snapshot::new(KIND_FILES, Vec::new(), Id::default()).hostname;
    let found = repo
        .list_snapshots()?
        .into_iter()
        .rfind(|s| s.snapshot.kind == KIND_FILES && s.snapshot.hostname == hostname && s.snapshot.paths == paths)
        .map(|s| s.id);
    Ok(found)
}

/// One directory of the parent snapshot, by exact file name.
#[derive(Default)]
pub(crate) struct ParentTree {
    by_name: HashMap<OsString, Node>,
}

impl ParentTree {
    pub(crate) fn from_tree(tree: Tree, dir: &Path) -> Self {
        let by_name =
            tree.nodes.into_iter().filter_map(|n| names::node_name(&n, dir).ok().map(|name| (name, n))).collect();
        ParentTree { by_name }
    }

    /// Loads a parent directory. The parent is only a shortcut: if its tree
    /// cannot be read, the directory is backed up as if it were new.
    pub(crate) fn load(repo: &Repository, id: &Id, dir: &Path, counters: &Counters<'_>) -> Option<Self> {
        match repo.load_tree(id) {
            Ok(tree) => Some(Self::from_tree(tree, dir)),
            Err(e) => {
                counters.warn(dir, &format!("parent snapshot's tree unreadable, reading all files: {e}"));
                None
            }
        }
    }

    pub(crate) fn get(&self, name: &std::ffi::OsStr) -> Option<&Node> {
        self.by_name.get(name)
    }
}
