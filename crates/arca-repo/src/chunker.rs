//! Content-defined chunking (FastCDC 2020) of a byte stream into data blobs.
//!
//! Small streams (up to the maximum chunk size) are read into memory and cut
//! in place, with no per-stream buffers or threads: backups of many small
//! files spend their time on the files, not on setup. Larger streams are
//! read and cut on a reader thread while the calling thread hashes,
//! compresses and encrypts a bounded batch of chunks in parallel, so disk
//! reads overlap CPU work and memory stays flat whatever the length.

use std::io::{Cursor, Read};

use fastcdc::v2020::{FastCDC, StreamCDC};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::id::Id;
use crate::pack::BlobType;
use crate::repository::Repository;

/// What a saved stream became.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SavedStream {
    pub content: Vec<Id>,
    pub size: u64,
    /// Chunks made only of zero bytes: restored as holes.
    pub zero_chunks: u64,
}

/// A stream cut as [`Repository::save_stream`] cuts it, its chunks only
/// hashed: what a saved copy's content ids must be.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HashedStream {
    pub content: Vec<Id>,
    /// Each chunk's length, in order.
    pub lengths: Vec<u64>,
    pub size: u64,
}

/// What is done with each chunk cut: stored, or only hashed.
type ChunkFn<'f> = &'f (dyn Fn(&[u8]) -> Result<Id> + Sync);

/// A cut stream: the ids the chunk function gave, in order.
#[derive(Default)]
struct Cut {
    content: Vec<Id>,
    lengths: Vec<u64>,
    size: u64,
    zero_chunks: u64,
}

impl Repository {
    /// Chunks `reader` and stores every chunk as a data blob.
    pub fn save_stream<R: Read>(&self, reader: R, what: &str) -> Result<SavedStream> {
        let cut = self.cut_stream(reader, what, &|chunk| self.save_blob(BlobType::Data, chunk))?;
        Ok(SavedStream { content: cut.content, size: cut.size, zero_chunks: cut.zero_chunks })
    }

    /// Chunks `reader` exactly as [`Repository::save_stream`] does and only
    /// hashes each chunk: the content ids a stored copy of the same bytes
    /// has. Stores and reads nothing (no index needed).
    pub fn hash_stream<R: Read>(&self, reader: R, what: &str) -> Result<HashedStream> {
        let cut = self.cut_stream(reader, what, &|chunk| Ok(self.blob_id(chunk)))?;
        Ok(HashedStream { content: cut.content, lengths: cut.lengths, size: cut.size })
    }

    /// Cuts `reader` into chunks and gives each to `each`. Small streams
    /// (below the maximum chunk size) are cut in memory.
    fn cut_stream<R: Read>(&self, mut reader: R, what: &str, each: ChunkFn<'_>) -> Result<Cut> {
        let max = self.config().chunker.max as usize;
        let mut head = Vec::new();
        (&mut reader).take(max as u64).read_to_end(&mut head).map_err(|e| Error::io(what, e))?;
        if head.len() < max {
            return self.cut_buffer(&head, each);
        }
        self.cut_large(Cursor::new(head).chain(reader), what, each)
    }

    /// Cuts an in-memory stream.
    fn cut_buffer(&self, data: &[u8], each: ChunkFn<'_>) -> Result<Cut> {
        let p = self.config().chunker;
        let chunks: Vec<&[u8]> = if data.len() <= p.min as usize {
            if data.is_empty() { Vec::new() } else { vec![data] }
        } else {
            FastCDC::new(data, p.min as usize, p.avg as usize, p.max as usize)
                .map(|c| &data[c.offset..c.offset + c.length])
                .collect()
        };
        let content: Vec<Id> = match chunks.as_slice() {
            [] => Vec::new(),
            [one] => vec![each(one)?],
            many => many.par_iter().map(|c| each(c)).collect::<Result<_>>()?,
        };
        Ok(Cut {
            content,
            lengths: chunks.iter().map(|c| c.len() as u64).collect(),
            size: data.len() as u64,
            zero_chunks: chunks.iter().filter(|c| is_zero(c)).count() as u64,
        })
    }

