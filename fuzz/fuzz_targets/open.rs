//! Opening a repository whose `config` and key file are hostile: both are
//! plaintext, so anyone with storage access can write them. No panic, no
//! unbounded allocation or time (bounded Argon2 parameters), a clear error.
#![no_main]

mod memory;

use std::sync::Arc;

use arca_repo::Repository;
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The input: config bytes, a 0xff separator, key file bytes.
    let (config, key) = match data.iter().position(|b| *b == 0xff) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b"{}"[..]),
    };
    let backend = Arc::new(memory::Memory::default());
    backend.insert("config", Bytes::copy_from_slice(config));
    let id = arca_repo::Id::hash_of(key);
    backend.insert(&format!("keys/{id}"), Bytes::copy_from_slice(key));
    let _ = Repository::open(backend, b"fuzz");
});
