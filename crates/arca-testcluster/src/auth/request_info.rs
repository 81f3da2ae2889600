//! Request attributes from the method and path alone, as upstream's
//! `RequestInfoFactory` derives them for authorization.

use super::UserInfo;

/// What the authorizer decides on (upstream's `authorizer.Attributes`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attributes {
    pub user: UserInfo,
    pub verb: String,
    pub resource_request: bool,
    /// The request path (non-resource requests).
    pub path: String,
    pub namespace: String,
    pub api_group: String,
    pub api_version: String,
    pub resource: String,
    pub subresource: String,
    pub name: String,
}

/// Verbs that stand in the path before the resource (`/api/v1/watch/pods`).
const SPECIAL_VERBS: &[&str] = &["proxy", "watch"];
/// Subresources of a namespace that are not resources of their own.
const NAMESPACE_SUBRESOURCES: &[&str] = &["status", "finalize"];

fn method_verb(method: &str) -> &'static str {
    match method {
        "POST" => "create",
        "GET" | "HEAD" => "get",
        "PUT" => "update",
        "PATCH" => "patch",
        "DELETE" => "delete",
        _ => "",
    }
}

/// `watch=true` turns a collection GET into `watch`; a `metadata.name` field
/// selector names the object, as upstream.
fn collection_verb(query: &[(String, String)]) -> (&'static str, Option<String>) {
    let watch = query.iter().any(|(k, v)| k == "watch" && (v == "1" || v == "true"));
    let name = query
        .iter()
        .filter(|(k, _)| k == "fieldSelector")
        .flat_map(|(_, v)| v.split(','))
        .find_map(|req| req.strip_prefix("metadata.name=").map(|n| n.trim_start_matches('=').to_string()))
        .filter(|n| !n.is_empty() && !n.contains('/'));
    (if watch { "watch" } else { "list" }, name)
}

/// The attributes of a request by `user`.
pub fn attributes(user: UserInfo, method: &str, path: &str, query: &[(String, String)]) -> Attributes {
    let mut attrs = Attributes { user, path: path.to_string(), ..Default::default() };
    let parts: Vec<&str> = path.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
    let non_resource = |mut a: Attributes| {
        a.verb = method.to_lowercase();
        a
    };
    let mut rest: &[&str] = match parts.as_slice() {
        ["api", rest @ ..] if rest.len() >= 2 => rest,
        ["apis", group, rest @ ..] if rest.len() >= 2 => {
            attrs.api_group = group.to_string();
            rest
        }
        _ => return non_resource(attrs),
    };
    attrs.resource_request = true;
    attrs.api_version = rest[0].to_string();
    rest = &rest[1..];
    if SPECIAL_VERBS.contains(&rest[0]) {
        if rest.len() < 2 {
            return non_resource(attrs);
        }
        attrs.verb = rest[0].to_string();
        rest = &rest[1..];
    } else {
        attrs.verb = method_verb(method).to_string();
    }
    if rest[0] == "namespaces" && rest.len() > 1 {
        attrs.namespace = rest[1].to_string();
        if rest.len() > 2 && !NAMESPACE_SUBRESOURCES.contains(&rest[2]) {
            rest = &rest[2..];
        }
    }
    attrs.resource = rest[0].to_string();
    attrs.name = rest.get(1).map(|s| s.to_string()).unwrap_or_default();
    if attrs.verb != "proxy" {
        attrs.subresource = rest.get(2).map(|s| s.to_string()).unwrap_or_default();
    }
    if attrs.name.is_empty() && attrs.verb == "get" {
        let (verb, name) = collection_verb(query);
        attrs.verb = verb.to_string();
        attrs.name = name.unwrap_or_default();
    }
    if attrs.name.is_empty() && attrs.verb == "delete" {
        attrs.verb = "deletecollection".to_string();
    }
    attrs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// (method, path, query, verb, group, namespace, resource, subresource, name, resource request)
    type Case = (
        &'static str,
        &'static str,
        &'static [(&'static str, &'static str)],
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        bool,
    );

    #[test]
    fn attributes_follow_upstream_request_info() {
        let cases: &[Case] = &[
            ("GET", "/api/v1/namespaces/a/pods", &[], "list", "", "a", "pods", "", "", true),
            ("GET", "/api/v1/pods", &[("watch", "true")], "watch", "", "", "pods", "", "", true),
            ("GET", "/api/v1/watch/namespaces/a/pods", &[], "watch", "", "a", "pods", "", "", true),
            ("GET", "/api/v1/namespaces/a/pods/p", &[], "get", "", "a", "pods", "", "p", true),
            ("POST", "/api/v1/namespaces/a/pods/p/exec", &[], "create", "", "a", "pods", "exec", "p", true),
            (
                "DELETE",
                "/apis/apps/v1/namespaces/a/deployments",
                &[],
                "deletecollection",
                "apps",
                "a",
                "deployments",
                "",
                "",
                true,
            ),
            (
                "PUT",
                "/apis/apps/v1/namespaces/a/deployments/d/scale",
                &[],
                "update",
                "apps",
                "a",
                "deployments",
                "scale",
                "d",
                true,
            ),
            ("GET", "/api/v1/namespaces/a", &[], "get", "", "a", "namespaces", "", "a", true),
            ("PUT", "/api/v1/namespaces/a/finalize", &[], "update", "", "a", "namespaces", "finalize", "a", true),
            ("GET", "/api/v1/namespaces", &[], "list", "", "", "namespaces", "", "", true),
            (
                "GET",
                "/api/v1/namespaces/a/secrets",
                &[("fieldSelector", "metadata.name=s")],
                "list",
                "",
                "a",
                "secrets",
                "",
                "s",
                true,
            ),
            ("GET", "/apis/apps", &[], "get", "", "", "", "", "", false),
            ("GET", "/version", &[], "get", "", "", "", "", "", false),
            ("POST", "/api/v1", &[], "post", "", "", "", "", "", false),
        ];
        for (method, path, query, verb, group, ns, resource, sub, name, rr) in cases {
            let a = attributes(UserInfo::default(), method, path, &q(query));
            let got = (a.verb.as_str(), a.api_group.as_str(), a.namespace.as_str(), a.resource.as_str());
            assert_eq!(got, (*verb, *group, *ns, *resource), "{method} {path}");
            assert_eq!(
                (a.subresource.as_str(), a.name.as_str(), a.resource_request),
                (*sub, *name, *rr),
                "{method} {path}"
            );
        }
    }
}
