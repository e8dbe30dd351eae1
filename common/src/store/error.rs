//! How a Redis call fails, as the services see it, and how a handler answers that.

use crate::error::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Redis did not answer in time, refused the connection, or failed the command.
    #[error("{0}")]
    Unavailable(String),
    /// The idempotency key was used before for another request (a 422): nothing done.
    #[error("{0}")]
    KeyReused(String),
    /// Redis answered something our own scripts never write.
    #[error("store holds unexpected data: {0}")]
    Corrupt(String),
}

impl From<redis::RedisError> for StoreError {
    fn from(e: redis::RedisError) -> Self {
        StoreError::Unavailable(format!("redis command failed: {e}"))
    }
}

/// A store failure as handlers answer it: Redis out of reach is a 503, data our own
/// scripts never write a 500. (Here, not in `error`, so that `error` imports nothing.)
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(msg) => ApiError::Unavailable(msg),
            StoreError::Corrupt(msg) => ApiError::Internal(msg),
            StoreError::KeyReused(msg) => ApiError::Unprocessable(msg),
        }
    }
}
