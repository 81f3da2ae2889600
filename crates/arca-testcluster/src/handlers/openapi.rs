//! A minimal OpenAPI v3 surface: enough for clients (kubectl) to see that every
//! served kind supports the `fieldValidation` and `fieldManager` query parameters,
//! so they rely on the server instead of downloading schemas. Schemas are open
//! objects (`x-kubernetes-preserve-unknown-fields`); `/openapi/v2` is an empty
//! Swagger document (so client-side validation finds no schema to apply).

use axum::body::Body;
use http::{Response, header};
use serde_json::{Map, Value, json};

use crate::cluster::Cluster;
use crate::registry::{ResourceType, api_version};

fn prefix(group: &str, version: &str) -> String {
    if group.is_empty() { format!("api/{version}") } else { format!("apis/{group}/{version}") }
}

/// `/openapi/v3`: one document per group version.
pub fn root(cluster: &Cluster) -> Value {
    let state = cluster.lock();
    let hash = state.store.rv();
    let mut paths = Map::new();
    for (group, versions) in state.registry.groups() {
        for v in versions {
            let p = prefix(&group, &v);
            paths.insert(p.clone(), json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={hash:016X}")}));
        }
    }
    json!({"paths": paths})
}

fn schema_name(rt: &ResourceType) -> String {
    let group = if rt.group.is_empty() { "core" } else { &rt.group };
    format!("{group}.{}.{}", rt.version, rt.kind)
}

fn gvk(rt: &ResourceType) -> Value {
    json!([{"group": rt.group, "version": rt.version, "kind": rt.kind}])
}

fn operation(rt: &ResourceType, action: &str) -> Value {
    let params: Vec<Value> = ["dryRun", "fieldManager", "fieldValidation", "force"]
        .iter()
        .map(|n| json!({"name": n, "in": "query", "schema": {"type": "string"}, "uniqueItems": true}))
        .collect();
    json!({
        "operationId": format!("{action}{}", rt.kind),
        "parameters": params,
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{}", schema_name(rt))}}}}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk(rt)[0],
    })
}

/// `/openapi/v3/{api/v1 | apis/group/version}`.
pub fn group_version(cluster: &Cluster, segs: &[&str]) -> Option<Value> {
    let (group, version) = match segs {
        ["api", v] => ("", *v),
        ["apis", g, v] => (*g, *v),
        _ => return None,
    };
    let state = cluster.lock();
    let types = state.registry.in_group_version(group, version);
    if types.is_empty() {
        return None;
    }
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for rt in types {
        let base = if rt.namespaced {
            format!("/{}/namespaces/{{namespace}}/{}", prefix(group, version), rt.plural)
        } else {
            format!("/{}/{}", prefix(group, version), rt.plural)
        };
        paths.insert(base.clone(), json!({"post": operation(rt, "post")}));
        paths.insert(
            format!("{base}/{{name}}"),
            json!({"get": operation(rt, "get"), "put": operation(rt, "put"), "patch": operation(rt, "patch")}),
        );
        schemas.insert(
            schema_name(rt),
            json!({
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": true,
                "x-kubernetes-group-version-kind": gvk(rt),
                "properties": {
                    "apiVersion": {"type": "string"},
                    "kind": {"type": "string"},
                    "metadata": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                },
            }),
        );
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": api_version(group, version)},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

/// `/openapi/v2`: an empty Swagger 2.0 document, as protobuf when asked for
/// (field 1, `swagger: "2.0"`) or as JSON.
pub fn v2(accept: &str, git_version: &str) -> Response<Body> {
    let (ct, body) = if accept.contains("protobuf") {
        ("application/com.github.proto-openapi.spec.v2.v1.0+protobuf", Body::from(&b"\x0a\x032.0"[..]))
    } else {
        let doc = json!({"swagger": "2.0", "info": {"title": "Kubernetes", "version": git_version}, "paths": {}, "definitions": {}});
        ("application/json", Body::from(doc.to_string()))
    };
    let mut resp = Response::new(body);
    if let Ok(v) = header::HeaderValue::from_str(ct) {
        resp.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    resp
}
