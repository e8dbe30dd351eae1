//! The tracing subscriber every binary installs once, first thing in `main`.
//!
//! JSON lines by default (one object per event, for log collectors);
//! `LOG_FORMAT=pretty` for people reading a terminal. The level comes from
//! `RUST_LOG` (default `info`). Never called by tests: they keep the default
//! no-op subscriber unless they install their own.

use tracing_subscriber::{fmt, EnvFilter};

pub fn init(service: &'static str) {
    // tracing-actix-web logs every 4xx as a warning with the whole request span: a
    // refused checkout is a business outcome, not something to log at that volume.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info"))
        .add_directive(
            "tracing_actix_web=error"
                .parse()
                .expect("a valid directive"),
        );
    let pretty = std::env::var("LOG_FORMAT").is_ok_and(|v| v == "pretty");
    let builder = fmt().with_env_filter(filter).with_target(false);
    let installed = if pretty {
        builder.try_init()
    } else {
        builder.json().flatten_event(true).try_init()
    };
    if installed.is_ok() {
        tracing::info!(service, "tracing initialised");
    }
}
