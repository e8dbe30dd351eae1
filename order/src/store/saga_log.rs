//! The saga log: beginning a saga (atomically with marking its order busy), the
//! [`SagaLog`] the runner drives it through, the recovery loop's claim of expired
//! leases, and an order's saga history.

use std::collections::BTreeMap;
use std::time::Duration;

use common::params::Id;
use common::store::Invocation;
use common::StoreError;
use futures::stream::{self, StreamExt};

use super::records::{parse_items, parse_saga, stored_id, stored_int};
use super::{
    active_key, bucket, history_key, order_key, saga_key, saga_prefix, OrderStore, BUCKETS,
};
use crate::saga::log::{Advance, SagaLog, SagaRecord};
use crate::saga::machine::State;

/// What `begin_checkout.lua` did.
pub enum Begin {
    /// Logged: the saga to drive.
    Started(SagaRecord),
    Missing,
    Paid,
    /// Another saga is in flight.
    Busy(Id),
    /// The summed quantity of this item does not fit in an i64.
    Overflow(Id),
}

impl OrderStore {
    /// Logs a saga for the order as it is now, held by `owner` for `lease`, and marks the
    /// order busy, in one script (see `begin_checkout.lua`).
    #[tracing::instrument(level = "debug", name = "saga begin", skip_all, fields(saga_id = %saga_id, order_id = %order_id))]
    pub async fn begin(
        &self,
        saga_id: &Id,
        order_id: &Id,
        lease: Duration,
        owner: &str,
    ) -> Result<Begin, StoreError> {
        let mut inv = Invocation::new(&self.scripts.begin);
        inv.key(order_key(order_id))
            .key(saga_key(order_id, saga_id))
            .key(active_key(bucket(order_id)))
            .key(history_key(order_id))
            .arg(saga_id.as_str())
            .arg(lease.as_millis() as u64)
            .arg(owner)
            .arg(order_id.as_str());
        let answer: Vec<String> = self.redis.run_script_once(&inv).await?;
        let corrupt = || StoreError::Corrupt(format!("begin answered {answer:?}"));
        Ok(match answer.first().map(String::as_str) {
            Some("started") => {
                let [_, user, amount, items] = answer.as_slice() else {
                    return Err(corrupt());
                };
                Begin::Started(SagaRecord {
                    id: saga_id.clone(),
                    order: order_id.clone(),
                    user: stored_id(user.clone()),
                    amount: stored_int("saga amount", Some(amount))?,
                    items: parse_items(saga_id, items)?,
                    state: State::Started,
                    reason: None,
                    fields: BTreeMap::new(),
                })
            }
            Some("missing") => Begin::Missing,
            Some("paid") => Begin::Paid,
            Some("busy") => Begin::Busy(answer.get(1).cloned().map(stored_id).ok_or_else(corrupt)?),
            Some("overflow") => {
                Begin::Overflow(answer.get(1).cloned().map(stored_id).ok_or_else(corrupt)?)
            }
            _ => return Err(corrupt()),
        })
    }

    /// Takes the lease of up to `limit` sagas whose lease expired, for `owner`, from
    /// every bucket: one read of each bucket's set (the reads travel pipelined), then
    /// a claim script only in the buckets that hold an expired lease. Returns each
    /// claimed saga with its order.
    pub async fn claim_expired(
        &self,
        lease: Duration,
        limit: usize,
        owner: &str,
    ) -> Result<Vec<(Id, Id)>, StoreError> {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let expired: Vec<Result<(u16, bool), StoreError>> = stream::iter(0..BUCKETS)
            .map(|b| async move {
                let cmd = redis::cmd("ZRANGEBYSCORE")
                    .arg(active_key(b))
                    .arg("-inf")
                    .arg(now_ms)
                    .arg("LIMIT")
                    .arg(0)
                    .arg(1)
                    .to_owned();
                let ids: Vec<String> = self.redis.query_retrying(&cmd).await?;
                Ok((b, !ids.is_empty()))
            })
            .buffer_unordered(64)
            .collect()
            .await;
        let mut claimed = Vec::new();
        for found in expired {
            let (b, any) = found?;
            if !any || claimed.len() >= limit {
                continue;
            }
            let mut inv = Invocation::new(&self.scripts.claim);
            inv.key(active_key(b))
                .arg(lease.as_millis() as u64)
                .arg(limit - claimed.len())
                .arg(owner)
                .arg(saga_prefix(b));
            let pairs: Vec<String> = self.redis.run_script_once(&inv).await?;
            for pair in pairs.chunks(2) {
                if let [saga, order] = pair {
                    claimed.push((stored_id(saga.clone()), stored_id(order.clone())));
                }
            }
        }
        Ok(claimed)
    }

