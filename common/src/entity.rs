//! An entity of a service (an order, an item, a user) is one Redis hash. This is the one
//! place that creates one once per idempotency key, and that writes many at once
//! (`batch_init`), for all three services.
//!
//! The service's own `store.rs` owns every key and every field: it builds them and
//! passes them in. Nothing here builds a key of its own or knows what a field means.

use std::sync::LazyLock;

use redis::{Script, ToRedisArgs};

use crate::idempotency::{self, IdempotencyKey};
use crate::params::Id;
use crate::store::{Invocation, RedisStore, StoreError};

/// `create.lua` after the idempotency prelude.
static CREATE: LazyLock<Script> =
    LazyLock::new(|| idempotency::script(include_str!("entity/create.lua")));

/// Creates the hash `key_of(id)` with `fields` (unless it exists), where `id` is the
/// idempotency key's own ([`IdempotencyKey::derived_id`]), so that a repeat names the
/// same entity; `write` names the write in errors and metrics.
pub async fn create<V: ToRedisArgs>(
    redis: &RedisStore,
    write: &'static str,
    idem: &IdempotencyKey,
    key_of: impl Fn(&Id) -> String,
    fields: &[(&str, V)],
) -> Result<Id, StoreError> {
    let id = idem.derived_id(write);
    let key = key_of(&id);
    let mut invocation = Invocation::new(&CREATE);
    invocation.key(&key);
    for (field, value) in fields {
        invocation.arg(*field).arg(value);
    }
    idem.bind(&mut invocation, &key, redis.idempotency_ttl());
    let reply: Vec<String> = redis.run_script_retrying(&invocation).await?;
    match idempotency::answer(write, idem, reply)?.parts.as_slice() {
        [tag] if tag == "created" => Ok(id),
        other => Err(StoreError::Corrupt(format!(
            "script create answered {other:?}"
        ))),
    }
}

/// Writes every `(key, fields)` hash of `hashes` (overwriting it) spread over the
/// cluster's masters (one pipeline per master and chunk, see
/// [`RedisStore::write_spread`]), once per idempotency key: the key's record is written
/// beside `record` after the last write, and a repeat finds it and writes nothing. A
/// repeat that comes while the first is half done writes the hashes again, which
/// nobody has been answered about yet.
pub async fn batch_init<'f, V, F>(
    redis: &RedisStore,
    write: &'static str,
    idem: &IdempotencyKey,
    record: &str,
    hashes: impl Iterator<Item = (String, F)>,
) -> Result<(), StoreError>
where
    V: ToRedisArgs + 'f,
    F: IntoIterator<Item = (&'f str, V)>,
{
    if idempotency::recorded(write, redis, idem, record)
        .await?
        .is_some()
    {
        return Ok(());
    }
    let writes = hashes
        .map(|(key, fields)| {
            let mut hset = redis::cmd("HSET");
            hset.arg(&key);
            for (field, value) in fields {
                hset.arg(field).arg(value);
            }
            (key, hset)
        })
        .collect();
    redis.write_spread(writes).await?;
    idempotency::record(redis, idem, record, &["done"], redis.idempotency_ttl()).await?;
    crate::fault::write_applied(write);
    Ok(())
}
