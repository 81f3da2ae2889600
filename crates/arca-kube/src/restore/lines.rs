//! Line files a restore writes as it goes (the per-object results, the log):
//! each line is handed to a writer thread that stores whole lines in data
//! blobs of about [`BLOB_TARGET`] bytes, so a file is never whole in memory,
//! whatever the object count. A dry run spools its lines to a temporary file
//! instead (nothing is written to the repository). Reading streams a blob
//! (or a buffered line) at a time.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use arca_repo::{BlobType, Id, Repository};

use crate::error::{Error, Result};

/// A blob holds whole lines up to about this many bytes (one longer line
/// gets a blob of its own).
pub const BLOB_TARGET: usize = 1 << 20;
/// Lines queued for the writer thread before producers wait.
const QUEUE: usize = 1024;

/// Where a finished line file is.
#[derive(Debug)]
pub enum Written {
    /// Data blobs in the repository, in order (a file node's content).
    Stored { content: Vec<Id>, size: u64 },
    /// A temporary file (dry runs).
    Spooled(File),
    /// Lines were not kept.
    Discarded,
}

/// Accepts lines from any thread; a thread of its own stores them.
pub struct LineWriter {
    what: String,
    tx: Option<SyncSender<Vec<u8>>>,
    worker: Option<JoinHandle<Result<Written>>>,
}

impl LineWriter {
    /// Lines become data blobs of `repo`.
    pub fn to_repository(repo: &Repository, what: &str) -> LineWriter {
        let repo = repo.clone();
        Self::spawn(what, move |rx| store_in_repository(&repo, rx))
    }

    /// Lines go to a temporary file, deleted when the result is dropped.
    pub fn to_spool(what: &str) -> Result<LineWriter> {
        let file =
            tempfile::tempfile().map_err(|e| io_error(format!("creating a temporary file for the {what}"), e))?;
        let name = what.to_string();
        Ok(Self::spawn(what, move |rx| spool(file, rx, &name)))
    }

    /// Lines are dropped.
    pub fn discard(what: &str) -> LineWriter {
        LineWriter { what: what.to_string(), tx: None, worker: None }
    }

    fn spawn<F>(what: &str, work: F) -> LineWriter
    where
        F: FnOnce(Receiver<Vec<u8>>) -> Result<Written> + Send + 'static,
    {
        let (tx, rx) = sync_channel(QUEUE);
        let worker = std::thread::spawn(move || work(rx));
        LineWriter { what: what.to_string(), tx: Some(tx), worker: Some(worker) }
    }

    /// Queues one line (without its newline). A writer that failed drops
    /// lines; [`LineWriter::finish`] names the failure.
    pub fn line(&self, line: impl Into<Vec<u8>>) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(line.into());
        }
    }

    /// Waits for every queued line to be stored. Blocking.
    pub fn finish(mut self) -> Result<Written> {
        drop(self.tx.take());
        match self.worker.take() {
            None => Ok(Written::Discarded),
            Some(w) => w.join().map_err(|_| Error::Task(format!("the writer of the {} panicked", self.what)))?,
        }
    }
}

fn store_in_repository(repo: &Repository, rx: Receiver<Vec<u8>>) -> Result<Written> {
    let mut content = Vec::new();
    let mut size = 0u64;
    let mut buf: Vec<u8> = Vec::with_capacity(BLOB_TARGET);
    let mut failed = None;
    for line in rx {
        if failed.is_some() {
            continue; // keep draining, so producers never wait on a dead writer
        }
        if !buf.is_empty() && buf.len() + line.len() + 1 > BLOB_TARGET {
            if let Err(e) = save(repo, &mut buf, &mut content, &mut size) {
                failed = Some(e);
                continue;
            }
        }
        buf.extend_from_slice(&line);
        buf.push(b'\n');
    }
    if let Some(e) = failed {
        return Err(e);
    }
    if !buf.is_empty() {
        save(repo, &mut buf, &mut content, &mut size)?;
    }
    Ok(Written::Stored { content, size })
}

fn save(repo: &Repository, buf: &mut Vec<u8>, content: &mut Vec<Id>, size: &mut u64) -> Result<()> {
    content.push(repo.save_blob(BlobType::Data, buf)?);
    *size += buf.len() as u64;
    buf.clear();
    Ok(())
}

