//! `Impersonate-*` headers, after upstream's `filters/impersonation.go`: the
//! requester needs verb `impersonate` on each thing it acts as.

use http::HeaderMap;

use super::request_info::Attributes;
use super::{ANONYMOUS, AUTHENTICATED, UNAUTHENTICATED, UserInfo, authorize, forbidden};
use crate::cluster::Cluster;
use crate::error::ApiError;

const USER: &str = "impersonate-user";
const GROUP: &str = "impersonate-group";
const UID: &str = "impersonate-uid";
const EXTRA_PREFIX: &str = "impersonate-extra-";
const SA_PREFIX: &str = "system:serviceaccount:";

/// One thing to act as, and the attributes its permission is checked with.
fn acting_as(requester: &UserInfo, resource: &str, namespace: &str, name: &str) -> Attributes {
    Attributes {
        user: requester.clone(),
        verb: "impersonate".into(),
        resource_request: true,
        resource: resource.into(),
        namespace: namespace.into(),
        name: name.into(),
        ..Default::default()
    }
}

fn values<'a>(headers: &'a HeaderMap, name: &str) -> Vec<&'a str> {
    headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).collect()
}

/// Percent-decodes an extra key as upstream (`unescapeExtraKey`).
fn unescape(key: &str) -> String {
    let bytes = key.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The user the request acts as: the requester, or whom it impersonates.
pub fn resolve(cluster: &Cluster, requester: UserInfo, headers: &HeaderMap) -> Result<UserInfo, ApiError> {
    let user = values(headers, USER).first().map(|s| s.to_string());
    let groups: Vec<String> = values(headers, GROUP).iter().map(|s| s.to_string()).collect();
    let uid = values(headers, UID).first().map(|s| s.to_string());
    let extras: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().strip_prefix(EXTRA_PREFIX)?, v.to_str().ok()?)))
        .map(|(k, v)| (unescape(k), v.to_string()))
        .collect();
    let Some(username) = user.filter(|u| !u.is_empty()) else {
        if groups.is_empty() && uid.is_none() && extras.is_empty() {
            return Ok(requester);
        }
        return Err(ApiError::bad_request(
            "requested impersonation of groups, uid or extra without impersonating a user",
        ));
    };
    let mut checks = Vec::new();
    let mut impersonated = UserInfo { name: username.clone(), ..Default::default() };
    match username.strip_prefix(SA_PREFIX).and_then(|rest| rest.split_once(':')) {
        Some((ns, name)) => {
            checks.push(acting_as(&requester, "serviceaccounts", ns, name));
            if groups.is_empty() {
                impersonated.groups = vec!["system:serviceaccounts".into(), format!("system:serviceaccounts:{ns}")];
            }
        }
        None => checks.push(acting_as(&requester, "users", "", &username)),
    }
    for group in &groups {
        checks.push(acting_as(&requester, "groups", "", group));
        impersonated.groups.push(group.clone());
    }
    for (key, value) in extras {
        let mut a = acting_as(&requester, "userextras", "", &value);
        a.api_group = "authentication.k8s.io".into();
        a.subresource = key.clone();
        checks.push(a);
        impersonated.extra.entry(key).or_default().push(value);
    }
    if let Some(uid) = uid {
        let mut a = acting_as(&requester, "uids", "", &uid);
        a.api_group = "authentication.k8s.io".into();
        checks.push(a);
        impersonated.uid = uid;
    }
    {
        let state = cluster.lock();
        if let Some(denied) = checks.iter().find(|a| authorize(cluster, &state, a).is_none()) {
            return Err(forbidden(denied));
        }
    }
    let marker = if username == ANONYMOUS { UNAUTHENTICATED } else { AUTHENTICATED };
    let has_marker =
        impersonated.groups.iter().any(|g| g == UNAUTHENTICATED || (marker == AUTHENTICATED && g == AUTHENTICATED));
    if !has_marker {
        impersonated.groups.push(marker.to_string());
    }
    Ok(impersonated)
}
