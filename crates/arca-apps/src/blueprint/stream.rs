//! A command's stdout straight into the repository, and a stored dump
//! straight into a command's stdin, through `pods/exec`. No file and no
//! volume in between: the async exec streams are bridged to the blocking
//! repository writer/reader by a bounded channel, so memory stays at
//! [`QUEUE`] × [`CHUNK`] plus the chunker's window whatever the dump's size.
//!
//! A dump's snapshot is written only after the command exited 0 and its
//! stream ended: the producer sends [`Msg::End`] last, and anything else
//! (a non-zero exit, a cut connection, a timeout) makes the reader fail,
//! so the repository gets pending blobs at most, never a snapshot.

use std::io::{Read, Write};
use std::time::Instant;

use arca_kube::api::Kube;
use arca_kube::exec::{self, Finished, Target};
use arca_repo::snapshot::KIND_STREAM;
use arca_repo::{Id, Repository, Snapshot, Tree};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

/// Bytes per message between the exec streams and the repository.
pub const CHUNK: usize = 256 * 1024;
/// Messages in flight.
pub const QUEUE: usize = 8;
/// Longest cursor line a batched command may print.
const CURSOR_LINE_MAX: usize = 1024;

/// What the exec side sends the repository side.
pub enum Msg {
    Data(Vec<u8>),
    /// Every command exited 0 and every stream ended.
    End,
    /// Why the stream is not a dump.
    Failed(String),
}

/// The blocking end of the channel: data until [`Msg::End`]; an error for
/// [`Msg::Failed`] or a channel closed without `End`.
pub struct ChannelReader {
    rx: mpsc::Receiver<Msg>,
    buf: Vec<u8>,
    pos: usize,
    ended: bool,
}

impl ChannelReader {
    pub fn new(rx: mpsc::Receiver<Msg>) -> Self {
        ChannelReader { rx, buf: Vec::new(), pos: 0, ended: false }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if self.pos < self.buf.len() {
                let n = out.len().min(self.buf.len() - self.pos);
                out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            if self.ended {
                return Ok(0);
            }
            match self.rx.blocking_recv() {
                Some(Msg::Data(b)) => (self.buf, self.pos) = (b, 0),
                Some(Msg::End) => self.ended = true,
                Some(Msg::Failed(why)) => return Err(std::io::Error::other(why)),
                None => return Err(std::io::Error::other("the dump's stream was cut before its end")),
            }
        }
    }
}

/// Sizes of one stored dump.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Saved {
    pub bytes: u64,
    pub stored_bytes: u64,
}

/// Saves what `reader` yields as a `stream` snapshot `name` (the caller
/// holds the repository's lock and has loaded its index). Blocking.
pub fn save_dump(repo: &Repository, name: &str, reader: impl Read, tags: &[String]) -> Result<(Id, Saved), String> {
    let e = |e: arca_repo::Error| e.to_string();
    // Whatever is pending belongs to the caller's own work, not to this dump's sizes.
    repo.flush().map_err(e)?;
    let saved = repo.save_stream(reader, &format!("dump {name}")).map_err(e)?;
    let size = saved.size;
    let node = arca_fs::stream_node(name, size, saved.content);
    let tree = repo.save_tree(&Tree { nodes: vec![node] }).map_err(e)?;
    let stats = repo.flush().map_err(e)?;
    let mut snapshot = Snapshot::new(KIND_STREAM, vec![name.to_string()], tree);
    snapshot.tags = tags.to_vec();
    snapshot.summary.insert("size".into(), size.into());
    snapshot.summary.insert("bytes_stored".into(), stats.bytes_stored.into());
    let id = repo.save_snapshot(&snapshot).map_err(e)?;
    Ok((id, Saved { bytes: size, stored_bytes: stats.bytes_stored }))
}

