//! A [`Backend`] over the `object_store` crate (local disk, S3, GCS, Azure).
//!
//! The engine is synchronous (its work is CPU-bound hashing, compression and
//! encryption); object IO runs on a private tokio runtime.

use std::future::Future;
use std::ops::Range;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use super::object_lock::{RawS3, Recovery, to_recover};
use super::{Backend, Entry, WriteMode};
use crate::config::ObjectLock;
use crate::error::{Error, Result};

pub struct ObjectStoreBackend {
    location: String,
    store: Arc<dyn ObjectStore>,
    prefix: String,
    /// Always `Some` until drop; taken there to shut down without blocking.
    runtime: Option<tokio::runtime::Runtime>,
    /// For what `object_store` has no call for (S3 only), and the bucket.
    s3: Option<(RawS3, String)>,
    /// Set once the repository's config asks for Object Lock.
    locked: OnceLock<ObjectLock>,
}

impl Drop for ObjectStoreBackend {
    /// A runtime dropped normally blocks, which panics inside async code (the
    /// Kubernetes layers); shutting down in the background is safe anywhere.
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl ObjectStoreBackend {
    pub fn new(location: &str, store: Arc<dyn ObjectStore>, prefix: &str) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("arca-io")
            .enable_all()
            .build()
            .map_err(|e| Error::io("tokio runtime", e))?;
        Ok(ObjectStoreBackend {
            location: location.to_string(),
            store,
            prefix: prefix.to_string(),
            runtime: Some(runtime),
            s3: None,
            locked: OnceLock::new(),
        })
    }

    /// The backend of an S3 bucket: Object Lock writes become possible.
    pub fn s3(location: &str, store: Arc<object_store::aws::AmazonS3>, bucket: &str, prefix: &str) -> Result<Self> {
        let mut backend = Self::new(location, store.clone(), prefix)?;
        backend.s3 = Some((RawS3::new(store), bucket.to_string()));
        Ok(backend)
    }

    /// After deletes or overwrites through the storage's own API (stolen
    /// credentials): makes every object's first version current again, the
    /// `config` first (it says how to lock the rest). Needs a versioned
    /// bucket (Object Lock buckets are).
    pub fn recover_versions(&self, dry_run: bool) -> Result<Recovery> {
        let Some((raw, bucket)) = &self.s3 else {
            return Err(Error::Invalid(format!("{}: recovering versions needs an S3 repository", self.location)));
        };
        let versions = self
            .block_on(raw.list_versions(&self.prefix))
            .map_err(|detail| Error::Backend { path: self.location.clone(), detail })?;
        let (intact, mut todo) = to_recover(&versions);
        todo.sort_by_key(|v| v.key != "config");
        let mut report = Recovery { intact, restored: Vec::new() };
        for v in todo {
            if !dry_run {
                let p = self.path(&v.key);
                let source = format!("{bucket}/{}", p.as_ref());
                let lock = self.locked.get().copied();
                self.block_on(raw.restore_version(&source, &p, &v.version_id, lock.as_ref()))
                    .map_err(|detail| Error::Backend { path: v.key.clone(), detail })?;
                if v.key == "config" {
                    self.lock_as_configured()?;
                }
            }
            report.restored.push(v.key);
        }
        Ok(report)
    }

    fn enable_object_lock_unsupported(&self) -> Result<()> {
        Err(Error::Invalid(format!(
            "{}: Object Lock needs an S3 repository (s3://bucket/prefix) on a bucket with Object Lock enabled",
            self.location
        )))
    }

    /// Reads `config` and takes its Object Lock settings.
    fn lock_as_configured(&self) -> Result<()> {
        let config: crate::config::Config = serde_json::from_slice(&self.get("config")?)
            .map_err(|e| Error::Json { what: "repository config".into(), source: e })?;
        match config.object_lock {
            Some(lock) => self.enable_object_lock(lock),
            None => Ok(()),
        }
    }

    fn path(&self, rel: &str) -> Path {
        if self.prefix.is_empty() { Path::from(rel) } else { Path::from(format!("{}/{rel}", self.prefix)) }
    }

