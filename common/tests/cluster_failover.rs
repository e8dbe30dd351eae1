//! No acknowledged write is lost when one node of the cluster dies: a real cluster of
//! three masters with a replica each, keyed increments sent concurrently, and the
//! master that owns them SIGKILLed while they run. Every increment is sent until it is
//! acknowledged (with its key, as the gateway does); afterwards the counter holds each
//! exactly once, on the replica that took over. The killed master comes back as a
//! replica. A killed replica changes nothing but latency.
#![cfg(feature = "testing")]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::idempotency::{self, IdempotencyKey};
use common::store::Invocation;
use common::testing::RedisCluster;
use common::{RedisStore, StoreError};

const INCREMENT: &str = r#"
local seen = replay() if seen then return seen end
return remember({'ok', tostring(redis.call('INCRBY', KEYS[1], ARGV[1]))})
"#;

const COUNTER: &str = "{durability}:counter";

async fn increment(store: &RedisStore, key: &IdempotencyKey) -> Result<(), StoreError> {
    let script = idempotency::script(INCREMENT);
    let mut inv = Invocation::new(&script);
    inv.key(COUNTER).arg(1);
    key.bind(&mut inv, COUNTER, Duration::from_secs(3600));
    let reply: Vec<String> = store.run_script_retrying(&inv).await?;
    idempotency::answer("test increment", key, reply).map(drop)
}

async fn counter(store: &RedisStore) -> i64 {
    let value: Option<i64> = store
        .query_retrying(redis::cmd("GET").arg(COUNTER))
        .await
        .expect("GET");
    value.unwrap_or(0)
}

/// Sends increments `0..n` from `workers` tasks, each until acknowledged; returns how
/// many attempts failed (and were sent again) and the longest time without an ack.
async fn send_all(store: &RedisStore, prefix: &str, n: usize, workers: usize) -> (usize, Duration) {
    let next = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let last_ack = Arc::new(std::sync::Mutex::new((Instant::now(), Duration::ZERO)));
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let (store, next, failed, last_ack) = (
                store.clone(),
                next.clone(),
                failed.clone(),
                last_ack.clone(),
            );
            let prefix = prefix.to_string();
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return;
                    }
                    let key = IdempotencyKey::new(&format!("{prefix}-{i}"), "POST /increment/1");
                    let deadline = Instant::now() + Duration::from_secs(60);
                    while let Err(e) = increment(&store, &key).await {
                        failed.fetch_add(1, Ordering::Relaxed);
                        assert!(
                            Instant::now() < deadline,
                            "increment {i} never acknowledged: {e}"
                        );
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    let mut last = last_ack.lock().unwrap();
                    let gap = last.0.elapsed();
                    *last = (Instant::now(), last.1.max(gap));
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("worker");
    }
    let gap = last_ack.lock().unwrap().1;
    (failed.load(Ordering::Relaxed), gap)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_a_master_kill_and_a_replica_kill() {
    let mut cluster = RedisCluster::start(3, 1);
    let store = RedisStore::new(&cluster.config()).expect("store");
    store.ping().await.expect("cluster ready");

    // A master kill in the middle of 600 increments.
    let master = cluster.master_of(COUNTER);
    let replica = cluster.replica_of(master);
    let sender = {
        let store = store.clone();
        tokio::spawn(async move { send_all(&store, "a", 600, 8).await })
    };
    while counter(&store).await < 150 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cluster.nodes[master].kill();
    let (retried, gap) = sender.await.expect("sender");
    assert_eq!(
        counter(&store).await,
        600,
        "every acknowledged increment, once"
    );
    assert_eq!(cluster.role(replica), "master", "the replica took over");
    assert!(
        gap < Duration::from_secs(10),
        "longest time without an ack: {gap:?}"
    );
    eprintln!("master kill: {retried} attempts sent again, longest gap {gap:?}");

    // Repeats change nothing.
    send_all(&store, "a", 50, 4).await;
    assert_eq!(counter(&store).await, 600);

    // The dead master comes back as the new master's replica, with everything.
    cluster.nodes[master].restart();
    cluster.wait_whole();
    assert_eq!(cluster.role(master), "slave");
    let on_old_master = cluster.nodes[master].cli(&["-c", "get", COUNTER]);
    assert_eq!(on_old_master.trim(), "600");

    // A replica kill: writes go on (no replica online: the master's AOF holds them).
    cluster.nodes[master].kill();
    let (retried, gap) = send_all(&store, "b", 300, 8).await;
    assert_eq!(counter(&store).await, 900);
    assert_eq!(retried, 0, "a replica kill fails no write");
    assert!(
        gap < Duration::from_secs(2),
        "longest time without an ack: {gap:?}"
    );
    cluster.nodes[master].restart();
    cluster.wait_whole();
}
