//! The maintenance scenarios against a real S3-compatible server.
//!
//! Runs when `ARCA_TEST_S3_BUCKET` names a bucket (endpoint and credentials
//! come from the usual `AWS_*` variables); skipped otherwise, except under
//! `CI=true`, where a missing bucket fails the test so that CI can't pass
//! without exercising S3.

mod common;

use common::scenarios;

/// A repository URL under a fresh prefix of the test bucket.
fn s3_url(test: &str) -> Option<String> {
    match std::env::var("ARCA_TEST_S3_BUCKET") {
        Ok(bucket) if !bucket.is_empty() => {
            let unique = format!("{}-{}", chrono::Utc::now().format("%Y%m%dT%H%M%S"), arca_repo::Id::random().short());
            Some(format!("s3://{bucket}/arca-repo-tests/{test}-{unique}"))
        }
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("CI=true but ARCA_TEST_S3_BUCKET is not set: the S3 tests must not be skipped in CI")
        }
        _ => {
            eprintln!("skipping {test}: set ARCA_TEST_S3_BUCKET (and AWS_ENDPOINT_URL, credentials) to run it");
            None
        }
    }
}

#[test]
fn s3_removing_a_snapshot_outside_arca_is_reported() {
    if let Some(url) = s3_url("tamper") {
        scenarios::removing_a_snapshot_outside_arca_is_reported(&url);
    }
}

#[test]
fn s3_an_append_only_client_adds_but_never_destroys() {
    if let Some(url) = s3_url("append-only") {
        scenarios::an_append_only_client_adds_but_never_destroys(&url);
    }
}

#[test]
fn s3_healthy_repository_passes() {
    if let Some(url) = s3_url("healthy") {
        scenarios::healthy_repository_passes(&url);
    }
}

#[test]
fn s3_bit_flip_is_found_by_read_data_only() {
    if let Some(url) = s3_url("bitflip") {
        scenarios::bit_flip_is_found_by_read_data_only(&url);
    }
}

#[test]
fn s3_deleted_pack_is_missing() {
    if let Some(url) = s3_url("deleted") {
        scenarios::deleted_pack_is_missing(&url);
    }
}

#[test]
fn s3_forget_and_prune_reclaim_space() {
    if let Some(url) = s3_url("prune") {
        scenarios::forget_and_prune_reclaim_space(&url);
    }
}

#[test]
fn s3_lost_index_is_rebuilt() {
    if let Some(url) = s3_url("repair-lost-index") {
        scenarios::lost_index_is_rebuilt(&url);
    }
}

#[test]
fn s3_damaged_index_is_replaced() {
    if let Some(url) = s3_url("repair-damaged-index") {
        scenarios::damaged_index_is_replaced(&url);
    }
}

#[test]
fn s3_corrupt_pack_is_named_not_deleted() {
    if let Some(url) = s3_url("repair-corrupt-pack") {
        scenarios::corrupt_pack_is_named_not_deleted(&url);
    }
}

#[test]
fn s3_snapshot_with_a_lost_tree_pack_is_forgotten() {
    if let Some(url) = s3_url("repair-snapshots") {
        scenarios::snapshot_with_a_lost_tree_pack_is_forgotten(&url);
    }
}
