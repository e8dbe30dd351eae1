//! The order service: orders in its own Redis, and checkout as a saga that
//! reserves stock and charges payment through their internal ports.
//!
//! [`build`] is what `main` and the tests call: it binds the public port,
//! starts the recovery loop, and returns the application to run.

pub mod config;
pub mod docs;
pub mod peers;
pub mod routes;
pub mod saga;
pub mod store;

use actix_web::web;
use common::{Application, RedisStore};

use crate::config::OrderConfig;
use crate::peers::Peers;
use crate::saga::SagaContext;
use crate::store::OrderStore;

/// Builds the service and spawns its recovery loop (call inside a Tokio runtime).
pub fn build(config: &OrderConfig) -> std::io::Result<Application> {
    let redis = RedisStore::new(&config.base.redis).map_err(std::io::Error::other)?;
    let peers = Peers::new(&config.stock_url, &config.payment_url, config.peer_timeout)
        .map_err(std::io::Error::other)?;
    let ctx = SagaContext {
        store: OrderStore::new(redis.clone()),
        peers,
        lease: config.lease,
        checkout_wait: config.checkout_wait,
        recovery_interval: config.recovery_interval,
        replica_id: config.replica_id.clone(),
    };
    let app = Application::start(
        &config.base,
        {
            let ctx = web::Data::new(ctx.clone());
            let redis = web::Data::new(redis);
            let docs = docs::swagger_ui();
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
