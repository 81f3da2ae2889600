//! Commands in a running container (`pods/exec` over WebSocket): hooks and
//! blueprint actions. Two shapes: [`run`] captures a bounded tail of the
//! output and ends at a timeout; [`spawn`] hands out the streams, so a
//! database dump goes straight from the command's stdout into the
//! repository (and a restore's data into its stdin) without a file between.
//! stderr is always drained in the background into a bounded tail, or a
//! chatty command would stall its own stdout (the exec connection has one
//! message loop).

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, AttachParams};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::api::Kube;

/// Bytes of stdout/stderr kept by [`run`] and for the stderr tail.
pub const OUTPUT_KEPT: usize = 16 * 1024;
/// The exec connection's own pipe buffers.
const PIPE_BUFFER: usize = 256 * 1024;

/// Where a command runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub namespace: String,
    pub pod: String,
    pub container: String,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pod {}/{} container {:?}", self.namespace, self.pod, self.container)
    }
}

/// Why a command did not end with exit code 0.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    /// The exec connection could not be opened (no such pod or container,
    /// container not running, no `pods/exec` permission).
    #[error("cannot run {argv:?} in {target}: {message}")]
    Start { target: String, argv: Vec<String>, message: String },
    /// It ran past its timeout and was stopped.
    #[error("{argv:?} in {target} did not end within {timeout:?} and was stopped")]
    Timeout { target: String, argv: Vec<String>, timeout: Duration },
    /// The connection ended without an exit status (container killed, connection cut).
    #[error("{argv:?} in {target}: the connection ended without an exit status ({message})")]
    Lost { target: String, argv: Vec<String>, message: String },
}

/// A bounded capture: the first `limit` bytes and whether more came.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captured {
    pub text: String,
    pub truncated: bool,
    pub bytes: u64,
}

impl Captured {
    fn take(limit: usize, all: &[u8], total: u64) -> Captured {
        let keep = &all[..all.len().min(limit)];
        Captured {
            text: String::from_utf8_lossy(keep).into_owned(),
            truncated: total as usize > keep.len(),
            bytes: total,
        }
    }
}

/// The last `max` bytes of `s` (on a char boundary): the end of a
/// command's output, where its error usually is.
pub fn tail(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

/// What a finished command did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    /// 0 on success; the container's exit code otherwise (`None` when the
    /// server said failure without a code, e.g. the process could not start).
    pub exit_code: Option<i32>,
    /// The server's status message when it was not a success.
    pub message: Option<String>,
    pub stdout: Captured,
    pub stderr: Captured,
    pub duration: Duration,
}

impl Finished {
    pub fn success(&self) -> bool {
        self.exit_code == Some(0)
    }
}

/// The exit code in an exec status: `Success` → 0, `NonZeroExitCode` → its cause.
pub fn exit_code(status: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Status) -> Option<i32> {
    if status.status.as_deref() == Some("Success") {
        return Some(0);
    }
    status
        .details
        .as_ref()
        .and_then(|d| d.causes.as_ref())
        .into_iter()
        .flatten()
        .find(|c| c.reason.as_deref() == Some("ExitCode"))
        .and_then(|c| c.message.as_deref())
        .and_then(|m| m.parse().ok())
}

/// A running command with its streams.
pub struct Running {
    pub target: Target,
    pub argv: Vec<String>,
    started: Instant,
    process: kube::api::AttachedProcess,
    stderr: Option<tokio::task::JoinHandle<Captured>>,
}

impl Running {
    /// The command's stdin (once; `None` when spawned without stdin).
    pub fn stdin(&mut self) -> Option<impl AsyncWrite + Unpin + Send + use<>> {
        self.process.stdin()
    }

    /// The command's stdout (once).
    pub fn stdout(&mut self) -> Option<impl AsyncRead + Unpin + Send + use<>> {
        self.process.stdout()
    }

    /// Stops the command (the connection is closed; the server kills the process).
    pub fn abort(&self) {
        self.process.abort();
    }

