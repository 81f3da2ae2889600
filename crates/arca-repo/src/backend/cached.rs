//! A remote repository seen through its local metadata cache
//! ([`crate::cache`]): index files, snapshot documents, key files, forget
//! and key records, and packs of tree blobs are read from disk once they
//! have been downloaded or written, so that an unchanged re-backup or a
//! listing costs a LIST, not a download of the whole index.
//!
//! Listing a directory stays a real request: it is how new and removed
//! objects are seen (and removed ones dropped from the cache). Data packs
//! are never cached; `repo check`, `repo repair` and `verify` read the
//! repository itself, around the cache.

use std::collections::HashSet;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;

use super::{Backend, Entry, WriteMode};
use crate::cache::MetadataCache;
use crate::error::Result;

/// Directories whose objects are cached whole on every read and write.
const DOCUMENT_DIRS: [&str; 5] = ["index", "snapshots", "keys", "forgotten", "keylog"];

/// Wraps a backend with a metadata cache.
pub struct Cached {
    inner: Arc<dyn Backend>,
    cache: MetadataCache,
    /// Serialises whole-pack downloads of tree packs, so threads reading
    /// trees of one pack download it once.
    fetching: Mutex<()>,
}

impl Cached {
    pub fn new(inner: Arc<dyn Backend>, cache: MetadataCache) -> Self {
        Cached { inner, cache, fetching: Mutex::new(()) }
    }

    pub fn cache(&self) -> &MetadataCache {
        &self.cache
    }
}

fn top_dir(path: &str) -> &str {
    path.split('/').next().unwrap_or("")
}

fn is_document(path: &str) -> bool {
    path.contains('/') && DOCUMENT_DIRS.contains(&top_dir(path))
}

fn slice(bytes: &Bytes, range: &Range<u64>, path: &str) -> Result<Bytes> {
    let (start, end) = (range.start as usize, range.end as usize);
    if start > end || end > bytes.len() {
        return Err(crate::error::Error::corrupt(
            path,
            format!("range {range:?} is past its end ({} bytes)", bytes.len()),
        ));
    }
    Ok(bytes.slice(start..end))
}

impl Backend for Cached {
    fn location(&self) -> &str {
        self.inner.location()
    }

    fn get(&self, path: &str) -> Result<Bytes> {
        if !is_document(path) {
            return self.inner.get(path);
        }
        if let Some(bytes) = self.cache.get(path) {
            return Ok(Bytes::from(bytes));
        }
        let bytes = self.inner.get(path)?;
        self.cache.put(path, &bytes);
        Ok(bytes)
    }

    fn get_range(&self, path: &str, range: Range<u64>) -> Result<Bytes> {
        match self.cache.get_range(path, range.clone()) {
            Some(bytes) => Ok(Bytes::from(bytes)),
            None => self.inner.get_range(path, range),
        }
    }

    fn get_metadata_range(&self, path: &str, range: Range<u64>) -> Result<Bytes> {
        if let Some(bytes) = self.cache.get_range(path, range.clone()) {
            return Ok(Bytes::from(bytes));
        }
        let _one_at_a_time = self.fetching.lock();
        // Another thread may have fetched it while this one waited.
        if let Some(bytes) = self.cache.get_range(path, range.clone()) {
            return Ok(Bytes::from(bytes));
        }
        let whole = self.inner.get(path)?;
        self.cache.put(path, &whole);
        slice(&whole, &range, path)
    }

    fn put(&self, path: &str, data: Bytes, mode: WriteMode) -> Result<()> {
        self.inner.put(path, data.clone(), mode)?;
        if is_document(path) {
            self.cache.put(path, &data);
        }
        Ok(())
    }

    fn put_metadata(&self, path: &str, data: Bytes, mode: WriteMode) -> Result<()> {
        self.inner.put(path, data.clone(), mode)?;
        self.cache.put(path, &data);
        Ok(())
    }

    fn list(&self, dir: &str) -> Result<Vec<Entry>> {
        let entries = self.inner.list(dir)?;
        if DOCUMENT_DIRS.contains(&dir) || dir == "data" {
            let names: HashSet<&str> = entries.iter().map(|e| e.name.as_str()).collect();
            self.cache.retain_listed(dir, &names);
        }
        Ok(entries)
    }

    fn delete(&self, path: &str) -> Result<()> {
        self.inner.delete(path)?;
        self.cache.remove(path);
        Ok(())
    }

    fn size(&self, path: &str) -> Result<Option<u64>> {
        self.inner.size(path)
    }

    fn append_only(&self) -> bool {
        self.inner.append_only()
    }

