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
use crate::store::{ObjKey, PageRequest, res_key};

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
    // A token with rv 0 is an inconsistent continuation: read the current state.
    let at = token.as_ref().map(|(rv, _)| *rv).filter(|rv| *rv > 0);
    let req = PageRequest {
        res: &res,
        at,
        after: token.as_ref().map(|(_, k)| k),
        namespace: t.namespace.as_deref(),
        limit,
        count_remaining: label.is_empty() && field.is_empty(),
    };
    let rv = at.unwrap_or_else(|| state.store.rv());
    let page = state.store.page(&req, |obj| label.matches_object(obj) && field.matches(obj)).ok_or_else(|| {
        let last = token.as_ref().map(|(_, k)| k.clone()).unwrap_or_default();
        ApiError::gone(EXPIRED).with_continue(encode(0, &last))
    })?;
    drop(state);
    let remaining = page.remaining;
    let last = page.items.last().map(|(k, _)| k.clone());
    let items: Vec<Value> = page.items.into_iter().map(|(_, obj)| as_version(&t.rt, obj)).collect();
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
