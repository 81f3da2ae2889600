//! Hashing what is on disk the way the backup cut it: files with the
//! repository's content-defined chunker, block images in fixed chunks,
//! each chunk hashed with the repository's key and the id sequence
//! compared with the node's content list.

use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use arca_repo::{Id, Node, Repository};

use super::{DirCheck, VerifyOptions};
use crate::backup::open_source;
use crate::block::{BLOCK_CHUNK, IMAGE_NAME, reader};
use crate::error::{Error, Result};
use crate::progress::NoProgress;

/// How the snapshot's files were cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Chunking {
    /// The repository's content-defined chunker (files of a directory).
    Content,
    /// Fixed chunks of [`BLOCK_CHUNK`] bytes (a block volume's image).
    Fixed,
}

/// One file's comparison.
pub(crate) struct Compared {
    /// Bytes read.
    pub bytes: u64,
    /// What differs, if anything.
    pub difference: Option<String>,
}

/// Hashes the file at `path` and compares it with `node`'s content. An
/// `Err` says why the file could not be read.
pub(crate) fn compare_file(
    repo: &Repository,
    path: &Path,
    node: &Node,
    chunking: Chunking,
) -> std::result::Result<Compared, String> {
    let unreadable = |e: Error| format!("cannot be read: {e}");
    let (content, lengths, size) = match chunking {
        Chunking::Content => {
            let file = open_source(path).map_err(unreadable)?;
            let hashed = repo.hash_stream(file, &path.to_string_lossy()).map_err(|e| unreadable(e.into()))?;
            (hashed.content, hashed.lengths, hashed.size)
        }
        Chunking::Fixed => {
            let read =
                reader::read_chunks(path, None, &NoProgress, &|data| Ok(repo.blob_id(data))).map_err(unreadable)?;
            (read.content, fixed_lengths(read.size), read.size)
        }
    };
    let difference = if size != node.size {
        Some(format!(
            "size: the snapshot has {} bytes, {size} were read (the file changed while being read)",
            node.size
        ))
    } else {
        first_difference(&node.content, &content, &lengths)
    };
    Ok(Compared { bytes: size, difference })
}

/// Compares a block image node with a device or image file.
pub(crate) fn compare_image(
    repo: &Repository,
    node: &Node,
    device: &Path,
    opts: &VerifyOptions,
    check: &mut DirCheck,
) -> Result<()> {
    let md = std::fs::metadata(device).map_err(|e| Error::io("open", device, e))?;
    if md.is_dir() {
        return Err(Error::Invalid(format!(
            "{} is a directory, not a block device or image file; compare a directory with its snapshot with `--target`",
            device.display()
        )));
    }
    let is_device = md.file_type().is_block_device();
    let read = reader::read_chunks(device, Some(node.size), &NoProgress, &|data| Ok(repo.blob_id(data)))?;
    check.files = 1;
    check.bytes = read.size;
    let max = opts.max_mismatches;
    if read.device_size < node.size || (!is_device && read.device_size != node.size) {
        let what = if is_device { "the device" } else { "the file" };
        let size = format!("size: the image is {} bytes, {what} holds {}", node.size, read.device_size);
        check.mismatch(max, IMAGE_NAME, size);
        return Ok(());
    }
    if let Some(what) = first_difference(&node.content, &read.content, &fixed_lengths(read.size)) {
        check.mismatch(max, IMAGE_NAME, what);
    }
    Ok(())
}

/// Lengths of the fixed chunks of `size` bytes.
fn fixed_lengths(size: u64) -> Vec<u64> {
    let chunk = BLOCK_CHUNK as u64;
    (0..size.div_ceil(chunk)).map(|i| chunk.min(size - i * chunk)).collect()
}

/// Where the content read (`have`, chunks of `lengths`) first leaves the
/// snapshot's (`want`); `None` when they are the same.
fn first_difference(want: &[Id], have: &[Id], lengths: &[u64]) -> Option<String> {
    let first = want.iter().zip(have).position(|(a, b)| a != b).or_else(|| {
        // Equal as far as both go: one is longer.
        (want.len() != have.len()).then(|| want.len().min(have.len()))
    })?;
    let start: u64 = lengths.iter().take(first).sum();
    Some(match lengths.get(first) {
        Some(len) => format!(
            "content: bytes {start}..{} differ from the snapshot's (chunk {} of {})",
            start + len,
            first + 1,
            have.len()
        ),
        None => format!("content: differs from the snapshot's after byte {start}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(b: u8) -> Id {
        Id::hash_of(&[b])
    }

    #[test]
    fn the_first_differing_chunk_is_named_by_its_bytes() {
        let lengths = [10, 20, 30];
        assert_eq!(first_difference(&[id(1), id(2), id(3)], &[id(1), id(2), id(3)], &lengths), None);
        let d = first_difference(&[id(1), id(2), id(3)], &[id(1), id(9), id(3)], &lengths).unwrap();
        assert_eq!(d, "content: bytes 10..30 differ from the snapshot's (chunk 2 of 3)");
        let longer = first_difference(&[id(1), id(2)], &[id(1), id(2), id(3)], &lengths).unwrap();
        assert!(longer.contains("bytes 30..60"), "{longer}");
        let shorter = first_difference(&[id(1), id(2), id(3)], &[id(1)], &[10]).unwrap();
        assert!(shorter.contains("after byte 10"), "{shorter}");
        assert_eq!(first_difference(&[], &[], &[]), None);
    }

    #[test]
    fn fixed_chunks_end_with_the_remainder() {
        let c = BLOCK_CHUNK as u64;
        assert_eq!(fixed_lengths(0), Vec::<u64>::new());
        assert_eq!(fixed_lengths(c), vec![c]);
        assert_eq!(fixed_lengths(2 * c + 5), vec![c, c, 5]);
    }
}