    /// Cuts a long stream on the calling thread while worker threads hash
    /// (and store) the chunks already cut (at most two per worker wait, so
    /// memory stays bounded).
    fn cut_large<R: Read>(&self, reader: R, what: &str, each: ChunkFn<'_>) -> Result<Cut> {
        let p = self.config().chunker;
        let workers = rayon::current_num_threads().max(1);
        let (job_tx, job_rx) = crossbeam_channel::bounded::<(usize, Vec<u8>)>(workers * 2);
        let (done_tx, done_rx) = crossbeam_channel::unbounded::<(usize, Result<Id>, bool)>();
        std::thread::scope(|scope| {
            for _ in 0..workers {
                let (jobs, done) = (job_rx.clone(), done_tx.clone());
                scope.spawn(move || {
                    for (seq, chunk) in jobs {
                        let saved = each(&chunk);
                        if done.send((seq, saved, is_zero(&chunk))).is_err() {
                            break;
                        }
                    }
                });
            }
            drop((job_rx, done_tx));
            let mut out = Cut::default();
            let mut first_error = None;
            let mut count = 0;
            for chunk in StreamCDC::new(reader, p.min as usize, p.avg as usize, p.max as usize) {
                match chunk {
                    Ok(c) => {
                        out.size += c.length as u64;
                        out.lengths.push(c.length as u64);
                        if job_tx.send((count, c.data)).is_err() {
                            break;
                        }
                        count += 1;
                    }
                    Err(fastcdc::v2020::Error::IoError(io)) => {
                        first_error = Some(Error::io(what, io));
                        break;
                    }
                    Err(other) => {
                        first_error = Some(Error::Invalid(format!("chunking {what}: {other}")));
                        break;
                    }
                }
            }
            drop(job_tx);
            let mut ids = vec![None; count];
            for (seq, saved, zero) in done_rx {
                match saved {
                    Ok(id) => ids[seq] = Some(id),
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
                out.zero_chunks += u64::from(zero);
            }
            if let Some(e) = first_error {
                return Err(e);
            }
            out.content = ids.into_iter().collect::<Option<Vec<Id>>>().ok_or_else(|| {
                Error::Invalid(format!("chunking {what}: a worker stopped before saving every chunk"))
            })?;
            Ok(out)
        })
    }
}

/// True when every byte is zero.
pub fn is_zero(data: &[u8]) -> bool {
    let mut words = data.chunks_exact(16);
    let body_zero = words.all(|w| u128::from_ne_bytes(w.try_into().unwrap_or([1; 16])) == 0);
    body_zero && words.remainder().iter().all(|b| *b == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::open;
    use crate::{InitOptions, KdfParams};

    fn repo() -> (tempfile::TempDir, Repository) {
        let dir = tempfile::tempdir().unwrap();
        let backend = open(&dir.path().join("r").to_string_lossy(), true).unwrap();
        let opts = InitOptions { kdf: KdfParams::insecure_fast(), ..Default::default() };
        let repo = Repository::init(backend, b"pw", opts).unwrap();
        (dir, repo)
    }

    fn pseudo_random(len: usize, mut seed: u64) -> Vec<u8> {
        (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect()
    }

    #[test]
    fn in_memory_and_streaming_cuts_agree() {
        let (_dir, repo) = repo();
        let data = pseudo_random(20 << 20, 7);
        let streamed = repo.save_stream(&data[..], "big").unwrap();
        let p = repo.config().chunker;
        let in_memory: Vec<Id> = FastCDC::new(&data, p.min as usize, p.avg as usize, p.max as usize)
            .map(|c| repo.blob_id(&data[c.offset..c.offset + c.length]))
            .collect();
        assert_eq!(streamed.content, in_memory);
        assert_eq!(streamed.size, data.len() as u64);
        // Hashing cuts the same way and stores nothing.
        let hashed = repo.hash_stream(&data[..], "big").unwrap();
        assert_eq!(hashed.content, streamed.content);
        assert_eq!(hashed.lengths.iter().sum::<u64>(), data.len() as u64);
        assert_eq!(repo.hash_stream(&data[..1000], "small").unwrap().lengths, vec![1000]);
        assert!(repo.hash_stream(&[][..], "empty").unwrap().content.is_empty());
        // A small stream is one blob; an empty one none.
        assert_eq!(repo.save_stream(&data[..1000], "small").unwrap().content, vec![repo.blob_id(&data[..1000])]);
        assert!(repo.save_stream(&[][..], "empty").unwrap().content.is_empty());
        repo.flush().unwrap();
        let restored: Vec<u8> = streamed.content.iter().flat_map(|id| repo.load_blob(id).unwrap()).collect();
        assert!(restored == data);
    }

    #[test]
    fn zero_detection() {
        assert!(is_zero(&[0; 100]));
        assert!(!is_zero(&[0, 0, 1]));
        let mut v = vec![0u8; 33];
        v[32] = 1;
        assert!(!is_zero(&v));
    }
}
