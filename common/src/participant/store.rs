//! The Redis pieces every participant's public API shares: a balance (an item's
//! stock, a user's credit) changed by one atomic script that never lets it go below
//! zero, and `batch_init` of `n` equal hashes (through [`crate::entity`], which also
//! creates one). Each is applied once per idempotency key and answers a repeat as it
//! answered the first time (`crate::idempotency`).
//!
//! The participant's own `store.rs` still owns every key: it builds them and
//! passes them in. Nothing here may build a key of its own or read a value,
//! change it in Rust and write it back.

use redis::Script;

use super::reply::{parse_int, unexpected};
use crate::entity;
use crate::error::ApiError;
use crate::idempotency::{self, IdempotencyKey};
use crate::params::{Amount, Id, Quantity};
use crate::store::{Invocation, RedisStore, StoreError};

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

/// What a public write does to a balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Add(Amount),
    /// Refused (nothing changes) if the balance would go below 0.
    Subtract(Amount),
}

impl Change {
    /// The entity and amount of a change's path (`.../{id}/{amount}`), `id_param`
    /// naming the id in errors.
    pub fn parse_path(id_param: &str, path: &(String, String)) -> Result<(Id, Amount), ApiError> {
        Ok((
            Id::parse(id_param, &path.0)?,
            Amount::parse("amount", &path.1)?,
        ))
    }
}

/// The participant's write scripts for one balance field (`"stock"`, `"credit"`):
/// `scripts/adjust.lua` after the idempotency prelude.
#[derive(Clone)]
pub struct Adjust {
    adjust: Script,
    field: &'static str,
    /// The names of an add and of a subtract in the metrics (`"stock add"`).
    writes: (&'static str, &'static str),
}

impl Adjust {
    pub fn new(field: &'static str, writes: (&'static str, &'static str)) -> Self {
        Adjust {
            adjust: idempotency::script(include_str!("scripts/adjust.lua")),
            field,
            writes,
        }
    }

    /// Adds to or takes from (never below 0) the balance of the hash at `key`.
    pub async fn apply(
        &self,
        redis: &RedisStore,
        idem: &IdempotencyKey,
        key: String,
        change: Change,
    ) -> Result<Adjusted, StoreError> {
        let (write, delta) = match change {
            Change::Add(amount) => (self.writes.0, amount.get()),
            Change::Subtract(amount) => (self.writes.1, -amount.get()),
        };
        self.run(redis, write, idem, key, delta).await
    }

    /// `delta` is `±amount` of an [`Amount`], so `-delta` cannot overflow.
    async fn run(
        &self,
        redis: &RedisStore,
        write: &'static str,
        idem: &IdempotencyKey,
        key: String,
        delta: i64,
    ) -> Result<Adjusted, StoreError> {
        let mut invocation = Invocation::new(&self.adjust);
        invocation.key(&key).arg(self.field).arg(delta).arg(-delta);
        idem.bind(&mut invocation, &key, redis.idempotency_ttl());
        let reply: Vec<String> = redis.run_script_retrying(&invocation).await?;
        match idempotency::answer(write, idem, reply)?.parts.as_slice() {
            [tag, value] if tag == "ok" => Ok(Adjusted::Done(parse_int(value)?)),
            [tag, value] if tag == "insufficient" => Ok(Adjusted::Insufficient(parse_int(value)?)),
            [tag] if tag == "missing" => Ok(Adjusted::Missing),
            [tag] if tag == "overflow" => Ok(Adjusted::Overflow),
            other => Err(unexpected("adjust", other)),
        }
    }
}

/// Writes the hashes `key_of("0")`..`key_of("{n-1}")`, each with `fields`, once per
/// idempotency key ([`entity::batch_init`]). A repeat that comes while the first is half
/// done writes the same values again, which changes nothing.
pub async fn batch_init(
    redis: &RedisStore,
    write: &'static str,
    idem: &IdempotencyKey,
    key_of: impl Fn(&str) -> String,
    n: Quantity,
    fields: &[(&str, Amount)],
) -> Result<(), StoreError> {
    // `*` is in no id, so this record can never be an entity's (an item may be "batch_init").
    let record = key_of("*batch_init");
    let hashes = (0..n.get()).map(|i| {
        let fields = fields.iter().map(|(field, value)| (*field, value.get()));
        (key_of(&i.to_string()), fields)
    });
    entity::batch_init(redis, write, idem, &record, hashes).await
}