/// Sends a stored dump's bytes into `tx`, blob by blob. Blocking.
pub fn read_dump(repo: &Repository, snapshot_id: &Id, tx: &mpsc::Sender<Vec<u8>>) -> Result<u64, String> {
    let snapshot: Snapshot = repo.load_json("snapshots", snapshot_id).map_err(|e| e.to_string())?;
    if snapshot.kind != KIND_STREAM {
        return Err(format!("snapshot {} is a {}, not a dump", snapshot_id.short(), snapshot.kind));
    }
    let tree = repo.load_tree(&snapshot.tree).map_err(|e| e.to_string())?;
    let [node] = tree.nodes.as_slice() else {
        return Err(format!("snapshot {} does not hold one stream", snapshot_id.short()));
    };
    let mut sent = 0u64;
    for id in &node.content {
        let data = repo.load_blob(id).map_err(|e| e.to_string())?;
        sent += data.len() as u64;
        if tx.blocking_send(data).is_err() {
            return Err("the restore command stopped reading its input".into());
        }
    }
    if sent != node.size {
        return Err(format!("dump {} holds {sent} bytes, its snapshot says {}", snapshot_id.short(), node.size));
    }
    Ok(sent)
}

/// A stdin preamble: `VAR=value` lines, then an empty line, read by
/// [`with_env_from_stdin`] before the command starts.
pub fn env_preamble(env: &[(String, String)]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for (k, v) in env {
        if v.contains('\n') || v.contains('\0') {
            return Err(format!("the value for {k} holds a newline or NUL byte; it cannot be passed on stdin"));
        }
        out.extend_from_slice(format!("{k}={v}\n").as_bytes());
    }
    out.push(b'\n');
    Ok(out)
}

/// `argv` behind a `sh` that exports the preamble's lines first: secrets
/// reach the command's environment without ever being in an argv (which
/// the API server's audit log and the node's process list show).
pub fn with_env_from_stdin(argv: &[String]) -> Vec<String> {
    let script = r#"while IFS= read -r kv && [ -n "$kv" ]; do export "$kv"; done; exec "$@""#;
    let mut out = vec!["sh".to_string(), "-c".to_string(), script.to_string(), "arca-env".to_string()];
    out.extend(argv.iter().cloned());
    out
}

/// One command run for a dump, its stdout sent as [`Msg::Data`].
pub struct Command<'a> {
    pub kube: &'a Kube,
    pub target: &'a Target,
    pub argv: Vec<String>,
    pub preamble: Option<Vec<u8>>,
}

/// Why a run did not succeed: the exit code and the stderr's tail.
pub fn failure(argv0: &str, f: &Finished) -> Option<String> {
    if f.success() {
        return None;
    }
    let code = match f.exit_code {
        Some(c) => format!("exit code {c}"),
        None => f.message.clone().unwrap_or_else(|| "failed".into()),
    };
    let said = f.stderr.text.trim();
    Some(if said.is_empty() {
        format!("{argv0}: {code}")
    } else {
        format!("{argv0}: {code}: {}", arca_kube::exec::tail(said, 800))
    })
}

async fn write_preamble(w: &mut (impl AsyncWrite + Unpin), preamble: &Option<Vec<u8>>) -> std::io::Result<()> {
    if let Some(p) = preamble {
        w.write_all(p).await?;
    }
    Ok(())
}

/// Runs `cmd`, sending its whole stdout; `Err` says why it is not good.
pub async fn run_whole(cmd: &Command<'_>, tx: &mpsc::Sender<Msg>) -> Result<(), String> {
    let mut running = exec::spawn(cmd.kube, cmd.target, &cmd.argv, true).await.map_err(|e| e.to_string())?;
    if let Some(mut stdin) = running.stdin() {
        // The command may not read its stdin: a failed write is its business.
        let _ = write_preamble(&mut stdin, &cmd.preamble).await;
        let _ = stdin.shutdown().await;
    }
    let mut stdout = running.stdout().ok_or("the exec connection gave no stdout")?;
    if let Err(why) = forward(&mut stdout, tx, false).await {
        running.abort();
        return Err(why);
    }
    let finished = running.finish().await.map_err(|e| e.to_string())?;
    failure(&cmd.argv[0], &finished).map_or(Ok(()), Err)
}

