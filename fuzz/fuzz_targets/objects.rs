//! A repository (opened with its own key) whose objects hold arbitrary
//! content: a tree blob of arbitrary bytes, and arbitrary JSON sealed as a
//! snapshot, an index file, a forget record and a key event — what a
//! damaged repository or a bug in another writer could leave. Reading and
//! checking it must give errors, never a panic.
#![no_main]

mod memory;

use std::sync::{Arc, OnceLock};

use arca_repo::{BlobType, CheckOptions, InitOptions, KdfParams, Repository};
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

/// One repository's config and key, made once (key derivation is slow).
fn template() -> &'static Vec<(String, Bytes)> {
    static T: OnceLock<Vec<(String, Bytes)>> = OnceLock::new();
    T.get_or_init(|| {
        let backend = Arc::new(memory::Memory::default());
        Repository::init(
            backend.clone(),
            b"fuzz",
            InitOptions { kdf: KdfParams::insecure_fast(), ..Default::default() },
        )
        .expect("init");
        let mut out = Vec::new();
        for dir in ["", "keys"] {
            for e in backend.list(dir).expect("list") {
                let path = if dir.is_empty() { e.name.clone() } else { format!("{dir}/{}", e.name) };
                if path == "config" || path.starts_with("keys/") {
                    out.push((path.clone(), backend.get(&path).expect("get")));
                }
            }
        }
        out
    })
}

use arca_repo::backend::Backend as _;

fuzz_target!(|data: &[u8]| {
    let backend = Arc::new(memory::Memory::default());
    for (path, bytes) in template() {
        backend.insert(path, bytes.clone());
    }
    let Ok(repo) = Repository::open(backend.clone(), b"fuzz") else { return };
    if let Ok(tree) = repo.save_blob(BlobType::Tree, data) {
        if repo.flush().is_ok() {
            let _ = repo.load_tree(&tree);
        }
    }
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        for dir in ["snapshots", "index", "forgotten", "keylog"] {
            let _ = repo.save_json(dir, &value);
        }
    }
    let _ = repo.list_snapshots();
    let _ = repo.load_index();
    let _ = repo.forget_records();
    let _ = repo.key_log();
    let _ = arca_repo::check(&repo, &CheckOptions { read_data: true }, None);
});
