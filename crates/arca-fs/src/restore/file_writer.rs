//! Writes one file's content. Blobs are fetched a batch at a time in
//! parallel (a large file on object storage would otherwise wait on one
//! request at a time) and written at their offsets. Zeros are not written:
//! all-zero chunks are skipped whole, and inside other chunks every
//! block-aligned run of zeros is skipped, so holes stay holes even where a
//! chunk straddles data and hole. The file is new, so what is skipped reads
//! as zeros; the length is set at the end so a trailing hole exists too.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

use arca_repo::pack_reader::FileStep;
use arca_repo::{Id, Node, Repository, is_zero};
use nix::libc;
use parking_lot::Mutex;
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::progress::Progress;

pub(crate) struct FileWriter<'a> {
    pub repo: &'a Repository,
    pub progress: &'a dyn Progress,
    /// Blob ids known to be all zeros, with their length: a sparse file has
    /// many identical zero chunks, and each is fetched only once.
    pub zeros: Mutex<HashMap<Id, u64>>,
}

/// Bytes written and bytes left as holes.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Written {
    pub data: u64,
    pub holes: u64,
}

/// Creates `path`, which must not exist, never through a symlink.
fn create(path: &Path) -> Result<File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| Error::io("create", path, e))
}

impl FileWriter<'_> {
    /// Creates `path` (which must not exist) with `data`, the whole content
    /// of `node` already read.
    pub(crate) fn write_whole(&self, path: &Path, node: &Node, data: &[u8]) -> Result<Written> {
        if data.len() as u64 != node.size {
            return Err(Error::CorruptTree {
                path: path.to_path_buf(),
                detail: format!("content holds {} bytes, node says {}", data.len(), node.size),
            });
        }
        let file = create(path)?;
        let written = write_sparse(&file, data, 0, path)?;
        file.set_len(node.size).map_err(|e| Error::io("set length of", path, e))?;
        self.progress.bytes_processed(node.size);
        Ok(written)
    }

    /// Creates `path` (which must not exist) and writes `node`'s content.
    pub(crate) fn write(&self, path: &Path, node: &Node) -> Result<Written> {
        let file = create(path)?;
        let mut written = Written::default();
        let mut offset = 0u64;
        let steps = self.repo.plan_file_reads(&node.content)?;
        let batch = rayon::current_num_threads().max(1);
        for steps in steps.chunks(batch) {
            let fetched = steps.par_iter().map(|step| self.fetch_step(step)).collect::<Result<Vec<Vec<Blob>>>>()?;
            for blob in fetched.into_iter().flatten() {
                let len = match blob {
                    Blob::Zero(len) => {
                        written.holes += len;
                        len
                    }
                    Blob::Data(data) => {
                        let w = write_sparse(&file, &data, offset, path)?;
                        written.data += w.data;
                        written.holes += w.holes;
                        data.len() as u64
                    }
                };
                offset += len;
                self.progress.bytes_processed(len);
            }
        }
        if offset != node.size {
            return Err(Error::CorruptTree {
                path: path.to_path_buf(),
                detail: format!("content holds {offset} bytes, node says {}", node.size),
            });
        }
        file.set_len(offset).map_err(|e| Error::io("set length of", path, e))?;
        Ok(written)
    }

    /// The blobs of one planned read, in file order.
    fn fetch_step(&self, step: &FileStep) -> Result<Vec<Blob>> {
        match step {
            FileStep::Again(id) => Ok(vec![self.fetch(id)?]),
            FileStep::Run(read) if read.blobs.len() == 1 => Ok(vec![self.fetch(&read.blobs[0].0)?]),
            FileStep::Run(read) => {
                Ok(self.repo.read_run(read)?.into_iter().map(|(id, data)| self.classify(id, data)).collect())
            }
        }
    }

    /// A fetched blob, remembered when it is all zeros.
    fn classify(&self, id: Id, data: Vec<u8>) -> Blob {
        if is_zero(&data) {
            let len = data.len() as u64;
            self.zeros.lock().insert(id, len);
            return Blob::Zero(len);
        }
        Blob::Data(data)
    }

    pub(crate) fn fetch(&self, id: &Id) -> Result<Blob> {
        if let Some(len) = self.zeros.lock().get(id) {
            return Ok(Blob::Zero(*len));
        }
        let data = self.repo.load_blob(id)?;
        Ok(self.classify(*id, data))
    }
}

pub(crate) enum Blob {
    Zero(u64),
    Data(Vec<u8>),
}

/// Granularity of holes inside a chunk: the usual file system block size.
const BLOCK: u64 = 4096;

/// Writes `data` at `offset`, leaving out every block-aligned run of zeros.
pub(crate) fn write_sparse(file: &File, data: &[u8], offset: u64, path: &Path) -> Result<Written> {
    let mut out = Written::default();
    let mut run: Option<usize> = None;
    let flush = |start: usize, end: usize, out: &mut Written| {
        out.data += (end - start) as u64;
        file.write_all_at(&data[start..end], offset + start as u64).map_err(|e| Error::io("write", path, e))
    };
    let mut i = 0;
    while i < data.len() {
        let to_boundary = (BLOCK - (offset + i as u64) % BLOCK) as usize;
        let end = data.len().min(i + to_boundary);
        if is_zero(&data[i..end]) {
            if let Some(start) = run.take() {
                flush(start, i, &mut out)?;
            }
            out.holes += (end - i) as u64;
        } else if run.is_none() {
            run = Some(i);
        }
        i = end;
    }
    if let Some(start) = run {
        flush(start, data.len(), &mut out)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn zero_runs_inside_a_chunk_become_holes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let file = File::create(&path).unwrap();
        let mut data = vec![0u8; 4 * 1024 * 1024];
        data[10] = 1;
        data[3 * 1024 * 1024 + 5] = 2;
        let w = write_sparse(&file, &data, 100, &path).unwrap();
        file.set_len(100 + data.len() as u64).unwrap();
        assert_eq!(w.data + w.holes, data.len() as u64);
        assert!(w.data <= 3 * BLOCK, "{w:?}");
        let back = std::fs::read(&path).unwrap();
        assert_eq!(&back[100..], &data[..]);
        assert!(std::fs::metadata(&path).unwrap().blocks() * 512 <= 64 * 1024);
    }
}
