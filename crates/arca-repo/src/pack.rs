//! Pack files: many encrypted blobs followed by an encrypted header that
//! lists them, so an index can always be rebuilt from the packs alone.
//!
//! Layout: `blob_1 || … || blob_n || sealed header || u32 LE header length`.
//! Header plaintext: n entries of `type (u8) || length (u32 LE) || id (32)`;
//! blob offsets follow from the lengths.

use serde::{Deserialize, Serialize};

use crate::crypto::Cipher;
use crate::error::{Error, Result};
use crate::id::Id;

const HEADER_AAD: &[u8] = b"arca pack header v1";
const ENTRY_LEN: usize = 1 + 4 + 32;

/// What a blob holds. Trees and data go to separate packs so that listing a
/// snapshot never downloads file contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlobType {
    Data,
    Tree,
}

impl BlobType {
    pub fn code(self) -> u8 {
        match self {
            BlobType::Data => 0,
            BlobType::Tree => 1,
        }
    }

    fn from_code(c: u8) -> Option<Self> {
        match c {
            0 => Some(BlobType::Data),
            1 => Some(BlobType::Tree),
            _ => None,
        }
    }
}

/// Associated data of a sealed blob: its type and id, so a blob can't be
/// swapped for another one without detection.
pub(crate) fn blob_aad(kind: BlobType, id: &Id) -> [u8; 33] {
    let mut aad = [0u8; 33];
    aad[0] = kind.code();
    aad[1..].copy_from_slice(id.as_bytes());
    aad
}

/// One blob inside a pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackedBlob {
    pub id: Id,
    #[serde(rename = "type")]
    pub kind: BlobType,
    pub offset: u32,
    pub length: u32,
}

/// Accumulates sealed blobs into one pack.
#[derive(Default)]
pub(crate) struct PackBuilder {
    pub(crate) data: Vec<u8>,
    pub(crate) blobs: Vec<PackedBlob>,
}

impl PackBuilder {
    pub(crate) fn add(&mut self, id: Id, kind: BlobType, sealed: &[u8]) {
        self.blobs.push(PackedBlob { id, kind, offset: self.data.len() as u32, length: sealed.len() as u32 });
        self.data.extend_from_slice(sealed);
    }

    pub(crate) fn len(&self) -> usize {
        self.data.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.blobs.is_empty()
    }

    /// Appends the header and returns the pack bytes with its blob list.
    pub(crate) fn finish(mut self, cipher: &Cipher) -> (Vec<u8>, Vec<PackedBlob>) {
        let mut header = Vec::with_capacity(self.blobs.len() * ENTRY_LEN);
        for b in &self.blobs {
            header.push(b.kind.code());
            header.extend_from_slice(&b.length.to_le_bytes());
            header.extend_from_slice(b.id.as_bytes());
        }
        let sealed = cipher.seal(&header, HEADER_AAD);
        self.data.extend_from_slice(&sealed);
        self.data.extend_from_slice(&(sealed.len() as u32).to_le_bytes());
        (self.data, self.blobs)
    }
}

/// Bytes read from the end of a pack to find its header in one request:
/// enough for the header of about 1,700 blobs (a pack of 1 MiB chunks has a
/// few dozen; a tree pack of small trees may have more, then a second read).
pub const HEADER_TAIL: u64 = 64 * 1024;

/// Reads the blob list from a whole pack's bytes.
pub(crate) fn read_header(pack: &[u8], cipher: &Cipher, what: &str) -> Result<Vec<PackedBlob>> {
    if pack.len() < 4 {
        return Err(Error::corrupt(what, "pack too short"));
    }
    let size = pack.len() as u64;
    let span = header_span(&pack[pack.len() - 4..], size, what)?;
    parse_header(&pack[span.start as usize..span.end as usize], span.start, cipher, what)
}

/// Where the sealed header of a pack of `pack_size` bytes lies, from the
/// pack's last 4 bytes (`last4`).
pub(crate) fn header_span(last4: &[u8], pack_size: u64, what: &str) -> Result<std::ops::Range<u64>> {
    let [a, b, c, d] = last4 else {
        return Err(Error::corrupt(what, "pack too short"));
    };
    if pack_size < 4 {
        return Err(Error::corrupt(what, "pack too short"));
    }
    let header_len = u64::from(u32::from_le_bytes([*a, *b, *c, *d]));
    let body = pack_size - 4;
    if header_len > body {
        return Err(Error::corrupt(what, "pack header length exceeds the pack (truncated?)"));
    }
    Ok(body - header_len..body)
}

/// Opens a sealed header that starts at `blobs_end` and checks that its
/// blobs fill the pack up to there.
pub(crate) fn parse_header(sealed: &[u8], blobs_end: u64, cipher: &Cipher, what: &str) -> Result<Vec<PackedBlob>> {
    let header = cipher.open(sealed, HEADER_AAD, &format!("header of {what}"))?;
    if header.len() % ENTRY_LEN != 0 {
        return Err(Error::corrupt(what, "pack header has a partial entry"));
    }
    let mut offset: u64 = 0;
    let mut out = Vec::with_capacity(header.len() / ENTRY_LEN);
    for entry in header.chunks_exact(ENTRY_LEN) {
        let kind = BlobType::from_code(entry[0]).ok_or_else(|| Error::corrupt(what, "unknown blob type"))?;
        let length = u32::from_le_bytes([entry[1], entry[2], entry[3], entry[4]]);
        let mut id = [0u8; 32];
        id.copy_from_slice(&entry[5..]);
        let start = u32::try_from(offset).map_err(|_| Error::corrupt(what, "pack header lists more than 4 GiB"))?;
        out.push(PackedBlob { id: Id(id), kind, offset: start, length });
        offset += u64::from(length);
    }
    if offset != blobs_end {
        return Err(Error::corrupt(what, "pack header does not match the blobs' extent"));
    }
    Ok(out)
}

/// Storage path of a pack: `data/<first two hex digits>/<id>`.
pub fn pack_path(id: &Id) -> String {
    let hex = id.to_hex();
    format!("data/{}/{}", &hex[..2], hex)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::MasterKey;

    #[test]
    fn header_round_trip_and_truncation() {
        let key = MasterKey::random();
        let cipher = key.cipher();
        let mut b = PackBuilder::default();
        b.add(Id::random(), BlobType::Data, &[1; 100]);
        b.add(Id::random(), BlobType::Tree, &[2; 50]);
        let (bytes, blobs) = b.finish(&cipher);
        assert_eq!(read_header(&bytes, &cipher, "p").unwrap(), blobs);
        assert!(read_header(&bytes[..bytes.len() - 10], &cipher, "p").is_err());
        assert!(read_header(&bytes[5..], &cipher, "p").is_err());
        // The header alone, from the pack's tail, gives the same list.
        let size = bytes.len() as u64;
        let span = header_span(&bytes[bytes.len() - 4..], size, "p").unwrap();
        let sealed = &bytes[span.start as usize..span.end as usize];
        assert_eq!(parse_header(sealed, span.start, &cipher, "p").unwrap(), blobs);
        assert_eq!(span.start, 150);
        assert!(parse_header(sealed, span.start - 1, &cipher, "p").is_err(), "extent must match");
        assert!(header_span(&[0xff; 4], size, "p").is_err(), "a length beyond the pack");
        assert!(header_span(&[0; 3], size, "p").is_err());
    }
}
