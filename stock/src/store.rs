//! Everything the stock service keeps in Redis: its keys and its Lua scripts.
//!
//! Keys: `item:{id}` is a hash `{stock, price}`; `saga:{sid}` records what a
//! saga did here (`status` = reserved | refused | released, with `lines` or
//! `reason`). Every state change is one atomic script or one command; nothing
//! here reads a value, changes it in Rust and writes it back. The adjust script and
//! the batch-init writes are the participant skeleton's (`common::participant`),
//! called with this module's keys.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::idempotency::IdempotencyKey;
use common::params::{Amount, Id, Quantity};
use common::participant::{self, parse_int, Adjust, Adjusted, Change, StepReply};
use common::{RedisStore, StoreError};
use redis::Script;

const ITEM_PREFIX: &str = "item:";

fn item_key(id: &Id) -> String {
    format!("{ITEM_PREFIX}{id}")
}

fn saga_key(saga: &Id) -> String {
    format!("saga:{saga}")
}

/// An item as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Item {
    pub stock: i64,
    pub price: i64,
}

/// The stock service's view of its Redis.
#[derive(Clone)]
pub struct StockStore {
    redis: RedisStore,
    adjust: Adjust,
    reserve: Script,
    release: Script,
    reserve_loaded: Arc<AtomicBool>,
}

impl StockStore {
    pub fn new(redis: RedisStore) -> Self {
        StockStore {
            redis,
            adjust: Adjust::new("stock", ("stock add", "stock subtract")),
            reserve: Script::new(include_str!("scripts/reserve.lua")),
            release: Script::new(include_str!("scripts/release.lua")),
            reserve_loaded: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Creates an item with stock 0 and returns its id (the same for a repeat of the key).
    pub async fn create(&self, idem: &IdempotencyKey, price: Amount) -> Result<Id, StoreError> {
        let fields = [("stock", 0), ("price", price.get())];
        self.adjust
            .create(&self.redis, "stock create", idem, item_key, &fields)
            .await
    }

    pub async fn find(&self, id: &Id) -> Result<Option<Item>, StoreError> {
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(item_key(id)).arg("stock").arg("price");
        let values: Vec<Option<String>> = self.redis.query(&cmd).await?;
        match values.as_slice() {
            [None, None] => Ok(None),
            [Some(stock), Some(price)] => Ok(Some(Item {
                stock: parse_int(stock)?,
                price: parse_int(price)?,
            })),
            other => Err(StoreError::Corrupt(format!("item {id} holds {other:?}"))),
        }
    }

    /// Adds to or takes from (never below 0) an item's stock.
    pub async fn adjust(
        &self,
        idem: &IdempotencyKey,
        id: &Id,
        change: Change,
    ) -> Result<Adjusted, StoreError> {
        self.adjust
            .apply(&self.redis, idem, item_key(id), change)
            .await
    }

    /// Writes items `"0"`..`"n-1"` in pipelined chunks (see `participant::batch_init`).
    pub async fn batch_init(
        &self,
        idem: &IdempotencyKey,
        n: Quantity,
        stock: Amount,
        price: Amount,
    ) -> Result<(), StoreError> {
        let fields = [("stock", stock), ("price", price)];
        participant::batch_init(
            &self.redis,
            "stock batch_init",
            idem,
            ITEM_PREFIX,
            n,
            &fields,
        )
        .await
    }

    /// Makes sure Redis has the reserve script before a batch runs, once per process: a
    /// batch's reserves, sent together, would otherwise all be refused with NOSCRIPT on a
    /// fresh Redis and sent again each after its own load, in an order nobody chose; with
    /// the script there they run in the batch's order.
    pub async fn load_reserve(&self) -> Result<(), StoreError> {
        if self.reserve_loaded.load(Ordering::Relaxed) {
            return Ok(());
        }
        let mut conn = self.redis.conn().await?;
        self.redis
            .bounded(self.reserve.prepare_invoke().load_async(&mut conn))
            .await?;
        self.reserve_loaded.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Reserves every line of a saga, or none; a repeat answers the first outcome.
    pub async fn reserve(
        &self,
        saga: &Id,
        lines: &[(Id, Quantity)],
    ) -> Result<StepReply, StoreError> {
        let mut invocation = self.reserve.prepare_invoke();
        invocation.key(saga_key(saga));
        for (id, qty) in lines {
            invocation.key(item_key(id)).arg(id.as_str()).arg(qty.get());
        }
        let mut conn = self.redis.conn().await?;
        let reply: Vec<String> = self.redis.invoke(&mut conn, &invocation).await?;
        step_reply("reserve", &reply)
    }

    /// Puts back what a saga reserved, once; leaves a tombstone if it reserved nothing yet.
    pub async fn release(&self, saga: &Id) -> Result<StepReply, StoreError> {
        let mut invocation = self.release.prepare_invoke();
        invocation.key(saga_key(saga)).arg(ITEM_PREFIX);
        let mut conn = self.redis.conn().await?;
        let reply: Vec<String> = self.redis.invoke(&mut conn, &invocation).await?;
        step_reply("release", &reply)
    }
}

/// The protocol's step replies (`participant::step_reply`), and the one that only
/// stock's release answers: `{"full", item}`.
fn step_reply(script: &str, reply: &[String]) -> Result<StepReply, StoreError> {
    match reply {
        // Nothing changed; the saga's driver retries until the stock has room again.
        [tag, item] if tag == "full" => Err(StoreError::Unavailable(format!(
            "item {item} cannot take its released units back without passing the \
             largest stock; nothing was released, retry once its stock went down"
        ))),
        other => participant::step_reply(script, other),
    }
}

#[cfg(test)]
mod tests {
    use common::participant::Outcome;

    use super::*;

    /// The protocol's tags are tested with `participant::step_reply`; here, that stock's
    /// own tag is a retryable failure and the others still reach the protocol's mapping.
    #[test]
    fn a_full_release_is_unavailable_and_other_replies_are_the_protocols() {
        assert!(matches!(
            step_reply("t", &["full", "7"].map(String::from)),
            Err(StoreError::Unavailable(_))
        ));
        let done = step_reply("t", &["done"].map(String::from)).expect("done");
        assert_eq!(done.outcome, Outcome::Done);
        assert!(matches!(
            step_reply("t", &["full"].map(String::from)),
            Err(StoreError::Corrupt(_))
        ));
    }
}
