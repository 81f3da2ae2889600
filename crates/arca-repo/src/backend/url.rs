//! Repository URLs: `file:///dir` (or a plain path), `s3://bucket/prefix`,
//! `gs://bucket/prefix`, `az://container/prefix`.

use std::collections::BTreeMap;
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::local::LocalFileSystem;

use super::ObjectStoreBackend;
use crate::error::{Error, Result};

/// A parsed repository address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepoUrl {
    Local { path: std::path::PathBuf },
    S3 { bucket: String, prefix: String, options: Vec<(String, String)> },
    Gcs { bucket: String, prefix: String },
    Azure { container: String, prefix: String },
}

impl RepoUrl {
    pub fn parse(input: &str) -> Result<Self> {
        let bad = |reason: &str| Error::BadUrl { url: input.to_string(), reason: reason.to_string() };
        let Some((scheme, rest)) = input.split_once("://") else {
            if input.is_empty() {
                return Err(bad("empty; pass --repo or set ARCA_REPO"));
            }
            return Ok(RepoUrl::Local { path: input.into() });
        };
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let prefix = prefix.trim_matches('/').to_string();
        let bucket = bucket.to_string();
        match scheme {
            "file" => {
                if !rest.starts_with('/') {
                    return Err(bad("file URLs need an absolute path: file:///path/to/repo"));
                }
                Ok(RepoUrl::Local { path: rest.into() })
            }
            "s3" | "gs" | "az" | "azure" if bucket.is_empty() => Err(bad("missing bucket name")),
            "s3" => {
                let options = url::form_urlencoded::parse(query.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
                Ok(RepoUrl::S3 { bucket, prefix, options })
            }
            "gs" => Ok(RepoUrl::Gcs { bucket, prefix }),
            "az" | "azure" => Ok(RepoUrl::Azure { container: bucket, prefix }),
            other => Err(bad(&format!(
                "unknown scheme {other:?}; use file:///path, s3://bucket/prefix, gs://bucket/prefix or az://container/prefix"
            ))),
        }
    }
}

/// Opens the backend for a repository URL. Local directories are created on
/// demand when `create` is set (for `init`).
/// Retries of a failed request: a storage that is away for up to about a
/// minute (a restarted gateway, a network blip) is waited for, not fatal.
/// `object_store`'s default gives up after about 3 s of refused connections.
fn retry() -> object_store::RetryConfig {
    object_store::RetryConfig {
        backoff: object_store::BackoffConfig {
            init_backoff: std::time::Duration::from_millis(250),
            max_backoff: std::time::Duration::from_secs(8),
            base: 2.0,
        },
        max_retries: 15,
        retry_timeout: std::time::Duration::from_secs(150),
    }
}

pub fn open(input: &str, create: bool) -> Result<Arc<ObjectStoreBackend>> {
    open_with(input, create, &BTreeMap::new())
}

/// [`open`] with object-store settings given as environment-style names
/// (`AWS_ACCESS_KEY_ID`, `AWS_ENDPOINT_URL`, `GOOGLE_SERVICE_ACCOUNT_KEY`,
/// `AZURE_STORAGE_ACCOUNT_KEY`, …) that take precedence over the process
/// environment: one process serving several repositories with their own
/// credentials (the in-cluster server's locations).
pub fn open_with(input: &str, create: bool, settings: &BTreeMap<String, String>) -> Result<Arc<ObjectStoreBackend>> {
    let url = RepoUrl::parse(input)?;
    let setting_err = |key: &str, e: object_store::Error| Error::BadUrl {
        url: input.to_string(),
        reason: format!("setting {key}: {e}"),
    };
    let backend_err = |e: object_store::Error| Error::BadUrl { url: input.to_string(), reason: e.to_string() };
    let (store, prefix): (Arc<dyn ObjectStore>, String) = match url {
        RepoUrl::Local { path } => {
            if create {
                std::fs::create_dir_all(&path).map_err(|e| Error::io(&path, e))?;
            } else if !path.is_dir() {
                return Err(Error::NotInitialized { repo: input.to_string() });
            }
            let store = LocalFileSystem::new_with_prefix(&path).map_err(backend_err)?;
            (Arc::new(store), String::new())
        }
        RepoUrl::S3 { bucket, prefix, options } => {
            let mut builder = AmazonS3Builder::from_env().with_bucket_name(&bucket).with_retry(retry());
            let bucket_name = bucket.clone();
            if let Some(endpoint) =
                std::env::var("AWS_ENDPOINT_URL_S3").ok().or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
            {
                builder = builder.with_endpoint(endpoint.clone());
                if endpoint.starts_with("http://") {
                    builder = builder.with_allow_http(true);
                }
            }
            let given_keys = settings.contains_key("AWS_ACCESS_KEY_ID");
            if let Some(creds) = super::store::profile_credentials().filter(|_| !given_keys) {
                builder = builder.with_access_key_id(creds.0).with_secret_access_key(creds.1);
            }
            for (key, value) in settings.iter().filter(|(k, _)| k.starts_with("AWS_")) {
                let name = match key.as_str() {
                    "AWS_ENDPOINT_URL" | "AWS_ENDPOINT_URL_S3" => "aws_endpoint".to_string(),
                    other => other.to_ascii_lowercase(),
                };
                let parsed = name.parse().map_err(|e| setting_err(key, e))?;
                builder = builder.with_config(parsed, value);
                if name == "aws_endpoint" && value.starts_with("http://") {
                    builder = builder.with_allow_http(true);
                }
            }
            for (key, value) in options {
                let key = key.parse().map_err(|e: object_store::Error| Error::BadUrl {
                    url: input.to_string(),
                    reason: format!("option {key:?}: {e}"),
                })?;
                builder = builder.with_config(key, value);
            }
            let s3 = Arc::new(builder.build().map_err(backend_err)?);
            return ObjectStoreBackend::s3(input, s3, &bucket_name, &prefix).map(Arc::new);
        }
        RepoUrl::Gcs { bucket, prefix } => {
            let mut builder = GoogleCloudStorageBuilder::from_env().with_bucket_name(bucket).with_retry(retry());
            for (key, value) in settings.iter().filter(|(k, _)| k.starts_with("GOOGLE_")) {
                builder =
                    builder.with_config(key.to_ascii_lowercase().parse().map_err(|e| setting_err(key, e))?, value);
            }
            (Arc::new(builder.build().map_err(backend_err)?), prefix)
        }
        RepoUrl::Azure { container, prefix } => {
            let mut builder = MicrosoftAzureBuilder::from_env().with_container_name(container).with_retry(retry());
            for (key, value) in settings.iter().filter(|(k, _)| k.starts_with("AZURE_")) {
                builder =
                    builder.with_config(key.to_ascii_lowercase().parse().map_err(|e| setting_err(key, e))?, value);
            }
            (Arc::new(builder.build().map_err(backend_err)?), prefix)
        }
    };
    ObjectStoreBackend::new(input, store, &prefix).map(Arc::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_schemes() {
        assert_eq!(RepoUrl::parse("/tmp/r").unwrap(), RepoUrl::Local { path: "/tmp/r".into() });
        assert_eq!(RepoUrl::parse("file:///tmp/r").unwrap(), RepoUrl::Local { path: "/tmp/r".into() });
        assert_eq!(
            RepoUrl::parse("s3://b/p/q/?region=eu-west-1").unwrap(),
            RepoUrl::S3 {
                bucket: "b".into(),
                prefix: "p/q".into(),
                options: vec![("region".into(), "eu-west-1".into())]
            }
        );
        assert_eq!(RepoUrl::parse("gs://b").unwrap(), RepoUrl::Gcs { bucket: "b".into(), prefix: "".into() });
        let err = RepoUrl::parse("ftp://x/y").unwrap_err().to_string();
        assert!(err.contains("unknown scheme \"ftp\""), "{err}");
        assert!(RepoUrl::parse("s3:///x").is_err());
        assert!(RepoUrl::parse("file://relative").is_err());
    }
}
