//! Reading back one snapshot's data (and any others it depends on): every
//! tree and blob under the given roots is downloaded, decrypted and checked
//! against its id, once each. What `check --read-data` does for the whole
//! repository, for the data one backup needs.

use std::collections::HashSet;

use serde::Serialize;

use crate::{Id, NodeKind, Repository};

/// Problems kept by name; the rest are counted.
const PROBLEMS_KEPT: usize = 100;

#[derive(Debug, Clone, Default, Serialize)]
pub struct ReadBack {
    pub trees: u64,
    pub blobs: u64,
    pub bytes: u64,
    /// `what: why` for each tree or blob that did not read back.
    pub problems: Vec<String>,
    pub problems_omitted: u64,
}

impl ReadBack {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty() && self.problems_omitted == 0
    }

    fn problem(&mut self, what: String) {
        if self.problems.len() < PROBLEMS_KEPT {
            self.problems.push(what);
        } else {
            self.problems_omitted += 1;
        }
    }
}

/// Reads every tree and blob under `roots` (named in problems by `label`
/// and the path inside). Blocking; needs the index loaded.
pub fn read_back(repo: &Repository, roots: &[(String, Id)]) -> ReadBack {
    let mut out = ReadBack::default();
    let mut seen: HashSet<Id> = HashSet::new();
    let mut stack: Vec<(String, Id)> = roots.to_vec();
    while let Some((path, id)) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        let tree = match repo.load_tree(&id) {
            Ok(t) => t,
            Err(e) => {
                out.problem(format!("{path}: tree {}: {e}", id.short()));
                continue;
            }
        };
        out.trees += 1;
        for node in &tree.nodes {
            let here = format!("{path}/{}", node.name);
            if node.kind == NodeKind::Dir {
                match node.subtree {
                    Some(sub) => stack.push((here, sub)),
                    None => out.problem(format!("{here}: directory without a subtree")),
                }
                continue;
            }
            for blob in &node.content {
                if !seen.insert(*blob) {
                    continue;
                }
                match repo.load_blob(blob) {
                    Ok(data) => {
                        out.blobs += 1;
                        out.bytes += data.len() as u64;
                    }
                    Err(e) => out.problem(format!("{here}: blob {}: {e}", blob.short())),
                }
            }
        }
    }
    out
}
