//! `pods/exec` over WebSocket with the `v5.channel.k8s.io` / `v4.channel.k8s.io`
//! subprotocols: every binary message starts with a channel byte (0 stdin, 1 stdout,
//! 2 stderr, 3 error/status JSON, 255 close-stream in v5). The command runs as a
//! local process in the pod's simulated filesystem (see `controllers::kubelet`).

use std::process::Stdio;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use futures::{SinkExt, StreamExt};
use http::{Request, Response};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::cluster::Cluster;
use crate::controllers::kubelet;
use crate::error::{ApiError, ApiResult};
use crate::handlers::pods::select_container;
use crate::handlers::{Query, Target};
use crate::meta;

const PROTOCOLS: [&str; 2] = ["v5.channel.k8s.io", "v4.channel.k8s.io"];

/// Upgrades an exec request and runs the command.
pub(crate) async fn serve(
    cluster: Arc<Cluster>,
    t: &Target,
    q: &Query,
    req: Request<Body>,
) -> ApiResult<Response<Body>> {
    let command = q.all("command");
    if command.is_empty() {
        return Err(ApiError::bad_request("you must specify at least 1 command"));
    }
    let name = t.name.clone().unwrap_or_default();
    let (pod, container, env) = {
        let state = cluster.lock();
        let pod = state.get(&t.rt, t.ns(), &name)?;
        let container = select_container(&pod, q.get("container"))?;
        let env = kubelet::pod_env(&state, &cluster, &pod, &container)
            .map_err(|e| ApiError::bad_request(format!("unable to upgrade connection: {e}")))?;
        (pod, container, env)
    };
    let container = meta::str_at(&container, "/name").unwrap_or_default();
    match meta::str_at(&pod, "/status/phase") {
        Some(phase @ ("Succeeded" | "Failed")) => {
            return Err(ApiError::bad_request(format!(
                "cannot exec into a container in a completed pod; current phase is {phase}"
            )));
        }
        _ if !running(&pod, container) => {
            return Err(ApiError::bad_request(format!(
                "unable to upgrade connection: container not found (\"{container}\")"
            )));
        }
        _ => {}
    }
    let (mut parts, _body) = req.into_parts();
    let ws = WebSocketUpgrade::from_request_parts(&mut parts, &())
        .await
        .map_err(|e| ApiError::bad_request(format!("unable to upgrade connection: {e}")))?;
    let ws = ws.protocols(PROTOCOLS);
    let v5 = ws.selected_protocol().is_some_and(|p| p.as_bytes() == PROTOCOLS[0].as_bytes());
    let argv = env.argv(&command);
    let stdin = q.flag("stdin");
    Ok(ws.on_upgrade(move |socket| session(socket, env, argv, stdin, v5)))
}

/// Whether the container runs (its status says so).
fn running(pod: &Value, container: &str) -> bool {
    ["initContainerStatuses", "containerStatuses"]
        .iter()
        .filter_map(|k| pod.pointer(&format!("/status/{k}")).and_then(Value::as_array))
        .flatten()
        .any(|s| meta::str_at(s, "/name") == Some(container) && s.pointer("/state/running").is_some())
}

fn frame(channel: u8, data: &[u8]) -> Message {
    let mut v = Vec::with_capacity(data.len() + 1);
    v.push(channel);
    v.extend_from_slice(data);
    Message::Binary(v.into())
}

/// Clients (client-go) treat a close without status code as an error.
fn normal_close() -> Message {
    Message::Close(Some(CloseFrame { code: close_code::NORMAL, reason: "".into() }))
}

fn exit_status(code: i32, argv: &[String]) -> Value {
    if code == 0 {
        return json!({"metadata": {}, "status": "Success"});
    }
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!("command terminated with non-zero exit code: error executing command {argv:?}, exit code {code}"),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
    })
}

async fn pump(mut reader: impl tokio::io::AsyncRead + Unpin, channel: u8, tx: mpsc::Sender<Message>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if tx.send(frame(channel, &buf[..n])).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn session(socket: WebSocket, env: kubelet::PodEnv, argv: Vec<String>, stdin: bool, v5: bool) {
    let (mut sink, mut stream) = socket.split();
    let Some((program, args)) = argv.split_first() else {
        let _ = sink.send(normal_close()).await;
        return;
    };
    let spawned = tokio::process::Command::new(program)
        .args(args)
        .current_dir(&env.working_dir)
        .envs(env.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            let status = json!({"metadata": {}, "status": "Failure", "message": format!("failed to exec in container: starting container process caused: exec: {program:?}: {e}"), "reason": "InternalError"});
            let _ = sink.send(frame(3, status.to_string().as_bytes())).await;
            let _ = sink.send(normal_close()).await;
            return;
        }
    };
    let (tx, mut rx) = mpsc::channel::<Message>(32);
    let mut pumps = Vec::new();
    if let Some(out) = child.stdout.take() {
        pumps.push(tokio::spawn(pump(out, 1, tx.clone())));
    }
    if let Some(err) = child.stderr.take() {
        pumps.push(tokio::spawn(pump(err, 2, tx.clone())));
    }
    drop(tx);
    let mut child_stdin = child.stdin.take();
    let writer = tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            if sink.send(msg).await.is_err() {
                break;
            }
        }
        sink
    });
    let status = loop {
        tokio::select! {
            st = child.wait() => break st.ok().and_then(|s| s.code()).unwrap_or(137),
            msg = stream.next() => match msg {
                Some(Ok(Message::Binary(data))) => match data.first() {
                    Some(0) => {
                        if let Some(w) = child_stdin.as_mut() {
                            let _ = w.write_all(&data[1..]).await;
                        }
                    }
                    Some(255) if v5 && data.get(1) == Some(&0) => child_stdin = None,
                    _ => {}
                },
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    let _ = child.kill().await;
                    return;
                }
                Some(Ok(_)) => {}
            }
        }
    };
    for p in pumps {
        let _ = p.await;
    }
    if let Ok(mut sink) = writer.await {
        let _ = sink.send(frame(3, exit_status(status, &argv).to_string().as_bytes())).await;
        let _ = sink.send(normal_close()).await;
    }
}
