//! The idempotency prelude against a real Redis: a write script that uses it is
//! applied once per key, answers repeats from its record, refuses a key reused for
//! another request, and lets its record expire.
#![cfg(feature = "testing")]

use std::time::Duration;

use common::idempotency::{self, IdempotencyKey};
use common::testing::RedisServer;
use common::{RedisStore, StoreError};

/// A counter written the way the services' write scripts are: replay first,
/// remember every answer.
const INCREMENT: &str = r#"
local seen = replay() if seen then return seen end
return remember({'ok', tostring(redis.call('INCRBY', KEYS[1], ARGV[1]))})
"#;

async fn increment(
    store: &RedisStore,
    key: &IdempotencyKey,
    by: i64,
    ttl: Duration,
) -> Result<idempotency::Answer, StoreError> {
    let script = idempotency::script(INCREMENT);
    let mut inv = common::store::Invocation::new(&script);
    inv.key("{counter}").arg(by);
    key.bind(&mut inv, "{counter}", ttl);
    let reply: Vec<String> = store.run_script_retrying(&inv).await?;
    idempotency::answer("test increment", key, reply)
}

async fn counter(store: &RedisStore) -> i64 {
    let mut conn = store.conn().await.expect("conn");
    store
        .bounded(redis::cmd("GET").arg("{counter}").query_async(&mut conn))
        .await
        .expect("GET")
}

#[tokio::test]
async fn a_repeated_key_is_applied_once_and_answered_the_same() {
    let redis = RedisServer::start();
    let store = RedisStore::new(&redis.config()).expect("store");
    let ttl = Duration::from_secs(3600);
    let key = IdempotencyKey::new("k-1", "POST /add/counter/5");

    let first = increment(&store, &key, 5, ttl).await.expect("first");
    assert_eq!(first.parts, ["ok", "5"]);
    assert!(!first.replayed);
    for _ in 0..3 {
        let again = increment(&store, &key, 5, ttl).await.expect("repeat");
        assert_eq!(again.parts, first.parts);
        assert!(again.replayed);
    }
    assert_eq!(counter(&store).await, 5, "repeats applied nothing");

    let other = IdempotencyKey::new("k-2", "POST /add/counter/5");
    let second = increment(&store, &other, 5, ttl).await.expect("new key");
    assert_eq!(second.parts, ["ok", "10"]);
    assert!(!second.replayed);
    assert_eq!(counter(&store).await, 10);
}

#[tokio::test]
async fn a_key_reused_for_another_request_is_refused_and_changes_nothing() {
    let redis = RedisServer::start();
    let store = RedisStore::new(&redis.config()).expect("store");
    let ttl = Duration::from_secs(3600);
    increment(
        &store,
        &IdempotencyKey::new("k", "POST /add/counter/5"),
        5,
        ttl,
    )
    .await
    .expect("first");
    let err = increment(
        &store,
        &IdempotencyKey::new("k", "POST /add/counter/7"),
        7,
        ttl,
    )
    .await
    .expect_err("reused");
    assert!(
        matches!(&err, StoreError::KeyReused(m) if m.contains("POST /add/counter/5")),
        "{err}"
    );
    assert_eq!(counter(&store).await, 5);
}

#[tokio::test]
async fn a_record_expires_after_its_time_to_live() {
    let redis = RedisServer::start();
    let store = RedisStore::new(&redis.config()).expect("store");
    let key = IdempotencyKey::new("short", "POST /add/counter/1");
    increment(&store, &key, 1, Duration::from_millis(300))
        .await
        .expect("first");
    let mut conn = store.conn().await.expect("conn");
    let ttl: i64 = store
        .bounded(
            redis::cmd("PTTL")
                .arg(key.record_key("{counter}"))
                .query_async(&mut conn),
        )
        .await
        .expect("PTTL");
    assert!((1..=300).contains(&ttl), "record TTL {ttl} ms");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let later = increment(&store, &key, 1, Duration::from_millis(300))
        .await
        .expect("after expiry");
    assert!(!later.replayed, "an expired record no longer answers");
    assert_eq!(counter(&store).await, 2);
}
