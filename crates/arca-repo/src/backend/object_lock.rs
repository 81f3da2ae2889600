//! Writes under S3 Object Lock: each object is put with its retention mode
//! and retain-until date (and the `Content-MD5` a lock-enabled bucket
//! demands), through a URL presigned by `object_store` with those headers
//! bound to the signature, so a proxy cannot strip them.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use md5::{Digest, Md5};
use object_store::aws::AmazonS3;
use object_store::path::Path;
use object_store::signer::{HeaderName, HeaderValue, Method, SignedUrlOptions, Signer};

use crate::config::ObjectLock;

/// How long a presigned URL stays valid (one request, sent at once).
const URL_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// What `object_store` has no call for: locked puts, versions, copies.
pub(super) struct RawS3 {
    s3: Arc<AmazonS3>,
    http: reqwest::Client,
}

/// The retain-until date of an object written at `at`.
pub fn retain_until(lock: &ObjectLock, at: DateTime<Utc>) -> DateTime<Utc> {
    at + chrono::Duration::seconds(i64::try_from(lock.retention_secs).unwrap_or(i64::MAX / 2))
}

fn header(name: &'static str, value: &str) -> Result<(HeaderName, HeaderValue), String> {
    let value = HeaderValue::from_str(value).map_err(|e| format!("header {name}: {e}"))?;
    Ok((HeaderName::from_static(name), value))
}

/// The headers that lock an object written now.
fn lock_headers(lock: &ObjectLock) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
    let until = retain_until(lock, Utc::now()).to_rfc3339_opts(SecondsFormat::Secs, true);
    Ok(vec![
        header("x-amz-object-lock-mode", lock.mode.header_value())?,
        header("x-amz-object-lock-retain-until-date", &until)?,
    ])
}

/// One request to S3: query parameters and headers go into the signature.
struct Request<'a> {
    method: Method,
    path: &'a Path,
    query: Vec<(String, String)>,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
}

impl<'a> Request<'a> {
    fn new(method: Method, path: &'a Path) -> Self {
        Request { method, path, query: Vec::new(), headers: Vec::new(), body: Bytes::new() }
    }

    fn query(mut self, name: &str, value: &str) -> Self {
        self.query.push((name.to_string(), value.to_string()));
        self
    }
}

impl RawS3 {
    pub(super) fn new(s3: Arc<AmazonS3>) -> Self {
        RawS3 { s3, http: reqwest::Client::new() }
    }

    /// Sends `r` through a presigned URL; the status and body of the answer.
    async fn send(&self, r: Request<'_>) -> Result<(reqwest::StatusCode, String), String> {
        let mut opts = SignedUrlOptions::default().with_query(r.query);
        for (name, value) in &r.headers {
            opts = opts.with_signed_header(name.clone(), value.clone());
        }
        let url =
            self.s3.signed_url_opts(r.method.clone(), r.path, URL_LIFETIME, &opts).await.map_err(|e| e.to_string())?;
        let mut request = self.http.request(r.method, url).body(r.body);
        for (name, value) in r.headers {
            request = request.header(name, value);
        }
        let response = request.send().await.map_err(|e| e.to_string())?;
        let status = response.status();
        Ok((status, response.text().await.unwrap_or_default()))
    }

    /// Sends `r`; `Err` carries the storage's answer unless it succeeded.
    async fn expect_success(&self, r: Request<'_>) -> Result<String, String> {
        let (status, body) = self.send(r).await?;
        // A copy can fail after its 200 has been sent: the error is in the body.
        if status.is_success() && !body.contains("<Error>") {
            return Ok(body);
        }
        Err(format!("{status}: {}", storage_error(&body)))
    }

    /// Puts `data` at `path` with retention; `Err` carries the storage's answer.
    pub(super) async fn put_locked(&self, path: &Path, data: Bytes, lock: &ObjectLock) -> Result<(), String> {
        let md5 = base64::engine::general_purpose::STANDARD.encode(Md5::digest(&data));
        let mut r = Request::new(Method::PUT, path);
        r.headers = lock_headers(lock)?;
        r.headers.push(header("content-md5", &md5)?);
        r.body = data;
        self.expect_success(r).await.map(drop)
    }
}

