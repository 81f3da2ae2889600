//! Exclude patterns. A pattern without `/` matches a file name anywhere
//! (`*.tmp`, `.cache`); a pattern with `/` matches the absolute path
//! (`/data/tmp/**`, `**/node_modules`). `*` never crosses a `/`; `**` does.

use std::ffi::OsStr;
use std::path::Path;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use crate::error::{Error, Result};

#[derive(Debug, Clone)]
pub(crate) struct Excludes {
    by_name: GlobSet,
    by_path: GlobSet,
    empty: bool,
}

impl Excludes {
    pub(crate) fn new(patterns: &[String]) -> Result<Self> {
        let mut by_name = GlobSetBuilder::new();
        let mut by_path = GlobSetBuilder::new();
        for pattern in patterns {
            let glob = GlobBuilder::new(pattern)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|source| glob_err(pattern, source))?;
            if pattern.contains('/') {
                by_path.add(glob);
            } else {
                by_name.add(glob);
            }
        }
        let build = |b: GlobSetBuilder| b.build().map_err(|source| glob_err(&patterns.join(" "), source));
        Ok(Excludes { by_name: build(by_name)?, by_path: build(by_path)?, empty: patterns.is_empty() })
    }

    pub(crate) fn is_excluded(&self, path: &Path, name: &OsStr) -> bool {
        !self.empty && (self.by_name.is_match(name) || self.by_path.is_match(path))
    }
}

fn glob_err(pattern: &str, source: globset::Error) -> Error {
    Error::Glob { what: "exclude", pattern: pattern.to_string(), source }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(p: &[&str]) -> Excludes {
        Excludes::new(&p.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn names_and_paths() {
        let e = ex(&["*.tmp", "/data/cache/**", "**/skip"]);
        let m = |p: &str| {
            let p = Path::new(p);
            e.is_excluded(p, p.file_name().unwrap())
        };
        assert!(m("/data/a/b.tmp"));
        assert!(m("/data/cache/x/y"));
        assert!(m("/data/a/skip"));
        assert!(!m("/data/a/b.txt"));
        assert!(!m("/data/cachex/y"));
        assert!(!ex(&[]).is_excluded(Path::new("/a"), OsStr::new("a")));
        assert!(Excludes::new(&["a[".to_string()]).is_err());
    }
}
