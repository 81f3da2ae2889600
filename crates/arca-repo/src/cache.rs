//! The local metadata cache of a remote repository: copies of objects that
//! never change once written (index files, snapshot documents, key files,
//! forget and key records, packs of tree blobs), so that a re-backup or a
//! listing does not download them again.
//!
//! Safe by construction:
//! - every cached object is named after its content (`id` =
//!   BLAKE3(bytes), `docs/FORMAT.md`), and a copy is used only after its
//!   bytes hash to its name, so a damaged or planted file is fetched again,
//!   never trusted;
//! - the copies are the stored objects byte for byte: sealed with the
//!   repository key, as encrypted at rest as the repository itself;
//! - writes go to a temporary file renamed into place, so a killed process
//!   leaves whole files or none; deleting the directory at any time costs
//!   only downloads;
//! - the total size is bounded: the least recently used files go first.

use std::collections::HashSet;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use parking_lot::Mutex;

use crate::id::Id;

/// The default bound on one repository's cache.
pub const DEFAULT_LIMIT_BYTES: u64 = 2 << 30;

/// Written at the cache root, so that backup tools (Arca's own file
/// backups among them, through `--exclude-caches`-style rules) skip it.
const CACHEDIR_TAG: &str =
    "Signature: 8a477f597d28d172789f06886806bc55\n# This directory is Arca's metadata cache; it can be deleted.\n";

/// Where the cache lives and how large it may grow.
#[derive(Debug, Clone)]
pub struct CacheSettings {
    /// The root holding one directory per repository.
    pub root: PathBuf,
    pub limit_bytes: u64,
}

impl CacheSettings {
    /// `ARCA_CACHE_DIR`, else `$XDG_CACHE_HOME/arca`, else `$HOME/.cache/arca`;
    /// `None` when none is set.
    pub fn default_root() -> Option<PathBuf> {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        var("ARCA_CACHE_DIR")
            .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("arca")))
            .or_else(|| var("HOME").map(|d| d.join(".cache").join("arca")))
    }
}

/// One repository's cache directory.
pub struct MetadataCache {
    dir: PathBuf,
    limit_bytes: u64,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Bytes on disk as last counted, plus what this process added.
    bytes: u64,
    /// Objects whose copy hashed to its name in this process: not hashed again.
    verified: HashSet<String>,
}

/// What went wrong with the cache; never fails a command, only logged.
#[derive(Debug, thiserror::Error)]
#[error("metadata cache {path}: {source}")]
pub struct CacheError {
    path: String,
    source: std::io::Error,
}

fn cache_err(path: &Path) -> impl FnOnce(std::io::Error) -> CacheError + '_ {
    move |source| CacheError { path: path.display().to_string(), source }
}

