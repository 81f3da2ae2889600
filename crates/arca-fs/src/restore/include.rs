//! Include patterns of a partial restore. Globs match paths relative to the
//! snapshot root (`etc/*.conf`, `**/*.sql`); a matched directory brings its
//! whole contents, and the directories leading to a match are restored too
//! so it has somewhere to live. `*` stays within one component, `**` crosses.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use arca_repo::NodeKind;
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use super::plan::Entry;
use crate::error::{Error, Result};

pub(crate) struct Include {
    set: Option<GlobSet>,
}

impl Include {
    pub(crate) fn new(patterns: &[String]) -> Result<Self> {
        if patterns.is_empty() {
            return Ok(Include { set: None });
        }
        let mut builder = GlobSetBuilder::new();
        for pattern in patterns {
            let trimmed = pattern.trim_start_matches('/').trim_end_matches('/');
            let glob = GlobBuilder::new(trimmed)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|source| glob_err(pattern, source))?;
            builder.add(glob);
        }
        let set = builder.build().map_err(|source| glob_err(&patterns.join(" "), source))?;
        Ok(Include { set: Some(set) })
    }

    pub(crate) fn is_all(&self) -> bool {
        self.set.is_none()
    }

    /// Whether `rel` is inside the included set: it or a directory above
    /// it matches a pattern.
    pub(crate) fn covers(&self, rel: &Path) -> bool {
        let Some(set) = &self.set else { return true };
        rel.ancestors().filter(|p| !p.as_os_str().is_empty()).any(|p| set.is_match(p))
    }

    /// The entries to restore, in their original order. `entries` must list
    /// every directory before its contents (as `plan::walk` does).
    pub(crate) fn select(&self, entries: Vec<Entry>) -> Vec<Entry> {
        let Some(set) = &self.set else { return entries };
        let mut matched_dirs: HashSet<PathBuf> = HashSet::new();
        let mut needed_dirs: HashSet<PathBuf> = HashSet::new();
        let mut matched = vec![false; entries.len()];
        for (i, e) in entries.iter().enumerate() {
            let inherited = e.rel.parent().is_some_and(|p| matched_dirs.contains(p));
            if inherited || set.is_match(&e.rel) {
                matched[i] = true;
                if e.node.kind == NodeKind::Dir {
                    matched_dirs.insert(e.rel.clone());
                }
                let mut up: &Path = &e.rel;
                while let Some(parent) = up.parent().filter(|p| !p.as_os_str().is_empty()) {
                    if !needed_dirs.insert(parent.to_path_buf()) {
                        break;
                    }
                    up = parent;
                }
            }
        }
        entries
            .into_iter()
            .zip(matched)
            .filter(|(e, m)| *m || (e.node.kind == NodeKind::Dir && needed_dirs.contains(&e.rel)))
            .map(|(e, _)| e)
            .collect()
    }
}

fn glob_err(pattern: &str, source: globset::Error) -> Error {
    Error::Glob { what: "include", pattern: pattern.to_string(), source }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arca_repo::Node;

    fn e(rel: &str, kind: NodeKind) -> Entry {
        Entry { rel: rel.into(), node: Node { kind, ..Node::default() } }
    }

    fn rels(inc: &[&str], entries: &[Entry]) -> Vec<String> {
        let include = Include::new(&inc.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        include.select(entries.to_vec()).into_iter().map(|e| e.rel.to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn selects_matches_their_parents_and_matched_dirs_contents() {
        let all = vec![
            e("a", NodeKind::Dir),
            e("z", NodeKind::Dir),
            e("a/b", NodeKind::Dir),
            e("a/x.txt", NodeKind::File),
            e("z/y", NodeKind::File),
            e("a/b/c.txt", NodeKind::File),
            e("a/b/d.bin", NodeKind::File),
        ];
        assert_eq!(rels(&["a/b/*.txt"], &all), ["a", "a/b", "a/b/c.txt"]);
        assert_eq!(rels(&["z"], &all), ["z", "z/y"]);
        assert_eq!(rels(&["**/*.txt"], &all), ["a", "a/b", "a/x.txt", "a/b/c.txt"]);
        assert_eq!(rels(&["*.txt"], &all), Vec::<String>::new());
        assert_eq!(rels(&[], &all).len(), all.len());
    }
}
