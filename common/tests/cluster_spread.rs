//! batch_init's writes spread over the masters of a real three-master cluster
//! (`RedisStore::write_spread`): every key lands on the master of its slot, in chunks
//! per master, every master gets its share, and its replica holds the same once the
//! call has answered.
#![cfg(feature = "testing")]

use common::testing::RedisCluster;
use common::RedisStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spread_writes_land_on_the_master_of_each_slot() {
    let cluster = RedisCluster::start(3, 1);
    let store = RedisStore::new(&cluster.config()).expect("store");
    store.ping().await.expect("cluster ready");

    // More than one chunk per master (chunks are 2000).
    let keys: Vec<String> = (0..9000).map(|i| format!("{{k{i}}}:v")).collect();
    let writes = keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let cmd = redis::cmd("SET")
                .arg(key)
                .arg(format!("value {i}"))
                .to_owned();
            (key.clone(), cmd)
        })
        .collect();
    store.write_spread(writes).await.expect("write_spread");

    let mut held = [0usize; 3];
    for (i, key) in keys.iter().enumerate().step_by(97) {
        let owner = cluster.master_of(key);
        held[owner] += 1;
        let got = cluster.nodes[owner].cli(&["get", key]);
        assert_eq!(got.trim(), format!("value {i}"), "{key} on node {owner}");
    }
    assert!(
        held.iter().all(|&n| n > 0),
        "every master holds some: {held:?}"
    );
    let size = |n: usize| -> usize {
        let out = cluster.nodes[n].cli(&["dbsize"]);
        out.trim().parse().expect("dbsize")
    };
    assert_eq!((0..3).map(size).sum::<usize>(), keys.len());
    // Acknowledged means on each master's replica too (its WAIT counted it).
    for master in 0..3 {
        assert_eq!(
            size(cluster.replicas_of(master)[0]),
            size(master),
            "master {master}"
        );
    }
}

/// The services' keys avoid the witness masters' slots (`common::store::tag`), which ops'
/// rules lay out: both must name the same slots.
#[test]
fn the_services_avoid_the_slots_the_witnesses_serve() {
    assert_eq!(
        common::store::topology::WITNESS_SLOTS,
        ops::cluster::rules::WITNESS_SLOTS
    );
}
