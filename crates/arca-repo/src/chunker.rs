//! Content-defined chunking (FastCDC 2020) of a byte stream into data blobs.
//! Chunks are hashed, compressed and encrypted in parallel, a bounded batch
//! at a time, so memory stays flat whatever the stream length.

use std::io::Read;

use fastcdc::v2020::StreamCDC;
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

impl Repository {
    /// Chunks `reader` and stores every chunk as a data blob.
    pub fn save_stream<R: Read>(&self, reader: R, what: &str) -> Result<SavedStream> {
        let p = self.config().chunker;
        let chunker = StreamCDC::new(reader, p.min as usize, p.avg as usize, p.max as usize);
        let batch_len = rayon::current_num_threads().max(1) * 2;
        let mut out = SavedStream::default();
        let mut batch: Vec<Vec<u8>> = Vec::with_capacity(batch_len);
        for chunk in chunker {
            let chunk = chunk.map_err(|e| match e {
                fastcdc::v2020::Error::IoError(io) => Error::io(what, io),
                other => Error::Invalid(format!("chunking {what}: {other}")),
            })?;
            out.size += chunk.length as u64;
            batch.push(chunk.data);
            if batch.len() == batch_len {
                self.save_batch(&mut batch, &mut out)?;
            }
        }
        self.save_batch(&mut batch, &mut out)?;
        Ok(out)
    }

    fn save_batch(&self, batch: &mut Vec<Vec<u8>>, out: &mut SavedStream) -> Result<()> {
        let ids: Vec<Id> = if batch.len() == 1 {
            vec![self.save_blob(BlobType::Data, &batch[0])?]
        } else {
            batch.par_iter().map(|c| self.save_blob(BlobType::Data, c)).collect::<Result<_>>()?
        };
        out.zero_chunks += batch.iter().filter(|c| is_zero(c)).count() as u64;
        out.content.extend(ids);
        batch.clear();
        Ok(())
    }
}

/// True when every byte is zero.
pub fn is_zero(data: &[u8]) -> bool {
    let mut words = data.chunks_exact(16);
    let body_zero = words.all(|w| u128::from_ne_bytes(w.try_into().unwrap_or([1; 16])) == 0);
    body_zero && words.remainder().iter().all(|b| *b == 0)
}
