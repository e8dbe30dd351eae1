//! The errors of the operations library. Each carries its cause; the message is made at
//! the edge (the `ops` binary, a test).

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what}")]
    Redis {
        what: String,
        #[source]
        source: redis::RedisError,
    },
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} failed ({status}): {stderr}")]
    Command {
        what: String,
        status: std::process::ExitStatus,
        stderr: String,
    },
    #[error("{what}: no answer within {bound:?}")]
    Timeout { what: String, bound: Duration },
    /// A name, a role or a setting that does not fit this stack.
    #[error("{0}")]
    Invalid(String),
    /// The stack is not in the state the operation needs (no node in that role, a cluster
    /// that cannot be created, a component that is not running).
    #[error("{0}")]
    State(String),
    #[error("{what} is not supported on the {backend} back end yet")]
    Unsupported {
        what: &'static str,
        backend: &'static str,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let what = what.into();
        move |source| Error::Io { what, source }
    }
    pub(crate) fn redis(what: impl Into<String>) -> impl FnOnce(redis::RedisError) -> Error {
        let what = what.into();
        move |source| Error::Redis { what, source }
    }
}

/// Runs `fut` within `bound`, or fails with [`Error::Timeout`] about `what`.
pub(crate) async fn bounded<T>(
    what: impl Into<String>,
    bound: Duration,
    fut: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    match tokio::time::timeout(bound, fut).await {
        Ok(r) => r,
        Err(_) => Err(Error::Timeout {
            what: what.into(),
            bound,
        }),
    }
}
