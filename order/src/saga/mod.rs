//! The checkout saga: a pure state machine, the runner that performs its
//! steps against stock and payment, the checkout entry point, and the
//! recovery loop that finishes sagas whose driver died.

mod backoff;
pub mod checkout;
pub mod machine;
pub mod recovery;
pub mod runner;

use std::time::Duration;

use crate::metrics::SagaMetrics;
use crate::peers::Peers;
use crate::store::OrderStore;

/// What every saga driver needs; one per process, shared by handlers and recovery.
#[derive(Clone)]
pub struct SagaContext {
    pub store: OrderStore,
    pub peers: Peers,
    pub lease: Duration,
    pub checkout_wait: Duration,
    pub recovery_interval: Duration,
    pub replica_id: String,
    pub metrics: SagaMetrics,
}

impl SagaContext {
    /// A fresh lease owner token: this replica's id and a random part, new for every
    /// begun saga and every recovery pass, so no two drivers ever share one.
    pub fn new_owner(&self) -> String {
        format!("{}/{}", self.replica_id, uuid::Uuid::new_v4().simple())
    }
}
