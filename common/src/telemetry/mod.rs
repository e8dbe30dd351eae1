//! The tracing subscriber every binary installs once, first thing in `main`.
//!
//! - Logs: JSON lines on stdout by default (one object per event, for log
//!   collectors); `LOG_FORMAT=pretty` for people reading a terminal. The level
//!   comes from `RUST_LOG` (default `info`).
//! - Traces: when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, spans are exported over
//!   OTLP/HTTP ([`otel`]) and every log line written inside a trace carries its
//!   `trace_id`. When it is not set, no OpenTelemetry layer is installed at all:
//!   nothing is exported, and the spans that exist only for tracing (requests,
//!   saga steps, peer calls: debug level) are disabled where they are created,
//!   since formatting a span's fields for the JSON log costs microseconds.
//!
//! Never called by in-process tests: they keep the default no-op subscriber.
//! The [`Telemetry`] value `init` returns must live until the service stopped:
//! dropping it flushes the spans still queued for export.

mod log_format;
pub mod otel;
mod request_span;

use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Subscriber;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer, Registry};

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

/// Installs the global subscriber for `service` (its OpenTelemetry `service.name`);
/// `instance` names the replica (`service.instance.id`) when there can be several.
pub fn init(service: &'static str, instance: Option<&str>) -> Telemetry {
    let endpoint = otel::endpoint();
    let exporter = endpoint
        .as_ref()
        .map(|_| otel::tracer_provider(service, instance));
    let provider = match &exporter {
        Some(Ok(provider)) => Some(provider.clone()),
        _ => None,
    };
    let pretty = std::env::var("LOG_FORMAT").is_ok_and(|v| v == "pretty");
    let installed = match &provider {
        // Logs and exported spans are filtered apart: the spans that only tracing needs
        // (debug level) reach the exporter without being formatted for the logs.
        Some(provider) => Registry::default()
            .with(otel::layer(provider, service).with_filter(span_filter()))
            .with(json_layer(pretty, true).map(|l| l.with_filter(log_filter())))
            .with(text_layer(pretty, true).map(|l| l.with_filter(log_filter())))
            .try_init(),
        // Export off: one global filter in front of the log layer, as cheap as it gets;
        // debug-level spans are disabled at their call sites.
        None => Registry::default()
            .with(log_filter())
            .with(json_layer(pretty, false))
            .with(text_layer(pretty, false))
            .try_init(),
    }
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

/// The JSON log layer, unless `LOG_FORMAT=pretty`.
fn json_layer<S>(pretty: bool, tracing_on: bool) -> Option<impl Layer<S> + Send + Sync>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    (!pretty).then(|| {
        fmt::layer()
            .json()
            .flatten_event(true)
            .with_target(false)
            .map_event_format(|inner| TraceIdInLine::json(inner, tracing_on))
    })
}

/// The human log layer, when `LOG_FORMAT=pretty`.
fn text_layer<S>(pretty: bool, tracing_on: bool) -> Option<impl Layer<S> + Send + Sync>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    pretty.then(|| {
        fmt::layer()
            .with_target(false)
            .map_event_format(|inner| TraceIdInLine::text(inner, tracing_on))
    })
}

/// What is logged: `RUST_LOG` (default `info`).
fn log_filter() -> EnvFilter {
    quiet_actix(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
}

/// What is exported as spans: `TRACE_FILTER` (default: info, and debug for this
/// project's crates, whose request, saga step and peer call spans are at debug level).
fn span_filter() -> EnvFilter {
    quiet_actix(
        EnvFilter::try_from_env("TRACE_FILTER")
            .unwrap_or_else(|_| EnvFilter::new(DEFAULT_SPAN_FILTER)),
    )
}

const DEFAULT_SPAN_FILTER: &str = "info,common=debug,order=debug,stock=debug,payment=debug";

/// Silences tracing-actix-web's own events: it logs every 4xx as a warning carrying
/// the whole request (about 2 KB a line), and a refused checkout is a business
/// outcome, not something to log at that volume. Request spans are ours
/// ([`RequestSpan`]) and are not affected.
fn quiet_actix(filter: EnvFilter) -> EnvFilter {
    filter.add_directive(
        "tracing_actix_web=error"
            .parse()
            .expect("a valid directive"),
    )
}
