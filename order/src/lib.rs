//! The order service: orders in its own Redis, and checkout as a saga that
//! reserves stock and charges payment through their internal ports.
//!
//! [`build`] is what `main` and the tests call: it binds the public port,
//! starts the recovery loop, and returns the application to run.

pub mod config;
pub mod docs;
pub mod metrics;
pub mod peers;
pub mod routes;
pub mod saga;
pub mod store;

use actix_web::web;
use common::{Application, Metrics, RedisStore};

use crate::config::OrderConfig;
use crate::metrics::SagaMetrics;
use crate::peers::Peers;
use crate::saga::SagaContext;
use crate::store::OrderStore;

/// What the binary runs: telemetry, configuration from the environment, then
/// serving until SIGINT/SIGTERM, and flushing the spans still queued for export.
pub async fn run() -> std::io::Result<()> {
    let config = OrderConfig::from_env().map_err(std::io::Error::other)?;
    let telemetry = common::telemetry::init("order", Some(&config.replica_id));
    common::fault::arm_from_env().map_err(std::io::Error::other)?;
    tracing::info!(listen = %config.base.listen_addr, replica = %config.replica_id, "order service starting");
    build(&config)?.run_until_stopped().await?;
    telemetry.shutdown();
    Ok(())
}

/// Builds the service and spawns its recovery loop (call inside a Tokio runtime).
pub fn build(config: &OrderConfig) -> std::io::Result<Application> {
    let redis = RedisStore::new(&config.base.redis).map_err(std::io::Error::other)?;
    let peers = Peers::new(
        &config.stock_url,
        &config.payment_url,
        config.peer_timeout,
        config.batches_in_flight,
    )
    .map_err(std::io::Error::other)?
    .with_lookup_wait(config.base.redis.wait);
    let saga_metrics = SagaMetrics::new();
    let metrics = Metrics::new().map_err(std::io::Error::other)?;
    for collectors in [
        redis.collectors(),
        peers.collectors(),
        saga_metrics.collectors(),
        common::idempotency::collectors(),
    ] {
        metrics
            .register(collectors)
            .map_err(std::io::Error::other)?;
    }
    let ctx = SagaContext {
        store: OrderStore::new(redis.clone()),
        peers,
        lease: config.lease,
        checkout_wait: config.checkout_wait,
        recovery_interval: config.recovery_interval,
        replica_id: config.replica_id.clone(),
        metrics: saga_metrics,
    };
    let app = Application::start(
        &config.base,
        &metrics,
        {
            let ctx = web::Data::new(ctx.clone());
            let redis = web::Data::new(redis);
            let docs = docs::swagger_ui().map_err(std::io::Error::other)?;
            move |cfg: &mut web::ServiceConfig| {
                cfg.app_data(ctx.clone()).app_data(redis.clone());
                routes::configure(cfg);
                // The API document and its page (`/docs/`), not part of the API itself.
                cfg.service(docs.clone());
            }
        },
        None::<fn(&mut web::ServiceConfig)>,
    )?;
    tokio::spawn(saga::recovery::run(ctx));
    Ok(app)
}