/// Runs a batched command once: its first line is the next cursor, the
/// rest (without its final newline) is data. Returns the next cursor.
pub async fn run_batch(cmd: &Command<'_>, tx: &mpsc::Sender<Msg>) -> Result<String, String> {
    let mut running = exec::spawn(cmd.kube, cmd.target, &cmd.argv, true).await.map_err(|e| e.to_string())?;
    if let Some(mut stdin) = running.stdin() {
        let _ = write_preamble(&mut stdin, &cmd.preamble).await;
        let _ = stdin.shutdown().await;
    }
    let mut stdout = running.stdout().ok_or("the exec connection gave no stdout")?;
    let result = async {
        let (cursor, rest) = read_line(&mut stdout).await?;
        let mut head = AsyncReadExt::chain(std::io::Cursor::new(rest), &mut stdout);
        forward(&mut head, tx, true).await?;
        Ok::<_, String>(cursor)
    }
    .await;
    let cursor = match result {
        Ok(c) => c,
        Err(why) => {
            running.abort();
            return Err(why);
        }
    };
    let finished = running.finish().await.map_err(|e| e.to_string())?;
    match failure(&cmd.argv[0], &finished) {
        Some(why) => Err(why),
        None if cursor.is_empty() => Err(format!("{}: printed no cursor on its first line", cmd.argv[0])),
        None => Ok(cursor),
    }
}

/// The first line (trimmed), and the bytes read past it.
async fn read_line(r: &mut (impl AsyncRead + Unpin)) -> Result<(String, Vec<u8>), String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        if let Some(nl) = got.iter().position(|&b| b == b'\n') {
            let rest = got.split_off(nl + 1);
            let line = String::from_utf8_lossy(&got).trim().to_string();
            return Ok((line, rest));
        }
        if got.len() > CURSOR_LINE_MAX {
            return Err(format!("the cursor line is longer than {CURSOR_LINE_MAX} bytes"));
        }
        let n = r.read(&mut buf).await.map_err(|e| format!("reading the command's output: {e}"))?;
        if n == 0 {
            return Err("the command ended before printing its cursor line".into());
        }
        got.extend_from_slice(&buf[..n]);
    }
}

/// Sends everything `r` yields as data messages of up to [`CHUNK`] bytes;
/// with `drop_last_newline`, a final `\n` is held back and dropped.
async fn forward(
    r: &mut (impl AsyncRead + Unpin),
    tx: &mpsc::Sender<Msg>,
    drop_last_newline: bool,
) -> Result<(), String> {
    let mut held: Option<u8> = None;
    loop {
        let mut buf = vec![0u8; CHUNK];
        let mut filled = 0;
        if let Some(b) = held.take() {
            buf[0] = b;
            filled = 1;
        }
        // Fill a whole message where the stream allows: fewer, larger messages.
        let mut eof = false;
        while filled < CHUNK {
            let n = r.read(&mut buf[filled..]).await.map_err(|e| format!("reading the command's output: {e}"))?;
            if n == 0 {
                eof = true;
                break;
            }
            filled += n;
        }
        buf.truncate(filled);
        if drop_last_newline && buf.last() == Some(&b'\n') {
            buf.pop();
            if !eof {
                held = Some(b'\n');
            }
        }
        if !buf.is_empty() && tx.send(Msg::Data(buf)).await.is_err() {
            return Err("the repository stopped taking the dump".into());
        }
        if eof {
            return Ok(());
        }
    }
}

