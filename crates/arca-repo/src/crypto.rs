//! Authenticated encryption (AES-256-GCM), keyed content hashing (BLAKE3) and
//! the compression envelope inside every encrypted object.
//!
//! Sealed layout: `nonce (12 bytes) || ciphertext || tag (16 bytes)`.
//! Plaintext envelope: `0x00 || data` (stored raw) or
//! `0x01 || u32 LE uncompressed length || zstd frame`.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;

use crate::error::{Error, Result};
use crate::id::Id;

/// Bytes added to a plaintext by sealing.
pub const SEAL_OVERHEAD: usize = NONCE_LEN + 16;

const ENVELOPE_RAW: u8 = 0;
const ENVELOPE_ZSTD: u8 = 1;

/// Compression is kept only when it saves at least 1/32 of the data.
const MIN_SAVING_DIVISOR: usize = 32;

/// The repository's secret: an encryption key and a key for content ids.
/// Both are random; key files wrap them with a password-derived key.
#[derive(Clone, Serialize, Deserialize)]
pub struct MasterKey {
    #[serde(with = "b64_32")]
    encrypt: [u8; 32],
    #[serde(with = "b64_32")]
    id_key: [u8; 32],
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

impl MasterKey {
    pub fn random() -> Self {
        MasterKey { encrypt: rand::random(), id_key: rand::random() }
    }

    /// Content id of a blob: keyed BLAKE3, so ids reveal nothing about content
    /// to someone without the key.
    pub fn blob_id(&self, data: &[u8]) -> Id {
        Id(*blake3::keyed_hash(&self.id_key, data).as_bytes())
    }

    pub(crate) fn cipher(&self) -> Cipher {
        Cipher::new(&self.encrypt)
    }
}

/// An AES-256-GCM key ready for use.
pub(crate) struct Cipher {
    key: LessSafeKey,
}

impl Cipher {
    pub(crate) fn new(key: &[u8; 32]) -> Self {
        // A 32-byte key is always valid for AES-256.
        let unbound = UnboundKey::new(&AES_256_GCM, key).unwrap_or_else(|_| unreachable!());
        Cipher { key: LessSafeKey::new(unbound) }
    }

    /// Encrypts `plain` with a random nonce, authenticating `aad` too.
    pub(crate) fn seal(&self, plain: &[u8], aad: &[u8]) -> Vec<u8> {
        let nonce_bytes: [u8; NONCE_LEN] = rand::random();
        let mut out = Vec::with_capacity(plain.len() + SEAL_OVERHEAD);
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(plain);
        let tag = self
            .key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(aad),
                &mut out[NONCE_LEN..],
            )
            .unwrap_or_else(|_| unreachable!("AES-GCM sealing only fails on absurd lengths"));
        out.extend_from_slice(tag.as_ref());
        out
    }

    /// Decrypts and authenticates; `what` names the object in the error.
    pub(crate) fn open(&self, sealed: &[u8], aad: &[u8], what: &str) -> Result<Vec<u8>> {
        if sealed.len() < SEAL_OVERHEAD {
            return Err(Error::corrupt(what, "too short to be an encrypted object"));
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| Error::corrupt(what, "bad nonce"))?;
        let mut buf = body.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(aad), &mut buf)
            .map_err(|_| Error::corrupt(what, "authentication failed (wrong key, or bytes were changed)"))?;
        let len = plain.len();
        buf.truncate(len);
        Ok(buf)
    }
}

thread_local! {
    // zstd contexts are costly to set up (a compression context at level 3
    // allocates about a megabyte); each thread keeps one of each.
    static COMPRESSOR: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
}

fn compress(data: &[u8], level: i32) -> std::io::Result<Vec<u8>> {
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let compressor = match &mut *slot {
            Some((l, c)) if *l == level => c,
            _ => &mut slot.insert((level, zstd::bulk::Compressor::new(level)?)).1,
        };
        compressor.compress(data)
    })
}

fn decompress(data: &[u8], len: usize) -> std::io::Result<Vec<u8>> {
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let decompressor = match &mut *slot {
            Some(d) => d,
            None => slot.insert(zstd::bulk::Decompressor::new()?),
        };
        decompressor.decompress(data, len)
    })
}

/// Wraps data in the compression envelope, compressing when it pays.
pub(crate) fn envelope(data: &[u8], level: i32) -> Vec<u8> {
    if level > 0 && data.len() >= 64 {
        if let Ok(compressed) = compress(data, level) {
            if compressed.len() + compressed.len() / MIN_SAVING_DIVISOR < data.len() {
                let mut out = Vec::with_capacity(compressed.len() + 5);
                out.push(ENVELOPE_ZSTD);
                out.extend_from_slice(&(data.len() as u32).to_le_bytes());
                out.extend_from_slice(&compressed);
                return out;
            }
        }
    }
    let mut out = Vec::with_capacity(data.len() + 1);
    out.push(ENVELOPE_RAW);
    out.extend_from_slice(data);
    out
}

/// Unwraps the compression envelope.
pub(crate) fn unenvelope(mut plain: Vec<u8>, what: &str) -> Result<Vec<u8>> {
    match plain.first().copied() {
        Some(ENVELOPE_RAW) => {
            plain.remove(0);
            Ok(plain)
        }
        Some(ENVELOPE_ZSTD) if plain.len() >= 5 => {
            let len = u32::from_le_bytes([plain[1], plain[2], plain[3], plain[4]]) as usize;
            let out = decompress(&plain[5..], len).map_err(|e| Error::corrupt(what, format!("zstd: {e}")))?;
            if out.len() != len {
                return Err(Error::corrupt(what, "decompressed length differs from header"));
            }
            Ok(out)
        }
        _ => Err(Error::corrupt(what, "unknown compression envelope")),
    }
}

mod b64_32 {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = String::deserialize(d)?;
        let v = STANDARD.decode(s).map_err(serde::de::Error::custom)?;
        v.try_into().map_err(|_| serde::de::Error::custom("expected 32 bytes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_tamper() {
        let key = MasterKey::random();
        let c = key.cipher();
        let sealed = c.seal(b"hello", b"aad");
        assert_eq!(c.open(&sealed, b"aad", "x").unwrap(), b"hello");
        assert!(c.open(&sealed, b"other", "x").is_err());
        let mut bad = sealed.clone();
        bad[14] ^= 1;
        assert!(c.open(&bad, b"aad", "x").is_err());
        assert!(MasterKey::random().cipher().open(&sealed, b"aad", "x").is_err());
    }

    #[test]
    fn envelope_compresses_text_and_keeps_random_raw() {
        let text = "all work and no play ".repeat(1000).into_bytes();
        let e = envelope(&text, 3);
        assert_eq!(e[0], ENVELOPE_ZSTD);
        assert!(e.len() < text.len() / 10);
        assert_eq!(unenvelope(e, "t").unwrap(), text);

        let random: Vec<u8> = (0..4096).map(|_| rand::random::<u8>()).collect();
        let e = envelope(&random, 3);
        assert_eq!(e[0], ENVELOPE_RAW);
        assert_eq!(unenvelope(e, "r").unwrap(), random);
    }

    #[test]
    fn blob_ids_depend_on_key() {
        let a = MasterKey::random();
        let b = MasterKey::random();
        assert_eq!(a.blob_id(b"x"), a.blob_id(b"x"));
        assert_ne!(a.blob_id(b"x"), b.blob_id(b"x"));
    }
}
