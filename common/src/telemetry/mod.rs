//! The tracing subscriber every binary installs once, first thing in `main`.
//!
//! - Logs: JSON lines on stdout by default (one object per event, for log
//!   collectors); `LOG_FORMAT=pretty` for people reading a terminal. The level
//!   comes from `RUST_LOG` (default `info`).
//! - Traces: when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, spans are exported over
//!   OTLP/HTTP ([`otel`]) and every log line written inside a trace carries its
//!   `trace_id`. When it is not set, no OpenTelemetry layer is installed at all:
//!   nothing is exported and no span does more work than it did before.
//!
//! Never called by in-process tests: they keep the default no-op subscriber.
//! The [`Telemetry`] value `init` returns must live until the service stopped:
//! dropping it flushes the spans still queued for export.

mod log_format;
pub mod otel;
mod request_span;

use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Registry};

pub use request_span::{RequestSpan, UNMATCHED};

use self::log_format::TraceIdInLine;

/// What [`init`] set up; dropping it (or [`shutdown`](Self::shutdown)) flushes the
/// span exporter, if there is one.
#[must_use = "dropping it at once would shut the span exporter down"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Whether spans are exported (`OTEL_EXPORTER_OTLP_ENDPOINT` was set and valid).
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }

    /// Exports the spans still queued and stops the exporter (bounded by the
    /// exporter's own timeout). Called by `Drop` as well.
    pub fn shutdown(mut self) {
        self.flush();
    }

    fn flush(&mut self) {
        if let Some(provider) = self.provider.take() {
            if let Err(e) = provider.shutdown() {
                tracing::warn!(error = %e, "flushing the span exporter failed");
            }
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Installs the global subscriber for `service` (its OpenTelemetry `service.name`).
pub fn init(service: &'static str) -> Telemetry {
    let endpoint = otel::endpoint();
    let exporter = endpoint.as_ref().map(|_| otel::tracer_provider(service));
    let provider = match &exporter {
        Some(Ok(provider)) => Some(provider.clone()),
        _ => None,
    };
    let otel_layer = provider.as_ref().map(|p| otel::layer(p, service));
    let tracing_on = provider.is_some();
    let pretty = std::env::var("LOG_FORMAT").is_ok_and(|v| v == "pretty");
    let json_layer = (!pretty).then(|| {
        fmt::layer()
            .json()
            .flatten_event(true)
            .with_target(false)
            .map_event_format(|inner| TraceIdInLine::json(inner, tracing_on))
    });
    let pretty_layer = pretty.then(|| {
        fmt::layer()
            .with_target(false)
            .map_event_format(|inner| TraceIdInLine::text(inner, tracing_on))
    });
    let installed = Registry::default()
        .with(filter())
        .with(otel_layer)
        .with(json_layer)
        .with(pretty_layer)
        .try_init()
        .is_ok();
    if installed {
        tracing::info!(service, "tracing initialised");
    }
    let endpoint = endpoint.unwrap_or_default();
    match exporter {
        Some(Ok(_)) if installed => {
            otel::enable_propagation();
            tracing::info!(%endpoint, "exporting spans over OTLP");
        }
        // A service must start without its collector: it runs untraced.
        Some(Err(e)) => tracing::warn!(%endpoint, error = %e, "spans are not exported"),
        _ => {}
    }
    Telemetry { provider }
}

/// `RUST_LOG` (default `info`), with tracing-actix-web's own events silenced: it logs
/// every 4xx as a warning carrying the whole request (about 2 KB a line), and a refused
/// checkout is a business outcome, not something to log at that volume. Request spans
/// are ours ([`RequestSpan`]) and are not affected.
fn filter() -> EnvFilter {
    EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info"))
        .add_directive(
            "tracing_actix_web=error"
                .parse()
                .expect("a valid directive"),
        )
}