impl MetadataCache {
    /// The cache of the repository at `location` below `settings.root`,
    /// created when missing.
    pub fn open(settings: &CacheSettings, location: &str) -> Result<MetadataCache, CacheError> {
        std::fs::create_dir_all(&settings.root).map_err(cache_err(&settings.root))?;
        let tag = settings.root.join("CACHEDIR.TAG");
        if !tag.exists() {
            std::fs::write(&tag, CACHEDIR_TAG).map_err(cache_err(&tag))?;
        }
        let dir = settings.root.join(directory_name(location));
        std::fs::create_dir_all(&dir).map_err(cache_err(&dir))?;
        let bytes = files_below(&dir).iter().map(|(_, len, _)| len).sum();
        Ok(MetadataCache {
            dir,
            limit_bytes: settings.limit_bytes,
            state: Mutex::new(State { bytes, ..State::default() }),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn file(&self, object: &str) -> PathBuf {
        self.dir.join(object)
    }

    /// The cached copy of `object`, when there is one whose bytes hash to its name.
    pub fn get(&self, object: &str) -> Option<Vec<u8>> {
        let id = content_id(object)?;
        let path = self.file(object);
        let bytes = std::fs::read(&path).ok()?;
        if Id::hash_of(&bytes) != id {
            tracing::debug!("metadata cache: {} does not match its name; fetching it again", path.display());
            self.remove(object);
            return None;
        }
        self.state.lock().verified.insert(object.to_string());
        touch(&path);
        Some(bytes)
    }

    /// `range` of the cached copy of `object`; the whole file is hashed the
    /// first time this process reads it.
    pub fn get_range(&self, object: &str, range: std::ops::Range<u64>) -> Option<Vec<u8>> {
        let verified = self.state.lock().verified.contains(object);
        if !verified {
            return self
                .get(object)
                .and_then(|all| all.get(range.start as usize..range.end as usize).map(<[u8]>::to_vec));
        }
        let file = File::open(self.file(object)).ok()?;
        let mut buf = vec![0u8; usize::try_from(range.end.checked_sub(range.start)?).ok()?];
        file.read_exact_at(&mut buf, range.start).ok()?;
        Some(buf)
    }

    /// Keeps a copy of `object` (only objects named after their content).
    pub fn put(&self, object: &str, bytes: &[u8]) {
        if content_id(object).is_none() {
            return;
        }
        if let Err(e) = self.write(object, bytes) {
            tracing::debug!("{e}");
            return;
        }
        let over = {
            let mut state = self.state.lock();
            state.bytes += bytes.len() as u64;
            state.verified.insert(object.to_string());
            state.bytes > self.limit_bytes
        };
        if over {
            self.evict();
        }
    }

    fn write(&self, object: &str, bytes: &[u8]) -> Result<(), CacheError> {
        let path = self.file(object);
        let parent = path.parent().unwrap_or(&self.dir);
        std::fs::create_dir_all(parent).map_err(cache_err(parent))?;
        let mut tmp = tempfile::NamedTempFile::new_in(parent).map_err(cache_err(parent))?;
        tmp.write_all(bytes).map_err(cache_err(&path))?;
        tmp.persist(&path).map_err(|e| CacheError { path: path.display().to_string(), source: e.error })?;
        Ok(())
    }

    pub fn remove(&self, object: &str) {
        let path = self.file(object);
        if let Ok(meta) = std::fs::metadata(&path)
            && std::fs::remove_file(&path).is_ok()
        {
            let mut state = self.state.lock();
            state.bytes = state.bytes.saturating_sub(meta.len());
            state.verified.remove(object);
        }
    }

    /// Drops the copies below `dir` whose objects the repository no longer
    /// lists (`names`, relative to `dir`): pruned index files, forgotten
    /// snapshots.
    pub fn retain_listed(&self, dir: &str, names: &HashSet<&str>) {
        let root = self.file(dir);
        for (path, _, _) in files_below(&root) {
            let Ok(rel) = path.strip_prefix(&root) else { continue };
            let rel = rel.to_string_lossy();
            if !names.contains(rel.as_ref()) {
                self.remove(&format!("{dir}/{rel}"));
            }
        }
    }

    /// Deletes the least recently used files until the cache is at most
    /// nine tenths of its bound.
    fn evict(&self) {
        let mut files = files_below(&self.dir);
        let mut total: u64 = files.iter().map(|(_, len, _)| len).sum();
        let target = self.limit_bytes / 10 * 9;
        files.sort_by_key(|(_, _, used)| *used);
        for (path, len, _) in files {
            if total <= target {
                break;
            }
            if std::fs::remove_file(&path).is_ok() {
                total -= len;
                if let Ok(rel) = path.strip_prefix(&self.dir) {
                    self.state.lock().verified.remove(rel.to_string_lossy().as_ref());
                }
            }
        }
        self.state.lock().bytes = total;
    }

    /// Bytes on disk.
    pub fn bytes(&self) -> u64 {
        self.state.lock().bytes
    }
}

/// The id an object is named after (`index/<id>`, `data/ab/<id>`), if any.
fn content_id(object: &str) -> Option<Id> {
    let (dir, name) = object.rsplit_once('/')?;
    let top = dir.split('/').next()?;
    matches!(top, "index" | "snapshots" | "keys" | "forgotten" | "keylog" | "data").then_some(())?;
    name.parse().ok()
}

/// One directory per repository location, named by a hash of it (a URL
/// may hold characters a file name cannot).
fn directory_name(location: &str) -> String {
    blake3::hash(location.as_bytes()).to_hex()[..32].to_string()
}

/// Every file below `dir` (temporary files included), with its size and
/// last use (modification time, which a hit moves forward).
fn files_below(dir: &Path) -> Vec<(PathBuf, u64, SystemTime)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                todo.push(entry.path());
            } else {
                out.push((entry.path(), meta.len(), meta.modified().unwrap_or(SystemTime::UNIX_EPOCH)));
            }
        }
    }
    out
}

