//! Every key and script of the order service's Redis, and nothing else.
//!
//! Keys, all of one order under the hash tag of its bucket, `{o<b>}` with
//! `b` = CRC16 of the order id mod [`BUCKETS`], so that a checkout's scripts touch one
//! slot of the cluster and the orders spread over 256 slots of every shard:
//! - `order:{o<b>}:<id>` hash: `user`, `paid` ("0"/"1"), `cost`, `lines`
//!   ("item|qty|cost;..."), `busy` (the saga id while a checkout is in flight).
//! - `saga:{o<b>}:<sid>` hash: the saga log (`order`, `user`, `amount`, `items` summed
//!   per item, `state`, `reason`, timestamps in ms, `owner`: the token of the driver
//!   holding its lease), in its order's bucket.
//! - `order:{o<b>}:<id>:sagas` list: every saga of an order, oldest first.
//! - `sagas:active:{o<b>}` zset: the bucket's sagas not yet final, scored by lease expiry
//!   (ms). A saga's lease is (`owner`, expiry): only the owner may advance it or renew
//!   it, and the recovery loop takes over only an expired one. One set per bucket: no
//!   key every checkout writes, and recovery reads every bucket (every shard).
//! - `idem:order:{o<b>}:<id>:<key>` string: the answer to a public write of that order
//!   with that idempotency key (common/src/idempotency.lua), for `IDEMPOTENCY_TTL_SECS`;
//!   `idem:orders:{batch_init}:<key>` the same for a batch_init.
//!
//! Every public write is applied once per idempotency key, and it and every read wait
//! for a restarting Redis (`REDIS_WAIT_MS`); the saga's scripts fail fast, and the saga
//! retries them.
//! Every change is one Lua script; Rust never reads, modifies and writes back.
//! Ids come in as parsed [`Id`]s and go out as [`Id`]s (what this store wrote);
//! nothing outside this module builds a key.

use std::collections::BTreeMap;
use std::time::Duration;

use common::idempotency::{self, IdempotencyKey};
use common::params::Id;
use common::store::Invocation;
use common::{RedisStore, StoreError};
use futures::stream::{self, StreamExt};
use redis::Script;

use self::records::{int, parse_edit, parse_items, parse_order, parse_saga, stored_id};
pub use self::records::{Edit, Line, Order};
use crate::saga::log::SagaLog;
pub use crate::saga::log::{Advance, SagaRecord};
use crate::saga::machine::State;

mod records;

/// How many buckets the orders are spread over (each one slot of the cluster). Fixed:
/// an order's keys are named after its bucket.
pub const BUCKETS: u16 = 256;

/// What a batch_init's idempotency record is kept beside.
const BATCH_RECORD: &str = "orders:{batch_init}";

/// The bucket of an order (and of its sagas).
fn bucket(order: &Id) -> u16 {
    crc16::State::<crc16::XMODEM>::calculate(order.as_str().as_bytes()) % BUCKETS
}
/// The key of an order's hash (public for the tests that write orders by hand).
pub fn order_key(id: &Id) -> String {
    format!("order:{{o{}}}:{id}", bucket(id))
}
fn saga_key(order: &Id, saga: &Id) -> String {
    format!("saga:{{o{}}}:{saga}", bucket(order))
}
fn history_key(order: &Id) -> String {
    format!("order:{{o{}}}:{order}:sagas", bucket(order))
}
fn active_key(bucket: u16) -> String {
    format!("sagas:active:{{o{bucket}}}")
}

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

#[derive(Clone)]
pub struct OrderStore {
    redis: RedisStore,
    scripts: std::sync::Arc<Scripts>,
}

struct Scripts {
    create: Script,
    add_item: Script,
    remove_item: Script,
    begin: Script,
    advance: Script,
    claim: Script,
    renew: Script,
}

impl OrderStore {
    pub fn new(redis: RedisStore) -> Self {
        let scripts = Scripts {
            create: idempotency::script(include_str!("scripts/create_order.lua")),
            add_item: idempotency::script(include_str!("scripts/add_item.lua")),
            remove_item: idempotency::script(include_str!("scripts/remove_item.lua")),
            begin: Script::new(include_str!("scripts/begin_checkout.lua")),
            advance: Script::new(include_str!("scripts/advance.lua")),
            claim: Script::new(include_str!("scripts/claim.lua")),
            renew: Script::new(include_str!("scripts/renew.lua")),
        };
        OrderStore {
            redis,
            scripts: std::sync::Arc::new(scripts),
        }
    }

    /// Creates an empty order for `user` and returns its id, which is the idempotency
    /// key's own: a repeat answers the same id and creates nothing.
    pub async fn create(&self, idem: &IdempotencyKey, user: &Id) -> Result<Id, StoreError> {
        let id = idem.derived_id("order create");
        let key = order_key(&id);
        let mut inv = Invocation::new(&self.scripts.create);
        inv.key(&key).arg(user.as_str());
        idem.bind(&mut inv, &key, self.redis.idempotency_ttl());
        let reply: Vec<String> = self.redis.run_script_retrying(&inv).await?;
        match idempotency::answer("order create", idem, reply)?
            .parts
            .as_slice()
        {
            [tag] if tag == "created" => Ok(id),
            other => Err(StoreError::Corrupt(format!("create answered {other:?}"))),
        }
    }

