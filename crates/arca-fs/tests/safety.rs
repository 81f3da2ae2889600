//! A damaged or crafted tree never makes restore write outside its target.

mod common;

use arca_fs::{Error, NoProgress, RestoreOptions, restore};
use arca_repo::snapshot::KIND_FILES;
use arca_repo::{Node, NodeKind, Snapshot, Tree};
use base64::Engine;
use common::*;

fn crafted(names: &[Node]) -> (tempfile::TempDir, arca_repo::Repository, arca_repo::Id) {
    let tmp = tempfile::tempdir().unwrap();
    let repo = new_repo(&tmp.path().join("repo"));
    repo.load_index().unwrap();
    let content = vec![repo.save_blob(arca_repo::BlobType::Data, b"evil").unwrap()];
    let nodes = names
        .iter()
        .map(|n| Node { kind: NodeKind::File, mode: 0o644, size: 4, content: content.clone(), ..n.clone() })
        .collect();
    let tree = repo.save_tree(&Tree { nodes }).unwrap();
    repo.flush().unwrap();
    let id = repo.save_snapshot(&Snapshot::new(KIND_FILES, vec!["/x".into()], tree)).unwrap();
    (tmp, repo, id)
}

fn named(name: &str) -> Node {
    Node { name: name.into(), ..Node::default() }
}

#[test]
fn names_that_escape_the_target_are_refused() {
    let b64 = base64::engine::general_purpose::STANDARD.encode(b"../../escape");
    let cases = vec![
        named("../escape"),
        named("sub/../../escape"),
        named(".."),
        named(""),
        Node { name_b64: Some(b64), ..named("harmless") },
    ];
    for node in cases {
        let shown = format!("{node:?}");
        let (tmp, repo, id) = crafted(&[named("fine"), node]);
        let dst = tmp.path().join("a/b/dst");
        let err = restore(&repo, &id, &dst, &RestoreOptions::default(), &NoProgress).unwrap_err();
        assert!(matches!(err, Error::UnsafeName { .. }), "{shown}: {err}");
        assert!(err.to_string().contains("not a plain file name"), "{err}");
        assert!(!tmp.path().join("a/escape").exists() && !tmp.path().join("escape").exists());
        assert!(!dst.exists(), "nothing is written before the plan is checked");
    }
}

#[test]
fn duplicate_names_are_refused() {
    let (tmp, repo, id) = crafted(&[named("same"), named("same")]);
    let err = restore(&repo, &id, &tmp.path().join("dst"), &RestoreOptions::default(), &NoProgress).unwrap_err();
    assert!(matches!(err, Error::CorruptTree { .. }), "{err}");
}
