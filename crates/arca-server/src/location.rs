//! Opening the repository a `BackupLocation` names: its password and
//! object-store settings read from its Secrets (never logged).

use std::collections::BTreeMap;

use arca_api::{AccessMode, BackupLocation};
use arca_repo::Repository;
use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client, ResourceExt};

use crate::error::{Error, Result};

/// A location ready to use.
#[derive(Clone)]
pub struct OpenedLocation {
    pub namespace: String,
    pub name: String,
    pub url: String,
    pub password: Vec<u8>,
    /// Object-store settings (environment-style names), for the backend and
    /// for mover pods.
    pub settings: BTreeMap<String, String>,
    pub access: AccessMode,
    pub repo: Repository,
}

impl std::fmt::Debug for OpenedLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Password and settings are secrets: never printed.
        f.debug_struct("OpenedLocation")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .field("url", &self.url)
            .field("access", &self.access)
            .finish_non_exhaustive()
    }
}

fn location_error(loc: &BackupLocation, reason: impl Into<String>) -> Error {
    Error::Location { namespace: loc.namespace().unwrap_or_default(), name: loc.name_any(), reason: reason.into() }
}

/// Read a location's Secrets (with `client`: in tenant mode the tenant's
/// identity) and open its repository (with its index loaded).
pub async fn open(client: &Client, loc: &BackupLocation) -> Result<OpenedLocation> {
    let namespace = loc.namespace().unwrap_or_default();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    let pw_ref = &loc.spec.password_secret;
    let pw_secret = secrets.get_opt(&pw_ref.name).await?.ok_or_else(|| {
        location_error(loc, format!("password Secret {:?} not found: create it with key {:?}", pw_ref.name, pw_ref.key))
    })?;
    let password = secret_value(&pw_secret, &pw_ref.key)
        .ok_or_else(|| location_error(loc, format!("Secret {:?} has no key {:?}", pw_ref.name, pw_ref.key)))?;
    let mut settings = BTreeMap::new();
    if let Some(name) = &loc.spec.credentials_secret {
        let secret = secrets
            .get_opt(name)
            .await?
            .ok_or_else(|| location_error(loc, format!("credentials Secret {name:?} not found")))?;
        for key in secret.data.iter().flat_map(|d| d.keys()).chain(secret.string_data.iter().flat_map(|d| d.keys())) {
            if let Some(v) = secret_value(&secret, key) {
                settings.insert(key.clone(), String::from_utf8_lossy(&v).into_owned());
            }
        }
    }
    let url = loc.spec.repository.clone();
    let access = loc.spec.access_mode;
    let (u, p, s) = (url.clone(), password.clone(), settings.clone());
    let repo = tokio::task::spawn_blocking(move || -> arca_repo::Result<Repository> {
        let repo = Repository::open(arca_repo::open_backend_with(&u, false, &s)?, &p)?;
        repo.load_index()?;
        Ok(repo)
    })
    .await
    .map_err(|e| Error::Other(format!("opening {url}: {e}")))?
    .map_err(|e| match e {
        // Say where the password comes from (never what it is).
        arca_repo::Error::WrongPassword { .. } => location_error(
            loc,
            format!(
                "repository {url}: the password in Secret {:?} (key {:?}) does not open it; put the repository's password there",
                pw_ref.name, pw_ref.key
            ),
        ),
        e => location_error(loc, format!("repository {url}: {e}")),
    })?;
    Ok(OpenedLocation { namespace, name: loc.name_any(), url, password, settings, access, repo })
}

/// Bytes of pack files in `repo` (what `status.repositoryBytes` of a
/// location and of a finished Backup say). Blocking: lists the backend.
pub fn repository_bytes(repo: &Repository) -> arca_repo::Result<u64> {
    Ok(repo.backend().list("data")?.iter().map(|e| e.size).sum())
}

fn secret_value(secret: &Secret, key: &str) -> Option<Vec<u8>> {
    if let Some(v) = secret.data.as_ref().and_then(|d| d.get(key)) {
        return Some(v.0.clone());
    }
    secret.string_data.as_ref().and_then(|d| d.get(key)).map(|s| s.as_bytes().to_vec())
}
