//! The Redis pieces every participant's public API shares: a balance (an item's
//! stock, a user's credit) changed by one atomic script that never lets it go
//! below zero, and `batch_init`'s chunked writes.
//!
//! The participant's own `store.rs` still owns every key: it builds them and
//! passes them in. Nothing here may build a key of its own or read a value,
//! change it in Rust and write it back.

use redis::Script;

use super::reply::{parse_int, unexpected};
use crate::params::{Amount, Quantity};
use crate::store::{RedisStore, StoreError};

/// How many `HSET`s one batch-init pipeline sends.
const BATCH_CHUNK: i64 = 10_000;

/// What an add or subtract did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adjusted {
    /// Applied; the new balance.
    Done(i64),
    /// Refused, nothing changed: the current balance is too low.
    Insufficient(i64),
    /// No such hash (item, user).
    Missing,
    /// The balance would not fit in an i64; nothing changed.
    Overflow,
}

/// The adjust script (`scripts/adjust.lua`) for one balance field (`"stock"`, `"credit"`).
#[derive(Clone)]
pub struct Adjust {
    script: Script,
    field: &'static str,
}

impl Adjust {
    pub fn new(field: &'static str) -> Self {
        Adjust {
            script: Script::new(include_str!("scripts/adjust.lua")),
            field,
        }
    }

    /// Adds `amount` to the balance of the hash at `key`.
    pub async fn add(
        &self,
        redis: &RedisStore,
        key: String,
        amount: Amount,
    ) -> Result<Adjusted, StoreError> {
        self.run(redis, key, amount.get()).await
    }

    /// Takes `amount` from the balance of the hash at `key`, never below 0.
    pub async fn subtract(
        &self,
        redis: &RedisStore,
        key: String,
        amount: Amount,
    ) -> Result<Adjusted, StoreError> {
        self.run(redis, key, -amount.get()).await
    }

    /// `delta` is `±amount` of an [`Amount`], so `-delta` cannot overflow.
    async fn run(
        &self,
        redis: &RedisStore,
        key: String,
        delta: i64,
    ) -> Result<Adjusted, StoreError> {
        let mut invocation = self.script.prepare_invoke();
        invocation.key(key).arg(self.field).arg(delta).arg(-delta);
        let mut conn = redis.conn().await?;
        let reply: Vec<String> = redis.invoke(&mut conn, &invocation).await?;
        match reply.as_slice() {
            [tag, value] if tag == "ok" => Ok(Adjusted::Done(parse_int(value)?)),
            [tag, value] if tag == "insufficient" => Ok(Adjusted::Insufficient(parse_int(value)?)),
            [tag] if tag == "missing" => Ok(Adjusted::Missing),
            [tag] if tag == "overflow" => Ok(Adjusted::Overflow),
            other => Err(unexpected("adjust", other)),
        }
    }
}

/// Writes the hashes `{prefix}0`..`{prefix}{n-1}`, each with `fields`, in pipelined
/// chunks, each one MULTI/EXEC so that Redis appends and fsyncs a chunk at once (not
/// atomic as a whole).
pub async fn batch_init(
    redis: &RedisStore,
    prefix: &str,
    n: Quantity,
    fields: &[(&str, Amount)],
) -> Result<(), StoreError> {
    let mut conn = redis.conn().await?;
    let mut start = 0;
    while start < n.get() {
        let end = (start + BATCH_CHUNK).min(n.get());
        let mut pipe = redis::pipe();
        pipe.atomic();
        for i in start..end {
            let hset = pipe.cmd("HSET").arg(format!("{prefix}{i}"));
            for (field, value) in fields {
                hset.arg(*field).arg(value.get());
            }
            hset.ignore();
        }
        redis.bounded(pipe.query_async::<()>(&mut conn)).await?;
        start = end;
    }
    Ok(())
}