/// The `Code` and `Message` of an S3 error document, else its first line.
fn storage_error(body: &str) -> String {
    let field = |name: &str| {
        let open = format!("<{name}>");
        let start = body.find(&open)? + open.len();
        let end = body[start..].find(&format!("</{name}>"))? + start;
        Some(body[start..end].to_string())
    };
    match (field("Code"), field("Message")) {
        (Some(code), Some(message)) if !message.is_empty() => format!("{code}: {message}"),
        (Some(code), _) => code,
        _ => body.lines().next().unwrap_or_default().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LockMode;

    #[test]
    fn retention_runs_from_the_write() {
        let lock = ObjectLock { mode: LockMode::Compliance, retention_secs: 86_400 };
        let at = DateTime::parse_from_rfc3339("2026-02-28T12:00:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(retain_until(&lock, at).to_rfc3339(), "2026-03-01T12:00:00+00:00");
    }

    #[test]
    fn storage_errors_are_short() {
        let body = r#"<?xml version="1.0"?><Error><Code>InvalidRequest</Code><Message>Bucket is missing Object Lock Configuration</Message></Error>"#;
        assert_eq!(storage_error(body), "InvalidRequest: Bucket is missing Object Lock Configuration");
        assert_eq!(storage_error("<Error><Code>AccessDenied</Code><Message></Message></Error>"), "AccessDenied");
    }
}

/// One stored version of a key, as `ListObjectVersions` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredVersion {
    /// The key relative to the repository's prefix.
    pub key: String,
    pub version_id: String,
    /// `None` for a delete marker.
    pub etag: Option<String>,
    pub is_latest: bool,
    pub last_modified: String,
}

/// The text of `<name>…</name>` in `block`.
fn xml_field(block: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = block.find(&open)? + open.len();
    let end = block[start..].find(&format!("</{name}>"))? + start;
    Some(block[start..end].replace("&quot;", "\"").replace("&amp;", "&"))
}

/// The versions and delete markers of one `ListObjectVersions` page, and
/// the markers of the next page if it is truncated.
pub fn parse_versions(body: &str, prefix: &str) -> (Vec<StoredVersion>, Option<(String, String)>) {
    let mut out = Vec::new();
    for (tag, marker) in [("Version", false), ("DeleteMarker", true)] {
        let open = format!("<{tag}>");
        let close = format!("</{tag}>");
        let mut rest = body;
        while let Some(start) = rest.find(&open) {
            let Some(len) = rest[start..].find(&close) else { break };
            let block = &rest[start..start + len];
            rest = &rest[start + len..];
            let (Some(key), Some(version_id)) = (xml_field(block, "Key"), xml_field(block, "VersionId")) else {
                continue;
            };
            let key = key.strip_prefix(prefix).unwrap_or(&key).trim_start_matches('/').to_string();
            out.push(StoredVersion {
                key,
                version_id,
                etag: if marker { None } else { xml_field(block, "ETag") },
                is_latest: xml_field(block, "IsLatest").as_deref() == Some("true"),
                last_modified: xml_field(block, "LastModified").unwrap_or_default(),
            });
        }
    }
    let next = (xml_field(body, "IsTruncated").as_deref() == Some("true")).then(|| {
        (
            xml_field(body, "NextKeyMarker").unwrap_or_default(),
            xml_field(body, "NextVersionIdMarker").unwrap_or_default(),
        )
    });
    (out, next)
}

/// What recovering the first versions would do, or did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Recovery {
    /// Keys whose current version was the first one already.
    pub intact: u64,
    /// Keys brought back from their first version (deleted or overwritten since).
    pub restored: Vec<String>,
}

