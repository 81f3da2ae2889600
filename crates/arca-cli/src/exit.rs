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

/// The error and its causes on one line, like `{:#}`, but without a cause
/// whose text the message before it already ends with (library errors often
/// print their source themselves: `cannot open x: No such file…`).
pub fn render(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for link in err.chain().map(|e| e.to_string()) {
        if out.ends_with(&link) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&link);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_drops_causes_already_printed() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file");
        let err = anyhow::Error::new(io).context("cannot back up /x: No such file").context("fs backup");
        assert_eq!(render(&err), "fs backup: cannot back up /x: No such file");
        let plain = anyhow::anyhow!("inner").context("outer");
        assert_eq!(render(&plain), "outer: inner");
    }
}