    /// Runs a future to completion, also when called from inside another
    /// tokio runtime (the Kubernetes layers are async).
    fn block_on<F>(&self, fut: F) -> F::Output
    where
        F: Future + Send,
        F::Output: Send,
    {
        let Some(runtime) = self.runtime.as_ref() else { unreachable!("the runtime lives until drop") };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| runtime.block_on(fut))
            }
            Ok(_) => std::thread::scope(|s| s.spawn(|| runtime.block_on(fut)).join())
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(_) => runtime.block_on(fut),
        }
    }

    fn put_once(&self, path: &str, data: Bytes, mode: WriteMode) -> std::result::Result<(), PutError> {
        let p = self.path(path);
        // Locks come and go: never retained, so they can be released.
        if let (Some(lock), Some((raw, _))) = (self.locked.get().filter(|_| !path.starts_with("locks/")), &self.s3) {
            return self.block_on(raw.put_locked(&p, data, lock)).map_err(|detail| {
                let transport = is_transport(&detail);
                let e = Error::Backend { path: path.to_string(), detail };
                if transport { PutError::Transport(e) } else { PutError::Other(e) }
            });
        }
        let opts = PutOptions {
            mode: match mode {
                WriteMode::Create => PutMode::Create,
                WriteMode::Overwrite => PutMode::Overwrite,
            },
            ..Default::default()
        };
        self.block_on(self.store.put_opts(&p, PutPayload::from_bytes(data), opts)).map(|_| ()).map_err(|e| {
            let transport = matches!(e, object_store::Error::Generic { .. }) && is_transport(&e.to_string());
            let e = self.map_err(path, e);
            if transport { PutError::Transport(e) } else { PutError::Other(e) }
        })
    }

    fn map_err(&self, path: &str, err: object_store::Error) -> Error {
        match err {
            object_store::Error::NotFound { .. } => Error::NotFound { path: path.to_string() },
            object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. } => {
                Error::AlreadyExists { path: path.to_string() }
            }
            other => {
                let detail = other.to_string();
                if detail.contains("NoSuchBucket") || detail.contains("bucket does not exist") {
                    Error::BucketNotFound { repo: self.location.clone(), detail: first_line(&detail) }
                } else {
                    Error::Backend { path: path.to_string(), detail: first_line(&detail) }
                }
            }
        }
    }
}

/// How long a write is retried while the storage cannot be reached.
const PUT_RETRY_FOR: std::time::Duration = std::time::Duration::from_secs(120);

/// A failed write: the connection broke (worth another try), or an answer.
enum PutError {
    Transport(Error),
    Other(Error),
}

/// Whether an error's text says the request never got an answer (the
/// client library exposes no kind for it).
fn is_transport(detail: &str) -> bool {
    ["error sending request", "connection", "timed out", "broken pipe"].iter().any(|w| detail.contains(w))
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().chars().take(400).collect()
}

impl Backend for ObjectStoreBackend {
    fn location(&self) -> &str {
        &self.location
    }

    fn get(&self, path: &str) -> Result<Bytes> {
        let p = self.path(path);
        self.block_on(async { self.store.get(&p).await?.bytes().await }).map_err(|e| self.map_err(path, e))
    }

    fn get_range(&self, path: &str, range: Range<u64>) -> Result<Bytes> {
        let p = self.path(path);
        let want = range.end - range.start;
        let data = self.block_on(self.store.get_range(&p, range)).map_err(|e| self.map_err(path, e))?;
        if data.len() as u64 != want {
            return Err(Error::corrupt(path, format!("short read: wanted {want} bytes, got {}", data.len())));
        }
        Ok(data)
    }

    fn put(&self, path: &str, data: Bytes, mode: WriteMode) -> Result<()> {
        // `object_store` retries a conditional put only on answers, not when
        // the connection breaks (the write may have landed): retried here.
        let deadline = std::time::Instant::now() + PUT_RETRY_FOR;
        let mut wait = std::time::Duration::from_millis(250);
        let mut retried = false;
        loop {
            match self.put_once(path, data.clone(), mode) {
                Err(PutError::Transport(e)) if std::time::Instant::now() + wait < deadline => {
                    tracing::debug!("retrying the write of {path} in {wait:?}: {e}");
                    std::thread::sleep(wait);
                    wait = (wait * 2).min(std::time::Duration::from_secs(8));
                    retried = true;
                }
                Err(PutError::Transport(e)) | Err(PutError::Other(e)) => {
                    // An earlier try that landed: the same bytes are there.
                    if retried && matches!(e, Error::AlreadyExists { .. }) && self.get(path).is_ok_and(|b| b == data) {
                        return Ok(());
                    }
                    return Err(e);
                }
                Ok(()) => return Ok(()),
            }
        }
    }

