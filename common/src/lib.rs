//! What the three services share, and nothing that only one of them needs.
//!
//! - [`api`]: the route table and the reply bodies several services send.
//! - [`app`]: binding and running a service's public and internal servers.
//! - [`backoff`]: the pauses of every retry loop.
//! - [`config`]: typed configuration read from the environment once at start.
//! - [`entity`]: creating an entity's hash once per idempotency key, and batch_init's
//!   writing of many, for all three services.
//! - [`store`]: the Redis pool with bounded waits, and Lua script invocation.
//! - [`error`]: the JSON error body and its mapping to 4xx/5xx.
//! - [`idempotency`]: idempotency keys of public writes and the record of their answers.
//! - [`params`]: path parameters parsed at the edge into types that cannot be invalid.
//! - [`participant`]: the participant skeleton: the internal saga protocol between order
//!   and stock/payment, the batch endpoint, the shared adjust script, start-up.
//! - [`fault`]: `CRASH_AFTER_WRITES`, the crash tests' fault injection.
//! - [`http`]: the pieces every actix app mounts (health, JSON 404, extractor errors).
//! - [`telemetry`]: logs, request spans and OpenTelemetry export.
//! - [`metrics`]: the Prometheus registry, request metrics and `GET /metrics`.
//! - `testing` (feature `testing`): starts real redis-server processes, and participants
//!   against them, for tests.

pub mod api;
pub mod app;
pub mod backoff;
pub mod config;
pub mod entity;
pub mod error;
pub mod fault;
pub mod http;
pub mod idempotency;
pub mod metrics;
pub mod params;
pub mod participant;
pub mod store;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;

pub use app::Application;
pub use config::{Config, ConfigError};
pub use error::ApiError;
pub use metrics::Metrics;
pub use store::{RedisStore, StoreError};
