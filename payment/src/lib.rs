//! The payment service: users with a credit that never goes below zero.
//!
//! The public API (the README's "API" section) is served on one port; the saga participant
//! endpoints (charge/refund) on the internal port, which the gateway never routes. All
//! state lives in Redis (`store`).

pub mod routes;
pub mod store;

use actix_web::web;
use common::{Application, Config, Metrics, RedisStore};

use crate::store::PaymentStore;

/// What the binary runs: telemetry, configuration from the environment, then
/// serving until SIGINT/SIGTERM, and flushing the spans still queued for export.
pub async fn run() -> std::io::Result<()> {
    let telemetry = common::telemetry::init("payment", None);
    let config = Config::from_env(8300).map_err(std::io::Error::other)?;
    build(&config)?.run_until_stopped().await?;
    telemetry.shutdown();
    Ok(())
}

/// Binds both ports and prepares the servers; tests pass port 0.
pub fn build(config: &Config) -> std::io::Result<Application> {
    let redis = RedisStore::new(&config.redis).map_err(std::io::Error::other)?;
    let metrics = Metrics::new().map_err(std::io::Error::other)?;
    metrics
        .register(redis.collectors())
        .map_err(std::io::Error::other)?;
    let payment = web::Data::new(PaymentStore::new(redis.clone()));
    let health = web::Data::new(redis);
    let (public_payment, public_health) = (payment.clone(), health.clone());
    let public = move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(public_payment.clone())
            .app_data(public_health.clone());
        routes::public(cfg);
    };
    let internal = move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(payment.clone()).app_data(health.clone());
        routes::internal(cfg);
    };
    Application::start(config, &metrics, public, Some(internal))
}
