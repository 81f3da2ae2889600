//! S3 Object Lock against the real S3-compatible server's lock-enabled
//! (hence versioned) bucket: every object Arca writes carries compliance
//! retention; an attacker holding the repository's full storage
//! credentials then tries to delete every version (bypassing governance
//! too), overwrites and deletes every key — and the backups still restore
//! after `recover_versions` makes each first version current again.
//!
//! Runs when `ARCA_TEST_S3_LOCK_BUCKET` names the bucket; under `CI=true` a
//! missing bucket fails the test.

mod common;

use std::time::Duration;

use arca_repo::config::{LockMode, ObjectLock};
use arca_repo::{CheckOptions, Config, InitOptions, KdfParams, Repository, check, open_backend};
use common::*;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::signer::{HeaderName, HeaderValue, Method, SignedUrlOptions, Signer};

const DAY: u64 = 86_400;

fn lock_bucket() -> Option<String> {
    match std::env::var("ARCA_TEST_S3_LOCK_BUCKET") {
        Ok(b) if !b.is_empty() => Some(b),
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("CI=true but ARCA_TEST_S3_LOCK_BUCKET is not set: the Object Lock tests must not be skipped in CI")
        }
        _ => {
            eprintln!("skipping: set ARCA_TEST_S3_LOCK_BUCKET (and AWS_ENDPOINT_URL, credentials) to run it");
            None
        }
    }
}

/// Someone with the bucket owner's credentials, talking S3 directly.
struct Attacker {
    s3: AmazonS3,
    http: reqwest::Client,
    rt: tokio::runtime::Runtime,
}

impl Attacker {
    fn new(bucket: &str) -> Attacker {
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        if let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL") {
            builder = builder.with_allow_http(endpoint.starts_with("http://")).with_endpoint(endpoint);
        }
        Attacker {
            s3: builder.build().expect("S3 client"),
            http: reqwest::Client::new(),
            rt: tokio::runtime::Runtime::new().expect("runtime"),
        }
    }

    /// Sends a signed request; returns the status and body.
    fn send(
        &self,
        method: Method,
        key: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, String) {
        self.rt.block_on(async {
            let mut opts =
                SignedUrlOptions::default().with_query(query.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            for (name, value) in headers {
                opts = opts.with_signed_header(
                    HeaderName::from_bytes(name.as_bytes()).expect("header name"),
                    HeaderValue::from_str(value).expect("header value"),
                );
            }
            let url = self
                .s3
                .signed_url_opts(method.clone(), &Path::from(key), Duration::from_secs(600), &opts)
                .await
                .expect("sign");
            let mut request = self.http.request(method, url).body(body.to_vec());
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            let response = request.send().await.expect("send");
            (response.status().as_u16(), response.text().await.unwrap_or_default())
        })
    }

    /// Every (key, version id, is delete marker) under `prefix`.
    fn versions(&self, prefix: &str) -> Vec<(String, String, bool)> {
        let dir = format!("{prefix}/");
        let (status, body) = self.send(Method::GET, "", &[("versions", ""), ("prefix", &dir)], &[], b"");
        assert_eq!(status, 200, "{body}");
        assert!(!body.contains("<IsTruncated>true"), "the test repository fits one page");
        let (versions, _) = arca_repo::backend::parse_versions(&body, "");
        versions.into_iter().map(|v| (v.key, v.version_id, v.etag.is_none())).collect()
    }
}

