//! Writing a block image back: to a block device every byte (holes as
//! zeros, the device may hold old data), to a regular file only the data
//! (holes stay holes).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::{FileExt, FileTypeExt};
use std::path::Path;

use arca_repo::{Node, Repository};
use parking_lot::Mutex;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::BLOCK_CHUNK;
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::restore::file_writer::{Blob, FileWriter, write_sparse};

/// What a block restore did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BlockRestoreSummary {
    /// Size of the image.
    pub size: u64,
    /// Data bytes written (zeros written to a device count too).
    pub bytes_written: u64,
    /// Bytes left as holes (regular files only).
    pub bytes_sparse: u64,
    /// Whether the target was a block device.
    pub device: bool,
    pub duration_secs: f64,
}

pub(crate) fn write_image(
    repo: &Repository,
    node: &Node,
    target: &Path,
    progress: &dyn Progress,
) -> Result<BlockRestoreSummary> {
    let device = std::fs::metadata(target).is_ok_and(|md| md.file_type().is_block_device());
    let file = if device { open_device(target, node.size)? } else { open_file(target)? };
    progress.totals(1, node.size, true);
    let fetcher = FileWriter { repo, progress, zeros: Mutex::new(HashMap::new()) };
    let zeros = vec![0u8; BLOCK_CHUNK];
    let mut out = BlockRestoreSummary { size: node.size, device, ..BlockRestoreSummary::default() };
    let mut offset = 0u64;
    let batch = rayon::current_num_threads().max(1) * 2;
    for ids in node.content.chunks(batch) {
        let blobs = ids.par_iter().map(|id| fetcher.fetch(id)).collect::<Result<Vec<Blob>>>()?;
        for blob in blobs {
            let len = match blob {
                Blob::Zero(len) if device => {
                    write_zeros(&file, &zeros, offset, len, target)?;
                    out.bytes_written += len;
                    len
                }
                Blob::Zero(len) => {
                    out.bytes_sparse += len;
                    len
                }
                Blob::Data(data) if device => {
                    file.write_all_at(&data, offset).map_err(|e| Error::io("write", target, e))?;
                    out.bytes_written += data.len() as u64;
                    data.len() as u64
                }
                Blob::Data(data) => {
                    let w = write_sparse(&file, &data, offset, target)?;
                    out.bytes_written += w.data;
                    out.bytes_sparse += w.holes;
                    data.len() as u64
                }
            };
            offset += len;
            progress.bytes_processed(len);
        }
    }
    if offset != node.size {
        return Err(Error::CorruptTree {
            path: target.to_path_buf(),
            detail: format!("image content holds {offset} bytes, node says {}", node.size),
        });
    }
    if !device {
        file.set_len(node.size).map_err(|e| Error::io("set length of", target, e))?;
    }
    file.sync_all().map_err(|e| Error::io("flush", target, e))?;
    progress.file_done(target, node.size);
    Ok(out)
}

/// Opens a block device for writing; refuses one smaller than the image.
fn open_device(target: &Path, image_size: u64) -> Result<File> {
    let mut file = OpenOptions::new().write(true).open(target).map_err(|e| Error::io("open", target, e))?;
    let size = file.seek(SeekFrom::End(0)).map_err(|e| Error::io("find the size of", target, e))?;
    if size < image_size {
        return Err(Error::Invalid(format!(
            "block device {} holds {size} bytes, but the image is {image_size} bytes: restore into a volume at least as large",
            target.display()
        )));
    }
    Ok(file)
}

/// Creates or truncates a regular file: what is not written reads as zeros.
fn open_file(target: &Path) -> Result<File> {
    if let Ok(md) = std::fs::metadata(target)
        && !md.is_file()
    {
        return Err(Error::Invalid(format!(
            "{} is neither a block device nor a regular file; give a device or an image file path",
            target.display()
        )));
    }
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(target)
        .map_err(|e| Error::io("create", target, e))?;
    Ok(file)
}

fn write_zeros(file: &File, zeros: &[u8], mut offset: u64, len: u64, target: &Path) -> Result<()> {
    let end = offset + len;
    while offset < end {
        let n = (end - offset).min(zeros.len() as u64) as usize;
        file.write_all_at(&zeros[..n], offset).map_err(|e| Error::io("write", target, e))?;
        offset += n as u64;
    }
    Ok(())
}
