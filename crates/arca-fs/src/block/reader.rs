//! Reading a device into fixed-size chunks: a batch of chunks is read in
//! order, then hashed, compressed and stored in parallel, so memory stays at
//! a few chunks per worker whatever the device's size.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::path::Path;

use arca_repo::{BlobType, Id, Repository, is_zero};
use nix::errno::Errno;
use nix::unistd::{Whence, lseek};
use rayon::prelude::*;

use super::BLOCK_CHUNK;
use crate::error::{Error, Result};
use crate::progress::Progress;

/// What reading a device gave.
pub(crate) struct ReadImage {
    /// Bytes cut into chunks (the device's size, or the limit).
    pub size: u64,
    /// The whole device's (or file's) size.
    pub device_size: u64,
    pub content: Vec<Id>,
    /// Bytes actually read (holes of a sparse file are skipped).
    pub bytes_read: u64,
}

/// One chunk of the device, as read.
enum Chunk {
    /// All zeros, of this length (a hole, or zeros read).
    Zero(usize),
    Data(Vec<u8>),
}

/// What is done with each chunk: stored, or only hashed.
pub(crate) type ChunkFn<'f> = &'f (dyn Fn(&[u8]) -> arca_repo::Result<Id> + Sync);

/// Reads `device` end to end and stores each chunk.
pub(crate) fn read_image(repo: &Repository, device: &Path, progress: &dyn Progress) -> Result<ReadImage> {
    read_chunks(device, None, progress, &|data| repo.save_blob(BlobType::Data, data))
}

/// Cuts `device` (at most its first `limit` bytes) into fixed chunks and
/// gives each to `each`, an all-zero chunk once per length.
pub(crate) fn read_chunks(
    device: &Path,
    limit: Option<u64>,
    progress: &dyn Progress,
    each: ChunkFn<'_>,
) -> Result<ReadImage> {
    let mut file = File::open(device).map_err(|e| Error::io("open", device, e))?;
    let md = file.metadata().map_err(|e| Error::io("stat", device, e))?;
    if md.is_dir() {
        return Err(Error::Invalid(format!(
            "{} is a directory, not a block device or image file; back up directories with --source",
            device.display()
        )));
    }
    // A block device's metadata says length 0: its size is where its end is.
    let device_size = file.seek(SeekFrom::End(0)).map_err(|e| Error::io("find the size of", device, e))?;
    let size = limit.map_or(device_size, |l| l.min(device_size));
    progress.totals(1, size, true);
    let mut zero_ids: HashMap<usize, Id> = HashMap::new();
    let mut out = ReadImage { size, device_size, content: Vec::new(), bytes_read: 0 };
    let batch = rayon::current_num_threads().max(1) * 2;
    let mut offset = 0u64;
    while offset < size {
        let mut chunks = Vec::with_capacity(batch);
        while chunks.len() < batch && offset < size {
            let len = (size - offset).min(BLOCK_CHUNK as u64) as usize;
            let chunk = read_chunk(&file, device, offset, len, &mut out.bytes_read)?;
            chunks.push(chunk);
            offset += len as u64;
        }
        for chunk in &chunks {
            if let Chunk::Zero(len) = chunk
                && !zero_ids.contains_key(len)
            {
                zero_ids.insert(*len, each(&vec![0u8; *len])?);
            }
        }
        let ids = chunks
            .par_iter()
            .map(|c| match c {
                Chunk::Zero(len) => Ok(zero_ids[len]),
                Chunk::Data(data) => Ok(each(data)?),
            })
            .collect::<Result<Vec<Id>>>()?;
        for c in &chunks {
            progress.bytes_processed(match c {
                Chunk::Zero(len) => *len as u64,
                Chunk::Data(d) => d.len() as u64,
            });
        }
        out.content.extend(ids);
    }
    progress.file_done(device, size);
    Ok(out)
}

/// Reads `len` bytes at `offset`, or nothing when the range is a hole.
fn read_chunk(file: &File, device: &Path, offset: u64, len: usize, bytes_read: &mut u64) -> Result<Chunk> {
    if is_hole(file, offset, len) {
        return Ok(Chunk::Zero(len));
    }
    let mut data = vec![0u8; len];
    file.read_exact_at(&mut data, offset).map_err(|e| Error::io("read", device, e))?;
    *bytes_read += len as u64;
    Ok(if is_zero(&data) { Chunk::Zero(len) } else { Chunk::Data(data) })
}

/// Whether `offset..offset+len` holds no data (file systems that know
/// holes answer `SEEK_DATA`; devices and others say "not supported", and
/// their chunks are read).
fn is_hole(file: &File, offset: u64, len: usize) -> bool {
    let Ok(start) = i64::try_from(offset) else { return false };
    match lseek(file.as_fd(), start, Whence::SeekData) {
        Ok(next_data) => next_data as u64 >= offset + len as u64,
        // No data at or after `offset`: the rest of the file is a hole.
        Err(Errno::ENXIO) => true,
        Err(_) => false,
    }
}
