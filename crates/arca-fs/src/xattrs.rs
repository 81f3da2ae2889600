//! Extended attributes: read without following symlinks, stored base64.
//! File systems without xattr support simply have none; that is not an error.

use std::io::ErrorKind;
use std::path::Path;

use arca_repo::Xattr;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Whether an error means "this file system has no xattrs here".
fn unsupported(e: &std::io::Error) -> bool {
    e.kind() == ErrorKind::Unsupported || e.raw_os_error() == Some(nix::libc::ENOTSUP)
}

/// Every xattr of `path`, sorted by name. Names that are not UTF-8 cannot be
/// stored in the tree format and come back in the second list.
pub(crate) fn read(path: &Path) -> std::io::Result<(Vec<Xattr>, Vec<String>)> {
    let names = match xattr::list(path) {
        Ok(n) => n,
        Err(e) if unsupported(&e) => return Ok((Vec::new(), Vec::new())),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for name in names {
        let Some(text) = name.to_str() else {
            skipped.push(name.to_string_lossy().into_owned());
            continue;
        };
        // An attribute removed between list and get is simply gone.
        if let Some(value) = xattr::get(path, &name)? {
            out.push(Xattr { name: text.to_string(), value: STANDARD.encode(value) });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((out, skipped))
}

/// Sets one stored xattr on `path` (not following symlinks).
pub(crate) fn write(path: &Path, attr: &Xattr) -> std::io::Result<()> {
    let value = STANDARD
        .decode(&attr.value)
        .map_err(|e| std::io::Error::new(ErrorKind::InvalidData, format!("xattr {}: bad base64: {e}", attr.name)))?;
    xattr::set(path, &attr.name, &value)
}
