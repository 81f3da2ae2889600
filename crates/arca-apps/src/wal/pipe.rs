//! A bounded in-process pipe: a writer thread (a snapshot being read out)
//! feeding a reader (the tar unpacker) a few buffers ahead, no more.

use std::io::{Read, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// The writing end; dropping it ends the stream.
pub struct PipeWriter(SyncSender<Vec<u8>>);

/// The reading end.
pub struct PipeReader {
    rx: Receiver<Vec<u8>>,
    buf: Vec<u8>,
    pos: usize,
}

/// A pipe holding at most `depth` buffers in flight.
pub fn pipe(depth: usize) -> (PipeReader, PipeWriter) {
    let (tx, rx) = sync_channel(depth);
    (PipeReader { rx, buf: Vec::new(), pos: 0 }, PipeWriter(tx))
}

impl Write for PipeWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0
            .send(data.to_vec())
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the reader stopped"))?;
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Read for PipeReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.buf.len() {
            match self.rx.recv() {
                Ok(next) => {
                    self.buf = next;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carries_every_byte_and_ends() {
        let (mut reader, mut writer) = pipe(2);
        let feeder = std::thread::spawn(move || {
            for i in 0..100u8 {
                let _ = writer.write_all(&[i; 1000]);
            }
        });
        let mut all = Vec::new();
        let _ = reader.read_to_end(&mut all);
        let _ = feeder.join();
        assert_eq!(all.len(), 100_000);
        assert_eq!(all[99_999], 99);
    }
}
