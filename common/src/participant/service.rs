//! Starting a participant: the same start-up for every one of them. The
//! participant's `lib.rs` hands over how to make its store from the Redis
//! connection and its two route tables; this module opens the connection,
//! registers its metrics and mounts the store and the connection (for
//! `/health/ready`) on both servers.
//!
//! Nothing a single participant needs belongs here (its default port, name,
//! store type and routes are arguments); the order service, which is no
//! participant, starts through [`Application`] directly.

use actix_web::web;

use crate::app::{Application, Routes};
use crate::config::Config;
use crate::metrics::Metrics;
use crate::store::RedisStore;

/// What a participant's binary runs: telemetry as `service`, configuration from the
/// environment (public port `default_port` unless set), then `build` and serving until
/// SIGINT/SIGTERM, and flushing the spans still queued for export.
pub async fn run(
    service: &'static str,
    default_port: u16,
    build: impl FnOnce(&Config) -> std::io::Result<Application>,
) -> std::io::Result<()> {
    let telemetry = crate::telemetry::init(service, None);
    let config = Config::from_env(default_port).map_err(std::io::Error::other)?;
    crate::fault::arm_from_env().map_err(std::io::Error::other)?;
    build(&config)?.run_until_stopped().await?;
    telemetry.shutdown();
    Ok(())
}

/// Binds both ports of a participant and prepares its servers; tests pass port 0.
/// `store` makes the participant's store from the shared Redis connection; both
/// route tables get it as `web::Data<S>`, and the connection as `web::Data<RedisStore>`.
pub fn build<S: Send + Sync + 'static>(
    config: &Config,
    store: impl FnOnce(RedisStore) -> S,
    public: impl Routes,
    internal: impl Routes,
) -> std::io::Result<Application> {
    let redis = RedisStore::new(&config.redis).map_err(std::io::Error::other)?;
    let metrics = Metrics::new().map_err(std::io::Error::other)?;
    for collectors in [redis.collectors(), crate::idempotency::collectors()] {
        metrics
            .register(collectors)
            .map_err(std::io::Error::other)?;
    }
    let store = web::Data::new(store(redis.clone()));
    let health = web::Data::new(redis);
    let public = with_data(&store, &health, public);
    let internal = with_data(&store, &health, internal);
    Application::start(config, &metrics, public, Some(internal))
}

/// `routes`, with the store and the connection mounted as app data first.
fn with_data<S: Send + Sync + 'static>(
    store: &web::Data<S>,
    health: &web::Data<RedisStore>,
    routes: impl Routes,
) -> impl Routes {
    let (store, health) = (store.clone(), health.clone());
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(store.clone()).app_data(health.clone());
        routes(cfg);
    }
}
