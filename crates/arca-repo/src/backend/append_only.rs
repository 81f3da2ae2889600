//! Append-only access: a backend that adds objects and never deletes or
//! overwrites one, lock files apart (they are released and refreshed; they
//! hold no data). A backup host or cluster running this way cannot destroy
//! what is stored even if it is compromised; `forget`, `prune` and key
//! changes run elsewhere, with credentials that may delete. On object
//! storage, pair it with credentials the storage itself holds to the same
//! rule (`docs/SECURITY.md`): this mode keeps an honest client honest, the
//! storage's policy stops a dishonest one.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;

use super::{Backend, Entry, WriteMode};
use crate::error::{Error, Result};

/// Wraps a backend; every delete or overwrite outside `locks/` is refused.
pub struct AppendOnly(pub Arc<dyn Backend>);

fn is_lock(path: &str) -> bool {
    path.strip_prefix("locks/").is_some_and(|rest| !rest.is_empty() && !rest.contains('/'))
}

fn refuse_overwrite(path: &str, mode: WriteMode) -> Result<()> {
    if mode == WriteMode::Overwrite && !is_lock(path) {
        return Err(Error::AppendOnly { path: path.to_string(), action: "overwrite" });
    }
    Ok(())
}

impl Backend for AppendOnly {
    fn location(&self) -> &str {
        self.0.location()
    }

    fn get(&self, path: &str) -> Result<Bytes> {
        self.0.get(path)
    }

    fn get_range(&self, path: &str, range: Range<u64>) -> Result<Bytes> {
        self.0.get_range(path, range)
    }

    fn put(&self, path: &str, data: Bytes, mode: WriteMode) -> Result<()> {
        refuse_overwrite(path, mode)?;
        self.0.put(path, data, mode)
    }

    fn get_metadata_range(&self, path: &str, range: Range<u64>) -> Result<Bytes> {
        self.0.get_metadata_range(path, range)
    }

    fn put_metadata(&self, path: &str, data: Bytes, mode: WriteMode) -> Result<()> {
        refuse_overwrite(path, mode)?;
        self.0.put_metadata(path, data, mode)
    }

    fn list(&self, dir: &str) -> Result<Vec<Entry>> {
        self.0.list(dir)
    }

    fn delete(&self, path: &str) -> Result<()> {
        if !is_lock(path) {
            return Err(Error::AppendOnly { path: path.to_string(), action: "delete" });
        }
        self.0.delete(path)
    }

    fn size(&self, path: &str) -> Result<Option<u64>> {
        self.0.size(path)
    }

    fn append_only(&self) -> bool {
        true
    }

    forward_object_lock!(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_lock_files_may_go_or_change() {
        let dir = tempfile::tempdir().unwrap();
        let inner: Arc<dyn Backend> = crate::backend::open(&dir.path().display().to_string(), true).unwrap();
        let b = AppendOnly(inner);
        b.put("snapshots/aa", Bytes::from_static(b"x"), WriteMode::Create).unwrap();
        b.put("locks/bb", Bytes::from_static(b"1"), WriteMode::Create).unwrap();
        b.put("locks/bb", Bytes::from_static(b"2"), WriteMode::Overwrite).unwrap();
        b.delete("locks/bb").unwrap();
        for (path, err) in [
            ("snapshots/aa", b.delete("snapshots/aa")),
            ("snapshots/aa", b.put("snapshots/aa", Bytes::from_static(b"y"), WriteMode::Overwrite)),
            ("locks/../snapshots/aa", b.delete("locks/../snapshots/aa")),
            ("config", b.delete("config")),
        ] {
            let e = err.expect_err(path).to_string();
            assert!(e.contains("append-only") && e.contains(path), "{e}");
        }
        assert_eq!(&b.get("snapshots/aa").unwrap()[..], b"x", "nothing changed");
    }
}
