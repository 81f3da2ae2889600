//! Watch: newline-delimited JSON `WatchEvent`s from a resourceVersion, with bookmarks.

use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use futures::SinkExt;
use futures::channel::mpsc;
use http::{Response, header};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use super::{Query, Target, list};
use crate::cluster::Cluster;
use crate::error::{ApiError, ApiResult};
use crate::registry::ResourceType;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::state::as_version;
use crate::store::{Event, EventType, ResKey, res_key};

/// How often bookmarks are sent when the client allows them.
const BOOKMARK_INTERVAL: Duration = Duration::from_secs(1);

struct Filter {
    res: ResKey,
    namespace: Option<String>,
    label: LabelSelector,
    field: FieldSelector,
}

impl Filter {
    fn matches(&self, obj: &Value) -> bool {
        self.label.matches_object(obj) && self.field.matches(obj)
    }

    /// The event to send for a change, following selector transitions as upstream:
    /// an object leaving the selection is DELETED, one entering it is ADDED.
    fn translate(&self, e: &Event) -> Option<EventType> {
        if e.res != self.res || self.namespace.as_ref().is_some_and(|ns| *ns != e.key.0) {
            return None;
        }
        let now = self.matches(&e.object);
        let before = e.prev.as_ref().is_some_and(|p| self.matches(p));
        match e.kind {
            EventType::Added | EventType::Deleted => now.then_some(e.kind),
            EventType::Modified => match (before, now) {
                (true, true) => Some(EventType::Modified),
                (false, true) => Some(EventType::Added),
                (true, false) => Some(EventType::Deleted),
                (false, false) => None,
            },
        }
    }
}

fn line(kind: &str, object: Value) -> Bytes {
    let mut s = json!({"type": kind, "object": object}).to_string();
    s.push('\n');
    Bytes::from(s)
}

fn bookmark(rt: &ResourceType, rv: u64, initial_end: bool) -> Bytes {
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    line("BOOKMARK", json!({"kind": rt.kind, "apiVersion": rt.api_version(), "metadata": metadata}))
}

fn too_old(rv: u64) -> Bytes {
    let err = ApiError::gone(format!("too old resource version: {rv}"));
    line("ERROR", err.to_status())
}

pub fn serve(cluster: &Cluster, t: &Target, q: &Query) -> ApiResult<Response<Body>> {
    let (label, field) = list::selectors(&t.rt, q)?;
    let filter = Filter { res: res_key(&t.rt.group, &t.rt.plural), namespace: t.namespace.clone(), label, field };
    let bookmarks = q.flag("allowWatchBookmarks");
    let send_initial = q.flag("sendInitialEvents");
    let timeout = q.get("timeoutSeconds").and_then(|s| s.parse::<u64>().ok()).map(Duration::from_secs);
    let rv_param = q.get("resourceVersion").unwrap_or("0");
    let from: Option<u64> = match rv_param {
        "0" => None,
        v => Some(v.parse().map_err(|_| ApiError::bad_request(format!("invalid resource version: {v:?}")))?),
    };
    let mut initial: Vec<Bytes> = Vec::new();
    let (start_rv, rx) = {
        let state = cluster.lock();
        let current = state.store.rv();
        match from.filter(|_| !send_initial) {
            Some(rv) => match state.store.watch_from(rv) {
                Some((past, rx)) => {
                    for e in past {
                        if let Some(kind) = filter.translate(&e) {
                            initial.push(line(kind.as_str(), as_version(&t.rt, (*e.object).clone())));
                        }
                    }
                    (current, Some(rx))
                }
                None => {
                    initial.push(too_old(rv));
                    (current, None)
                }
            },
            None => {
                let rx = state.store.subscribe();
                for (_, obj) in state.store.iter(&filter.res, filter.namespace.as_deref()) {
                    if filter.matches(obj) {
                        initial.push(line("ADDED", as_version(&t.rt, obj.clone())));
                    }
                }
                if send_initial {
                    initial.push(bookmark(&t.rt, current, true));
                }
                (current, Some(rx))
            }
        }
    };
    let (mut tx, body_rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    let rt = t.rt.clone();
    tokio::spawn(async move {
        for chunk in initial {
            if tx.send(Ok(chunk)).await.is_err() {
                return;
            }
        }
        let Some(mut rx) = rx else { return };
        let deadline = timeout.map(|d| tokio::time::Instant::now() + d);
        let mut last_rv = start_rv;
        let mut tick = tokio::time::interval(BOOKMARK_INTERVAL);
        tick.tick().await;
        loop {
            let sleep_until = deadline.unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(86_400));
            let chunk = tokio::select! {
                ev = rx.recv() => match ev {
                    Ok(e) if e.rv > last_rv => {
                        last_rv = e.rv;
                        match filter.translate(&e) {
                            Some(kind) => line(kind.as_str(), as_version(&rt, (*e.object).clone())),
                            None => continue,
                        }
                    }
                    Ok(_) => continue,
                    Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => return,
                },
                _ = tick.tick(), if bookmarks => bookmark(&rt, last_rv, false),
                _ = tokio::time::sleep_until(sleep_until) => return,
            };
            if tx.send(Ok(chunk)).await.is_err() {
                return;
            }
        }
    });
    let mut resp = Response::new(Body::from_stream(body_rx));
    resp.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    Ok(resp)
}