    /// The ids of every saga of an order, oldest first.
    pub async fn history(&self, order_id: &Id) -> Result<Vec<Id>, StoreError> {
        let cmd = redis::cmd("LRANGE")
            .arg(history_key(order_id))
            .arg(0)
            .arg(-1)
            .to_owned();
        let ids: Vec<String> = self.redis.query_retrying(&cmd).await?;
        Ok(ids.into_iter().map(stored_id).collect())
    }
}

impl SagaLog for OrderStore {
    type Error = StoreError;

    /// Compare-and-set of a saga's state by its lease holder (see `advance.lua`).
    #[tracing::instrument(level = "debug", name = "saga advance", skip_all, fields(saga_id = %saga.id, from = from.as_str(), to = to.as_str()))]
    async fn advance(
        &self,
        saga: &SagaRecord,
        from: State,
        to: State,
        reason: Option<&str>,
        lease: Duration,
        owner: &str,
    ) -> Result<Advance, StoreError> {
        let mut inv = Invocation::new(&self.scripts.advance);
        inv.key(saga_key(&saga.order, &saga.id))
            .key(order_key(&saga.order))
            .key(active_key(bucket(&saga.order)))
            .arg(saga.id.as_str())
            .arg(from.as_str())
            .arg(to.as_str())
            .arg(reason.unwrap_or(""))
            .arg(lease.as_millis() as u64)
            .arg(owner);
        let answer: Vec<String> = self.redis.run_script_once(&inv).await?;
        Ok(match answer.first().map(String::as_str) {
            Some("ok") => Advance::Ok,
            Some("missing") => Advance::Missing,
            Some("lost") => Advance::Lost,
            Some("stale") => match answer.get(1).and_then(|s| State::parse(s)) {
                Some(state) => Advance::Stale(state),
                None => return Err(StoreError::Corrupt(format!("advance answered {answer:?}"))),
            },
            _ => return Err(StoreError::Corrupt(format!("advance answered {answer:?}"))),
        })
    }

    /// A saga as logged; a read, so it waits for a restarting Redis like the public reads
    /// (the inspection route `GET /saga/{order_id}` reads through it).
    async fn saga(&self, order: &Id, saga_id: &Id) -> Result<Option<SagaRecord>, StoreError> {
        let fields: BTreeMap<String, String> = self
            .redis
            .query_retrying(redis::cmd("HGETALL").arg(saga_key(order, saga_id)))
            .await?;
        if fields.is_empty() {
            return Ok(None);
        }
        parse_saga(saga_id, fields).map(Some)
    }

    /// Extends the lease `owner` holds on a saga; `false` when it is no longer theirs
    /// (taken over, or the saga is final).
    async fn renew(
        &self,
        saga: &SagaRecord,
        owner: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let mut inv = Invocation::new(&self.scripts.renew);
        inv.key(saga_key(&saga.order, &saga.id))
            .key(active_key(bucket(&saga.order)))
            .arg(saga.id.as_str())
            .arg(owner)
            .arg(lease.as_millis() as u64);
        let renewed: i64 = self.redis.run_script_once(&inv).await?;
        Ok(renewed == 1)
    }
}
