//! `pods/log`: the captured output of a pod's process.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use futures::SinkExt;
use futures::channel::mpsc;
use http::{Response, header};
use serde_json::Value;

use super::{Query, Target};
use crate::cluster::Cluster;
use crate::controllers::kubelet;
use crate::error::{ApiError, ApiResult};

fn tail(text: &str, lines: Option<usize>) -> String {
    match lines {
        None => text.to_string(),
        Some(n) => {
            let all: Vec<&str> = text.split_inclusive('\n').collect();
            all[all.len().saturating_sub(n)..].concat()
        }
    }
}

fn finished(pod: &Value) -> bool {
    matches!(pod.pointer("/status/phase").and_then(Value::as_str), Some("Succeeded") | Some("Failed"))
}

pub async fn log(cluster: &Arc<Cluster>, t: &Target, q: &Query) -> ApiResult<Response<Body>> {
    let name = t.name.clone().unwrap_or_default();
    let pod = cluster.lock().get(&t.rt, t.ns(), &name)?;
    let path = kubelet::log_path(&cluster.data_dir, crate::meta::uid(&pod));
    let lines = q.get("tailLines").and_then(|s| s.parse::<usize>().ok());
    if pod.pointer("/status/phase").and_then(Value::as_str) == Some("Pending") {
        return Err(ApiError::bad_request(format!(
            "container \"{}\" in pod \"{name}\" is waiting to start: ContainerCreating",
            pod.pointer("/spec/containers/0/name").and_then(Value::as_str).unwrap_or_default()
        )));
    }
    let text = tokio::fs::read_to_string(&path).await.unwrap_or_default();
    let first = tail(&text, lines);
    let mut resp = if q.flag("follow") && !finished(&pod) {
        let (mut tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(16);
        let cluster = cluster.clone();
        let (rt, ns) = (t.rt.clone(), t.ns().to_string());
        let mut offset = text.len();
        tokio::spawn(async move {
            if tx.send(Ok(Bytes::from(first))).await.is_err() {
                return;
            }
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let done = cluster.lock().get(&rt, &ns, &name).map(|p| finished(&p)).unwrap_or(true);
                let text = tokio::fs::read_to_string(&path).await.unwrap_or_default();
                if text.len() > offset {
                    let chunk = text.get(offset..).unwrap_or_default().to_string();
                    offset = text.len();
                    if tx.send(Ok(Bytes::from(chunk))).await.is_err() {
                        return;
                    }
                }
                if done {
                    return;
                }
            }
        });
        Response::new(Body::from_stream(rx))
    } else {
        Response::new(Body::from(first))
    };
    resp.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/plain"));
    Ok(resp)
}