    forward_object_lock!(inner);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{Counting, RequestCounter, Requests};
    use crate::cache::CacheSettings;
    use crate::id::Id;

    fn cached(repo: &std::path::Path, cache_root: &std::path::Path) -> (Cached, Arc<RequestCounter>) {
        let store: Arc<dyn Backend> = crate::backend::open(&repo.display().to_string(), true).unwrap();
        let counter = Arc::new(RequestCounter::new());
        let counted: Arc<dyn Backend> = Arc::new(Counting::new(store, Arc::clone(&counter)));
        let settings = CacheSettings { root: cache_root.to_path_buf(), limit_bytes: 1 << 20 };
        let cache = MetadataCache::open(&settings, counted.location()).unwrap();
        (Cached::new(counted, cache), counter)
    }

    #[test]
    fn documents_are_read_once_and_writes_are_kept() {
        let (repo, root) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (b, counter) = cached(repo.path(), root.path());
        let written = format!("snapshots/{}", Id::hash_of(b"one"));
        b.put(&written, Bytes::from_static(b"one"), WriteMode::Create).unwrap();
        assert_eq!(&b.get(&written).unwrap()[..], b"one");
        // Written by another client: downloaded once.
        let other = format!("index/{}", Id::hash_of(b"two"));
        std::fs::create_dir_all(repo.path().join("index")).unwrap();
        std::fs::write(repo.path().join(&other), b"two").unwrap();
        for _ in 0..3 {
            assert_eq!(&b.get(&other).unwrap()[..], b"two");
        }
        // Not named after its content: always read.
        b.put("config", Bytes::from_static(b"{}"), WriteMode::Create).unwrap();
        b.get("config").unwrap();
        b.get("config").unwrap();
        assert_eq!(counter.snapshot(), Requests { get: 3, put: 2, ..Requests::default() });
    }

    #[test]
    fn a_tree_pack_is_downloaded_whole_once_then_served_in_ranges() {
        let (repo, root) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let pack: Vec<u8> = (0..=255u8).cycle().take(4_096).collect();
        let id = Id::hash_of(&pack);
        let path = format!("data/{}/{id}", &id.to_hex()[..2]);
        {
            let (writer, _) = cached(repo.path(), tempfile::tempdir().unwrap().path());
            writer.put(&path, Bytes::from(pack.clone()), WriteMode::Create).unwrap();
        }
        let (b, counter) = cached(repo.path(), root.path());
        assert_eq!(&b.get_metadata_range(&path, 0..10).unwrap()[..], &pack[..10]);
        assert_eq!(&b.get_metadata_range(&path, 100..200).unwrap()[..], &pack[100..200]);
        assert_eq!(&b.get_range(&path, 4_000..4_096).unwrap()[..], &pack[4_000..]);
        assert_eq!(counter.snapshot(), Requests { get: 1, ..Requests::default() });
        assert!(b.get_metadata_range(&path, 4_000..5_000).is_err(), "past the end");
    }

    #[test]
    fn listing_drops_what_is_gone_and_deletes_forget_the_copy() {
        let (repo, root) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (b, _) = cached(repo.path(), root.path());
        let kept = format!("index/{}", Id::hash_of(b"kept"));
        let gone = format!("index/{}", Id::hash_of(b"gone"));
        let deleted = format!("index/{}", Id::hash_of(b"deleted"));
        for (path, bytes) in [(&kept, b"kept".as_slice()), (&gone, b"gone"), (&deleted, b"deleted")] {
            b.put(path, Bytes::copy_from_slice(bytes), WriteMode::Create).unwrap();
        }
        b.delete(&deleted).unwrap();
        assert!(!b.cache().dir().join(&deleted).exists());
        // Pruned by another client.
        std::fs::remove_file(repo.path().join(&gone)).unwrap();
        assert_eq!(b.list("index").unwrap().len(), 1);
        assert!(b.cache().dir().join(&kept).exists());
        assert!(!b.cache().dir().join(&gone).exists());
    }

    #[test]
    fn a_damaged_copy_is_fetched_again() {
        let (repo, root) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (b, _) = cached(repo.path(), root.path());
        let path = format!("keys/{}", Id::hash_of(b"key"));
        b.put(&path, Bytes::from_static(b"key"), WriteMode::Create).unwrap();
        std::fs::write(b.cache().dir().join(&path), b"planted").unwrap();
        let (b, counter) = cached(repo.path(), root.path());
        assert_eq!(&b.get(&path).unwrap()[..], b"key");
        assert_eq!(&b.get(&path).unwrap()[..], b"key");
        assert_eq!(counter.snapshot().get, 1, "fetched again once, then the new copy is used");
    }
}
