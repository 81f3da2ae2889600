//! Authentication (bearer tokens), impersonation and authorization (RBAC,
//! `system:masters` always allowed), in upstream's filter order. Without
//! [`crate::Builder::rbac`] every authenticated request is allowed, as with
//! `--authorization-mode=AlwaysAllow`.

pub mod escalation;
mod impersonation;
pub mod rbac;
pub mod request_info;
pub mod tokens;

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use serde_json::{Value, json};

use crate::cluster::Cluster;
use crate::error::ApiError;
use crate::state::State;
pub use request_info::Attributes;

/// The user of the default kubeconfig.
pub const ADMIN_USER: &str = "arca-test-admin";
pub const ADMIN_GROUPS: &[&str] = &["system:masters", "system:authenticated"];
/// The group every permission is granted to (`user.SystemPrivilegedGroup`).
pub const PRIVILEGED_GROUP: &str = "system:masters";
pub const AUTHENTICATED: &str = "system:authenticated";
pub const UNAUTHENTICATED: &str = "system:unauthenticated";
pub const ANONYMOUS: &str = "system:anonymous";
/// Why a request is allowed when RBAC is not enforced.
pub const ALWAYS_ALLOW_REASON: &str = "allowed: the test cluster does not enforce authorization";

/// Who a request acts as (upstream's `user.Info`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    pub fn new(name: &str, groups: &[&str]) -> Self {
        UserInfo { name: name.into(), groups: groups.iter().map(|g| g.to_string()).collect(), ..Default::default() }
    }

    pub fn anonymous() -> Self {
        UserInfo::new(ANONYMOUS, &[UNAUTHENTICATED])
    }

    /// The API server's own loopback identity: work done outside any request.
    fn loopback() -> Self {
        UserInfo::new("system:apiserver", &[PRIVILEGED_GROUP])
    }

    pub fn is_privileged(&self) -> bool {
        self.groups.iter().any(|g| g == PRIVILEGED_GROUP)
    }

    /// As `userInfo` of reviews: `{username, uid, groups, extra}`.
    pub fn to_json(&self) -> Value {
        let mut v = json!({"username": self.name, "groups": self.groups});
        if !self.uid.is_empty() {
            v["uid"] = json!(self.uid);
        }
        if !self.extra.is_empty() {
            v["extra"] = json!(self.extra);
        }
        v
    }
}

tokio::task_local! {
    static CURRENT: UserInfo;
}

/// The user of the request being served (the loopback identity outside requests).
pub fn current_user() -> UserInfo {
    CURRENT.try_with(UserInfo::clone).unwrap_or_else(|_| UserInfo::loopback())
}

/// Runs `fut` as `user`'s request.
pub async fn scoped<F: std::future::Future>(user: UserInfo, fut: F) -> F::Output {
    CURRENT.scope(user, fut).await
}

/// Bearer tokens and who they authenticate; whether RBAC is enforced.
pub struct Authenticator {
    tokens: Mutex<HashMap<String, UserInfo>>,
    pub admin_token: String,
    pub rbac: bool,
}

fn new_token() -> String {
    (0..40).map(|_| fastrand::alphanumeric()).collect()
}

impl Default for Authenticator {
    fn default() -> Self {
        let admin_token = new_token();
        let tokens = HashMap::from([(admin_token.clone(), UserInfo::new(ADMIN_USER, ADMIN_GROUPS))]);
        Authenticator { tokens: Mutex::new(tokens), admin_token, rbac: false }
    }
}

impl Authenticator {
    /// A new token for `user`.
    pub fn issue(&self, user: UserInfo) -> String {
        let token = new_token();
        self.tokens.lock().unwrap_or_else(|e| e.into_inner()).insert(token.clone(), user);
        token
    }

    pub fn authenticate(&self, token: &str) -> Option<UserInfo> {
        self.tokens.lock().unwrap_or_else(|e| e.into_inner()).get(token).cloned()
    }
}

/// A `Forbidden` Status as `apierrors.NewForbidden` words it.
pub fn forbidden_error(group: &str, resource: &str, name: &str, message: &str) -> ApiError {
    let qualified = if group.is_empty() { resource.to_string() } else { format!("{resource}.{group}") };
    let text = match (resource.is_empty(), name.is_empty()) {
        (true, _) => format!("forbidden: {message}"),
        (false, true) => format!("{qualified} is forbidden: {message}"),
        (false, false) => format!("{qualified} {name:?} is forbidden: {message}"),
    };
    ApiError::new(403, "Forbidden", text).with_details(group, resource, name)
}

/// What a denied request is told (`forbiddenMessage`).
pub fn forbidden_message(a: &Attributes) -> String {
    let user = &a.user.name;
    if !a.resource_request {
        return format!("User {user:?} cannot {} path {:?}", a.verb, a.path);
    }
    let resource =
        if a.subresource.is_empty() { a.resource.clone() } else { format!("{}/{}", a.resource, a.subresource) };
    match a.namespace.as_str() {
        "" => format!(
            "User {user:?} cannot {} resource {resource:?} in API group {:?} at the cluster scope",
            a.verb, a.api_group
        ),
        ns => format!(
            "User {user:?} cannot {} resource {resource:?} in API group {:?} in the namespace {ns:?}",
            a.verb, a.api_group
        ),
    }
}

/// The 403 of a denied request.
pub fn forbidden(a: &Attributes) -> ApiError {
    forbidden_error(&a.api_group, &a.resource, &a.name, &forbidden_message(a))
}

/// `Some(reason)` when the request is allowed: always without RBAC, always
/// for `system:masters`, else by a binding.
pub fn authorize(cluster: &Cluster, state: &State, a: &Attributes) -> Option<String> {
    if !cluster.auth.rbac {
        return Some(ALWAYS_ALLOW_REASON.to_string());
    }
    if a.user.is_privileged() {
        return Some(String::new());
    }
    rbac::allowed_by(state, a)
}

fn unauthorized() -> ApiError {
    ApiError::new(401, "Unauthorized", "Unauthorized")
}

/// The requester of `headers`: a bearer token's user, or anonymous.
fn authenticate(cluster: &Cluster, headers: &http::HeaderMap) -> Result<UserInfo, ApiError> {
    let Some(value) = headers.get(http::header::AUTHORIZATION) else {
        return Ok(UserInfo::anonymous());
    };
    let value = value.to_str().map_err(|_| unauthorized())?;
    let token = value.strip_prefix("Bearer ").map(str::trim).filter(|t| !t.is_empty()).ok_or_else(unauthorized)?;
    cluster.auth.authenticate(token).ok_or_else(unauthorized)
}

/// Authenticates, impersonates and authorizes a request: the user it acts as.
pub fn admit(cluster: &Cluster, req: &http::Request<axum::body::Body>) -> Result<UserInfo, ApiError> {
    let requester = authenticate(cluster, req.headers())?;
    let user = impersonation::resolve(cluster, requester, req.headers())?;
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(req.uri().query().unwrap_or_default()).unwrap_or_default();
    let attrs = request_info::attributes(user.clone(), req.method().as_str(), req.uri().path(), &query);
    let allowed = authorize(cluster, &cluster.lock(), &attrs).is_some();
    if !allowed {
        return Err(forbidden(&attrs));
    }
    Ok(user)
}
