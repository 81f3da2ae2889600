//! `pods/log`: the captured output of a pod's containers; the container
//! choice that logs and exec share.

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
use crate::meta;

fn tail(text: &str, lines: Option<usize>) -> String {
    match lines {
        None => text.to_string(),
        Some(n) => {
            let all: Vec<&str> = text.split_inclusive('\n').collect();
            all[all.len().saturating_sub(n)..].concat()
        }
    }
}

fn names(pod: &Value, key: &str) -> Vec<String> {
    pod.pointer(&format!("/spec/{key}"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|c| meta::str_at(c, "/name")).map(String::from).collect())
        .unwrap_or_default()
}

/// The container a log or exec request means, as the API server picks it
/// (`validateContainer`): the named one (init containers included), else the
/// only one. The `kubectl.kubernetes.io/default-container` annotation is
/// kubectl's business, not the server's.
pub(crate) fn select_container(pod: &Value, requested: Option<&str>) -> ApiResult<Value> {
    let name = meta::name(pod);
    let all = ["initContainers", "containers", "ephemeralContainers"]
        .iter()
        .flat_map(|k| pod.pointer(&format!("/spec/{k}")).and_then(Value::as_array).cloned().unwrap_or_default());
    let wanted = match requested.filter(|c| !c.is_empty()) {
        Some(c) => c.to_string(),
        None => {
            let main = names(pod, "containers");
            match main.len() {
                1 => main[0].clone(),
                0 => return Err(ApiError::bad_request(format!("a container name must be specified for pod {name}"))),
                _ => {
                    let mut msg =
                        format!("a container name must be specified for pod {name}, choose one of: [{}]", main.join(" "));
                    let init = names(pod, "initContainers");
                    if !init.is_empty() {
                        msg.push_str(&format!(" or one of the init containers: [{}]", init.join(" ")));
                    }
                    return Err(ApiError::bad_request(msg));
                }
            }
        }
    };
    let mut all = all;
    all.find(|c| meta::str_at(c, "/name") == Some(wanted.as_str()))
        .ok_or_else(|| ApiError::bad_request(format!("container {wanted} is not valid for pod {name}")))
}

/// The state of the container in the pod status (init or main).
fn container_state<'a>(pod: &'a Value, container: &str) -> Option<&'a Value> {
    ["initContainerStatuses", "containerStatuses"]
        .iter()
        .filter_map(|k| pod.pointer(&format!("/status/{k}")).and_then(Value::as_array))
        .flatten()
        .find(|s| meta::str_at(s, "/name") == Some(container))
        .and_then(|s| s.get("state"))
}

fn finished(pod: &Value) -> bool {
    matches!(pod.pointer("/status/phase").and_then(Value::as_str), Some("Succeeded") | Some("Failed"))
}

pub async fn log(cluster: &Arc<Cluster>, t: &Target, q: &Query) -> ApiResult<Response<Body>> {
    let name = t.name.clone().unwrap_or_default();
    let pod = cluster.lock().get(&t.rt, t.ns(), &name)?;
    let container = select_container(&pod, q.get("container"))?;
    let container = meta::str_at(&container, "/name").unwrap_or_default().to_string();
    let path = kubelet::log_path(&cluster.data_dir, meta::uid(&pod), &container);
    let lines = q.get("tailLines").and_then(|s| s.parse::<usize>().ok());
    let waiting = match container_state(&pod, &container) {
        None => Some("ContainerCreating"),
        Some(st) => meta::str_at(st, "/waiting/reason"),
    };
    if let Some(reason) = waiting {
        return Err(ApiError::bad_request(format!(
            "container \"{container}\" in pod \"{name}\" is waiting to start: {reason}"
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
