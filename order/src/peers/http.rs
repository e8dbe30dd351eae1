//! One HTTP exchange with a peer (stock or payment): send a request with the
//! current trace context, read a 2xx answer's JSON, and [`PeerError`] for
//! everything else.
//!
//! Both the single-saga calls (`peers.rs`) and the batches (`batch.rs`) go
//! through here, and this module depends on neither. It never retries and never
//! interprets a participant's answer: that is the saga runner's job.

use common::telemetry::otel;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

#[derive(Debug, Clone, thiserror::Error)]
pub enum PeerError {
    #[error("{peer} is unreachable: {reason}")]
    Unreachable { peer: &'static str, reason: String },
    #[error("{peer} answered {status}: {body}")]
    Status {
        peer: &'static str,
        status: u16,
        body: String,
    },
    /// A batch's result for this saga: the participant could not do the step.
    #[error("{peer} could not do the step: {error}")]
    Failed { peer: &'static str, error: String },
}

impl PeerError {
    /// The `kind` label of `participant_call_failures_total`.
    pub(super) fn kind(&self) -> &'static str {
        match self {
            PeerError::Unreachable { .. } => "unreachable",
            PeerError::Status { status, .. } if *status < 500 => "4xx",
            PeerError::Status { .. } | PeerError::Failed { .. } => "5xx",
        }
    }

    fn unreachable(peer: &'static str, e: &reqwest::Error) -> Self {
        // reqwest's message leaves the cause (refused, reset, timed out) to its sources.
        let mut reason = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(cause) = source {
            reason.push_str(": ");
            reason.push_str(&cause.to_string());
            source = cause.source();
        }
        PeerError::Unreachable { peer, reason }
    }
}

/// Sends a request; anything but a 2xx is an error carrying the answer.
pub(super) async fn send(
    peer: &'static str,
    req: reqwest::RequestBuilder,
) -> Result<reqwest::Response, PeerError> {
    let resp = with_trace_context(req)
        .send()
        .await
        .map_err(|e| PeerError::unreachable(peer, &e))?;
    let span = tracing::Span::current();
    if !span.is_disabled() {
        span.record("http.response.status_code", resp.status().as_u16());
    }
    if resp.status().is_success() {
        return Ok(resp);
    }
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap_or_default();
    Err(PeerError::Status { peer, status, body })
}

/// Adds the current span's `traceparent` (and `tracestate`) when span export is on.
fn with_trace_context(req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    let mut headers = HeaderMap::new();
    otel::inject(|name, value| {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            headers.insert(name, value);
        }
    });
    if headers.is_empty() {
        req
    } else {
        req.headers(headers)
    }
}

pub(super) async fn decode<T: serde::de::DeserializeOwned>(
    peer: &'static str,
    resp: reqwest::Response,
) -> Result<T, PeerError> {
    resp.json()
        .await
        .map_err(|e| PeerError::unreachable(peer, &e))
}
