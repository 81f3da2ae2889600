//! Restore planning: which entry becomes what, in which order. Loading the
//! trees is the only IO here; choosing entries and mapping hard links are
//! pure functions over the loaded list.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use arca_repo::{Id, Node, NodeKind, Repository, Tree};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::names;

/// One node with its path relative to the restore target.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub rel: PathBuf,
    pub node: Node,
}

/// What restoring an entry means.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Action {
    Dir,
    File,
    /// A further name of a file restored earlier at this relative path.
    HardLink(PathBuf),
    Symlink,
    Special,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Planned {
    pub entry: Entry,
    pub action: Action,
}

/// Every entry below the tree `root`, each directory before its contents.
/// Trees are loaded a level at a time, in parallel. Names are checked here:
/// one that is not a single path component, or appears twice in a
/// directory, fails the restore before anything is written.
/// The entries of one directory (tree `id`, at `dir` below the target),
/// names checked as in [`walk`].
pub(crate) fn load_dir(repo: &Repository, id: &Id, dir: &Path) -> Result<Vec<Entry>> {
    let tree = repo.load_tree(id)?;
    let mut seen: HashSet<OsString> = HashSet::with_capacity(tree.nodes.len());
    let mut out = Vec::with_capacity(tree.nodes.len());
    for node in tree.nodes {
        let name = names::node_name(&node, dir)?;
        let rel = dir.join(&name);
        if !seen.insert(name) {
            return Err(corrupt(&rel, "name appears twice in its directory"));
        }
        if node.kind == NodeKind::Dir && node.subtree.is_none() {
            return Err(corrupt(&rel, "directory without a subtree"));
        }
        out.push(Entry { rel, node });
    }
    Ok(out)
}

pub(crate) fn walk(repo: &Repository, root: &Id) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    let mut frontier = vec![(*root, PathBuf::new())];
    while !frontier.is_empty() {
        let loaded = frontier
            .par_iter()
            .map(|(id, rel)| Ok((rel.clone(), repo.load_tree(id)?)))
            .collect::<Result<Vec<(PathBuf, Tree)>>>()?;
        frontier.clear();
        for (dir, tree) in loaded {
            let mut seen: HashSet<OsString> = HashSet::with_capacity(tree.nodes.len());
            for node in tree.nodes {
                let name = names::node_name(&node, &dir)?;
                let rel = dir.join(&name);
                if !seen.insert(name) {
                    return Err(corrupt(&rel, "name appears twice in its directory"));
                }
                if node.kind == NodeKind::Dir {
                    let subtree = node.subtree.ok_or_else(|| corrupt(&rel, "directory without a subtree"))?;
                    frontier.push((subtree, rel.clone()));
                }
                out.push(Entry { rel, node });
            }
        }
    }
    Ok(out)
}

/// Decides the action of each entry. The first file of a hard-link group
/// (same device and inode, more than one link) is written; the others link
/// to it, so a group restores as one inode with all its names.
pub(crate) fn plan(entries: Vec<Entry>) -> Vec<Planned> {
    plan_with(entries, &mut HashMap::new())
}

/// First names of hard-link groups, by (device, inode).
pub(crate) type Primaries = HashMap<(u64, u64), PathBuf>;

/// [`plan`] for one batch of entries of a longer restore: `primaries`
/// carries the hard-link groups seen in earlier batches.
pub(crate) fn plan_with(entries: Vec<Entry>, primaries: &mut Primaries) -> Vec<Planned> {
    entries
        .into_iter()
        .map(|entry| {
            let action = match entry.node.kind {
                NodeKind::Dir => Action::Dir,
                NodeKind::Symlink => Action::Symlink,
                NodeKind::File if entry.node.links > 1 && entry.node.inode != 0 => {
                    let key = (entry.node.device, entry.node.inode);
                    match primaries.get(&key) {
                        Some(first) => Action::HardLink(first.clone()),
                        None => {
                            primaries.insert(key, entry.rel.clone());
                            Action::File
                        }
                    }
                }
                NodeKind::File => Action::File,
                NodeKind::Fifo | NodeKind::Socket | NodeKind::Chardev | NodeKind::Blockdev => Action::Special,
            };
            Planned { entry, action }
        })
        .collect()
}

fn corrupt(path: &Path, detail: &str) -> Error {
    Error::CorruptTree { path: path.to_path_buf(), detail: detail.into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(rel: &str, inode: u64, links: u64) -> Entry {
        Entry { rel: rel.into(), node: Node { kind: NodeKind::File, inode, device: 1, links, ..Node::default() } }
    }

    #[test]
    fn hard_links_point_at_the_first_name() {
        let planned = plan(vec![file("a", 7, 2), file("b", 8, 1), file("c", 7, 2)]);
        let actions: Vec<_> = planned.into_iter().map(|p| p.action).collect();
        assert_eq!(actions, vec![Action::File, Action::File, Action::HardLink("a".into())]);
    }
}
