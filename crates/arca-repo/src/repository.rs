//! Opening, creating and using a repository: blobs in, blobs out, encrypted
//! JSON files (index, snapshots) and key management.

use std::sync::Arc;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::backend::{Backend, WriteMode};
use crate::config::{Config, FORMAT_VERSION};
use crate::crypto::{Cipher, MasterKey, envelope, unenvelope};
use crate::error::{Error, Result};
use crate::id::Id;
use crate::index::{Index, IndexFile};
use crate::keylog::{KeyAction, KeyEvent};
use crate::keys::{KdfParams, KeyFile};
use crate::pack::{BlobType, blob_aad, pack_path};
use crate::writer::{WriteStats, Writer};

pub(crate) struct Inner {
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) config: Config,
    pub(crate) key: MasterKey,
    pub(crate) cipher: Cipher,
    pub(crate) key_id: Id,
    pub(crate) index: RwLock<Index>,
    writer: Mutex<Option<Arc<Writer>>>,
    compression: i32,
}

/// An open repository. Cheap to clone; safe to use from many threads.
#[derive(Clone)]
pub struct Repository {
    pub(crate) inner: Arc<Inner>,
}

/// Index files with their ids.
pub(crate) type IndexFileList = Vec<(Id, IndexFile)>;

/// The index files of a repository read one by one ([`Repository::read_index_files`]).
#[derive(Debug, Default)]
pub struct IndexFiles {
    pub readable: Vec<(Id, IndexFile)>,
    /// Files that are damaged, with the error that says how.
    pub damaged: Vec<(Id, Error)>,
}

/// Options of `init`.
#[derive(Debug, Clone, Default)]
pub struct InitOptions {
    pub kdf: KdfParams,
    pub config: Config,
}

impl Repository {
    /// Creates a new repository with a random master key wrapped by `password`.
    pub fn init(backend: Arc<dyn Backend>, password: &[u8], opts: InitOptions) -> Result<Repository> {
        let location = backend.location().to_string();
        if backend.size("config")?.is_some() {
            return Err(Error::AlreadyInitialized { repo: location });
        }
        if let Some(lock) = opts.config.object_lock {
            backend.check_object_lock()?;
            backend.enable_object_lock(lock)?;
        }
        let key = MasterKey::random();
        let key_id = write_key(backend.as_ref(), &key, password, opts.kdf)?;
        let config_bytes = serde_json::to_vec_pretty(&opts.config).map_err(|e| json_err("config", e))?;
        match backend.put("config", Bytes::from(config_bytes), WriteMode::Create) {
            Err(Error::AlreadyExists { .. }) => return Err(Error::AlreadyInitialized { repo: location }),
            other => other?,
        }
        let repo = Self::assemble(backend, opts.config, key, key_id);
        repo.log_key_event(&KeyEvent::now(KeyAction::Added, key_id, None))?;
        Ok(repo)
    }

