//! The saga log as the runner sees it: a saga's record, and the three things a
//! driver does to the log (advance the state, read it back, renew its lease).
//!
//! [`OrderStore`](crate::store::OrderStore) implements [`SagaLog`] with Lua
//! scripts in Redis (`advance.lua`, `renew.lua`); the runner's tests implement
//! it in memory with the same compare-and-set and lease rules. The runner is
//! generic over it (no dynamic dispatch on the checkout path). An implementation
//! never decides which state comes next: it only records what the runner asks,
//! if the caller still holds the lease and saw the current state.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use common::params::Id;

use super::machine::State;

/// A saga as logged.
#[derive(Debug, Clone)]
pub struct SagaRecord {
    pub id: Id,
    pub order: Id,
    pub user: Id,
    pub amount: i64,
    /// Quantities summed per item, as the reserve request carries them.
    pub items: Vec<(String, i64)>,
    pub state: State,
    pub reason: Option<String>,
    /// Every stored field, for inspection.
    pub fields: BTreeMap<String, String>,
}

/// What a compare-and-set of a saga's state found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Advance {
    Ok,
    /// The log holds another state than the caller expected (it moved on).
    Stale(State),
    Missing,
    /// Another driver holds the saga's lease now.
    Lost,
}

/// A log of sagas with leases: a saga's lease is (owner, expiry), and only its
/// owner may write it or extend it.
pub trait SagaLog: Send + Sync {
    type Error: std::fmt::Display + Send;

    /// Records `to` (and `reason`, when given) if `owner` holds the saga's lease and
    /// the log holds `from`. Reaching a final state marks the order paid (when
    /// committed), frees it and ends the lease; any other state renews the lease.
    fn advance(
        &self,
        saga: &SagaRecord,
        from: State,
        to: State,
        reason: Option<&str>,
        lease: Duration,
        owner: &str,
    ) -> impl Future<Output = Result<Advance, Self::Error>> + Send;

    /// The saga of `order` as logged now.
    fn saga(
        &self,
        order: &Id,
        saga: &Id,
    ) -> impl Future<Output = Result<Option<SagaRecord>, Self::Error>> + Send;

    /// Extends the lease `owner` holds by `lease` from now; `false` when it is not
    /// theirs any more (taken over) or the saga is final.
    fn renew(
        &self,
        saga: &SagaRecord,
        owner: &str,
        lease: Duration,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send;
}