fn touch(path: &Path) {
    if let Ok(file) = File::options().append(true).open(path) {
        let _ = file.set_modified(SystemTime::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(root: &Path, limit: u64) -> MetadataCache {
        MetadataCache::open(&CacheSettings { root: root.to_path_buf(), limit_bytes: limit }, "s3://bucket/repo")
            .unwrap()
    }

    fn object(dir: &str, bytes: &[u8]) -> String {
        format!("{dir}/{}", Id::hash_of(bytes))
    }

    #[test]
    fn keeps_content_addressed_objects_and_checks_them_on_read() {
        let root = tempfile::tempdir().unwrap();
        let c = cache(root.path(), 1 << 20);
        let name = object("index", b"an index file");
        c.put(&name, b"an index file");
        assert_eq!(c.get(&name).as_deref(), Some(&b"an index file"[..]));
        assert!(root.path().join("CACHEDIR.TAG").is_file());

        // Damaged on disk: not trusted, and gone.
        std::fs::write(c.dir().join(&name), b"tampered").unwrap();
        let fresh = cache(root.path(), 1 << 20);
        assert_eq!(fresh.get(&name), None);
        assert!(!fresh.dir().join(&name).exists());
    }

    #[test]
    fn objects_not_named_after_their_content_are_not_kept() {
        let root = tempfile::tempdir().unwrap();
        let c = cache(root.path(), 1 << 20);
        c.put("config", b"{}");
        c.put("locks/abc", b"x");
        c.put(&format!("locks/{}", Id::hash_of(b"x")), b"x");
        assert_eq!(c.bytes(), 0);
        assert_eq!(c.get("config"), None);
    }

    #[test]
    fn ranges_of_a_cached_pack() {
        let root = tempfile::tempdir().unwrap();
        let c = cache(root.path(), 1 << 20);
        let pack: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        let id = Id::hash_of(&pack);
        let name = format!("data/{}/{id}", &id.to_hex()[..2]);
        c.put(&name, &pack);
        assert_eq!(c.get_range(&name, 10..20).unwrap(), pack[10..20]);
        // A fresh process hashes the file once before serving ranges.
        let fresh = cache(root.path(), 1 << 20);
        assert_eq!(fresh.get_range(&name, 9_990..10_000).unwrap(), pack[9_990..]);
        assert_eq!(fresh.get_range(&name, 9_990..10_001), None, "past the end");
    }

    #[test]
    fn stays_within_its_bound_dropping_the_least_recently_used() {
        let root = tempfile::tempdir().unwrap();
        let c = cache(root.path(), 10_000);
        let blobs: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; 3_000]).collect();
        let names: Vec<String> = blobs.iter().map(|b| object("snapshots", b)).collect();
        for (i, (name, bytes)) in names.iter().zip(&blobs).enumerate() {
            if i == 3 {
                // The oldest is used again: now the second oldest goes first.
                assert!(c.get(&names[0]).is_some());
            }
            c.put(name, bytes);
            // Distinct modification times, oldest first.
            let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000 + i as u64);
            File::options().append(true).open(c.dir().join(name)).unwrap().set_modified(t).unwrap();
        }
        assert!(c.bytes() <= 9_000, "{} bytes", c.bytes());
        let kept: Vec<bool> = names.iter().map(|n| c.dir().join(n).exists()).collect();
        assert_eq!(kept, [true, false, false, true, true]);
    }

    #[test]
    fn drops_what_the_repository_no_longer_lists() {
        let root = tempfile::tempdir().unwrap();
        let c = cache(root.path(), 1 << 20);
        let a = Id::hash_of(b"a").to_hex();
        let b = Id::hash_of(b"b").to_hex();
        c.put(&format!("index/{a}"), b"a");
        c.put(&format!("index/{b}"), b"b");
        c.retain_listed("index", &HashSet::from([a.as_str()]));
        assert!(c.get(&format!("index/{a}")).is_some());
        assert!(!c.dir().join(format!("index/{b}")).exists());
        assert_eq!(c.bytes(), 1);
    }
}
