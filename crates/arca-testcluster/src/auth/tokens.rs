//! `POST .../serviceaccounts/NAME/token` (TokenRequest): a bearer token
//! for the service account, valid while the cluster runs.

use serde_json::{Value, json};

use super::UserInfo;
use super::rbac::service_account_user;
use crate::cluster::Cluster;
use crate::error::ApiError;

/// The user a service account's tokens authenticate as.
pub fn service_account(namespace: &str, name: &str, uid: &str) -> UserInfo {
    let user = service_account_user(namespace, name);
    let groups = [
        "system:serviceaccounts".to_string(),
        format!("system:serviceaccounts:{namespace}"),
        super::AUTHENTICATED.into(),
    ];
    UserInfo { name: user, uid: uid.to_string(), groups: groups.to_vec(), ..Default::default() }
}

/// Issues a token for an existing service account.
pub fn issue(cluster: &Cluster, namespace: &str, name: &str) -> Result<String, ApiError> {
    let uid = {
        let state = cluster.lock();
        let rt = state.resource("", "v1", "serviceaccounts").ok_or_else(|| ApiError::internal("no serviceaccounts"))?;
        let sa = state.get(&rt, namespace, name)?;
        sa.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or_default().to_string()
    };
    Ok(cluster.auth.issue(service_account(namespace, name, &uid)))
}

/// The TokenRequest answered to `body`, with `status.token`.
pub fn request(cluster: &Cluster, namespace: &str, name: &str, body: &Value) -> Result<Value, ApiError> {
    let token = issue(cluster, namespace, name)?;
    let expiration = body.pointer("/spec/expirationSeconds").and_then(Value::as_i64).unwrap_or(3600);
    let now = chrono::Utc::now();
    let expires = now + chrono::Duration::seconds(expiration);
    let mut spec = body.get("spec").cloned().unwrap_or_else(|| json!({}));
    spec["expirationSeconds"] = json!(expiration);
    if spec.get("audiences").is_none_or(Value::is_null) {
        spec["audiences"] = json!(["https://kubernetes.default.svc"]);
    }
    Ok(json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": now.format("%Y-%m-%dT%H:%M:%SZ").to_string()},
        "spec": spec,
        "status": {"token": token, "expirationTimestamp": expires.format("%Y-%m-%dT%H:%M:%SZ").to_string()},
    }))
}
