//! The errors of `ops bench`. Each carries its cause; the message is made at the edge.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Ops(#[from] crate::Error),
    #[error("{what}")]
    Http {
        what: String,
        #[source]
        source: reqwest::Error,
    },
    /// The stack, a tool or a setting is not what the benchmark needs.
    #[error("{0}")]
    Setup(String),
    /// A run did not go as it must (a tool failed, an answer had the wrong shape).
    #[error("{0}")]
    Failed(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A file or process error, as the operations library words it.
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let wrap = crate::Error::io(what);
        move |source| Error::Ops(wrap(source))
    }
    pub(crate) fn http(what: impl Into<String>) -> impl FnOnce(reqwest::Error) -> Error {
        let what = what.into();
        move |source| Error::Http { what, source }
    }
}
