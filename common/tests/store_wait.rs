//! A Redis that is down is a wait, not an error: calls retry within `REDIS_WAIT_MS`
//! and pass once it is back; an error answer that another try cannot mend fails at
//! once; past the bound the caller gets the 503 error.
#![cfg(feature = "testing")]

use std::time::{Duration, Instant};

use common::testing::RedisServer;
use common::{RedisStore, StoreError};

fn store_waiting(redis: &RedisServer, wait: Duration) -> RedisStore {
    let mut config = redis.config();
    config.wait = wait;
    RedisStore::new(&config).expect("store")
}

#[tokio::test]
async fn a_write_sent_while_redis_restarts_is_applied_once_it_is_back() {
    let mut redis = RedisServer::start();
    let store = store_waiting(&redis, Duration::from_secs(10));
    let _: () = store
        .query_retrying(redis::cmd("SET").arg("k").arg("before"))
        .await
        .expect("first write");
    redis.kill();
    let restarter = tokio::task::spawn_blocking(move || {
        std::thread::sleep(Duration::from_millis(700));
        redis.restart();
        redis
    });
    let start = Instant::now();
    let _: () = store
        .query_retrying(redis::cmd("SET").arg("k").arg("after"))
        .await
        .expect("the write waits for Redis and then succeeds");
    let waited = start.elapsed();
    let _redis = restarter.await.expect("restarted");
    assert!(waited >= Duration::from_millis(600), "it waited {waited:?}");
    let value: String = store
        .query_retrying(redis::cmd("GET").arg("k"))
        .await
        .expect("GET");
    assert_eq!(value, "after");
}

#[tokio::test]
async fn an_error_answer_fails_at_once_without_retrying() {
    let redis = RedisServer::start();
    let store = store_waiting(&redis, Duration::from_secs(10));
    let _: () = store
        .query_retrying(redis::cmd("SET").arg("s").arg("a string"))
        .await
        .expect("SET");
    let start = Instant::now();
    let err = store
        .query_retrying::<Option<String>>(redis::cmd("HGET").arg("s").arg("field"))
        .await
        .expect_err("WRONGTYPE");
    assert!(start.elapsed() < Duration::from_secs(1), "it retried");
    assert!(err.to_string().contains("WRONGTYPE"), "{err}");
}

#[tokio::test]
async fn past_the_bound_a_redis_that_stays_down_is_unavailable() {
    let mut redis = RedisServer::start();
    let store = store_waiting(&redis, Duration::from_millis(800));
    redis.kill();
    let start = Instant::now();
    let err = store
        .query_retrying::<String>(redis::cmd("GET").arg("k"))
        .await
        .expect_err("down");
    let waited = start.elapsed();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
    assert!(
        waited >= Duration::from_millis(500) && waited < Duration::from_secs(5),
        "gave up after {waited:?}"
    );
}
