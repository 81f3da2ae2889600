//! Errors of volume work. A volume that fails is a [`record::VolumeRecord`]
//! in state `Failed` with its reason; these are for what stops the whole run.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Kube(#[from] arca_kube::Error),
    #[error(transparent)]
    Repo(#[from] arca_repo::Error),
    #[error("{what}: {message}")]
    Invalid { what: String, message: String },
    #[error("{0}")]
    Task(String),
}

impl Error {
    pub fn invalid(what: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid { what: what.into(), message: message.into() }
    }
}

impl From<tokio::task::JoinError> for Error {
    fn from(e: tokio::task::JoinError) -> Self {
        Error::Task(e.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