#[test]
fn an_attacker_with_the_storage_credentials_cannot_destroy_a_locked_repository() {
    let Some(bucket) = lock_bucket() else { return };
    let unique = format!("{}-{}", chrono::Utc::now().format("%Y%m%dT%H%M%S"), arca_repo::Id::random().short());
    let prefix = format!("arca-object-lock/{unique}");
    let url = format!("s3://{bucket}/{prefix}");

    // A repository whose every object is locked (compliance, one day).
    let lock = ObjectLock { mode: LockMode::Compliance, retention_secs: DAY };
    let config = Config { pack_size: 16 * 1024, object_lock: Some(lock), ..Config::new() };
    let repo = Repository::init(
        open_backend(&url, true).expect("backend"),
        PASSWORD,
        InitOptions { kdf: KdfParams::insecure_fast(), config },
    )
    .expect("init with Object Lock");
    let (a, b) = (noise(1, 40_000), noise(2, 30_000));
    let na = save_files(&repo, &[("a", &a)]);
    let s1 = save_snapshot(&repo, na, 1);
    let nb = save_files(&repo, &[("b", &b)]);
    let s2 = save_snapshot(&repo, nb, 2);
    let expected = [restore(&reopen(&url), &s1), restore(&reopen(&url), &s2)];
    drop(repo);

    let attacker = Attacker::new(&bucket);
    let originals = attacker.versions(&prefix);
    assert!(
        originals.iter().all(|(key, _, marker)| !marker && !key.contains("/locks/")),
        "locks are released: {originals:?}"
    );
    assert!(originals.len() >= 8, "config, key, packs, index, snapshots: {originals:?}");

    // Every object carries compliance retention about a day ahead.
    for (key, version, _) in &originals {
        let (status, body) = attacker.send(Method::GET, key, &[("retention", ""), ("versionId", version)], &[], b"");
        assert_eq!(status, 200, "{key}: {body}");
        assert!(body.contains("<Mode>COMPLIANCE</Mode>"), "{key}: {body}");
        let until = body.split("<RetainUntilDate>").nth(1).and_then(|r| r.split('<').next()).unwrap_or_default();
        let until = chrono::DateTime::parse_from_rfc3339(until).expect("retain-until date");
        let ahead = until.with_timezone(&chrono::Utc) - chrono::Utc::now();
        assert!(ahead > chrono::Duration::hours(23) && ahead <= chrono::Duration::hours(25), "{key}: {ahead}");
    }

    // Retention is moved ahead; prune refuses rather than hide locked data.
    let retained = |attacker: &Attacker, key: &str| {
        let (status, body) = attacker.send(Method::GET, key, &[("retention", "")], &[], b"");
        assert_eq!(status, 200, "{key}: {body}");
        body.split("<RetainUntilDate>").nth(1).and_then(|r| r.split('<').next()).unwrap_or_default().to_string()
    };
    let config_key = format!("{prefix}/config");
    let before = retained(&attacker, &config_key);
    std::thread::sleep(Duration::from_millis(1100));
    let repo = reopen(&url);
    let extended = arca_repo::extend_retention(&repo, false).expect("extend retention");
    assert_eq!(extended.objects as usize, originals.len());
    let after = retained(&attacker, &config_key);
    assert!(after > before, "retain-until moved ahead: {before} -> {after}");
    let refused = arca_repo::prune(&repo, &arca_repo::PruneOptions::default()).expect_err("prune under Object Lock");
    assert!(refused.to_string().contains("Object Lock"), "{refused}");
    assert!(arca_repo::prune(&repo, &arca_repo::PruneOptions { dry_run: true, ..Default::default() }).is_ok());
    drop(repo);

    // The attack: delete every version (governance bypass asked for too),
    // shorten the retention, overwrite every key, then delete every key.
    for (key, version, _) in &originals {
        for headers in [&[][..], &[("x-amz-bypass-governance-retention", "true")][..]] {
            let (status, body) = attacker.send(Method::DELETE, key, &[("versionId", version)], headers, b"");
            assert_eq!(status, 403, "deleting {key} version {version} with {headers:?}: {body}");
        }
    }
    let soon = (chrono::Utc::now() + chrono::Duration::minutes(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let shorter = format!(
        r#"<Retention xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Mode>GOVERNANCE</Mode><RetainUntilDate>{soon}</RetainUntilDate></Retention>"#
    );
    let md5 = {
        use base64::Engine as _;
        use md5::Digest as _;
        base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(shorter.as_bytes()))
    };
    for (key, version, _) in &originals {
        let (status, body) = attacker.send(
            Method::PUT,
            key,
            &[("retention", ""), ("versionId", version)],
            &[("content-md5", &md5), ("x-amz-bypass-governance-retention", "true")],
            shorter.as_bytes(),
        );
        assert_eq!(status, 403, "shortening the retention of {key}: {body}");
    }
    let garbage = b"encrypted by ransomware";
    for (key, _, _) in &originals {
        let (status, body) = attacker.send(Method::PUT, key, &[], &[], garbage);
        assert_eq!(status, 200, "an overwrite is a new version: {body}");
        let (status, _) = attacker.send(Method::DELETE, key, &[], &[], b"");
        assert_eq!(status, 204, "a delete is a delete marker");
    }
    match Repository::open(open_backend(&url, false).expect("backend"), PASSWORD) {
        Err(arca_repo::Error::NotInitialized { .. }) => {}
        other => panic!("after the attack the repository looks gone, got {:?}", other.map(|_| ())),
    }
    let still = attacker.versions(&prefix);
    for original in &originals {
        assert!(still.contains(original), "{original:?} survived the attack");
    }

    // Recovery: the first version of every object becomes current again.
    let backend = open_backend(&url, false).expect("backend");
    let dry = backend.recover_versions(true).expect("recover --dry-run");
    assert_eq!(dry.restored.len(), originals.len(), "{dry:?}");
    assert_eq!(dry.restored[0], "config", "the config first: it says how to lock the rest");
    let done = backend.recover_versions(false).expect("recover");
    assert_eq!(done.restored.len(), originals.len());
    assert_eq!(open_backend(&url, false).expect("backend").recover_versions(true).expect("again").restored.len(), 0);
    let repo = reopen(&url);
    let report = check(&repo, &CheckOptions { read_data: true }, None).expect("check");
    assert!(report.is_ok(), "{report:#?}");
    assert_eq!([restore(&reopen(&url), &s1), restore(&reopen(&url), &s2)], expected, "the backups restore");
    // What recovery wrote is locked too.
    let (key, _, _) = &originals[0];
    let (status, body) = attacker.send(Method::GET, key, &[("retention", "")], &[], b"");
    assert!(status == 200 && body.contains("COMPLIANCE"), "{key}: {body}");
}
