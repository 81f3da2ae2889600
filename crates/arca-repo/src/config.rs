//! The repository `config` object: plaintext, written once at `init`.

use serde::{Deserialize, Serialize};

use crate::id::Id;

/// Newest repository format this code reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// Parameters fixed for the life of a repository.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Config {
    pub version: u32,
    /// Random repository id; names the repository in caches and listings.
    pub id: Id,
    pub chunker: ChunkerParams,
    /// Target size of a pack file in bytes.
    pub pack_size: u64,
    /// Default zstd level for new blobs (0 disables compression).
    pub compression: i32,
}

/// FastCDC (2020) minimum, average and maximum chunk sizes in bytes.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct ChunkerParams {
    pub min: u32,
    pub avg: u32,
    pub max: u32,
}

impl Default for ChunkerParams {
    fn default() -> Self {
        ChunkerParams { min: 512 * 1024, avg: 1024 * 1024, max: 8 * 1024 * 1024 }
    }
}

impl Config {
    pub fn new() -> Self {
        Config {
            version: FORMAT_VERSION,
            id: Id::random(),
            chunker: ChunkerParams::default(),
            pack_size: 16 * 1024 * 1024,
            compression: 3,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self::new()
    }
}
