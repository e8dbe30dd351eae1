//! Puts the trace id into every log line written inside a trace.
//!
//! Wraps tracing-subscriber's own formatters: a JSON line gets a leading
//! `"trace_id":"<32 hex digits>"` member, a human line a leading trace id. Lines
//! outside any trace (start-up, idle loops) and every line while span export is
//! off are written exactly as the inner formatter writes them, at no extra cost.

use std::fmt;

use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use super::otel;

pub(crate) struct TraceIdInLine<F> {
    inner: F,
    json: bool,
    /// Trace ids exist only while spans are exported.
    tracing_on: bool,
}

impl<F> TraceIdInLine<F> {
    pub(crate) fn json(inner: F, tracing_on: bool) -> Self {
        TraceIdInLine {
            inner,
            json: true,
            tracing_on,
        }
    }

    pub(crate) fn text(inner: F, tracing_on: bool) -> Self {
        TraceIdInLine {
            inner,
            json: false,
            tracing_on,
        }
    }
}

impl<S, N, F> FormatEvent<S, N> for TraceIdInLine<F>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
    N: for<'writer> FormatFields<'writer> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let trace_id = if self.tracing_on {
            otel::current_trace_id()
        } else {
            None
        };
        let Some(trace_id) = trace_id else {
            return self.inner.format_event(ctx, writer, event);
        };
        if !self.json {
            write!(writer, "{trace_id} ")?;
            return self.inner.format_event(ctx, writer, event);
        }
        let mut line = String::with_capacity(256);
        self.inner
            .format_event(ctx, Writer::new(&mut line), event)?;
        match line.strip_prefix('{') {
            Some(rest) => write!(writer, "{{\"trace_id\":\"{trace_id}\",{rest}"),
            None => writer.write_str(&line),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
    };
    use tracing_subscriber::fmt::MakeWriter;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Lines {
        type Writer = Lines;
        fn make_writer(&'a self) -> Lines {
            self.clone()
        }
    }

    fn log_one_line_in(trace: Option<TraceId>, tracing_on: bool) -> serde_json::Value {
        let lines = Lines::default();
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .json()
                .flatten_event(true)
                .with_writer(lines.clone())
                .map_event_format(|inner| TraceIdInLine::json(inner, tracing_on)),
        );
        let _attached = trace.map(|id| {
            let remote = SpanContext::new(
                id,
                SpanId::from_bytes([1; 8]),
                TraceFlags::SAMPLED,
                true,
                TraceState::default(),
            );
            opentelemetry::Context::new()
                .with_remote_span_context(remote)
                .attach()
        });
        tracing::subscriber::with_default(subscriber, || tracing::info!(answer = 42, "hello"));
        let bytes = lines.0.lock().expect("lock").clone();
        let text = String::from_utf8(bytes).expect("utf-8");
        assert_eq!(text.lines().count(), 1, "{text}");
        serde_json::from_str(&text).expect("the line is one JSON object")
    }

    #[test]
    fn json_lines_inside_a_trace_lead_with_its_id() {
        let id = TraceId::from_bytes([0xab; 16]);
        let line = log_one_line_in(Some(id), true);
        assert_eq!(line["trace_id"], "ab".repeat(16));
        assert_eq!(line["answer"], 42);
        assert_eq!(line["message"], "hello");
    }

    #[test]
    fn json_lines_outside_a_trace_or_with_export_off_are_unchanged() {
        for (trace, on) in [(None, true), (Some(TraceId::from_bytes([7; 16])), false)] {
            let line = log_one_line_in(trace, on);
            assert!(line.get("trace_id").is_none(), "{line}");
            assert_eq!(line["message"], "hello");
        }
    }
}
