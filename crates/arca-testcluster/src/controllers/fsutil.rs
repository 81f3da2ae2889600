//! Volume copies for snapshots, clones and restores. They keep what a
//! block-level copy keeps, except inode numbers and ctimes (which a new volume
//! changes): modes, owners (when running as root), access and modification
//! times, symlinks, hard links (as links), holes of sparse files, and `user.*`
//! extended attributes.

use std::collections::HashMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use filetime::FileTime;

/// Recursively copies `from` into `to` (created when missing); the bytes of
/// data written.
pub fn copy_dir(from: &Path, to: &Path) -> std::io::Result<u64> {
    let mut links = HashMap::new();
    copy_tree(from, to, &mut links, running_as_root())
}

/// Whether ownership can be copied (only root may give files away).
fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Files seen with several links, by `(device, inode)`: their first copy.
type Links = HashMap<(u64, u64), PathBuf>;

fn copy_tree(from: &Path, to: &Path, links: &mut Links, root: bool) -> std::io::Result<u64> {
    // Before reading the directory, which updates its access time.
    let dir_meta = std::fs::symlink_metadata(from)?;
    std::fs::create_dir_all(to)?;
    let mut bytes = 0;
    for entry in std::fs::read_dir(from)? {
        let src = entry?.path();
        let Some(name) = src.file_name() else { continue };
        let target = to.join(name);
        let meta = std::fs::symlink_metadata(&src)?;
        let kind = meta.file_type();
        if kind.is_dir() {
            bytes += copy_tree(&src, &target, links, root)?;
            continue;
        }
        if kind.is_symlink() {
            let _ = std::fs::remove_file(&target);
            std::os::unix::fs::symlink(std::fs::read_link(&src)?, &target)?;
        } else if kind.is_file() {
            if meta.nlink() > 1 {
                if let Some(first) = links.get(&(meta.dev(), meta.ino())) {
                    let _ = std::fs::remove_file(&target);
                    std::fs::hard_link(first, &target)?;
                    continue;
                }
                links.insert((meta.dev(), meta.ino()), target.clone());
            }
            bytes += copy_sparse(&src, &target)?;
        } else {
            tracing::warn!("not copying {}: sockets, FIFOs and device files are not copied", src.display());
            continue;
        }
        copy_metadata(&src, &target, &meta, root)?;
    }
    copy_metadata(from, to, &dir_meta, root)?;
    Ok(bytes)
}

/// Owner, mode, `user.*` attributes and times of `src` onto `dst` (times
/// last: the other changes would touch them).
fn copy_metadata(src: &Path, dst: &Path, meta: &std::fs::Metadata, root: bool) -> std::io::Result<()> {
    let symlink = meta.file_type().is_symlink();
    if root {
        std::os::unix::fs::lchown(dst, Some(meta.uid()), Some(meta.gid()))?;
    }
    if !symlink {
        // After chown, which clears set-id bits.
        std::fs::set_permissions(dst, std::fs::Permissions::from_mode(meta.mode() & 0o7777))?;
        copy_user_xattrs(src, dst)?;
    }
    let (atime, mtime) = (FileTime::from_last_access_time(meta), FileTime::from_last_modification_time(meta));
    if symlink {
        filetime::set_symlink_file_times(dst, atime, mtime)
    } else {
        filetime::set_file_times(dst, atime, mtime)
    }
}

fn copy_user_xattrs(src: &Path, dst: &Path) -> std::io::Result<()> {
    let names = match xattr::list(src) {
        Ok(names) => names,
        // The file system has no extended attributes: nothing to copy.
        Err(e) if e.raw_os_error() == Some(95) => return Ok(()),
        Err(e) => return Err(e),
    };
    for name in names.filter(|n| n.to_string_lossy().starts_with("user.")) {
        if let Some(value) = xattr::get(src, &name)? {
            xattr::set(dst, &name, &value)?;
        }
    }
    Ok(())
}

