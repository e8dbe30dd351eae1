//! Everything the stock service keeps in Redis: its keys and its Lua scripts.
//!
//! Keys: `item:{id}` is a hash `{stock, price}`; `saga:{sid}` records what a
//! saga did here (`status` = reserved | refused | released, with `lines` or
//! `reason`). Every state change is one atomic script or one command; nothing
//! here reads a value, changes it in Rust and writes it back.

use common::params::{Amount, Id, Quantity};
use common::participant::{Outcome, StepReply};
use common::{RedisStore, StoreError};
use redis::Script;

/// How many `HSET`s one batch-init pipeline sends.
const BATCH_CHUNK: i64 = 10_000;
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

/// What an add or subtract did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adjusted {
    /// Applied; the new stock.
    Done(i64),
    /// Refused, nothing changed: the current stock is too low.
    Insufficient(i64),
    /// No such item.
    Missing,
    /// The stock would not fit in an i64; nothing changed.
    Overflow,
}

/// The stock service's view of its Redis.
#[derive(Clone)]
pub struct StockStore {
    redis: RedisStore,
    adjust: Script,
    reserve: Script,
    release: Script,
}

impl StockStore {
    pub fn new(redis: RedisStore) -> Self {
        StockStore {
            redis,
            adjust: Script::new(include_str!("scripts/adjust.lua")),
            reserve: Script::new(include_str!("scripts/reserve.lua")),
            release: Script::new(include_str!("scripts/release.lua")),
        }
    }

    /// Creates an item with stock 0 and returns its new id.
    pub async fn create(&self, price: Amount) -> Result<Id, StoreError> {
        let id = Id::generated(uuid::Uuid::new_v4().to_string());
        let mut conn = self.redis.conn().await?;
        let mut cmd = redis::cmd("HSET");
        cmd.arg(item_key(&id))
            .arg("stock")
            .arg(0)
            .arg("price")
            .arg(price.get());
        self.redis
            .bounded(cmd.query_async::<i64>(&mut conn))
            .await?;
        Ok(id)
    }

    pub async fn find(&self, id: &Id) -> Result<Option<Item>, StoreError> {
        let mut conn = self.redis.conn().await?;
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(item_key(id)).arg("stock").arg("price");
        let values: Vec<Option<String>> = self.redis.bounded(cmd.query_async(&mut conn)).await?;
        match values.as_slice() {
            [None, None] => Ok(None),
            [Some(stock), Some(price)] => Ok(Some(Item {
                stock: parse_int(stock)?,
                price: parse_int(price)?,
            })),
            other => Err(StoreError::Corrupt(format!("item {id} holds {other:?}"))),
        }
    }

    pub async fn add(&self, id: &Id, amount: Amount) -> Result<Adjusted, StoreError> {
        self.adjust(id, amount.get()).await
    }

    pub async fn subtract(&self, id: &Id, amount: Amount) -> Result<Adjusted, StoreError> {
        self.adjust(id, -amount.get()).await
    }

    async fn adjust(&self, id: &Id, delta: i64) -> Result<Adjusted, StoreError> {
        let mut invocation = self.adjust.prepare_invoke();
        invocation
            .key(item_key(id))
            .arg("stock")
            .arg(delta)
            .arg(-delta);
        let mut conn = self.redis.conn().await?;
        let reply: Vec<String> = self.redis.invoke(&mut conn, &invocation).await?;
        match reply.as_slice() {
            [tag, value] if tag == "ok" => Ok(Adjusted::Done(parse_int(value)?)),
            [tag, value] if tag == "insufficient" => Ok(Adjusted::Insufficient(parse_int(value)?)),
            [tag] if tag == "missing" => Ok(Adjusted::Missing),
            [tag] if tag == "overflow" => Ok(Adjusted::Overflow),
            other => Err(unexpected("adjust", other)),
        }
    }

    /// Writes items `"0"`..`"n-1"` in pipelined chunks, each one MULTI/EXEC so that Redis
    /// appends and fsyncs a chunk at once (not atomic as a whole).
    pub async fn batch_init(
        &self,
        n: Quantity,
        stock: Amount,
        price: Amount,
    ) -> Result<(), StoreError> {
        let mut conn = self.redis.conn().await?;
        let mut start = 0;
        while start < n.get() {
            let end = (start + BATCH_CHUNK).min(n.get());
            let mut pipe = redis::pipe();
            pipe.atomic();
            for i in start..end {
                pipe.cmd("HSET")
                    .arg(format!("{ITEM_PREFIX}{i}"))
                    .arg("stock")
                    .arg(stock.get())
                    .arg("price")
                    .arg(price.get())
                    .ignore();
            }
            self.redis
                .bounded(pipe.query_async::<()>(&mut conn))
                .await?;
            start = end;
        }
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

fn step_reply(script: &str, reply: &[String]) -> Result<StepReply, StoreError> {
    let (outcome, reason) = match reply {
        [tag] if tag == "done" => (Outcome::Done, None),
        [tag] if tag == "undone" => (Outcome::Undone, None),
        [tag] if tag == "cancelled" => (Outcome::Cancelled, None),
        [tag, reason] if tag == "refused" => (Outcome::Refused, Some(reason.clone())),
        // Nothing changed; the saga's driver retries until the stock has room again.
        [tag, item] if tag == "full" => {
            return Err(StoreError::Unavailable(format!(
                "item {item} cannot take its released units back without passing the \
                 largest stock; nothing was released, retry once its stock went down"
            )))
        }
        other => return Err(unexpected(script, other)),
    };
    Ok(StepReply { outcome, reason })
}

fn parse_int(raw: &str) -> Result<i64, StoreError> {
    raw.parse()
        .map_err(|_| StoreError::Corrupt(format!("{raw:?} is not an integer")))
}

fn unexpected(script: &str, reply: &[String]) -> StoreError {
    StoreError::Corrupt(format!("script {script} answered {reply:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(parts: &[&str]) -> Vec<String> {
        parts.iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn script_replies_map_to_step_outcomes() {
        let done = step_reply("t", &reply(&["done"])).expect("done");
        assert_eq!(done.outcome, Outcome::Done);
        let refused = step_reply("t", &reply(&["refused", "why"])).expect("refused");
        assert_eq!(refused.outcome, Outcome::Refused);
        assert_eq!(refused.reason.as_deref(), Some("why"));
        let undone = step_reply("t", &reply(&["undone"])).expect("undone");
        assert_eq!(undone.outcome, Outcome::Undone);
        let cancelled = step_reply("t", &reply(&["cancelled"])).expect("cancelled");
        assert_eq!(cancelled.outcome, Outcome::Cancelled);
        assert!(matches!(
            step_reply("t", &reply(&["full", "7"])),
            Err(StoreError::Unavailable(_))
        ));
    }

    #[test]
    fn unknown_script_replies_are_corrupt_data() {
        for parts in [&[][..], &["refused"][..], &["what"][..], &["done", "x"][..]] {
            assert!(matches!(
                step_reply("t", &reply(parts)),
                Err(StoreError::Corrupt(_))
            ));
        }
        assert!(matches!(parse_int("1.5"), Err(StoreError::Corrupt(_))));
    }
}
