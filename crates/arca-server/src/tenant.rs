//! Tenant mode: a namespace's Backups and Restores run as that namespace's
//! tenant identity (impersonated), so Kubernetes' own RBAC bounds them:
//! only that namespace's objects, never cluster-scoped ones, never another
//! namespace, and no RoleBinding granting more than the tenant holds.

use kube::Client;

use crate::error::{Error, Result};

/// The ServiceAccount, in each tenant namespace, whose rights a tenant's
/// work runs with (`arca install --tenant-mode` documents its Role).
pub const TENANT_SERVICE_ACCOUNT: &str = "arca-tenant";

/// The user name Kubernetes gives that ServiceAccount.
pub fn tenant_user(namespace: &str) -> String {
    format!("system:serviceaccount:{namespace}:{TENANT_SERVICE_ACCOUNT}")
}

/// The client for work in `namespace`: the server's own outside tenant
/// mode, else one impersonating the namespace's tenant.
pub fn client_for(base: &kube::Config, namespace: &str, tenant_mode: bool) -> Result<Client> {
    let mut config = base.clone();
    if tenant_mode {
        config.auth_info.impersonate = Some(tenant_user(namespace));
        config.auth_info.impersonate_groups = None;
    }
    Client::try_from(config).map_err(|e| Error::Other(format!("client for namespace {namespace}: {e}")))
}

/// A tenant's config (what [`client_for`] builds a client from).
pub fn tenant_config(base: &kube::Config, namespace: &str) -> kube::Config {
    let mut config = base.clone();
    config.auth_info.impersonate = Some(tenant_user(namespace));
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_config_impersonates_the_namespaces_service_account() {
        let base = kube::Config::new("http://127.0.0.1:1".parse().unwrap());
        let c = tenant_config(&base, "team-a");
        assert_eq!(c.auth_info.impersonate.as_deref(), Some("system:serviceaccount:team-a:arca-tenant"));
        assert_eq!(base.auth_info.impersonate, None);
    }
}
