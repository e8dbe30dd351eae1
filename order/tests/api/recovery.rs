//! Recovery of sagas whose driver died, slowed down or lost its lease: the recovery
//! loop finishes them, and only the lease holder writes a saga's log.

use std::time::{Duration, Instant};

use common::idempotency::IdempotencyKey;
use order::saga::log::SagaLog;
use order::saga::machine::State;
use order::store::{Advance, Begin, Edit};

use crate::helpers::{id, order_store, TestSystem};

#[tokio::test]
async fn a_saga_abandoned_after_logging_is_finished_by_recovery() {
    let sys = TestSystem::start_with(Duration::from_millis(300)).await;
    let (a, user, order) = sys.one_line_order((4, 5), 10, 2).await;

    // Log a saga as a replica would, then "die" before driving it.
    let store = order_store(&sys.order_redis);
    let begun = store
        .begin(
            &id("abandoned-saga"),
            &id(&order),
            Duration::from_millis(300),
            "a-replica-that-died/1",
        )
        .await;
    assert!(matches!(begun, Ok(Begin::Started(_))));

    // Edits are refused while it is in flight.
    let (s, _) = sys
        .call("POST", format!("{}/addItem/{order}/{a}/1", sys.order_url))
        .await;
    assert_eq!(s, 409);

    let deadline = Instant::now() + Duration::from_secs(10);
    while sys.order(&order).await["paid"] != true {
        assert!(
            Instant::now() < deadline,
            "recovery did not finish the saga"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!((sys.stock_of(&a).await, sys.credit_of(&user).await), (3, 2));
    let (s, body) = sys
        .call("GET", format!("{}/saga/{order}", sys.order_url))
        .await;
    assert_eq!(s, 200);
    assert_eq!(body["sagas"][0]["saga_id"], "abandoned-saga");
    assert_eq!(body["sagas"][0]["state"], "committed");
    let owner = body["sagas"][0]["log"]["owner"].as_str().expect("an owner");
    assert!(
        owner.starts_with("test/"),
        "taken over by recovery: {owner}"
    );
}

/// The runner does not log `reserved`: a driver that dies after the stock reserve (or after
/// the charge too) leaves a saga logged as `started`. Recovery sends the steps again; the
/// participants answer from their record of the saga, so nothing is taken twice.
#[tokio::test]
async fn a_saga_whose_driver_died_after_its_steps_is_finished_without_repeating_them() {
    use common::participant::{Batch, ChargeRequest, ReserveRequest, SagaCall};
    fn batch_of_one<T>(saga: &str, step: T) -> Batch<T> {
        Batch {
            calls: vec![SagaCall {
                saga_id: saga.to_string(),
                traceparent: None,
                step,
            }],
        }
    }

    let sys = TestSystem::start_with(Duration::from_millis(300)).await;
    let store = order_store(&sys.order_redis);
    let step = |path: String, body: serde_json::Value| {
        let http = sys.http.clone();
        async move {
            let resp = http.post(path).json(&body).send().await.expect("answered");
            let status = resp.status().as_u16();
            let body: serde_json::Value = resp.json().await.expect("a JSON reply");
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["results"][0]["outcome"], "done", "{body}");
        }
    };
    let (stock_url, payment_url) = (&sys.order_config.stock_url, &sys.order_config.payment_url);

    // (saga, whether the dead driver also charged, credit): the third user cannot pay.
    let cases = [
        ("reserved", false, 10),
        ("charged", true, 10),
        ("broke", false, 7),
    ];
    let mut started = Vec::new();
    for (saga, charge, credit) in cases {
        let item = sys.new_item(4, 5).await;
        let user = sys.new_user(credit).await;
        let order = sys.new_order(&user, &[(&item, 2)]).await;
        let begun = store
            .begin(&id(saga), &id(&order), Duration::from_millis(300), "died/1")
            .await;
        assert!(matches!(begun, Ok(Begin::Started(_))), "{saga}: not begun");
        let reserve = ReserveRequest {
            items: vec![(item.clone(), 2)],
        };
        step(
            format!("{stock_url}/saga/reserve"),
            serde_json::to_value(batch_of_one(saga, reserve)).expect("json"),
        )
        .await;
        if charge {
            let req = ChargeRequest {
                user_id: user.clone(),
                amount: 8,
            };
            step(
                format!("{payment_url}/saga/charge"),
                serde_json::to_value(batch_of_one(saga, req)).expect("json"),
            )
            .await;
        }
        assert_eq!(sys.stock_of(&item).await, 3, "{saga}: reserved once");
        started.push((saga, order, item, user, credit));
    }

    for (saga, order, item, user, credit) in started {
        let deadline = Instant::now() + Duration::from_secs(10);
        let state = loop {
            let (s, body) = sys
                .call("GET", format!("{}/saga/{order}", sys.order_url))
                .await;
            assert_eq!(s, 200);
            let state = body["sagas"][0]["state"].as_str().unwrap_or("").to_string();
            if state == "committed" || state == "aborted" {
                break state;
            }
            assert!(Instant::now() < deadline, "{saga}: still {state}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let paid = credit >= 8;
        assert_eq!(state, if paid { "committed" } else { "aborted" }, "{saga}");
        assert_eq!(sys.order(&order).await["paid"], paid, "{saga}");
        let (stock, left) = (sys.stock_of(&item).await, sys.credit_of(&user).await);
        if paid {
            assert_eq!(
                (stock, left),
                (3, credit - 8),
                "{saga}: one reserve, one charge"
            );
        } else {
            assert_eq!(
                (stock, left),
                (5, credit),
                "{saga}: released, nothing charged"
            );
        }
    }
}

#[tokio::test]
async fn a_slow_driver_keeps_its_lease_and_nobody_else_drives_its_saga() {
    // Payment's Redis is down for five leases: the checkout's driver keeps retrying the
    // charge and renewing its lease, so the recovery loop (every 100 ms) never takes over.
    let mut sys = TestSystem::start_with(Duration::from_millis(300)).await;
    let (a, user, order) = sys.one_line_order((2, 5), 10, 1).await;
    sys.payment_redis.kill();
    let pending = sys.checkout_in_background(&order);

    let mut owners = std::collections::BTreeSet::new();
    let until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < until {
        let (_, body) = sys
            .call("GET", format!("{}/saga/{order}", sys.order_url))
            .await;
        if let Some(owner) = body["sagas"][0]["log"]["owner"].as_str() {
            owners.insert(owner.to_string());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sys.payment_redis.restart();
    let resp = pending.await.expect("task").expect("answered");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(owners.len(), 1, "the lease changed hands: {owners:?}");
    let (_, body) = sys
        .call("GET", format!("{}/saga/{order}", sys.order_url))
        .await;
    assert_eq!(body["sagas"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        body["sagas"][0]["log"]["owner"].as_str(),
        owners.first().map(String::as_str)
    );
    assert_eq!((sys.stock_of(&a).await, sys.credit_of(&user).await), (4, 8));
}

#[tokio::test]
async fn only_the_lease_holder_writes_the_saga_log() {
    // The store alone against its own Redis: no service whose recovery loop would race us.
    let redis = common::testing::RedisServer::start();
    let store = order_store(&redis);
    let s1 = &id("s1");
    let key = |k: &str| IdempotencyKey::new(k, "test");
    let order = &store.create(&key("c"), &id("u1")).await.expect("created");
    assert_eq!(
        store
            .add_item(&key("a"), order, &id("i1"), 1, 5)
            .await
            .expect("added"),
        Edit::Ok
    );
    let lease = Duration::from_millis(200);
    let begun = store.begin(s1, order, lease, "old").await;
    assert!(matches!(begun, Ok(Begin::Started(_))));
    let saga = store.saga(order, s1).await.expect("read").expect("logged");

    // Not expired yet: nothing to claim. Expired: "new" takes it.
    assert!(store
        .claim_expired(lease, 10, "new")
        .await
        .expect("claim")
        .is_empty());
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(
        store.claim_expired(lease, 10, "new").await.expect("claim"),
        [(id("s1"), order.clone())]
    );

    // The old holder can neither renew nor write; the new one can.
    let logged_state = || async {
        let saga = store.saga(order, s1).await.expect("read");
        saga.expect("logged").state
    };
    let advance_as =
        |owner| store.advance(&saga, State::Started, State::Reserved, None, lease, owner);
    assert!(!store.renew(&saga, "old", lease).await.expect("renew"));
    let old = advance_as("old").await.expect("advance");
    assert!(matches!(old, Advance::Lost));
    assert_eq!(logged_state().await, State::Started);
    assert!(store.renew(&saga, "new", lease).await.expect("renew"));
    let new = advance_as("new").await.expect("advance");
    assert!(matches!(new, Advance::Ok));
    assert_eq!(logged_state().await, State::Reserved);
}