/// Copies a volume: a directory tree, or a block volume's file (keeping holes).
pub fn copy_volume(from: &Path, to: &Path) -> std::io::Result<u64> {
    if from.is_file() {
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        return copy_sparse(from, to);
    }
    copy_dir(from, to)
}

/// Removes a volume's directory tree or block file.
pub fn remove_volume(path: &Path) -> std::io::Result<()> {
    if path.is_dir() { std::fs::remove_dir_all(path) } else { std::fs::remove_file(path) }
}

/// Total size of the files under `dir` (a block volume: its length).
pub fn dir_size(dir: &Path) -> u64 {
    if dir.is_file() {
        return dir.metadata().map(|m| m.len()).unwrap_or(0);
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn times(meta: &std::fs::Metadata) -> (FileTime, FileTime) {
        (FileTime::from_last_access_time(meta), FileTime::from_last_modification_time(meta))
    }

    #[test]
    fn copies_keep_metadata_links_and_holes() -> std::io::Result<()> {
        let tmp = tempfile::tempdir()?;
        let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
        std::fs::create_dir_all(src.join("sub"))?;
        std::fs::write(src.join("sub/file"), b"data")?;
        std::fs::set_permissions(src.join("sub/file"), std::fs::Permissions::from_mode(0o640))?;
        std::fs::set_permissions(src.join("sub"), std::fs::Permissions::from_mode(0o750))?;
        std::fs::hard_link(src.join("sub/file"), src.join("link"))?;
        std::os::unix::fs::symlink("sub/file", src.join("sym"))?;
        let sparse = std::fs::File::create(src.join("sparse"))?;
        sparse.set_len(4 * 1024 * 1024)?;
        std::fs::write(src.join("dense"), vec![7u8; 100])?;
        let root = running_as_root();
        if root {
            std::os::unix::fs::lchown(src.join("sub/file"), Some(1234), Some(5678))?;
        }
        let xattrs = xattr::set(src.join("sub/file"), "user.note", b"kept").is_ok();
        let (old_a, old_m) = (FileTime::from_unix_time(1_000_000, 0), FileTime::from_unix_time(2_000_000, 0));
        filetime::set_file_times(src.join("sub/file"), old_a, old_m)?;
        filetime::set_symlink_file_times(src.join("sym"), old_a, old_m)?;
        filetime::set_file_times(src.join("sub"), old_a, old_m)?;

        copy_dir(&src, &dst)?;

        let file = std::fs::metadata(dst.join("sub/file"))?;
        assert_eq!(std::fs::read(dst.join("sub/file"))?, b"data");
        assert_eq!(file.mode() & 0o7777, 0o640);
        assert_eq!(times(&file), (old_a, old_m));
        assert_eq!(std::fs::metadata(dst.join("sub"))?.mode() & 0o7777, 0o750);
        assert_eq!(times(&std::fs::metadata(dst.join("sub"))?), (old_a, old_m));
        if root {
            assert_eq!((file.uid(), file.gid()), (1234, 5678));
        }
        if xattrs {
            assert_eq!(xattr::get(dst.join("sub/file"), "user.note")?, Some(b"kept".to_vec()));
        }
        assert_eq!(std::fs::metadata(dst.join("link"))?.ino(), file.ino(), "a hard link stays a link");
        assert_eq!(file.nlink(), 2);
        let sym = std::fs::symlink_metadata(dst.join("sym"))?;
        assert!(sym.file_type().is_symlink());
        assert_eq!(std::fs::read_link(dst.join("sym"))?, Path::new("sub/file"));
        assert_eq!(FileTime::from_last_modification_time(&sym), old_m);
        let holes = std::fs::metadata(dst.join("sparse"))?;
        assert_eq!(holes.len(), 4 * 1024 * 1024);
        assert!(holes.blocks() * 512 < 64 * 1024, "holes are kept: {} blocks", holes.blocks());
        assert_eq!(std::fs::read(dst.join("dense"))?, vec![7u8; 100]);
        assert_eq!(dir_size(&dst), 4 + 4 + 4 * 1024 * 1024 + 100 + 8);
        Ok(())
    }
}
