//! OpenTelemetry: the OTLP span exporter and W3C trace context propagation.
//!
//! Everything here is off unless `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set: then [`enabled`] is false, no
//! header is read or written, and the request path costs one relaxed atomic load.
//! When on, spans leave in batches over OTLP/HTTP with protobuf bodies (the
//! standard `OTEL_*` variables tune the exporter and the batch processor), incoming
//! requests continue the caller's trace from its `traceparent` header, and
//! [`inject`] writes the current span's `traceparent` into outgoing calls.

use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TraceId, TracerProvider};
use opentelemetry::KeyValue;
use opentelemetry_otlp::{ExporterBuildError, Protocol, WithExportConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing::Subscriber;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::registry::LookupSpan;

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Whether spans are exported and trace context is propagated.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The collector's address from the environment, when export is wanted.
pub(crate) fn endpoint() -> Option<String> {
    [
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ]
    .iter()
    .filter_map(|name| std::env::var(name).ok())
    .map(|value| value.trim().to_string())
    .find(|value| !value.is_empty())
}

/// A tracer provider exporting to the configured endpoint through a batch processor
/// (its own thread; `OTEL_BSP_*` tune it), with `service.name` = `service` unless
/// `OTEL_SERVICE_NAME` says otherwise, and `service.instance.id` = `instance`.
pub(crate) fn tracer_provider(
    service: &str,
    instance: Option<&str>,
) -> Result<SdkTracerProvider, ExporterBuildError> {
    // The exporter reads the endpoint, headers and timeout from the OTEL_* variables;
    // the path /v1/traces is appended to OTEL_EXPORTER_OTLP_ENDPOINT.
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .build()?;
    let mut resource = Resource::builder();
    if std::env::var("OTEL_SERVICE_NAME").map_or(true, |v| v.trim().is_empty()) {
        resource = resource.with_service_name(service.to_string());
    }
    if let Some(instance) = instance {
        resource =
            resource.with_attribute(KeyValue::new("service.instance.id", instance.to_string()));
    }
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build())
        .build())
}

/// The tracing layer that turns spans into OpenTelemetry spans of `provider`.
pub(crate) fn layer<S>(
    provider: &SdkTracerProvider,
    service: &'static str,
) -> impl tracing_subscriber::Layer<S>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer(service))
        // Thread names cost an allocation per span and say nothing about a request.
        .with_threads(false)
}

/// Turns propagation on once the exporting subscriber is installed.
pub(crate) fn enable_propagation() {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    ENABLED.store(true, Ordering::Relaxed);
}

/// Makes `span` continue the trace named by the request's `traceparent` header,
/// if it has a valid one. Call before the span is first entered.
pub fn set_remote_parent(span: &tracing::Span, headers: &actix_web::http::header::HeaderMap) {
    if !enabled() {
        return;
    }
    let parent = TraceContextPropagator::new().extract(&RequestHeaders(headers));
    if parent.span().span_context().is_valid() {
        // Fails only when the span was already started or is disabled; it then stays a root.
        let _ = span.set_parent(parent);
    }
}

/// Makes `span` continue the trace named by a `traceparent` value carried in a
/// request's body (a batch carries one per saga), if it is valid. Call before the
/// span is first entered.
pub fn set_remote_parent_from(span: &tracing::Span, traceparent: &str) {
    if !enabled() {
        return;
    }
    let parent = TraceContextPropagator::new().extract(&Traceparent(traceparent));
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
}

/// The `traceparent` of the current span, for a call that carries it in its body.
pub fn current_traceparent() -> Option<String> {
    let mut found = None;
    inject(|name, value| {
        if name == "traceparent" {
            found = Some(value);
        }
    });
    found
}

/// Calls `set(name, value)` for each trace context header (`traceparent`,
/// `tracestate`) that an outgoing request made in the current span should carry.
pub fn inject(mut set: impl FnMut(&str, String)) {
    if !enabled() {
        return;
    }
    let context = tracing::Span::current().context();
    TraceContextPropagator::new().inject_context(&context, &mut Headers(&mut set));
}

/// Records `field` on the current span, when spans are exported. With export off
/// this does nothing: filling a field late makes the JSON log layer parse and
/// rewrite the span's formatted fields, a cost the request path does not pay for
/// a field that nobody reads.
pub fn record_on_current(field: &'static str, value: &str) {
    if enabled() {
        tracing::Span::current().record(field, value);
    }
}

/// The trace id of the OpenTelemetry context active on this thread, if any.
pub(crate) fn current_trace_id() -> Option<TraceId> {
    opentelemetry::Context::map_current(|cx| {
        let span = cx.span();
        let context = span.span_context();
        context.is_valid().then(|| context.trace_id())
    })
}

struct RequestHeaders<'a>(&'a actix_web::http::header::HeaderMap);

impl Extractor for RequestHeaders<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

struct Traceparent<'a>(&'a str);

impl Extractor for Traceparent<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        (key == "traceparent").then_some(self.0)
    }

    fn keys(&self) -> Vec<&str> {
        vec!["traceparent"]
    }
}

struct Headers<'a, F>(&'a mut F);

impl<F: FnMut(&str, String)> Injector for Headers<'_, F> {
    fn set(&mut self, key: &str, value: String) {
        (self.0)(key, value)
    }
}