    /// Opens an existing repository; tries every key file with `password`.
    pub fn open(backend: Arc<dyn Backend>, password: &[u8]) -> Result<Repository> {
        let location = backend.location().to_string();
        let config_bytes = match backend.get("config") {
            Ok(b) => b,
            Err(Error::NotFound { .. }) => return Err(Error::NotInitialized { repo: location }),
            Err(e) => return Err(e),
        };
        let config: Config = serde_json::from_slice(&config_bytes).map_err(|e| json_err("repository config", e))?;
        if config.version > FORMAT_VERSION {
            return Err(Error::UnsupportedVersion { found: config.version, supported: FORMAT_VERSION });
        }
        if let Some(lock) = config.object_lock {
            // A copy of a locked repository elsewhere still reads; what it writes is not locked.
            if let Err(e) = backend.enable_object_lock(lock) {
                tracing::warn!("{e}: new objects are written without retention");
            }
        }
        for entry in backend.list("keys")? {
            let what = format!("key file keys/{}", entry.name);
            // A damaged or planted key file must not lock everyone out: the others are tried.
            match try_key(backend.as_ref(), &entry.name, &what, password) {
                Ok(Some((key, key_id))) => return Ok(Self::assemble(backend, config, key, key_id)),
                Ok(None) => {}
                // Damaged or planted: skipped. The storage failing is not a wrong password.
                Err(e @ (Error::Corrupt { .. } | Error::Json { .. } | Error::Invalid(_))) => {
                    tracing::warn!("skipping {what}: {e}; `arca repo check` reports it")
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::WrongPassword { repo: location })
    }

    fn assemble(backend: Arc<dyn Backend>, config: Config, key: MasterKey, key_id: Id) -> Repository {
        let cipher = key.cipher();
        let compression = config.compression;
        Repository {
            inner: Arc::new(Inner {
                backend,
                config,
                key,
                cipher,
                key_id,
                index: RwLock::new(Index::new()),
                writer: Mutex::new(None),
                compression,
            }),
        }
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.inner.backend
    }

    pub fn location(&self) -> &str {
        self.inner.backend.location()
    }

    /// The key file this session opened the repository with.
    pub fn key_id(&self) -> Id {
        self.inner.key_id
    }

    /// Keyed content id of `data`.
    pub fn blob_id(&self, data: &[u8]) -> Id {
        self.inner.key.blob_id(data)
    }

    /// Loads every index file into memory (needed before reading or
    /// deduplicating blobs). Returns the ids of the index files read.
    pub fn load_index(&self) -> Result<Vec<Id>> {
        let files = self.load_index_files()?;
        let ids = files.iter().map(|(id, _)| *id).collect();
        *self.inner.index.write() = Index::from_files(&files);
        Ok(ids)
    }

    /// Every index file, decrypted. A damaged file that a readable one
    /// supersedes is skipped (readers ignore superseded files; `arca repo
    /// repair index` leaves such files behind where it may not delete); any
    /// other damaged file is an error.
    pub fn load_index_files(&self) -> Result<Vec<(Id, IndexFile)>> {
        self.load_index_files_and_ignored().map(|(files, _)| files)
    }

    /// [`Repository::load_index_files`], and the damaged superseded files it skipped.
    pub(crate) fn load_index_files_and_ignored(&self) -> Result<(IndexFileList, Vec<Id>)> {
        let IndexFiles { readable, damaged } = self.read_index_files()?;
        let superseded: std::collections::HashSet<Id> =
            readable.iter().flat_map(|(_, f)| f.supersedes.iter().copied()).collect();
        let mut ignored = Vec::new();
        for (id, e) in damaged {
            if !superseded.contains(&id) {
                return Err(e);
            }
            tracing::debug!("ignoring superseded damaged index file index/{id}: {e}");
            ignored.push(id);
        }
        Ok((readable, ignored))
    }

    /// Every index file, each read on its own: the readable ones, and the
    /// damaged ones (undecryptable, malformed, or not matching their name)
    /// with what is wrong. `Err` when the storage fails: a file that could
    /// not be read is not known to be damaged.
    pub fn read_index_files(&self) -> Result<IndexFiles> {
        let (ids, foreign) = self.list_ids("index")?;
        warn_foreign("index", &foreign);
        let mut out = IndexFiles::default();
        for id in ids {
            match self.load_json::<IndexFile>("index", &id) {
                Ok(file) => out.readable.push((id, file)),
                Err(e @ (Error::Corrupt { .. } | Error::Json { .. })) => out.damaged.push((id, e)),
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Read access to the in-memory index.
    pub fn index(&self) -> parking_lot::RwLockReadGuard<'_, Index> {
        self.inner.index.read()
    }

    /// Stores a blob unless the repository already has it. Returns its id.
    pub fn save_blob(&self, kind: BlobType, data: &[u8]) -> Result<Id> {
        let id = self.inner.key.blob_id(data);
        if self.inner.index.read().contains(&id) {
            return Ok(id);
        }
        let writer = self.writer()?;
        if !writer.claim(&self.inner, id) {
            return Ok(id);
        }
        let level = if kind == BlobType::Tree { self.inner.compression.max(1) } else { self.inner.compression };
        let sealed = self.inner.cipher.seal(&envelope(data, level), &blob_aad(kind, &id));
        writer.add(&self.inner, kind, id, &sealed, data.len())?;
        Ok(id)
    }

    fn writer(&self) -> Result<Arc<Writer>> {
        let mut slot = self.inner.writer.lock();
        if let Some(w) = slot.as_ref() {
            return Ok(Arc::clone(w));
        }
        let w = Arc::new(Writer::start(&self.inner)?);
        *slot = Some(Arc::clone(&w));
        Ok(w)
    }

    /// Uploads everything pending and writes its index file. Call before
    /// saving a snapshot that refers to the blobs saved so far.
    pub fn flush(&self) -> Result<WriteStats> {
        let writer = self.inner.writer.lock().take();
        match writer {
            Some(w) => w.finish(&self.inner),
            None => Ok(WriteStats::default()),
        }
    }

    /// Whether a blob is readable: indexed, not only queued in a pack being written.
    pub fn is_indexed(&self, id: &Id) -> bool {
        self.inner.index.read().contains(id)
    }

    /// Reads, decrypts and verifies one blob.
    pub fn load_blob(&self, id: &Id) -> Result<Vec<u8>> {
        let loc = self.inner.index.read().get(id).ok_or_else(|| Error::BlobMissing { id: id.to_hex() })?;
        let path = pack_path(&loc.pack);
        let range = u64::from(loc.offset)..u64::from(loc.offset) + u64::from(loc.length);
        let sealed = match loc.kind {
            BlobType::Tree => self.inner.backend.get_metadata_range(&path, range)?,
            _ => self.inner.backend.get_range(&path, range)?,
        };
        self.decode_blob(id, loc.kind, &sealed, &path)
    }

    /// Decrypts a sealed blob read from pack `pack_path`, checking its id.
    pub fn decode_blob(&self, id: &Id, kind: BlobType, sealed: &[u8], pack_path: &str) -> Result<Vec<u8>> {
        let what = format!("blob {} in pack {pack_path}", id.short());
        let plain = self.inner.cipher.open(sealed, &blob_aad(kind, id), &what)?;
        let data = unenvelope(plain, &what)?;
        if self.inner.key.blob_id(&data) != *id {
            return Err(Error::corrupt(what, "content does not match its id"));
        }
        Ok(data)
    }

    /// Reads the blob list of a pack from its header (for check and repair).
    pub fn read_pack_header(&self, pack: &Id, bytes: &[u8]) -> Result<Vec<crate::pack::PackedBlob>> {
        crate::pack::read_header(bytes, &self.inner.cipher, &pack_path(pack))
    }

    /// Reads the blob list of a stored pack of `size` bytes from its end
    /// only: one ranged read (two for a header longer than
    /// [`crate::pack::HEADER_TAIL`]), never the blobs.
    pub fn fetch_pack_header(&self, pack: &Id, size: u64) -> Result<Vec<crate::pack::PackedBlob>> {
        let path = pack_path(pack);
        if size < 4 {
            return Err(Error::corrupt(&path, "pack too short"));
        }
        let tail_start = size - size.min(crate::pack::HEADER_TAIL);
        let tail = self.inner.backend.get_range(&path, tail_start..size)?;
        if (tail.len() as u64) != size - tail_start {
            return Err(Error::corrupt(&path, "shorter than listed (truncated while being read?)"));
        }
        let span = crate::pack::header_span(&tail[tail.len() - 4..], size, &path)?;
        let sealed = if span.start >= tail_start {
            tail.slice((span.start - tail_start) as usize..(span.end - tail_start) as usize)
        } else {
            self.inner.backend.get_range(&path, span.clone())?
        };
        crate::pack::parse_header(&sealed, span.start, &self.inner.cipher, &path)
    }

    /// Saves an encrypted JSON document under `dir/<id>`, content-addressed.
    pub fn save_json<T: Serialize>(&self, dir: &str, value: &T) -> Result<Id> {
        self.inner.save_json(dir, value)
    }

    /// Loads and decrypts `dir/<id>`, verifying its name matches its content.
    pub fn load_json<T: DeserializeOwned>(&self, dir: &str, id: &Id) -> Result<T> {
        let path = format!("{dir}/{id}");
        let bytes = self.inner.backend.get(&path)?;
        if Id::hash_of(&bytes) != *id {
            return Err(Error::corrupt(&path, "content does not match its name"));
        }
        self.inner.open_json(&bytes, dir, &path)
    }

    /// Ids stored under `dir`, and names there that are not ids.
    pub fn list_ids(&self, dir: &str) -> Result<(Vec<Id>, Vec<String>)> {
        let mut ids = Vec::new();
        let mut foreign = Vec::new();
        for entry in self.inner.backend.list(dir)? {
            match entry.name.parse::<Id>() {
                Ok(id) => ids.push(id),
                Err(_) => foreign.push(format!("{dir}/{}", entry.name)),
            }
        }
        ids.sort();
        Ok((ids, foreign))
    }

    /// Fails before anything is written when this client may not delete
    /// (append-only): `what` (forget, prune) would stop half-way otherwise.
    pub fn ensure_may_delete(&self, what: &'static str) -> Result<()> {
        if self.inner.backend.append_only() {
            return Err(Error::AppendOnly { path: self.location().to_string(), action: what });
        }
        Ok(())
    }

    pub fn delete_file(&self, dir: &str, id: &Id) -> Result<()> {
        self.inner.backend.delete(&format!("{dir}/{id}"))
    }

    /// Seals bytes with the repository key (used by locks).
    pub(crate) fn seal(&self, plain: &[u8], aad: &[u8]) -> Vec<u8> {
        self.inner.cipher.seal(plain, aad)
    }

    pub(crate) fn open_sealed(&self, sealed: &[u8], aad: &[u8], what: &str) -> Result<Vec<u8>> {
        self.inner.cipher.open(sealed, aad, what)
    }

    /// Adds a key file for `password`; returns its id.
    pub fn add_key(&self, password: &[u8], params: KdfParams) -> Result<Id> {
        let id = write_key(self.inner.backend.as_ref(), &self.inner.key, password, params)?;
        self.log_key_event(&KeyEvent::now(KeyAction::Added, id, Some(self.key_id())))?;
        Ok(id)
    }

    /// Every key file with its metadata.
    pub fn list_keys(&self) -> Result<Vec<(Id, KeyFile)>> {
        let mut out = Vec::new();
        for entry in self.inner.backend.list("keys")? {
            let what = format!("key file keys/{}", entry.name);
            let id: Id = entry.name.parse().map_err(|_| Error::corrupt(&what, "name is not an id"))?;
            let bytes = self.inner.backend.get(&format!("keys/{id}"))?;
            let file: KeyFile = serde_json::from_slice(&bytes).map_err(|e| json_err(&what, e))?;
            out.push((id, file));
        }
        out.sort_by_key(|(_, k)| k.created);
        Ok(out)
    }

    /// Removes a key file; refuses to remove the last one.
    pub fn remove_key(&self, id: &Id) -> Result<()> {
        let keys = self.list_keys()?;
        if !keys.iter().any(|(k, _)| k == id) {
            return Err(Error::KeyNotFound { id: id.to_hex() });
        }
        if keys.len() == 1 {
            return Err(Error::LastKey { id: id.to_hex() });
        }
        self.inner.backend.delete(&format!("keys/{id}"))?;
        self.log_key_event(&KeyEvent::now(KeyAction::Removed, *id, Some(self.key_id())))
    }
}

impl Inner {
    pub(crate) fn save_json<T: Serialize>(&self, dir: &str, value: &T) -> Result<Id> {
        let json = serde_json::to_vec(value).map_err(|e| json_err(dir, e))?;
        let sealed = self.cipher.seal(&envelope(&json, self.compression.max(1)), dir.as_bytes());
        let id = Id::hash_of(&sealed);
        match self.backend.put(&format!("{dir}/{id}"), Bytes::from(sealed), WriteMode::Create) {
            Ok(()) | Err(Error::AlreadyExists { .. }) => Ok(id),
            Err(e) => Err(e),
        }
    }

    fn open_json<T: DeserializeOwned>(&self, bytes: &[u8], dir: &str, what: &str) -> Result<T> {
        let plain = unenvelope(self.cipher.open(bytes, dir.as_bytes(), what)?, what)?;
        serde_json::from_slice(&plain).map_err(|e| json_err(what, e))
    }
}

/// The master key from key file `name` if `password` opens it.
fn try_key(backend: &dyn Backend, name: &str, what: &str, password: &[u8]) -> Result<Option<(MasterKey, Id)>> {
    let key_id: Id = name.parse().map_err(|_| Error::corrupt(what, "name is not an id"))?;
    let bytes = backend.get(&format!("keys/{name}"))?;
    let file: KeyFile = serde_json::from_slice(&bytes).map_err(|e| json_err(what, e))?;
    Ok(file.unwrap_key(password, what)?.map(|key| (key, key_id)))
}

fn write_key(backend: &dyn Backend, key: &MasterKey, password: &[u8], params: KdfParams) -> Result<Id> {
    let file = KeyFile::wrap(key, password, params)?;
    let bytes = serde_json::to_vec_pretty(&file).map_err(|e| json_err("key file", e))?;
    let id = Id::hash_of(&bytes);
    backend.put(&format!("keys/{id}"), Bytes::from(bytes), WriteMode::Create)?;
    Ok(id)
}

fn json_err(what: &str, source: serde_json::Error) -> Error {
    Error::Json { what: what.to_string(), source }
}

pub(crate) fn warn_foreign(dir: &str, names: &[String]) {
    for name in names {
        tracing::warn!("ignoring foreign object {name} in {dir}/ (not written by Arca); `arca repo check` reports it");
    }
}