    /// Waits for the exit status. Take and drain stdout first, or this waits forever.
    pub async fn finish(mut self) -> Result<Finished, ExecError> {
        let status = match self.process.take_status() {
            Some(s) => s.await,
            None => None,
        };
        let stderr = match self.stderr.take() {
            Some(t) => t.await.unwrap_or_default(),
            None => Captured::default(),
        };
        let duration = self.started.elapsed();
        let Some(status) = status else {
            let message = if stderr.text.is_empty() { "no status".to_string() } else { stderr.text.clone() };
            return Err(ExecError::Lost { target: self.target.to_string(), argv: self.argv, message });
        };
        let code = exit_code(&status);
        let message = (code != Some(0)).then(|| status.message.clone().unwrap_or_default());
        Ok(Finished { exit_code: code, message, stdout: Captured::default(), stderr, duration })
    }
}

async fn drain_tail(mut r: impl AsyncRead + Unpin, limit: usize) -> Captured {
    let mut kept = Vec::new();
    let mut total = 0u64;
    let mut buf = vec![0u8; 8192];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                total += n as u64;
                let room = limit.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
    Captured::take(limit, &kept, total)
}

/// Opens an exec connection running `argv` in `target`.
pub async fn spawn(kube: &Kube, target: &Target, argv: &[String], stdin: bool) -> Result<Running, ExecError> {
    let pods: Api<Pod> = Api::namespaced(kube.client().clone(), &target.namespace);
    let params = AttachParams::default()
        .container(target.container.clone())
        .stdin(stdin)
        .stdout(true)
        .stderr(true)
        .max_stdin_buf_size(PIPE_BUFFER)
        .max_stdout_buf_size(PIPE_BUFFER)
        .max_stderr_buf_size(PIPE_BUFFER);
    let started = Instant::now();
    let mut process = pods.exec(&target.pod, argv.to_vec(), &params).await.map_err(|e| ExecError::Start {
        target: target.to_string(),
        argv: argv.to_vec(),
        message: start_message(&e),
    })?;
    let stderr = process.stderr().map(|r| tokio::spawn(drain_tail(r, OUTPUT_KEPT)));
    Ok(Running { target: target.clone(), argv: argv.to_vec(), started, process, stderr })
}

fn start_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} {}: {}", s.code, s.reason, s.message),
        other => other.to_string(),
    }
}

/// Runs `argv` to its end, feeding it `input` (if any), keeping the first
/// [`OUTPUT_KEPT`] bytes of each output; stopped at `timeout`.
pub async fn run(
    kube: &Kube,
    target: &Target,
    argv: &[String],
    input: Option<&[u8]>,
    timeout: Duration,
) -> Result<Finished, ExecError> {
    let work = async {
        let mut running = spawn(kube, target, argv, input.is_some()).await?;
        if let (Some(data), Some(mut w)) = (input, running.stdin()) {
            // A command that ignores its stdin must not block the run.
            let data = data.to_vec();
            tokio::spawn(async move {
                let _ = w.write_all(&data).await;
                let _ = w.shutdown().await;
            });
        }
        let stdout = match running.stdout() {
            Some(r) => drain_tail(r, OUTPUT_KEPT).await,
            None => Captured::default(),
        };
        let mut finished = running.finish().await?;
        finished.stdout = stdout;
        Ok(finished)
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(r) => r,
        // Dropping the connection ends the command on the node.
        Err(_) => Err(ExecError::Timeout { target: target.to_string(), argv: argv.to_vec(), timeout }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Status, StatusCause, StatusDetails};

    #[test]
    fn exit_codes_from_status() {
        let ok = Status { status: Some("Success".into()), ..Default::default() };
        assert_eq!(exit_code(&ok), Some(0));
        let failed = Status {
            status: Some("Failure".into()),
            reason: Some("NonZeroExitCode".into()),
            details: Some(StatusDetails {
                causes: Some(vec![StatusCause {
                    reason: Some("ExitCode".into()),
                    message: Some("3".into()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(exit_code(&failed), Some(3));
        let internal =
            Status { status: Some("Failure".into()), reason: Some("InternalError".into()), ..Default::default() };
        assert_eq!(exit_code(&internal), None);
    }

    #[test]
    fn tails_end_on_char_boundaries() {
        assert_eq!(tail("abc", 5), "abc");
        assert_eq!(tail("abcdef", 2), "ef");
        assert_eq!(tail("aé", 1), "");
    }

    #[test]
    fn captures_are_bounded() {
        let c = Captured::take(4, b"abcdefgh", 8);
        assert_eq!(c.text, "abcd");
        assert!(c.truncated);
        assert_eq!(c.bytes, 8);
    }
}
