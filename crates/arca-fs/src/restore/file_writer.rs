//! Writes one file's content. Blobs are fetched a batch at a time in
//! parallel (a large file on object storage would otherwise wait on one
//! request at a time) and written at their offsets; chunks made only of
//! zeros are not written at all, so holes stay holes, and the length is set
//! at the end so a trailing hole exists too.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

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

impl FileWriter<'_> {
    /// Creates `path` (which must not exist) and writes `node`'s content.
    pub(crate) fn write(&self, path: &Path, node: &Node) -> Result<Written> {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
            .map_err(|e| Error::io("create", path, e))?;
        let mut written = Written::default();
        let mut offset = 0u64;
        let batch = rayon::current_num_threads().max(1) * 2;
        for ids in node.content.chunks(batch) {
            let blobs = ids
                .par_iter()
                .map(|id| self.fetch(id))
                .collect::<Result<Vec<Blob>>>()?;
            for blob in blobs {
                let len = match blob {
                    Blob::Zero(len) => {
                        written.holes += len;
                        len
                    }
                    Blob::Data(data) => {
                        write_at(&file, &data, offset, path)?;
                        written.data += data.len() as u64;
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
        file.set_len(offset)
            .map_err(|e| Error::io("set length of", path, e))?;
        Ok(written)
    }

    fn fetch(&self, id: &Id) -> Result<Blob> {
        if let Some(len) = self.zeros.lock().get(id) {
            return Ok(Blob::Zero(*len));
        }
        let data = self.repo.load_blob(id)?;
        if is_zero(&data) {
            let len = data.len() as u64;
            self.zeros.lock().insert(*id, len);
            return Ok(Blob::Zero(len));
        }
        Ok(Blob::Data(data))
    }
}

enum Blob {
    Zero(u64),
    Data(Vec<u8>),
}

fn write_at(file: &File, data: &[u8], offset: u64, path: &Path) -> Result<()> {
    file.write_all_at(data, offset)
        .map_err(|e| Error::io("write", path, e))
}
