//! The blueprints a run knows: the built-in ones, then the user's
//! (`--blueprints DIR|FILE`), a user's blueprint replacing a built-in one of
//! the same name.

use std::collections::BTreeMap;
use std::path::Path;

use super::format::{Blueprint, FormatError};

/// The built-in blueprints' sources, by file name.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("postgresql.yaml", include_str!("../../blueprints/postgresql.yaml")),
    ("mariadb.yaml", include_str!("../../blueprints/mariadb.yaml")),
    ("redis.yaml", include_str!("../../blueprints/redis.yaml")),
];

/// Other names users write for the built-in blueprints.
const ALIASES: &[(&str, &str)] = &[("postgres", "postgresql"), ("mysql", "mariadb")];

/// Where a blueprint came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    BuiltIn,
    File(String),
    /// A `Blueprint` object of the cluster (`namespace/name`).
    Resource(String),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::BuiltIn => f.write_str("built-in"),
            Origin::File(p) => f.write_str(p),
            Origin::Resource(r) => write!(f, "Blueprint {r}"),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Library {
    entries: BTreeMap<String, (Blueprint, Origin)>,
}

#[derive(Debug, thiserror::Error)]
pub enum LibraryError {
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error("reading blueprints from {path}: {message}")]
    Read { path: String, message: String },
}

impl Library {
    /// The built-in blueprints.
    pub fn built_in() -> Library {
        let mut lib = Library::default();
        for (file, text) in BUILT_IN {
            // Built-ins are checked by this crate's tests; one that does not
            // parse is left out rather than stopping every run.
            match Blueprint::parse(text, file) {
                Ok(bp) => {
                    lib.entries.insert(bp.name.clone(), (bp, Origin::BuiltIn));
                }
                Err(e) => tracing::error!("{e}"),
            }
        }
        lib
    }

    /// Built-ins plus every `*.yaml`/`*.yml` of each path (a file or a directory).
    pub fn load(paths: &[impl AsRef<Path>]) -> Result<Library, LibraryError> {
        let mut lib = Library::built_in();
        for path in paths {
            for file in yaml_files(path.as_ref())? {
                let shown = file.display().to_string();
                let text = std::fs::read_to_string(&file)
                    .map_err(|e| LibraryError::Read { path: shown.clone(), message: e.to_string() })?;
                let bp = Blueprint::parse(&text, &shown)?;
                lib.entries.insert(bp.name.clone(), (bp, Origin::File(shown)));
            }
        }
        Ok(lib)
    }

    /// Add (or replace, by name) one blueprint.
    pub fn insert(&mut self, bp: Blueprint, origin: Origin) {
        self.entries.insert(bp.name.clone(), (bp, origin));
    }

    pub fn get(&self, name: &str) -> Option<&Blueprint> {
        self.entry(name).map(|(bp, _)| bp)
    }

    pub fn entry(&self, name: &str) -> Option<&(Blueprint, Origin)> {
        let name = ALIASES.iter().find(|(alias, _)| *alias == name).map(|(_, real)| *real).unwrap_or(name);
        self.entries.get(name)
    }

    pub fn names(&self) -> Vec<&str> {
        self.entries.keys().map(String::as_str).collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = &(Blueprint, Origin)> {
        self.entries.values()
    }

    /// The error for a name the library does not know.
    pub fn unknown(&self, name: &str) -> String {
        format!("no blueprint {name:?}; known: {} (add your own with --blueprints DIR|FILE)", self.names().join(", "))
    }
}

fn yaml_files(path: &Path) -> Result<Vec<std::path::PathBuf>, LibraryError> {
    let err = |e: std::io::Error| LibraryError::Read { path: path.display().to_string(), message: e.to_string() };
    let meta = std::fs::metadata(path).map_err(err)?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).map_err(err)? {
        let p = entry.map_err(err)?.path();
        if p.is_file() && p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            files.push(p);
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_parses() {
        for (file, text) in BUILT_IN {
            Blueprint::parse(text, file).unwrap_or_else(|e| panic!("{e}"));
        }
        let lib = Library::built_in();
        assert_eq!(lib.names(), ["mariadb", "postgresql", "redis"]);
        assert_eq!(lib.get("postgres").map(|b| b.name.as_str()), Some("postgresql"));
        assert!(lib.unknown("mongo").contains("mariadb, postgresql, redis"));
    }

    #[test]
    fn a_user_blueprint_replaces_a_built_in() {
        let dir = std::env::temp_dir().join(format!("arca-bp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let text = BUILT_IN[2].1.replace("description: >-", "description: >-\n  mine.");
        std::fs::write(dir.join("redis.yaml"), text).unwrap();
        std::fs::write(dir.join("notes.txt"), "not a blueprint").unwrap();
        let lib = Library::load(&[&dir]).unwrap();
        let (bp, origin) = lib.entry("redis").unwrap();
        assert!(bp.description.starts_with("mine."));
        assert!(matches!(origin, Origin::File(p) if p.ends_with("redis.yaml")));
        std::fs::write(dir.join("bad.yaml"), "name: x\nbackup: {streams: []}\nrestore: {streams: []}\nextra: 1\n")
            .unwrap();
        let e = Library::load(&[&dir]).unwrap_err().to_string();
        assert!(e.contains("bad.yaml") && e.contains("extra"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
