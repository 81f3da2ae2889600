//! The Kubernetes release a cluster imitates: what `/version` reports and
//! which group versions are served (the table is in `served.rs`).

use std::fmt;
use std::str::FromStr;

/// What `/version` reports for one release (data).
struct Profile {
    minor: u32,
    go_version: &'static str,
    build_date: &'static str,
}

/// The releases a cluster can imitate. Each row's served set is checked
/// against the real release's discovery in `tests/profiles.rs`.
const PROFILES: &[Profile] = &[
    Profile { minor: 25, go_version: "go1.19", build_date: "2022-08-23T17:36:43Z" },
    Profile { minor: 29, go_version: "go1.21.5", build_date: "2023-12-13T08:45:03Z" },
    Profile { minor: 33, go_version: "go1.24.2", build_date: "2025-04-23T14:40:09Z" },
];

/// A Kubernetes release with a profile (`1.25`, `1.29`, `1.33`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KubernetesVersion {
    minor: u32,
}

/// A version string that names no profile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Kubernetes version {given:?} has no profile in the test cluster; use one of {supported}")]
pub struct UnsupportedVersion {
    pub given: String,
    pub supported: String,
}

impl KubernetesVersion {
    /// The release served when none is chosen.
    pub const DEFAULT: KubernetesVersion = KubernetesVersion { minor: 33 };

    /// Every release with a profile, oldest first.
    pub fn all() -> Vec<KubernetesVersion> {
        PROFILES.iter().map(|p| KubernetesVersion { minor: p.minor }).collect()
    }

    /// The minor version (`25` for 1.25).
    pub fn minor(&self) -> u32 {
        self.minor
    }

    /// `v1.25.0`.
    pub fn git_version(&self) -> String {
        format!("v1.{}.0", self.minor)
    }

    fn profile(&self) -> &'static Profile {
        PROFILES.iter().find(|p| p.minor == self.minor).unwrap_or(&PROFILES[PROFILES.len() - 1])
    }

    pub fn go_version(&self) -> &'static str {
        self.profile().go_version
    }

    pub fn build_date(&self) -> &'static str {
        self.profile().build_date
    }
}

impl Default for KubernetesVersion {
    fn default() -> Self {
        KubernetesVersion::DEFAULT
    }
}

impl fmt::Display for KubernetesVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "1.{}", self.minor)
    }
}

/// Accepts `1.25`, `v1.25` and `1.25.x`.
impl FromStr for KubernetesVersion {
    type Err = UnsupportedVersion;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let unsupported = || UnsupportedVersion {
            given: s.to_string(),
            supported: PROFILES.iter().map(|p| format!("1.{}", p.minor)).collect::<Vec<_>>().join(", "),
        };
        let trimmed = s.trim().trim_start_matches('v');
        let mut parts = trimmed.split('.');
        let (major, minor) = (parts.next(), parts.next().and_then(|m| m.parse::<u32>().ok()));
        match (major, minor) {
            (Some("1"), Some(minor)) if PROFILES.iter().any(|p| p.minor == minor) => Ok(KubernetesVersion { minor }),
            _ => Err(unsupported()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_profile_names_and_refuses_others() {
        assert_eq!("1.25".parse::<KubernetesVersion>().map(|v| v.minor()), Ok(25));
        assert_eq!("v1.29.4".parse::<KubernetesVersion>().map(|v| v.minor()), Ok(29));
        let err = "1.27".parse::<KubernetesVersion>().unwrap_err();
        assert!(err.to_string().contains("1.25, 1.29, 1.33"), "{err}");
        assert!("2.25".parse::<KubernetesVersion>().is_err());
        assert_eq!(KubernetesVersion::default().git_version(), "v1.33.0");
    }
}