fn spool(file: File, rx: Receiver<Vec<u8>>, what: &str) -> Result<Written> {
    let io = |e| io_error(format!("spooling the {what}"), e);
    let mut out = std::io::BufWriter::new(file);
    for line in rx {
        out.write_all(&line).and_then(|_| out.write_all(b"\n")).map_err(io)?;
    }
    let mut file = out.into_inner().map_err(|e| io(e.into_error()))?;
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    Ok(Written::Spooled(file))
}

fn io_error(what: String, source: std::io::Error) -> Error {
    Error::Io { what, source }
}

/// Hands each line of a stored line file to `f`, a blob at a time (a line
/// cut across blobs, as in files written by other means, is joined).
pub fn each_stored_line<F>(repo: &Repository, content: &[Id], mut f: F) -> Result<()>
where
    F: FnMut(&str) -> Result<()>,
{
    let mut rest: Vec<u8> = Vec::new();
    for id in content {
        let blob = repo.load_blob(id)?;
        let mut start = 0;
        for end in blob.iter().enumerate().filter(|(_, b)| **b == b'\n').map(|(i, _)| i) {
            if rest.is_empty() {
                f(&String::from_utf8_lossy(&blob[start..end]))?;
            } else {
                rest.extend_from_slice(&blob[start..end]);
                f(&String::from_utf8_lossy(&rest))?;
                rest.clear();
            }
            start = end + 1;
        }
        rest.extend_from_slice(&blob[start..]);
    }
    if !rest.is_empty() {
        f(&String::from_utf8_lossy(&rest))?;
    }
    Ok(())
}

/// Hands each line of a spooled file to `f`, from its start.
pub fn each_spooled_line<F>(file: &File, mut f: F) -> Result<()>
where
    F: FnMut(&str) -> Result<()>,
{
    let io = |e| io_error("reading the spooled restore results".to_string(), e);
    let mut file = file.try_clone().map_err(io)?;
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    for line in BufReader::new(file).lines() {
        f(&line.map_err(io)?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arca_repo::{InitOptions, KdfParams};

    fn repo(dir: &std::path::Path) -> anyhow::Result<Repository> {
        let backend = arca_repo::open_backend(&dir.display().to_string(), true)?;
        let repo =
            Repository::init(backend, b"pw", InitOptions { kdf: KdfParams::insecure_fast(), ..Default::default() })?;
        repo.load_index()?;
        Ok(repo)
    }

    fn lines(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("{{\"object\":\"configmap/ns-{}/obj-{i:06}\",\"outcome\":\"created\"}}", i % 7))
            .collect()
    }

    /// More lines than fit one blob come back whole and in order, and no
    /// blob is larger than the target.
    #[test]
    fn stored_lines_round_trip_across_blobs() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let repo = repo(dir.path())?;
        let want = lines(40_000);
        let w = LineWriter::to_repository(&repo, "restore results");
        for l in &want {
            w.line(l.as_str());
        }
        let Written::Stored { content, size } = w.finish()? else {
            anyhow::bail!("not stored");
        };
        repo.flush()?;
        assert!(content.len() >= 2, "{} blobs", content.len());
        assert_eq!(size, want.iter().map(|l| l.len() as u64 + 1).sum::<u64>());
        for id in &content {
            assert!(repo.load_blob(id)?.len() <= BLOB_TARGET);
        }
        let mut got = Vec::new();
        each_stored_line(&repo, &content, |l| {
            got.push(l.to_string());
            Ok(())
        })?;
        assert_eq!(got, want);
        Ok(())
    }

    #[test]
    fn a_line_cut_across_blobs_is_joined() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let repo = repo(dir.path())?;
        let a = repo.save_blob(BlobType::Data, b"one\ntw")?;
        let b = repo.save_blob(BlobType::Data, b"o\nthree")?;
        repo.flush()?;
        let mut got = Vec::new();
        each_stored_line(&repo, &[a, b], |l| {
            got.push(l.to_string());
            Ok(())
        })?;
        assert_eq!(got, ["one", "two", "three"]);
        Ok(())
    }

    #[test]
    fn spooled_lines_round_trip() -> anyhow::Result<()> {
        let want = lines(100);
        let w = LineWriter::to_spool("dry-run results")?;
        for l in &want {
            w.line(l.as_str());
        }
        let Written::Spooled(file) = w.finish()? else {
            anyhow::bail!("not spooled");
        };
        for _ in 0..2 {
            let mut got = Vec::new();
            each_spooled_line(&file, |l| {
                got.push(l.to_string());
                Ok(())
            })?;
            assert_eq!(got, want, "read again from the start");
        }
        assert!(matches!(LineWriter::discard("x").finish()?, Written::Discarded));
        Ok(())
    }
}
