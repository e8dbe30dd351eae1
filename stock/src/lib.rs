//! The stock service: items with a price and a stock that never goes below zero.
//!
//! The public API (the README's "API" section) is served on one port; the saga participant
//! endpoints (reserve/release, plus `find` for prices) on the internal port, which the
//! gateway never routes. All state lives in Redis (`store`). The start-up, the batch
//! endpoint and the adjust script are the participant skeleton's (`common::participant`).

pub mod routes;
pub mod store;

use actix_web::web;
use common::{participant, Application, Config};

use crate::store::StockStore;

/// What the binary runs: telemetry, configuration from the environment, then
/// serving until SIGINT/SIGTERM, and flushing the spans still queued for export.
pub async fn run() -> std::io::Result<()> {
    participant::run("stock", 8200, build).await
}

/// Binds both ports and prepares the servers; tests pass port 0.
pub fn build(config: &Config) -> std::io::Result<Application> {
    participant::build(
        config,
        StockStore::new,
        |cfg: &mut web::ServiceConfig| routes::public(cfg),
        routes::internal,
    )
}
