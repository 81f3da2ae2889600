//! Trees: directory listings stored as blobs. A node is a file, directory,
//! symlink or special file with its metadata; file content is a list of data
//! blob ids, a directory's children are a subtree blob.
//!
//! The same structure holds non-file sources (a stream is a tree with one
//! file; Kubernetes objects are files in a tree by scope/group/resource).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::id::Id;
use crate::pack::BlobType;
use crate::repository::Repository;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    #[default]
    File,
    Dir,
    Symlink,
    Fifo,
    Socket,
    Chardev,
    Blockdev,
}

/// An extended attribute; the value is base64.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Xattr {
    pub name: String,
    pub value: String,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Node {
    /// File name; names that are not UTF-8 are stored in `name_b64`.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_b64: Option<String>,
    #[serde(rename = "type")]
    pub kind: NodeKind,
    /// Permission bits and setuid/setgid/sticky (not the file type).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
    #[serde(default)]
    pub atime_ns: i64,
    #[serde(default)]
    pub ctime_ns: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub size: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub inode: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub device: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub links: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rdev: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub content: Vec<Id>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtree: Option<Id>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_target_b64: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub xattrs: Vec<Xattr>,
}

/// A directory listing, sorted by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Tree {
    pub nodes: Vec<Node>,
}

impl Tree {
    pub fn find(&self, name: &str) -> Option<&Node> {
        self.nodes.binary_search_by(|n| n.name.as_str().cmp(name)).ok().map(|i| &self.nodes[i])
    }
}

impl Repository {
    pub fn save_tree(&self, tree: &Tree) -> Result<Id> {
        let json = serde_json::to_vec(tree).map_err(|e| Error::Json { what: "tree".into(), source: e })?;
        self.save_blob(BlobType::Tree, &json)
    }

    pub fn load_tree(&self, id: &Id) -> Result<Tree> {
        let bytes = self.load_blob(id)?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Json { what: format!("tree {}", id.short()), source: e })
    }
}
