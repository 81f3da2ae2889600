//! Reading many blobs in storage order: grouped by pack, neighbouring blobs
//! of a pack fetched with one ranged read, packs read in parallel. A restore
//! of many small files otherwise pays one request (and on a local
//! repository one open, read and close) per blob.

use std::collections::HashSet;
use std::ops::Range;

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::id::Id;
use crate::index::BlobLocation;
use crate::pack::pack_path;
use crate::repository::Repository;

/// Blobs closer than this in a pack are read in one request, gap included.
pub const MERGE_GAP: u64 = 256 * 1024;
/// A ranged read grows no larger than this (bounds memory per reader).
pub const MAX_RANGE: u64 = 8 * 1024 * 1024;

/// One ranged read of a pack and the blobs it holds.
#[derive(Debug, Clone, PartialEq)]
pub struct PackRead {
    pub pack: Id,
    pub range: Range<u64>,
    pub blobs: Vec<(Id, BlobLocation)>,
}

/// Plans the reads for `blobs` (each id once): by pack, in offset order,
/// neighbours merged while the gap is at most `gap` and the read at most
/// `max`. Pure.
pub fn plan_reads(mut blobs: Vec<(Id, BlobLocation)>, gap: u64, max: u64) -> Vec<PackRead> {
    blobs.sort_by_key(|(_, loc)| (loc.pack, loc.offset));
    blobs.dedup_by(|a, b| a.0 == b.0);
    let mut reads: Vec<PackRead> = Vec::new();
    for (id, loc) in blobs {
        let (start, end) = (u64::from(loc.offset), u64::from(loc.offset) + u64::from(loc.length));
        match reads.last_mut() {
            Some(r) if r.pack == loc.pack && start <= r.range.end + gap && end - r.range.start <= max => {
                r.range.end = r.range.end.max(end);
                r.blobs.push((id, loc));
            }
            _ => reads.push(PackRead { pack: loc.pack, range: start..end, blobs: vec![(id, loc)] }),
        }
    }
    reads
}

/// A file's blobs whose ranged read grows no larger than this: the reads of
/// one file run in parallel, so this bounds the bytes each holds.
pub const MAX_FILE_RUN: u64 = 4 * 1024 * 1024;

/// One step of reading a file's content in file order.
#[derive(Debug, Clone, PartialEq)]
pub enum FileStep {
    /// Blobs that follow each other in the file and lie one after another in
    /// one pack (a first backup stores a file so): one ranged read.
    Run(PackRead),
    /// A blob the file holds earlier too (zeros of a sparse file, repeated
    /// content): fetched on its own, so a cache of known blobs can answer.
    Again(Id),
}

/// Plans reading `blobs` (a file's content, in file order): neighbours in
/// the file that are neighbours forward in one pack, at most `gap` apart,
/// share one read of at most `max` bytes. Pure.
pub fn plan_file_reads(blobs: Vec<(Id, BlobLocation)>, gap: u64, max: u64) -> Vec<FileStep> {
    let mut seen: HashSet<Id> = HashSet::with_capacity(blobs.len());
    let mut steps: Vec<FileStep> = Vec::new();
    for (id, loc) in blobs {
        if !seen.insert(id) {
            steps.push(FileStep::Again(id));
            continue;
        }
        let (start, end) = (u64::from(loc.offset), u64::from(loc.offset) + u64::from(loc.length));
        match steps.last_mut() {
            Some(FileStep::Run(r))
                if r.pack == loc.pack
                    && start >= r.range.end
                    && start <= r.range.end + gap
                    && end - r.range.start <= max =>
            {
                r.range.end = end;
                r.blobs.push((id, loc));
            }
            _ => steps.push(FileStep::Run(PackRead { pack: loc.pack, range: start..end, blobs: vec![(id, loc)] })),
        }
    }
    steps
}

impl Repository {
    /// The reads of a file's content (`ids`, in file order): see [`plan_file_reads`].
    pub fn plan_file_reads(&self, ids: &[Id]) -> Result<Vec<FileStep>> {
        let located = {
            let index = self.inner.index.read();
            ids.iter()
                .map(|id| index.get(id).map(|loc| (*id, loc)).ok_or(Error::BlobMissing { id: id.to_hex() }))
                .collect::<Result<Vec<_>>>()?
        };
        Ok(plan_file_reads(located, MERGE_GAP, MAX_FILE_RUN))
    }