    fn list(&self, dir: &str) -> Result<Vec<Entry>> {
        let p = self.path(dir);
        // The root has no trailing delimiter to strip (listing it finds foreign objects).
        let base = if p.as_ref().is_empty() { String::new() } else { format!("{}/", p.as_ref()) };
        let metas: Vec<_> =
            self.block_on(self.store.list(Some(&p)).try_collect::<Vec<_>>()).map_err(|e| self.map_err(dir, e))?;
        Ok(metas
            .into_iter()
            .filter_map(|m| {
                let full = m.location.as_ref();
                let name = full.strip_prefix(&base)?.to_string();
                Some(Entry { name, size: m.size })
            })
            .collect())
    }

    fn delete(&self, path: &str) -> Result<()> {
        let p = self.path(path);
        match self.block_on(self.store.delete(&p)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.map_err(path, e)),
        }
    }

    /// Extends the retention of each of `keys` to the repository's
    /// retention from now, 16 at a time; how many were extended.
    fn extend_retention(&self, keys: &[String]) -> Result<u64> {
        let (Some((raw, _)), Some(lock)) = (&self.s3, self.locked.get()) else {
            return Err(Error::Invalid(format!("{}: the repository has no Object Lock", self.location)));
        };
        let results: Vec<std::result::Result<(), (String, String)>> = self.block_on(
            futures::stream::iter(keys)
                .map(|key| async move { raw.extend(&self.path(key), lock).await.map_err(|e| (key.clone(), e)) })
                .buffer_unordered(16)
                .collect(),
        );
        let mut extended = 0;
        for result in results {
            match result {
                Ok(()) => extended += 1,
                Err((key, detail)) => return Err(Error::Backend { path: key, detail }),
            }
        }
        Ok(extended)
    }

    fn check_object_lock(&self) -> Result<()> {
        let Some((raw, bucket)) = &self.s3 else { return self.enable_object_lock_unsupported() };
        self.block_on(raw.object_lock_enabled(bucket)).map_err(Error::Invalid)
    }

    fn enable_object_lock(&self, lock: ObjectLock) -> Result<()> {
        if self.s3.is_none() {
            return self.enable_object_lock_unsupported();
        }
        let _ = self.locked.set(lock);
        Ok(())
    }

    fn size(&self, path: &str) -> Result<Option<u64>> {
        let p = self.path(path);
        match self.block_on(self.store.head(&p)) {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.map_err(path, e)),
        }
    }
}

/// Access keys from the shared credentials file (`~/.aws/credentials`,
/// profile `AWS_PROFILE` or `default`) when none are in the environment.
pub(super) fn profile_credentials() -> Option<(String, String)> {
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_some() {
        return None;
    }
    let file = std::env::var_os("AWS_SHARED_CREDENTIALS_FILE")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".aws/credentials")))?;
    let text = std::fs::read_to_string(file).ok()?;
    let profile = std::env::var("AWS_PROFILE").unwrap_or_else(|_| "default".into());
    parse_profile(&text, &profile)
}

fn parse_profile(text: &str, profile: &str) -> Option<(String, String)> {
    let ini = ini::Ini::load_from_str(text).ok()?;
    let section = ini.section(Some(profile))?;
    Some((section.get("aws_access_key_id")?.to_string(), section.get("aws_secret_access_key")?.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn usable_and_droppable_inside_async_code() {
        let dir = tempfile::tempdir().unwrap();
        let backend = crate::backend::open(&dir.path().to_string_lossy(), true).unwrap();
        backend.put("x", Bytes::from_static(b"1"), WriteMode::Create).unwrap();
        assert_eq!(backend.get("x").unwrap(), Bytes::from_static(b"1"));
        drop(backend);
    }

    #[test]
    fn reads_named_profile() {
        let text = "[default]\naws_access_key_id = A\naws_secret_access_key = B\n[other]\naws_access_key_id=C\naws_secret_access_key=D\n";
        assert_eq!(parse_profile(text, "other"), Some(("C".into(), "D".into())));
        assert_eq!(parse_profile(text, "default"), Some(("A".into(), "B".into())));
        assert_eq!(parse_profile(text, "none"), None);
    }
}