    pub async fn get(&self, id: &Id) -> Result<Option<Order>, StoreError> {
        let fields: BTreeMap<String, String> = self
            .redis
            .query_retrying(redis::cmd("HGETALL").arg(order_key(id)))
            .await?;
        if fields.is_empty() {
            return Ok(None);
        }
        parse_order(id, &fields).map(Some)
    }

    pub async fn add_item(
        &self,
        idem: &IdempotencyKey,
        id: &Id,
        item: &Id,
        qty: i64,
        cost: i64,
    ) -> Result<Edit, StoreError> {
        let key = order_key(id);
        let mut inv = Invocation::new(&self.scripts.add_item);
        inv.key(&key).arg(item.as_str()).arg(qty).arg(cost);
        self.edit("order addItem", idem, &key, inv).await
    }

    pub async fn remove_item(
        &self,
        idem: &IdempotencyKey,
        id: &Id,
        item: &Id,
    ) -> Result<Edit, StoreError> {
        let key = order_key(id);
        let mut inv = Invocation::new(&self.scripts.remove_item);
        inv.key(&key).arg(item.as_str());
        self.edit("order removeItem", idem, &key, inv).await
    }

    /// Runs an edit script of the order at `key`, once per idempotency key.
    async fn edit(
        &self,
        write: &'static str,
        idem: &IdempotencyKey,
        key: &str,
        mut inv: Invocation<'_>,
    ) -> Result<Edit, StoreError> {
        idem.bind(&mut inv, key, self.redis.idempotency_ttl());
        let reply: Vec<String> = self.redis.run_script_retrying(&inv).await?;
        match idempotency::answer(write, idem, reply)?.parts.as_slice() {
            [answer] => parse_edit(answer),
            other => Err(StoreError::Corrupt(format!("{write} answered {other:?}"))),
        }
    }

    /// Writes orders `0..n` spread over the cluster's masters (one pipeline per master
    /// and chunk, see [`RedisStore::write_spread`]). Once per idempotency key: the key's
    /// record is written after the last write, and a repeat that finds it writes
    /// nothing (a repeat while the first is half done writes other random orders over
    /// the same ids, which nobody has been answered about yet).
    pub async fn batch_init(
        &self,
        idem: &IdempotencyKey,
        orders: impl Iterator<Item = (Id, Id, i64, String)>,
    ) -> Result<(), StoreError> {
        const WRITE: &str = "order batch_init";
        if idempotency::recorded(WRITE, &self.redis, idem, BATCH_RECORD)
            .await?
            .is_some()
        {
            return Ok(());
        }
        let writes = orders
            .map(|(id, user, cost, lines)| {
                let key = order_key(&id);
                let mut hset = redis::cmd("HSET");
                hset.arg(&key)
                    .arg("user")
                    .arg(user.as_str())
                    .arg("paid")
                    .arg("0")
                    .arg("cost")
                    .arg(cost)
                    .arg("lines")
                    .arg(lines);
                (key, hset)
            })
            .collect();
        self.redis.write_spread(writes).await?;
        let ttl = self.redis.idempotency_ttl();
        idempotency::record(&self.redis, idem, BATCH_RECORD, &["done"], ttl).await?;
        common::fault::write_applied(WRITE);
        Ok(())
    }

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
                    amount: int("saga amount", Some(amount))?,
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

    /// A saga as logged; a read, so it waits for a restarting Redis like the public reads
    /// (the inspection route `GET /saga/{order_id}` reads through it).
    pub async fn saga(&self, order: &Id, saga_id: &Id) -> Result<Option<SagaRecord>, StoreError> {
        let fields: BTreeMap<String, String> = self
            .redis
            .query_retrying(redis::cmd("HGETALL").arg(saga_key(order, saga_id)))
            .await?;
        if fields.is_empty() {
            return Ok(None);
        }
        parse_saga(saga_id, fields).map(Some)
    }

    /// Compare-and-set of a saga's state by its lease holder (see `advance.lua`).
    #[tracing::instrument(level = "debug", name = "saga advance", skip_all, fields(saga_id = %saga.id, from = from.as_str(), to = to.as_str()))]
    pub async fn advance(
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
                .arg(format!("saga:{{o{b}}}:"));
            let pairs: Vec<String> = self.redis.run_script_once(&inv).await?;
            for pair in pairs.chunks(2) {
                if let [saga, order] = pair {
                    claimed.push((stored_id(saga.clone()), stored_id(order.clone())));
                }
            }
        }
        Ok(claimed)
    }

    /// Extends the lease `owner` holds on a saga; `false` when it is no longer theirs
    /// (taken over, or the saga is final).
    pub async fn renew(
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

    async fn advance(
        &self,
        saga: &SagaRecord,
        from: State,
        to: State,
        reason: Option<&str>,
        lease: Duration,
        owner: &str,
    ) -> Result<Advance, StoreError> {
        OrderStore::advance(self, saga, from, to, reason, lease, owner).await
    }

    async fn saga(&self, order: &Id, saga: &Id) -> Result<Option<SagaRecord>, StoreError> {
        OrderStore::saga(self, order, saga).await
    }

    async fn renew(
        &self,
        saga: &SagaRecord,
        owner: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        OrderStore::renew(self, saga, owner, lease).await
    }
}
