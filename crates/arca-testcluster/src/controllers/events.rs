//! Core/v1 Events as client-go's event recorder writes them: one Event per
//! (object, type, reason, message, component), named `<object>.<hex nanos>`,
//! whose `count` and `lastTimestamp` are bumped when the same event repeats.

use serde_json::{Value, json};

use super::{log_err, opts};
use crate::meta;
use crate::state::{Patch, State};

/// What happened to which object, and who says so.
pub struct Event<'a> {
    pub involved: &'a Value,
    pub warning: bool,
    pub reason: &'a str,
    pub message: &'a str,
    pub component: &'a str,
}

/// Events of cluster-scoped objects go to `default`, as upstream.
fn event_namespace(involved: &Value) -> &str {
    let ns = meta::namespace(involved);
    if ns.is_empty() { "default" } else { ns }
}

fn same_event(existing: &Value, e: &Event<'_>, kind: &str) -> bool {
    meta::str_at(existing, "/involvedObject/uid") == Some(meta::uid(e.involved))
        && meta::str_at(existing, "/reason") == Some(e.reason)
        && meta::str_at(existing, "/message") == Some(e.message)
        && meta::str_at(existing, "/type") == Some(kind)
        && meta::str_at(existing, "/source/component") == Some(e.component)
}

fn involved_object(obj: &Value) -> Value {
    json!({
        "kind": obj.get("kind").cloned().unwrap_or(Value::Null),
        "namespace": obj.pointer("/metadata/namespace").cloned().unwrap_or(Value::Null),
        "name": meta::name(obj),
        "uid": meta::uid(obj),
        "apiVersion": obj.get("apiVersion").cloned().unwrap_or(Value::Null),
        "resourceVersion": obj.pointer("/metadata/resourceVersion").cloned().unwrap_or(Value::Null),
    })
}

/// Records `e`: bumps the count of an identical earlier event, else creates one.
pub fn record(state: &mut State, e: &Event<'_>) {
    let Some(rt) = state.resource("", "v1", "events") else {
        return;
    };
    let kind = if e.warning { "Warning" } else { "Normal" };
    let ns = event_namespace(e.involved).to_string();
    let now = meta::now();
    let existing = state.all(&rt, Some(&ns)).into_iter().find(|ev| same_event(ev, e, kind));
    if let Some(ev) = existing {
        let count = ev.get("count").and_then(Value::as_i64).unwrap_or(1) + 1;
        let p = Patch::Merge(json!({"count": count, "lastTimestamp": now}));
        log_err("event count", state.patch(&rt, &ns, meta::name(&ev), p, "", &opts(e.component)));
        return;
    }
    let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let event = json!({
        "metadata": {"name": format!("{}.{nanos:x}", meta::name(e.involved)), "namespace": ns},
        "involvedObject": involved_object(e.involved),
        "reason": e.reason,
        "message": e.message,
        "source": {"component": e.component},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "type": kind,
        "eventTime": null,
        "reportingComponent": e.component,
        "reportingInstance": "",
    });
    log_err("event", state.create(&rt, &ns, event, &opts(e.component)));
}
