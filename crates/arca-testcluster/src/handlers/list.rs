//! List with selectors and `limit`/`continue` paging over a consistent snapshot.

use axum::body::Body;
use base64::Engine;
use http::{Request, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Query, Target, json_response, table};
use crate::cluster::Cluster;
use crate::error::{ApiError, ApiResult};
use crate::registry::ResourceType;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::state::as_version;
use crate::store::{ObjKey, res_key};

/// The continue token (same shape as upstream's: version, resourceVersion, start key).
#[derive(Serialize, Deserialize)]
struct Token {
    v: String,
    rv: u64,
    start: String,
}

fn encode(rv: u64, last: &ObjKey) -> String {
    let token = Token { v: "meta.k8s.io/v1".into(), rv, start: format!("{}/{}\u{0}", last.0, last.1) };
    let raw = serde_json::to_vec(&token).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn decode(s: &str) -> ApiResult<(u64, ObjKey)> {
    let bad = |why: &str| ApiError::bad_request(format!("continue key is not valid: {why}"));
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .map_err(|_| bad("not base64"))?;
    let token: Token = serde_json::from_slice(&raw).map_err(|_| bad("not a token"))?;
    if token.v != "meta.k8s.io/v1" {
        return Err(bad("incorrect encoded start resourceVersion (version meta.k8s.io/v1)"));
    }
    let start = token.start.trim_end_matches('\u{0}');
    let (ns, name) = start.split_once('/').ok_or_else(|| bad("bad start key"))?;
    Ok((token.rv, (ns.to_string(), name.to_string())))
}

pub fn selectors(rt: &ResourceType, q: &Query) -> ApiResult<(LabelSelector, FieldSelector)> {
    let label = LabelSelector::parse(q.get("labelSelector").unwrap_or_default())?;
    let field = FieldSelector::parse(q.get("fieldSelector").unwrap_or_default(), &rt.kind)?;
    Ok((label, field))
}

const EXPIRED: &str = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

/// Builds the list object.
pub fn list(cluster: &Cluster, t: &Target, q: &Query) -> ApiResult<Value> {
    let (label, field) = selectors(&t.rt, q)?;
    let limit: usize = match q.get("limit") {
        Some(l) => l.parse().map_err(|_| ApiError::bad_request(format!("invalid limit {l:?}")))?,
        None => 0,
    };
    let token = q.get("continue").map(decode).transpose()?;
    if let Some((_, last)) = &token {
        if cluster.faults.take_token_expiry() {
            return Err(ApiError::gone(EXPIRED).with_continue(encode(0, last)));
        }
    }
    let state = cluster.lock();
    let res = res_key(&t.rt.group, &t.rt.plural);
    let ns = t.namespace.as_deref();
    let (rv, objects): (u64, Vec<(ObjKey, Value)>) = match &token {
        Some((rv, last)) if *rv > 0 => {
            let snap = state
                .store
                .snapshot(&res, *rv, Some(last))
                .ok_or_else(|| ApiError::gone(EXPIRED).with_continue(encode(0, last)))?;
            let objs = snap.into_iter().filter(|(k, _)| ns.is_none_or(|n| k.0 == n)).collect();
            (*rv, objs)
        }
        // No token, or an inconsistent continuation (rv 0): read the current state.
        _ => {
            let after = token.as_ref().map(|(_, k)| k.clone());
            let objs = state
                .store
                .iter(&res, ns)
                .filter(|(k, _)| after.as_ref().is_none_or(|a| *k > a))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            (state.store.rv(), objs)
        }
    };
    drop(state);
    let mut items = Vec::new();
    let mut last: Option<ObjKey> = None;
    let mut remaining = 0usize;
    for (key, obj) in objects {
        if !label.matches_object(&obj) || !field.matches(&obj) {
            continue;
        }
        if limit > 0 && items.len() >= limit {
            remaining += 1;
            continue;
        }
        last = Some(key);
        items.push(as_version(&t.rt, obj));
    }
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if remaining > 0 {
        if let Some(last) = &last {
            metadata["continue"] = json!(encode(rv, last));
        }
        if label.is_empty() && field.is_empty() {
            metadata["remainingItemCount"] = json!(remaining);
        }
    }
    Ok(json!({
        "kind": t.rt.list_kind(),
        "apiVersion": t.rt.api_version(),
        "metadata": metadata,
        "items": items,
    }))
}

pub fn serve(cluster: &Cluster, t: &Target, q: &Query, req: &Request<Body>) -> ApiResult<Response<Body>> {
    let list = list(cluster, t, q)?;
    if table::wants_table(req) {
        let items = list["items"].as_array().cloned().unwrap_or_default();
        let meta = list.get("metadata").cloned();
        return Ok(json_response(200, &table::render(&items, meta)));
    }
    Ok(json_response(200, &list))
}
