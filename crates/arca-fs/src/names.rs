//! File names and symlink targets as stored in trees. Unix names are bytes;
//! trees are JSON, so a name that is not UTF-8 is kept exactly in a base64
//! field beside a lossy, human-readable one.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

use arca_repo::Node;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::error::{Error, Result};

/// Splits raw bytes into (readable text, exact base64 when the text is lossy).
pub(crate) fn encode(raw: &OsStr) -> (String, Option<String>) {
    match raw.to_str() {
        Some(s) => (s.to_string(), None),
        None => (raw.to_string_lossy().into_owned(), Some(STANDARD.encode(raw.as_bytes()))),
    }
}

/// Inverse of [`encode`]; `what` names the field for the error.
pub(crate) fn decode(text: &str, b64: Option<&str>, what: &Path) -> Result<OsString> {
    match b64 {
        None => Ok(OsString::from(text)),
        Some(b) => STANDARD.decode(b).map(OsString::from_vec).map_err(|e| Error::CorruptTree {
            path: what.to_path_buf(),
            detail: format!("bad base64 in name or link target: {e}"),
        }),
    }
}

/// A node's exact file name, refusing anything that is not a single path
/// component: a tree with `a/b`, `..` or an empty name would let a restore
/// write outside its target.
pub(crate) fn node_name(node: &Node, parent: &Path) -> Result<OsString> {
    let raw = decode(&node.name, node.name_b64.as_deref(), parent)?;
    let bytes = raw.as_bytes();
    if bytes.is_empty() || bytes == b"." || bytes == b".." || bytes.contains(&b'/') || bytes.contains(&0) {
        return Err(Error::UnsafeName { parent: parent.to_path_buf(), name: raw.to_string_lossy().into_owned() });
    }
    Ok(raw)
}

/// A symlink node's exact target.
pub(crate) fn link_target(node: &Node, path: &Path) -> Result<OsString> {
    match (&node.link_target, &node.link_target_b64) {
        (Some(t), b64) => decode(t, b64.as_deref(), path),
        (None, _) => Err(Error::CorruptTree { path: path.to_path_buf(), detail: "symlink without a target".into() }),
    }
}

/// Tree order: by the readable name (what `Tree::find` searches), ties —
/// only possible between lossy names — broken by the exact bytes.
pub(crate) fn sort_nodes(nodes: &mut [Node]) {
    nodes.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.name_b64.cmp(&b.name_b64)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_utf8_round_trip() {
        let raw = OsStr::from_bytes(b"caf\xe9");
        let (text, b64) = encode(raw);
        assert!(b64.is_some());
        let node = Node { name: text, name_b64: b64, ..Node::default() };
        assert_eq!(node_name(&node, Path::new("x")).unwrap(), raw);
    }

    #[test]
    fn unsafe_names_are_refused() {
        for bad in ["", ".", "..", "a/b", "../x"] {
            let node = Node { name: bad.into(), ..Node::default() };
            assert!(matches!(node_name(&node, Path::new("d")), Err(Error::UnsafeName { .. })), "{bad}");
        }
        let sneaky = Node { name: "ok".into(), name_b64: Some(STANDARD.encode(b"../x")), ..Node::default() };
        assert!(node_name(&sneaky, Path::new("d")).is_err());
    }
}
