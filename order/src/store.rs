//! Every key and script of the order service's Redis, and nothing else: the order
//! records ([`orders`]) and the saga log ([`saga_log`]) share one [`OrderStore`].
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
//! How a record is encoded in these fields is [`records`]' alone. Every public write is
//! applied once per idempotency key, and it and every read wait for a restarting Redis
//! (`REDIS_WAIT_MS`); the saga's scripts fail fast, and the saga retries them.
//! Every change is one Lua script; Rust never reads, modifies and writes back.
//! Ids come in as parsed [`Id`]s and go out as [`Id`]s (what this store wrote);
//! nothing outside this module builds a key.

use std::sync::Arc;

use common::idempotency;
use common::params::Id;
use common::RedisStore;
use redis::Script;

mod orders;
mod records;
mod saga_log;

pub use self::records::{Edit, Line, Order};
pub use self::saga_log::Begin;
pub use crate::saga::log::{Advance, SagaRecord};

/// How many buckets the orders are spread over (each one slot of the cluster). Fixed:
/// an order's keys are named after its bucket.
pub const BUCKETS: u16 = 256;

/// What a batch_init's idempotency record is kept beside.
const BATCH_RECORD: &str = "orders:{batch_init}";

/// The bucket of an order (and of its sagas).
fn bucket(order: &Id) -> u16 {
    crc16::State::<crc16::XMODEM>::calculate(order.as_str().as_bytes()) % BUCKETS
}
/// The key of an order's hash.
fn order_key(id: &Id) -> String {
    format!("order:{{o{}}}:{id}", bucket(id))
}
/// What the keys of a bucket's sagas begin with.
fn saga_prefix(bucket: u16) -> String {
    format!("saga:{{o{bucket}}}:")
}
fn saga_key(order: &Id, saga: &Id) -> String {
    format!("{}{saga}", saga_prefix(bucket(order)))
}
fn history_key(order: &Id) -> String {
    format!("order:{{o{}}}:{order}:sagas", bucket(order))
}
fn active_key(bucket: u16) -> String {
    format!("sagas:active:{{o{bucket}}}")
}

#[derive(Clone)]
pub struct OrderStore {
    redis: RedisStore,
    scripts: Arc<Scripts>,
}

struct Scripts {
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
            add_item: idempotency::script(concat!(
                include_str!("scripts/editable.lua"),
                include_str!("scripts/add_item.lua")
            )),
            remove_item: idempotency::script(concat!(
                include_str!("scripts/editable.lua"),
                include_str!("scripts/remove_item.lua")
            )),
            begin: Script::new(include_str!("scripts/begin_checkout.lua")),
            advance: Script::new(include_str!("scripts/advance.lua")),
            claim: Script::new(include_str!("scripts/claim.lua")),
            renew: Script::new(include_str!("scripts/renew.lua")),
        };
        OrderStore {
            redis,
            scripts: Arc::new(scripts),
        }
    }
}

#[cfg(test)]
mod tests {
    use common::store::slot_of;
    use common::store::topology::WITNESS_SLOTS;

    use super::*;

    /// The witness masters refuse writes: no key of an order may map to their slots.
    #[test]
    fn no_fixed_tag_maps_to_a_witness_slot() {
        let keys = (0..BUCKETS)
            .map(active_key)
            .chain(std::iter::once(BATCH_RECORD.to_string()));
        for key in keys {
            let slot = slot_of(key.as_bytes());
            assert!(!WITNESS_SLOTS.contains(&slot), "{key} is in slot {slot}");
        }
    }
}