/// Feeds a stored dump into a command's stdin (after its preamble) and
/// waits for its end. Returns the bytes fed.
pub async fn restore_into(cmd: &Command<'_>, repo: &Repository, snapshot: Id) -> Result<u64, String> {
    let mut running = exec::spawn(cmd.kube, cmd.target, &cmd.argv, true).await.map_err(|e| e.to_string())?;
    let mut stdin = running.stdin().ok_or("the exec connection gave no stdin")?;
    // Its stdout is drained (and dropped) so it never stalls on a full pipe.
    let drain = running.stdout().map(|mut out| {
        tokio::spawn(async move {
            let mut sink = tokio::io::sink();
            let _ = tokio::io::copy(&mut out, &mut sink).await;
        })
    });
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(QUEUE);
    let reader_repo = repo.clone();
    let reading = tokio::task::spawn_blocking(move || read_dump(&reader_repo, &snapshot, &tx));
    let started = Instant::now();
    let mut write_error = write_preamble(&mut stdin, &cmd.preamble).await.err().map(|e| e.to_string());
    while let Some(data) = rx.recv().await {
        if write_error.is_some() {
            continue;
        }
        if let Err(e) = stdin.write_all(&data).await {
            write_error = Some(e.to_string());
            drop(rx);
            break;
        }
    }
    let _ = stdin.shutdown().await;
    drop(stdin);
    let read = reading.await.map_err(|e| format!("reading the dump: {e}"))?;
    if let Some(d) = drain {
        let _ = d.await;
    }
    let finished = running.finish().await.map_err(|e| e.to_string())?;
    tracing::debug!("restore of {} took {:?}", snapshot.short(), started.elapsed());
    if let Some(why) = failure(&cmd.argv[0], &finished) {
        return Err(why);
    }
    if let Some(why) = write_error {
        return Err(format!("writing the dump into the command: {why}"));
    }
    read
}

/// Writes into a `Write` by blocking sends: for tests and tools that
/// produce a dump on a blocking thread.
pub struct ChannelWriter(pub mpsc::Sender<Msg>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.blocking_send(Msg::Data(buf.to_vec())).map_err(|_| std::io::Error::other("reader gone"))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reader_fails_unless_the_stream_ended() {
        let (tx, rx) = mpsc::channel(4);
        tx.try_send(Msg::Data(b"abc".to_vec())).unwrap();
        tx.try_send(Msg::End).unwrap();
        let mut s = String::new();
        ChannelReader::new(rx).read_to_string(&mut s).unwrap();
        assert_eq!(s, "abc");

        let (tx, rx) = mpsc::channel(4);
        tx.try_send(Msg::Data(b"abc".to_vec())).unwrap();
        tx.try_send(Msg::Failed("pg_dump: exit code 1".into())).unwrap();
        let e = ChannelReader::new(rx).read_to_end(&mut Vec::new()).unwrap_err();
        assert!(e.to_string().contains("exit code 1"));

        let (tx, rx) = mpsc::channel(4);
        tx.try_send(Msg::Data(b"abc".to_vec())).unwrap();
        drop(tx);
        let e = ChannelReader::new(rx).read_to_end(&mut Vec::new()).unwrap_err();
        assert!(e.to_string().contains("cut"));
    }

    #[test]
    fn secrets_go_on_stdin_not_argv() {
        let p = env_preamble(&[("PGPASSWORD".into(), "s3cr3t".into())]).unwrap();
        assert_eq!(p, b"PGPASSWORD=s3cr3t\n\n");
        let argv = with_env_from_stdin(&["pg_dump".into()]);
        assert!(argv.iter().all(|a| !a.contains("s3cr3t")));
        assert_eq!(argv.last().map(String::as_str), Some("pg_dump"));
        assert!(env_preamble(&[("X".into(), "a\nb".into())]).is_err());
    }

    #[tokio::test]
    async fn batches_split_cursor_and_data_and_drop_the_last_newline() {
        let (tx, mut rx) = mpsc::channel(16);
        let mut input: &[u8] = b"42\npayload\r\n\n";
        let (cursor, rest) = read_line(&mut input).await.unwrap();
        assert_eq!(cursor, "42");
        let mut head = AsyncReadExt::chain(std::io::Cursor::new(rest), input);
        forward(&mut head, &tx, true).await.unwrap();
        drop(tx);
        let mut all = Vec::new();
        while let Some(Msg::Data(d)) = rx.recv().await {
            all.extend(d);
        }
        assert_eq!(all, b"payload\r\n");
    }
}
