//! Exit codes that pipelines can trust (documented in the README).

use arca_repo::Error;

pub const OK: i32 = 0;
/// Any failure not listed below.
pub const FAILURE: i32 = 1;
/// The work finished but something in it failed (e.g. `check` found damage).
pub const PARTIAL: i32 = 3;
/// The repository does not exist.
pub const NO_REPOSITORY: i32 = 10;
/// The repository is locked by another process.
pub const LOCKED: i32 = 11;
/// Wrong password.
pub const WRONG_PASSWORD: i32 = 12;

pub fn code_for(err: &anyhow::Error) -> i32 {
    match err.chain().find_map(|e| e.downcast_ref::<Error>()) {
        Some(Error::NotInitialized { .. } | Error::BucketNotFound { .. }) => NO_REPOSITORY,
        Some(Error::Locked { .. }) => LOCKED,
        Some(Error::WrongPassword { .. }) => WRONG_PASSWORD,
        _ => FAILURE,
    }
}
