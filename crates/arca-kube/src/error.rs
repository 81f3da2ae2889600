//! Errors of the Kubernetes side. Each names what failed and what to do next.

/// An answer of the API server that is not a success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiFailure {
    pub code: u16,
    pub reason: String,
    pub message: String,
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.code == 0 {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{} {}: {}", self.code, self.reason, self.message)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "cannot load the cluster configuration: {0}; pass --kubeconfig FILE (or set KUBECONFIG) and --context NAME"
    )]
    Config(String),
    #[error("{what}: the API server answered {failure}")]
    Api { what: String, failure: ApiFailure },
    #[error("{what}: cannot reach the API server: {message}; check the cluster address and network, then retry")]
    Transport { what: String, message: String },
    #[error("{what}: the API server sent something that is not valid JSON: {source}")]
    Decode {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("the server doesn't have a resource type {0:?}; list the served types with `kubectl api-resources`")]
    UnknownResource(String),
    #[error(
        "the target ({target}) does not serve {api_version} and Arca has no conversion to a served version (served: {served})"
    )]
    NotServed { target: String, api_version: String, served: String },
    #[error(
        "the target ({target}) serves no {kind} ({api_version}); restore or install its CustomResourceDefinition first"
    )]
    NoDefinition { target: String, kind: String, api_version: String },
    #[error(
        "{conversion}, but the target refuses the result: {reason}; adjust it with --resource-modifiers or restore it by hand"
    )]
    ConversionRefused { conversion: String, reason: String },
    #[error("invalid {what}: {message}")]
    Invalid { what: String, message: String },
    #[error("no backup named {0:?} in the repository; list them with `arca backup list`")]
    BackupNotFound(String),
    #[error("a backup named {0:?} already exists; choose another name or delete it with `arca backup delete`")]
    BackupExists(String),
    #[error("no restore named {0:?} in the repository; list them with `arca restore list`")]
    RestoreNotFound(String),
    #[error("backup catalog: {what}: {message}")]
    Catalog { what: String, message: String },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Repo(#[from] arca_repo::Error),
    #[error("background task failed: {0}")]
    Task(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(what: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid { what: what.into(), message: message.into() }
    }

    /// The API status code when the server answered, else `None`.
    pub fn api_code(&self) -> Option<u16> {
        match self {
            Error::Api { failure, .. } => Some(failure.code),
            _ => None,
        }
    }

    /// A short reason for reports (no object name repeated).
    pub fn reason(&self) -> String {
        match self {
            Error::Api { failure, .. } => failure.to_string(),
            Error::Transport { message, .. } => format!("cannot reach the API server: {message}"),
            other => other.to_string(),
        }
    }
}

impl From<tokio::task::JoinError> for Error {
    fn from(e: tokio::task::JoinError) -> Self {
        Error::Task(e.to_string())
    }
}
