//! The one error type handlers return, and how it becomes an HTTP answer.
//!
//! Every failure is a JSON body `{"error": "..."}`. A 4xx means the caller asked
//! for something that cannot be done and nothing changed; a 5xx means the
//! system could not answer (a store or a peer is unreachable). A business
//! outcome is never a 5xx.
//!
//! This module imports nothing else of the crate: another module's error converts
//! into [`ApiError`] where that error is defined (`StoreError` in `store`), so the
//! modules that return `ApiError` never form a cycle through this one.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed input: a number that is not one, an id with bad characters.
    #[error("{0}")]
    BadRequest(String),
    /// An id that names nothing, or a route that does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A well-formed request the current state refuses (not enough stock or credit, a paid order).
    #[error("{0}")]
    Conflict(String),
    /// A well-formed request that cannot be taken as it is: an idempotency key that was
    /// already used for another request.
    #[error("{0}")]
    Unprocessable(String),
    /// A store or a peer did not answer within its bound.
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an answer from a store that breaks our own invariants.
    #[error("{0}")]
    Internal(String),
}

/// The JSON error body of every non-2xx answer.
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong, in words; names the parameter or entity at fault.
    #[schema(example = "amount \"-3\" must be a non-negative integer")]
    pub error: String,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if self.status_code().is_server_error() {
            tracing::warn!(error = %self, "answering with a server error");
        }
        HttpResponse::build(self.status_code()).json(ErrorBody {
            error: self.to_string(),
        })
    }
}
