//! The write pipeline: sealed blobs are appended to an open pack per blob
//! type; full packs go to uploader threads; uploaded packs are recorded in
//! the in-memory index at once and in index files periodically and at flush.
//!
//! Write order keeps every state valid: a pack is in an index file only
//! after its upload succeeded, and snapshots are written after `flush`.

use std::collections::HashSet;
use std::sync::Arc;
use std::thread::JoinHandle;

use bytes::Bytes;
use crossbeam_channel::{Sender, bounded};
use parking_lot::Mutex;

use crate::backend::WriteMode;
use crate::error::{Error, Result};
use crate::id::Id;
use crate::index::{IndexFile, IndexPack};
use crate::pack::{BlobType, PackBuilder, pack_path};
use crate::repository::Inner;

/// Uploads running at once.
const UPLOADERS: usize = 4;
/// Packs recorded per index file written during a long backup, so a killed
/// backup leaves most of its work reusable.
const PACKS_PER_INDEX_FILE: usize = 64;
/// ... or this many blobs, whichever comes first: backups of many small
/// files put tens of thousands of blobs in a pack, and the entries waiting
/// for their index file (and its JSON) must not grow with the backup.
const BLOBS_PER_INDEX_FILE: usize = 50_000;

pub(crate) struct Writer {
    packers: Mutex<[PackBuilder; 2]>,
    sender: Mutex<Option<Sender<PackBuilder>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    state: Arc<UploadState>,
}

#[derive(Default)]
struct UploadState {
    /// Blobs claimed by this writer and not yet in the in-memory index
    /// (removed once their pack is uploaded and indexed).
    pending: Mutex<HashSet<Id>>,
    unindexed: Mutex<Vec<IndexPack>>,
    error: Mutex<Option<Error>>,
    stats: Mutex<WriteStats>,
}

/// What a write session stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct WriteStats {
    pub blobs_added: u64,
    pub packs_written: u64,
    /// Bytes of blobs before compression and encryption.
    pub bytes_added_raw: u64,
    /// Bytes of packs uploaded.
    pub bytes_stored: u64,
}

impl WriteStats {
    /// Adds the stats of another flush of the same run.
    pub fn add(&mut self, other: &WriteStats) {
        self.blobs_added += other.blobs_added;
        self.packs_written += other.packs_written;
        self.bytes_added_raw += other.bytes_added_raw;
        self.bytes_stored += other.bytes_stored;
    }
}

impl Writer {
    pub(crate) fn start(inner: &Arc<Inner>) -> Result<Self> {
        let (tx, rx) = bounded::<PackBuilder>(UPLOADERS);
        let state = Arc::new(UploadState::default());
        let mut threads = Vec::new();
        for n in 0..UPLOADERS {
            let rx = rx.clone();
            let inner = Arc::clone(inner);
            let state = Arc::clone(&state);
            let handle = std::thread::Builder::new()
                .name(format!("arca-upload-{n}"))
                .spawn(move || {
                    for builder in rx {
                        if let Err(e) = upload(&inner, &state, builder) {
                            state.error.lock().get_or_insert(e);
                        }
                    }
                })
                .map_err(|e| Error::io("upload thread", e))?;
            threads.push(handle);
        }
        Ok(Writer {
            packers: Mutex::new([PackBuilder::default(), PackBuilder::default()]),
            sender: Mutex::new(Some(tx)),
            threads: Mutex::new(threads),
            state,
        })
    }

    /// Claims a blob id; false when this session already stores it or an
    /// upload has indexed it meanwhile (checked under the pending lock, so a
    /// blob leaving `pending` for the index is never claimed twice).
    pub(crate) fn claim(&self, inner: &Inner, id: Id) -> bool {
        let mut pending = self.state.pending.lock();
        !inner.index.read().contains(&id) && pending.insert(id)
    }

    pub(crate) fn add(&self, inner: &Inner, kind: BlobType, id: Id, sealed: &[u8], raw_len: usize) -> Result<()> {
        self.check_error()?;
        let full = {
            let mut packers = self.packers.lock();
            let packer = &mut packers[kind.code() as usize];
            packer.add(id, kind, sealed);
            if packer.len() as u64 >= inner.config.pack_size { Some(std::mem::take(packer)) } else { None }
        };
        {
            let mut stats = self.state.stats.lock();
            stats.blobs_added += 1;
            stats.bytes_added_raw += raw_len as u64;
        }
        if let Some(builder) = full {
            self.send(builder)?;
        }
        Ok(())
    }

    fn send(&self, builder: PackBuilder) -> Result<()> {
        let sender = self.sender.lock().clone();
        match sender {
            Some(tx) => tx.send(builder).map_err(|_| Error::Invalid("upload pipeline stopped".into())),
            None => Err(Error::Invalid("writer already finished".into())),
        }
    }

    fn check_error(&self) -> Result<()> {
        match self.state.error.lock().take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Uploads open packs, waits for every upload, writes the index file.
    pub(crate) fn finish(&self, inner: &Inner) -> Result<WriteStats> {
        let open: Vec<PackBuilder> =
            self.packers.lock().iter_mut().map(std::mem::take).filter(|p| !p.is_empty()).collect();
        for builder in open {
            self.send(builder)?;
        }
        drop(self.sender.lock().take());
        for handle in self.threads.lock().drain(..) {
            // A panicked uploader lost its pack: flush must not report success.
            if handle.join().is_err() {
                self.state.error.lock().get_or_insert(Error::Invalid("a pack upload thread panicked".into()));
            }
        }
        self.check_error()?;
        let rest = std::mem::take(&mut *self.state.unindexed.lock());
        write_index(inner, rest)?;
        self.state.pending.lock().clear();
        Ok(*self.state.stats.lock())
    }
}

fn upload(inner: &Inner, state: &UploadState, builder: PackBuilder) -> Result<()> {
    let (bytes, blobs) = builder.finish(&inner.cipher);
    let id = Id::hash_of(&bytes);
    let size = bytes.len() as u64;
    let path = pack_path(&id);
    let stored = if blobs.iter().all(|b| b.kind == BlobType::Tree) {
        inner.backend.put_metadata(&path, Bytes::from(bytes), WriteMode::Create)
    } else {
        inner.backend.put(&path, Bytes::from(bytes), WriteMode::Create)
    };
    match stored {
        Ok(()) | Err(Error::AlreadyExists { .. }) => {}
        Err(e) => return Err(e),
    }
    inner.index.write().add_pack(id, &blobs);
    {
        let mut pending = state.pending.lock();
        for b in &blobs {
            pending.remove(&b.id);
        }
    }
    {
        let mut stats = state.stats.lock();
        stats.packs_written += 1;
        stats.bytes_stored += size;
    }
    let batch = {
        let mut unindexed = state.unindexed.lock();
        unindexed.push(IndexPack { id, blobs });
        let entries: usize = unindexed.iter().map(|p| p.blobs.len()).sum();
        if unindexed.len() >= PACKS_PER_INDEX_FILE || entries >= BLOBS_PER_INDEX_FILE {
            std::mem::take(&mut *unindexed)
        } else {
            Vec::new()
        }
    };
    write_index(inner, batch)
}

fn write_index(inner: &Inner, packs: Vec<IndexPack>) -> Result<()> {
    if packs.is_empty() {
        return Ok(());
    }
    inner.save_json("index", &IndexFile { supersedes: Vec::new(), packs }).map(|_| ())
}
