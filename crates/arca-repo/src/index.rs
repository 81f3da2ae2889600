//! The index: which pack holds each blob, and where.
//!
//! Index files (`index/<id>`) are encrypted JSON documents listing packs and
//! their blobs. An index file may supersede older ones (written by `prune`);
//! readers ignore superseded files, so a prune cut short leaves a valid state.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::id::Id;
use crate::pack::{BlobType, PackedBlob};

/// The stored form of one index file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IndexFile {
    /// Index files this one replaces.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supersedes: Vec<Id>,
    pub packs: Vec<IndexPack>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IndexPack {
    pub id: Id,
    pub blobs: Vec<PackedBlob>,
}

/// Where a blob is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobLocation {
    pub pack: Id,
    pub kind: BlobType,
    pub offset: u32,
    pub length: u32,
}

#[derive(Clone, Copy)]
struct Slot {
    pack: u32,
    kind: BlobType,
    offset: u32,
    length: u32,
}

/// In-memory index: a compact map from blob id to location.
#[derive(Default)]
pub struct Index {
    packs: Vec<Id>,
    pack_numbers: HashMap<Id, u32>,
    blobs: HashMap<Id, Slot>,
}

impl Index {
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds the index from loaded index files, ignoring superseded ones.
    pub fn from_files(files: &[(Id, IndexFile)]) -> Self {
        let superseded: HashSet<Id> = files.iter().flat_map(|(_, f)| f.supersedes.iter().copied()).collect();
        let mut index = Index::new();
        for (id, file) in files {
            if superseded.contains(id) {
                continue;
            }
            for pack in &file.packs {
                index.add_pack(pack.id, &pack.blobs);
            }
        }
        index
    }

    pub fn add_pack(&mut self, pack: Id, blobs: &[PackedBlob]) {
        let next = self.packs.len() as u32;
        let number = *self.pack_numbers.entry(pack).or_insert_with(|| {
            self.packs.push(pack);
            next
        });
        for b in blobs {
            self.blobs.entry(b.id).or_insert(Slot { pack: number, kind: b.kind, offset: b.offset, length: b.length });
        }
    }

    pub fn contains(&self, id: &Id) -> bool {
        self.blobs.contains_key(id)
    }

    pub fn get(&self, id: &Id) -> Option<BlobLocation> {
        self.blobs.get(id).map(|s| BlobLocation {
            pack: self.packs[s.pack as usize],
            kind: s.kind,
            offset: s.offset,
            length: s.length,
        })
    }

    pub fn blob_count(&self) -> usize {
        self.blobs.len()
    }

    pub fn pack_count(&self) -> usize {
        self.packs.len()
    }

    pub fn has_pack(&self, id: &Id) -> bool {
        self.pack_numbers.contains_key(id)
    }

    /// Every pack id known to the index.
    pub fn packs(&self) -> impl Iterator<Item = &Id> {
        self.packs.iter()
    }

    /// Every blob with its location.
    pub fn iter(&self) -> impl Iterator<Item = (Id, BlobLocation)> + '_ {
        self.blobs.iter().map(|(id, s)| {
            (*id, BlobLocation { pack: self.packs[s.pack as usize], kind: s.kind, offset: s.offset, length: s.length })
        })
    }

    /// Blobs grouped by pack, each list sorted by offset.
    pub fn by_pack(&self) -> HashMap<Id, Vec<PackedBlob>> {
        let mut out: HashMap<Id, Vec<PackedBlob>> = HashMap::new();
        for (id, loc) in self.iter() {
            out.entry(loc.pack).or_default().push(PackedBlob {
                id,
                kind: loc.kind,
                offset: loc.offset,
                length: loc.length,
            });
        }
        for blobs in out.values_mut() {
            blobs.sort_by_key(|b| b.offset);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(offset: u32) -> PackedBlob {
        PackedBlob { id: Id::random(), kind: BlobType::Data, offset, length: 10 }
    }

    #[test]
    fn superseded_files_are_ignored() {
        let (a, b) = (blob(0), blob(10));
        let old_id = Id::random();
        let old = IndexFile { supersedes: vec![], packs: vec![IndexPack { id: Id::random(), blobs: vec![a] }] };
        let pack2 = Id::random();
        let new = IndexFile { supersedes: vec![old_id], packs: vec![IndexPack { id: pack2, blobs: vec![b] }] };
        let index = Index::from_files(&[(old_id, old), (Id::random(), new)]);
        assert!(!index.contains(&a.id));
        assert_eq!(index.get(&b.id).unwrap().pack, pack2);
        assert_eq!(index.pack_count(), 1);
    }
}
