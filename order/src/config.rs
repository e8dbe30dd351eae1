//! The order service's configuration: the shared part plus its peers and saga timing.

use std::time::Duration;

use common::config::{var_or, var_required};
use common::{Config, ConfigError};

#[derive(Debug, Clone)]
pub struct OrderConfig {
    pub base: Config,
    /// `STOCK_URL`: the stock service's internal port (saga endpoints and prices).
    pub stock_url: String,
    /// `PAYMENT_URL`: the payment service's internal port.
    pub payment_url: String,
    /// `REPLICA_ID`: names this replica in logs (default: a random id).
    pub replica_id: String,
    /// `SAGA_LEASE_MS`: a saga whose driver has not renewed its lease for this long is
    /// taken over (drivers renew every third of it).
    pub lease: Duration,
    /// `RECOVERY_INTERVAL_MS`: how often the recovery loop looks for abandoned sagas.
    pub recovery_interval: Duration,
    /// `CHECKOUT_WAIT_MS`: how long a checkout request waits for its saga's outcome.
    pub checkout_wait: Duration,
    /// `PEER_TIMEOUT_MS`: bound on one call to stock or payment; past it the call goes
    /// to the participant's next replica (a paused one costs this once). Calls that wait
    /// on a participant's Redis failover are sent again (idempotent): at 512 connections
    /// checkouts answered within 140 ms at p99, well inside it.
    pub peer_timeout: Duration,
    /// `PEER_BATCHES_IN_FLIGHT`: how many batched reserve (and charge) requests may be
    /// outstanding at once; calls made meanwhile wait for the next batch.
    pub batches_in_flight: usize,
}

impl OrderConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let ms = |name: &str, default: u64| var_or(name, default).map(Duration::from_millis);
        Ok(OrderConfig {
            base: Config::from_env(8100)?,
            stock_url: var_required::<String>("STOCK_URL")?
                .trim_end_matches('/')
                .to_string(),
            payment_url: var_required::<String>("PAYMENT_URL")?
                .trim_end_matches('/')
                .to_string(),
            replica_id: var_or("REPLICA_ID", uuid::Uuid::new_v4().to_string())?,
            lease: ms("SAGA_LEASE_MS", 2000)?,
            recovery_interval: ms("RECOVERY_INTERVAL_MS", 500)?,
            checkout_wait: ms("CHECKOUT_WAIT_MS", 120_000)?,
            peer_timeout: ms("PEER_TIMEOUT_MS", 500)?,
            batches_in_flight: var_or("PEER_BATCHES_IN_FLIGHT", 1)?,
        })
    }
}
