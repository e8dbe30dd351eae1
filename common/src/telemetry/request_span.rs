//! The span of every HTTP request a service answers (tracing-actix-web's root span).
//!
//! Named `METHOD /route/{template}` (never the raw path, whose ids would make
//! every name unique), with the method, route, path and, once answered, the
//! status. Latency is the span's own duration. It continues the caller's trace
//! when span export is on ([`otel::set_remote_parent`]).
//!
//! Debug level, so that it costs nothing unless spans are exported (or
//! `RUST_LOG=debug`): formatting its fields for the JSON log alone would cost
//! microseconds a request. Cheaper than tracing-actix-web's default span on
//! purpose: no connection info or user agent, the name and route are only
//! computed when some layer listens, and a 4xx (a business answer) records no
//! error text.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::Error;
use tracing::field::Empty;
use tracing::Span;
use tracing_actix_web::RootSpanBuilder;

use super::otel;

/// Route label of a request that matched no route.
pub const UNMATCHED: &str = "unmatched";

pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let span = tracing::debug_span!(
            "HTTP request",
            otel.name = Empty,
            otel.kind = "server",
            otel.status_code = Empty,
            http.request.method = %request.method(),
            http.route = Empty,
            url.path = %request.path(),
            http.response.status_code = Empty,
            error.message = Empty,
        );
        if !span.is_disabled() {
            let route = request.match_pattern();
            let route = route.as_deref().unwrap_or(UNMATCHED);
            span.record("http.route", route);
            span.record(
                "otel.name",
                tracing::field::display(format_args!("{} {route}", request.method())),
            );
            otel::set_remote_parent(&span, request.headers());
        }
        span
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        if span.is_disabled() {
            return;
        }
        let (status, error) = match outcome {
            Ok(response) => (response.status(), response.response().error()),
            Err(error) => (error.as_response_error().status_code(), Some(error)),
        };
        span.record("http.response.status_code", status.as_u16());
        // OpenTelemetry leaves a server span's status unset unless the server failed.
        if status.is_server_error() {
            span.record("otel.status_code", "ERROR");
            if let Some(error) = error {
                span.record("error.message", tracing::field::display(error));
            }
        }
    }
}
