//! Discovery: `/version`, `/api`, `/api/v1`, `/apis`, `/apis/{group}[/{version}]`.

use axum::body::Body;
use http::Response;
use serde_json::{Value, json};

use super::json_response;
use crate::cluster::Cluster;
use crate::error::{ApiError, ApiResult};
use crate::registry::{ResourceType, api_version};
use crate::release::KubernetesVersion;

/// `/version` of the imitated release.
fn version(release: KubernetesVersion) -> Value {
    json!({
        "major": "1",
        "minor": release.minor().to_string(),
        "gitVersion": release.git_version(),
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": release.build_date(),
        "goVersion": release.go_version(),
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

fn resource_entry(rt: &ResourceType) -> Vec<Value> {
    let mut main = json!({
        "name": rt.plural,
        "singularName": rt.singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": rt.access.verbs(),
    });
    if !rt.short_names.is_empty() {
        main["shortNames"] = json!(rt.short_names);
    }
    if !rt.categories.is_empty() {
        main["categories"] = json!(rt.categories);
    }
    let mut out = vec![main];
    for sub in rt.subresources() {
        let mut entry = json!({
            "name": format!("{}/{}", rt.plural, sub.name),
            "singularName": "",
            "namespaced": rt.namespaced,
            "kind": sub.kind,
            "verbs": sub.verbs,
        });
        if sub.group != rt.group || sub.version != rt.version {
            entry["group"] = json!(sub.group);
            entry["version"] = json!(sub.version);
        }
        out.push(entry);
    }
    out
}

fn resource_list(cluster: &Cluster, group: &str, version: &str) -> Option<Value> {
    let state = cluster.lock();
    let types = state.registry.in_group_version(group, version);
    if types.is_empty() {
        return None;
    }
    let resources: Vec<Value> = types.into_iter().flat_map(resource_entry).collect();
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": api_version(group, version),
        "resources": resources,
    }))
}

fn group_entry(group: &str, versions: &[String]) -> Value {
    let list: Vec<Value> =
        versions.iter().map(|v| json!({"groupVersion": api_version(group, v), "version": v})).collect();
    let preferred = list.first().cloned().unwrap_or(Value::Null);
    json!({"name": group, "versions": list, "preferredVersion": preferred})
}

fn aggregated_resource(rt: &ResourceType) -> Value {
    let subresources: Vec<Value> = rt
        .subresources()
        .into_iter()
        .map(|sub| {
            json!({
                "subresource": sub.name,
                "responseKind": {"group": sub.group, "version": sub.version, "kind": sub.kind},
                "verbs": sub.verbs,
            })
        })
        .collect();
    let mut entry = json!({
        "resource": rt.plural,
        "responseKind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
        "scope": if rt.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": rt.singular,
        "verbs": rt.access.verbs(),
    });
    if !rt.short_names.is_empty() {
        entry["shortNames"] = json!(rt.short_names);
    }
    if !rt.categories.is_empty() {
        entry["categories"] = json!(rt.categories);
    }
    if !subresources.is_empty() {
        entry["subresources"] = Value::Array(subresources);
    }
    entry
}

/// Aggregated discovery (`apidiscovery.k8s.io/v2`) for the core group (`/api`)
/// or the named groups (`/apis`).
/// `remote` are the items of remote APIServices' groups (see `aggregation`).
pub fn aggregated(cluster: &Cluster, core: bool, remote: Vec<Value>) -> Response<Body> {
    let state = cluster.lock();
    let mut items: Vec<Value> = state
        .registry
        .groups()
        .into_iter()
        .filter(|(g, _)| g.is_empty() == core)
        .map(|(group, versions)| {
            let versions: Vec<Value> = versions
                .iter()
                .map(|v| {
                    let resources: Vec<Value> =
                        state.registry.in_group_version(&group, v).into_iter().map(aggregated_resource).collect();
                    json!({"version": v, "resources": resources, "freshness": "Current"})
                })
                .collect();
            json!({"metadata": {"name": group}, "versions": versions})
        })
        .collect();
    items.extend(remote);
    let body = json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    });
    let mut resp = json_response(200, &body);
    resp.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(AGGREGATED_CONTENT_TYPE));
    resp
}

const AGGREGATED_CONTENT_TYPE: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

pub fn wants_aggregated(accept: &str) -> bool {
    accept.contains("as=APIGroupDiscoveryList") && accept.contains("g=apidiscovery.k8s.io;v=v2")
}

/// Groups served here and groups of remote APIServices, with their versions.
fn all_groups(cluster: &Cluster) -> Vec<(String, Vec<String>)> {
    let state = cluster.lock();
    let mut groups = state.registry.groups();
    groups.extend(crate::aggregation::status::remote_groups(&state));
    groups
}

/// Answers discovery paths; `None` for other paths.
pub fn serve(cluster: &Cluster, segs: &[&str], accept: &str) -> ApiResult<Option<Response<Body>>> {
    let body = match segs {
        ["api"] | ["apis"] if wants_aggregated(accept) => {
            return Ok(Some(aggregated(cluster, segs == ["api"], Vec::new())));
        }
        ["version"] => version(cluster.release),
        ["healthz"] | ["readyz"] | ["livez"] => {
            let mut resp = Response::new(Body::from("ok"));
            resp.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/plain"));
            return Ok(Some(resp));
        }
        ["api"] => json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}],
        }),
        ["api", v] => resource_list(cluster, "", v).ok_or_else(|| ApiError::no_route(&format!("/api/{v}")))?,
        ["apis"] => {
            let groups: Vec<Value> = all_groups(cluster)
                .iter()
                .filter(|(g, _)| !g.is_empty())
                .map(|(g, v)| group_entry(g, v))
                .collect();
            json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
        }
        ["apis", g] => {
            let groups = all_groups(cluster);
            let (name, versions) =
                groups.iter().find(|(name, _)| name == g).ok_or_else(|| ApiError::no_route(&format!("/apis/{g}")))?;
            let mut entry = group_entry(name, versions);
            entry["kind"] = json!("APIGroup");
            entry["apiVersion"] = json!("v1");
            entry
        }
        ["apis", g, v] => resource_list(cluster, g, v).ok_or_else(|| ApiError::no_route(&format!("/apis/{g}/{v}")))?,
        ["openapi", "v3"] => super::openapi::root(cluster),
        ["openapi", "v3", rest @ ..] => {
            super::openapi::group_version(cluster, rest).ok_or_else(|| ApiError::no_route("/openapi/v3"))?
        }
        ["openapi", "v2"] => return Ok(Some(super::openapi::v2(accept, &cluster.release.git_version()))),
        ["openapi", ..] | ["swagger.json"] => {
            return Err(ApiError::no_route("/openapi"));
        }
        _ => return Ok(None),
    };
    Ok(Some(json_response(200, &body)))
}
