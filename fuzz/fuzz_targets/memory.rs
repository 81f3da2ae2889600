//! A repository backend in memory, so the fuzzers run without disk IO.

use std::collections::BTreeMap;
use std::ops::Range;

use arca_repo::backend::{Backend, Entry, WriteMode};
use arca_repo::{Error, Result};
use bytes::Bytes;
use parking_lot::Mutex;

#[derive(Default)]
pub struct Memory(Mutex<BTreeMap<String, Bytes>>);

impl Memory {
    pub fn insert(&self, path: &str, data: Bytes) {
        self.0.lock().insert(path.to_string(), data);
    }
}

impl Backend for Memory {
    fn location(&self) -> &str {
        "memory"
    }

    fn get(&self, path: &str) -> Result<Bytes> {
        self.0.lock().get(path).cloned().ok_or_else(|| Error::NotFound { path: path.into() })
    }

    fn get_range(&self, path: &str, range: Range<u64>) -> Result<Bytes> {
        let all = self.get(path)?;
        let (start, end) = (range.start as usize, range.end as usize);
        if start > end || end > all.len() {
            return Err(Error::NotFound { path: path.into() });
        }
        Ok(all.slice(start..end))
    }

    fn put(&self, path: &str, data: Bytes, mode: WriteMode) -> Result<()> {
        let mut map = self.0.lock();
        if mode == WriteMode::Create && map.contains_key(path) {
            return Err(Error::AlreadyExists { path: path.into() });
        }
        map.insert(path.to_string(), data);
        Ok(())
    }

    fn list(&self, dir: &str) -> Result<Vec<Entry>> {
        let prefix = if dir.is_empty() { String::new() } else { format!("{dir}/") };
        Ok(self
            .0
            .lock()
            .iter()
            .filter_map(|(k, v)| k.strip_prefix(&prefix).map(|n| Entry { name: n.to_string(), size: v.len() as u64 }))
            .collect())
    }

    fn delete(&self, path: &str) -> Result<()> {
        self.0.lock().remove(path);
        Ok(())
    }

    fn size(&self, path: &str) -> Result<Option<u64>> {
        Ok(self.0.lock().get(path).map(|b| b.len() as u64))
    }
}
