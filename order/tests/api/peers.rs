//! The order service's client for stock and payment, against the real services:
//! how saga steps are grouped into batches.

use std::time::Duration;

use common::participant::{Outcome, ReserveRequest};
use order::peers::Peers;
use order::saga::participants::Participants;

use crate::helpers::{id, TestSystem};

#[tokio::test]
async fn reserves_asked_while_a_batch_is_in_flight_go_out_together_in_the_next() {
    let sys = TestSystem::start().await;
    let item = sys.new_item(1, 100).await;
    let config = &sys.order_config;
    let peers = Peers::new(
        &config.stock_url,
        &config.payment_url,
        Duration::from_secs(10),
        1,
    )
    .expect("client");
    let reserve = |saga: String| {
        let (peers, item) = (peers.clone(), item.clone());
        tokio::spawn(async move {
            let req = ReserveRequest {
                items: vec![(item, 1)],
            };
            peers.reserve(&id(&saga), req).await
        })
    };

    // Stock's Redis stalls: the first batch (one reserve) stays in flight, and with one
    // batch allowed in flight the next ten reserves wait for it.
    sys.stock_redis.pause();
    let first = reserve("s0".into());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rest: Vec<_> = (1..=10).map(|i| reserve(format!("s{i}"))).collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!first.is_finished());
    sys.stock_redis.resume();

    let first = first.await.expect("task").expect("reserved");
    assert_eq!(first.outcome, Outcome::Done);
    for call in rest {
        let reply = call.await.expect("task").expect("reserved");
        assert_eq!(reply.outcome, Outcome::Done);
    }
    assert_eq!(sys.stock_of(&item).await, 89);
    let batches = requests_served(&sys, &sys.stock_url, "/saga/reserve").await;
    assert_eq!(batches, 2, "eleven reserves in two requests");
}

/// How many requests for `route` the service at `base` has answered (its `/metrics`).
async fn requests_served(sys: &TestSystem, base: &str, route: &str) -> u64 {
    let text = sys
        .http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("/metrics answers")
        .text()
        .await
        .expect("a body");
    let route = format!("route=\"{route}\"");
    text.lines()
        .filter(|l| l.starts_with("http_request_duration_seconds_count{") && l.contains(&route))
        .map(|l| {
            let value = l.rsplit(' ').next().expect("a value");
            value.parse::<u64>().expect("a count")
        })
        .sum()
}

#[tokio::test]
async fn a_failed_batch_answers_each_of_its_calls_with_the_error_and_frees_its_slot() {
    // Nothing listens on this port: every batch fails to connect.
    let nobody = format!("http://127.0.0.1:{}", common::testing::free_port());
    let peers = Peers::new(&nobody, &nobody, Duration::from_secs(2), 1).expect("client");
    let req = ReserveRequest {
        items: vec![("i".into(), 1)],
    };
    let calls = (0..5).map(|i| {
        let (peers, req) = (peers.clone(), req.clone());
        async move { peers.reserve(&id(&format!("s{i}")), req).await }
    });
    let replies = tokio::time::timeout(Duration::from_secs(10), futures::future::join_all(calls))
        .await
        .expect("every call is answered");
    for reply in replies {
        let error = reply.expect_err("nobody could reserve").to_string();
        assert!(error.starts_with("stock is unreachable"), "{error}");
    }
    // The slot was given back: a later call is sent (and fails) instead of waiting forever.
    let later = tokio::time::timeout(Duration::from_secs(10), peers.reserve(&id("s9"), req))
        .await
        .expect("a later call is answered");
    assert!(later.is_err());
}
