//! The checkout saga: a pure state machine that owns the rules (`machine`), the
//! runner that performs its steps (`runner`) against two small traits, the
//! participants (`participants`, implemented by `Peers`) and the saga log (`log`,
//! implemented by `OrderStore`), the checkout entry point (`checkout`), and the
//! recovery loop that finishes sagas whose driver died (`recovery`).
//!
//! Nothing in here knows HTTP status codes (the routes map a checkout's result),
//! and only `checkout` and `recovery` use the concrete store, for what the runner
//! does not need (beginning a saga, claiming expired leases).

pub mod checkout;
pub mod log;
pub mod machine;
pub mod participants;
pub mod recovery;
pub mod runner;
#[cfg(test)]
mod tests;

use std::time::Duration;

use crate::metrics::SagaMetrics;
use crate::peers::Peers;
use crate::store::OrderStore;

/// What every saga driver needs; one per process, shared by handlers and recovery.
/// The service runs it over Redis and HTTP (the defaults); the runner's tests over
/// in-memory fakes.
#[derive(Clone)]
pub struct SagaContext<P = Peers, L = OrderStore> {
    pub store: L,
    pub peers: P,
    pub lease: Duration,
    pub checkout_wait: Duration,
    pub recovery_interval: Duration,
    pub replica_id: String,
    pub metrics: SagaMetrics,
}

impl<P, L> SagaContext<P, L> {
    /// A fresh lease owner token: this replica's id and a random part, new for every
    /// begun saga and every recovery pass, so no two drivers ever share one.
    pub fn new_owner(&self) -> String {
        format!("{}/{}", self.replica_id, uuid::Uuid::new_v4().simple())
    }
}
