//! A hook as declared (annotation or hooks file), before it runs: which
//! container (if named), the argv, what a failure does and its timeout.

use std::time::Duration;

use super::record::OnError;

/// A hook runs at most this long unless it says otherwise (Velero's default too).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// One declared hook.
#[derive(Debug, Clone, PartialEq)]
pub struct HookSpec {
    /// Its name in a hooks file; `None` for annotations.
    pub name: Option<String>,
    /// `annotation`, `velero-annotation` or `file`.
    pub source: String,
    /// The container named; `None`: chosen by the volumes it mounts.
    pub container: Option<String>,
    pub command: Vec<String>,
    pub on_error: OnError,
    pub timeout: Duration,
}

/// A pod's backup hooks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodHooks {
    pub pre: Vec<HookSpec>,
    pub post: Vec<HookSpec>,
}

impl PodHooks {
    pub fn is_empty(&self) -> bool {
        self.pre.is_empty() && self.post.is_empty()
    }

    /// The longest a freeze may wait for its pre hooks.
    pub fn pre_timeout(&self) -> Duration {
        self.pre.iter().map(|h| h.timeout).sum()
    }
}

/// `30s`, `5m`, `1h30m`, `500ms` or plain seconds (as every Arca duration).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    arca_volumes::limits::parse_duration(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("12"), Ok(Duration::from_secs(12)));
        assert!(parse_duration("soon").unwrap_err().contains("\"soon\""));
        assert!(parse_duration("5d").is_err());
        assert!(parse_duration("").is_err());
    }
}