/// Which keys need their first version back: the current one is a delete
/// marker, or another content than the first (an overwrite). Arca writes
/// every object once (a re-put of the same content has the same ETag), so
/// the first version is the genuine one; locks are left alone.
pub fn to_recover(versions: &[StoredVersion]) -> (u64, Vec<StoredVersion>) {
    let mut by_key: std::collections::BTreeMap<&str, Vec<&StoredVersion>> = Default::default();
    for v in versions.iter().filter(|v| !v.key.starts_with("locks/")) {
        by_key.entry(&v.key).or_default().push(v);
    }
    let (mut intact, mut restore) = (0, Vec::new());
    for list in by_key.values_mut() {
        list.sort_by(|a, b| a.last_modified.cmp(&b.last_modified));
        let Some(first) = list.iter().find(|v| v.etag.is_some()) else { continue };
        let latest = list.iter().find(|v| v.is_latest).copied();
        match latest {
            Some(l) if l.etag.is_some() && l.etag == first.etag => intact += 1,
            _ => restore.push((*first).clone()),
        }
    }
    (intact, restore)
}

impl RawS3 {
    /// `Ok` when the bucket has Object Lock enabled, else why not.
    pub(super) async fn object_lock_enabled(&self, bucket: &str) -> Result<(), String> {
        let root = Path::from("");
        let (status, body) = self.send(Request::new(Method::GET, &root).query("object-lock", "")).await?;
        if status.is_success() && body.contains("<ObjectLockEnabled>Enabled</ObjectLockEnabled>") {
            return Ok(());
        }
        Err(format!(
            "bucket {bucket} has no Object Lock ({}): create a bucket with Object Lock enabled \
             (e.g. `aws s3api create-bucket --bucket NAME --object-lock-enabled-for-bucket`) and use it",
            if status.is_success() { "not enabled".to_string() } else { format!("{status}: {}", storage_error(&body)) }
        ))
    }

    /// Every version under `prefix` (all pages).
    pub(super) async fn list_versions(&self, prefix: &str) -> Result<Vec<StoredVersion>, String> {
        let dir = if prefix.is_empty() { String::new() } else { format!("{prefix}/") };
        let root = Path::from("");
        let mut all = Vec::new();
        let mut next: Option<(String, String)> = None;
        loop {
            let mut r = Request::new(Method::GET, &root).query("versions", "").query("prefix", &dir);
            if let Some((key, version)) = &next {
                r = r.query("key-marker", key).query("version-id-marker", version);
            }
            let body = self.expect_success(r).await.map_err(|e| format!("listing versions: {e}"))?;
            let (page, more) = parse_versions(&body, prefix);
            all.extend(page);
            match more {
                Some(m) => next = Some(m),
                None => return Ok(all),
            }
        }
    }

    /// Moves the retain-until date of `path`'s current version to `lock`'s
    /// retention from now (S3 refuses to move it earlier).
    pub(super) async fn extend(&self, path: &Path, lock: &ObjectLock) -> Result<(), String> {
        let until = retain_until(lock, Utc::now()).to_rfc3339_opts(SecondsFormat::Secs, true);
        let body = format!(
            r#"<Retention xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Mode>{}</Mode><RetainUntilDate>{until}</RetainUntilDate></Retention>"#,
            lock.mode.header_value()
        );
        let md5 = base64::engine::general_purpose::STANDARD.encode(Md5::digest(body.as_bytes()));
        let mut r = Request::new(Method::PUT, path).query("retention", "");
        r.headers.push(header("content-md5", &md5)?);
        r.body = Bytes::from(body);
        self.expect_success(r).await.map(drop)
    }

    /// Makes `version` of `path` (`bucket/key`: `source`) its current
    /// version again: a copy, locked when `lock` says so.
    pub(super) async fn restore_version(
        &self,
        source: &str,
        path: &Path,
        version: &str,
        lock: Option<&ObjectLock>,
    ) -> Result<(), String> {
        let mut r = Request::new(Method::PUT, path);
        r.headers.push(header("x-amz-copy-source", &format!("/{source}?versionId={version}"))?);
        if let Some(lock) = lock {
            r.headers.extend(lock_headers(lock)?);
        }
        self.expect_success(r).await.map(drop)
    }
}
