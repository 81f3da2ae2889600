//! Directory copies for volume snapshots and restores.

use std::path::Path;

/// Recursively copies `from` into `to` (created when missing).
pub fn copy_dir(from: &Path, to: &Path) -> std::io::Result<u64> {
    std::fs::create_dir_all(to)?;
    let mut bytes = 0;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            bytes += copy_dir(&entry.path(), &target)?;
        } else if kind.is_symlink() {
            let link = std::fs::read_link(entry.path())?;
            let _ = std::fs::remove_file(&target);
            std::os::unix::fs::symlink(link, &target)?;
        } else {
            bytes += std::fs::copy(entry.path(), &target)?;
            keep_modified(&entry.path(), &target)?;
        }
    }
    Ok(bytes)
}

/// A storage snapshot is a copy of the blocks: files keep their modification
/// times (what data movers compare to find unchanged files).
fn keep_modified(from: &Path, to: &Path) -> std::io::Result<()> {
    let modified = std::fs::metadata(from)?.modified()?;
    // Setting times needs ownership, not write access: a read-only file works too.
    std::fs::File::open(to)?.set_modified(modified)
}

/// Total size of the files under `dir`.
pub fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(_) => e.metadata().map(|m| m.len()).unwrap_or(0),
            Err(_) => 0,
        })
        .sum()
}

/// Block size of sparse copies: all-zero blocks of this size become holes.
const SPARSE_BLOCK: usize = 64 * 1024;

/// Copies a file keeping holes: all-zero blocks are skipped by seeking, and
/// the length is set at the end, so the copy allocates only the data.
pub fn copy_sparse(from: &Path, to: &Path) -> std::io::Result<u64> {
    use std::io::{Seek, SeekFrom, Write};
    let mut src = std::fs::File::open(from)?;
    let mut dst = std::fs::File::create(to)?;
    let len = src.metadata()?.len();
    let mut buf = vec![0u8; SPARSE_BLOCK];
    let mut written = 0;
    loop {
        let n = read_full(&mut src, &mut buf)?;
        if n == 0 {
            break;
        }
        if buf[..n].iter().all(|b| *b == 0) {
            dst.seek(SeekFrom::Current(n as i64))?;
        } else {
            dst.write_all(&buf[..n])?;
            written += n as u64;
        }
    }
    dst.set_len(len)?;
    Ok(written)
}

fn read_full(src: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    use std::io::Read;
    let mut filled = 0;
    while filled < buf.len() {
        match src.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}