    /// One ranged read: the blobs of `read`, decrypted and verified, in its order.
    pub fn read_run(&self, read: &PackRead) -> Result<Vec<(Id, Vec<u8>)>> {
        let path = pack_path(&read.pack);
        let bytes = self.inner.backend.get_range(&path, read.range.clone())?;
        read.blobs
            .iter()
            .map(|(id, loc)| {
                let start = (u64::from(loc.offset) - read.range.start) as usize;
                let sealed = bytes.get(start..start + loc.length as usize).ok_or_else(|| {
                    Error::corrupt(format!("pack {path}"), "shorter than the index says; run `arca repo check`")
                })?;
                Ok((*id, self.decode_blob(id, loc.kind, sealed, &path)?))
            })
            .collect()
    }

    /// Where a blob is stored, if the index knows it.
    pub fn blob_location(&self, id: &Id) -> Option<BlobLocation> {
        self.inner.index.read().get(id)
    }

    /// Loads every blob of `ids` in storage order and hands each, decrypted
    /// and verified, to `f` — from several threads, each blob once, in no
    /// particular order. Stops at the first error (a missing blob, a damaged
    /// pack, or `f`'s).
    pub fn for_each_blob_in_pack_order<F, E>(&self, ids: &[Id], f: F) -> std::result::Result<(), E>
    where
        F: Fn(&Id, Vec<u8>) -> std::result::Result<(), E> + Sync,
        E: From<Error> + Send,
    {
        let located = ids
            .iter()
            .map(|id| self.blob_location(id).map(|loc| (*id, loc)).ok_or(Error::BlobMissing { id: id.to_hex() }))
            .collect::<Result<Vec<_>>>()?;
        plan_reads(located, MERGE_GAP, MAX_RANGE).par_iter().try_for_each(|read| -> std::result::Result<(), E> {
            let path = pack_path(&read.pack);
            let bytes = self.inner.backend.get_range(&path, read.range.clone())?;
            for (id, loc) in &read.blobs {
                let start = (u64::from(loc.offset) - read.range.start) as usize;
                let sealed = bytes.get(start..start + loc.length as usize).ok_or_else(|| {
                    Error::corrupt(format!("pack {path}"), "shorter than the index says; run `arca repo check`")
                })?;
                f(id, self.decode_blob(id, loc.kind, sealed, &path)?)?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pack::BlobType;

    fn loc(pack: u8, offset: u32, length: u32) -> BlobLocation {
        BlobLocation { pack: Id([pack; 32]), kind: BlobType::Data, offset, length }
    }

    fn id(n: u8) -> Id {
        Id([n; 32])
    }

    #[test]
    fn merges_neighbours_per_pack_within_gap_and_size() {
        let blobs = vec![
            (id(3), loc(1, 1_000_000, 100)),
            (id(1), loc(1, 0, 100)),
            (id(2), loc(1, 200, 100)),
            (id(4), loc(2, 0, 100)),
            (id(2), loc(1, 200, 100)),
        ];
        let reads = plan_reads(blobs, 1000, 10_000_000);
        let shape: Vec<(u8, Range<u64>, usize)> =
            reads.iter().map(|r| (r.pack.as_bytes()[0], r.range.clone(), r.blobs.len())).collect();
        assert_eq!(shape, [(1, 0..300, 2), (1, 1_000_000..1_000_100, 1), (2, 0..100, 1)]);
        let capped = plan_reads(vec![(id(1), loc(1, 0, 100)), (id(2), loc(1, 100, 100))], 1000, 150);
        assert_eq!(capped.len(), 2, "a read never grows past the cap");
    }

    #[test]
    fn a_file_reads_in_its_own_order_merging_forward_neighbours() {
        let steps = plan_file_reads(
            vec![
                (id(1), loc(1, 0, 100)),
                (id(2), loc(1, 100, 100)),
                // Backwards in the pack: a new read.
                (id(3), loc(1, 0, 50)),
                (id(4), loc(1, 60, 100)),
                // Seen before: on its own.
                (id(1), loc(1, 0, 100)),
                (id(5), loc(2, 0, 100)),
                // Too far ahead.
                (id(6), loc(2, 10_000, 100)),
                // Would grow past the cap.
                (id(7), loc(2, 10_100, 901)),
            ],
            1000,
            1000,
        );
        let shape: Vec<String> = steps
            .iter()
            .map(|s| match s {
                FileStep::Run(r) => format!("{}:{:?}:{}", r.pack.as_bytes()[0], r.range, r.blobs.len()),
                FileStep::Again(id) => format!("again {}", id.as_bytes()[0]),
            })
            .collect();
        assert_eq!(
            shape,
            ["1:0..200:2", "1:0..160:2", "again 1", "2:0..100:1", "2:10000..10100:1", "2:10100..11001:1"]
        );
    }
}
