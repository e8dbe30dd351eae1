use serde_json::json as j;

use common::params::Id;

use crate::helpers::{error, json, TestApp};

fn id(raw: &str) -> Id {
    Id::parse("item_id", raw).expect("an id")
}

/// One reserve call of a batch.
fn call(saga: &str, items: &[(&str, i64)]) -> serde_json::Value {
    j!({"saga_id": saga, "step": {"items": items}})
}

/// Sends a batch of `calls` and returns its results, in order.
async fn reserve_batch(app: &TestApp, calls: Vec<serde_json::Value>) -> Vec<serde_json::Value> {
    app.post_batch("/saga/reserve", calls).await
}

/// A batch of one: the saga's reply.
async fn reserve(app: &TestApp, saga: &str, items: &[(&str, i64)]) -> serde_json::Value {
    reserve_batch(app, vec![call(saga, items)]).await.remove(0)
}

/// The release of a saga; `items` are what its reserve carried (the records of a saga
/// live beside its items, one per slot).
async fn release(app: &TestApp, saga: &str, items: &[(&str, i64)]) -> serde_json::Value {
    app.post_undo(saga, "release", j!({"items": items})).await
}

#[tokio::test]
async fn reserve_twice_takes_stock_once_and_answers_the_same() {
    let app = TestApp::spawn().await;
    let (a, b) = (app.item(1, 10).await, app.item(2, 5).await);
    let first = reserve(&app, "s1", &[(&a, 3), (&b, 5)]).await;
    assert_eq!(first, j!({"outcome": "done"}));
    assert_eq!(reserve(&app, "s1", &[(&a, 3), (&b, 5)]).await, first);
    assert_eq!(app.find(&a).await.0, 7);
    assert_eq!(app.find(&b).await.0, 0);
}

#[tokio::test]
async fn reserve_with_too_little_stock_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let (a, b) = (app.item(1, 10).await, app.item(2, 2).await);
    let reply = reserve(&app, "s1", &[(&a, 3), (&b, 3)]).await;
    assert_eq!(reply["outcome"], "refused");
    let reason = reply["reason"].as_str().expect("a reason");
    assert_eq!(reason, format!("item {b} has 2 in stock, 3 needed"));
    assert_eq!(app.find(&a).await.0, 10);
    assert_eq!(app.find(&b).await.0, 2);
    // A repeat answers the same refusal, even if stock arrived meanwhile.
    app.post(&format!("/add/{b}/10")).await;
    assert_eq!(reserve(&app, "s1", &[(&a, 3), (&b, 3)]).await, reply);
    assert_eq!(app.find(&a).await.0, 10);
}

#[tokio::test]
async fn reserve_of_unknown_item_is_refused() {
    let app = TestApp::spawn().await;
    let a = app.item(1, 10).await;
    let reply = reserve(&app, "s1", &[(&a, 1), ("ghost", 1)]).await;
    assert_eq!(
        reply,
        j!({"outcome": "refused", "reason": "item ghost not found"})
    );
    assert_eq!(app.find(&a).await.0, 10);
}

#[tokio::test]
async fn release_restores_stock_once() {
    let app = TestApp::spawn().await;
    let a = app.item(1, 10).await;
    reserve(&app, "s1", &[(&a, 4)]).await;
    assert_eq!(
        release(&app, "s1", &[(&a, 4)]).await,
        j!({"outcome": "undone"})
    );
    assert_eq!(
        release(&app, "s1", &[(&a, 4)]).await,
        j!({"outcome": "undone"})
    );
    assert_eq!(app.find(&a).await.0, 10);
    // A reserve after the release is cancelled.
    assert_eq!(
        reserve(&app, "s1", &[(&a, 4)]).await,
        j!({"outcome": "cancelled"})
    );
    assert_eq!(app.find(&a).await.0, 10);
}

#[tokio::test]
async fn a_release_that_would_pass_the_largest_stock_puts_back_nothing_until_it_can() {
    let app = TestApp::spawn().await;
    let (a, b) = (app.item(1, 10).await, app.item(1, 10).await);
    reserve(&app, "s1", &[(&a, 4), (&b, 4)]).await;
    // Stock arrives meanwhile: b (6 left) is now 3 short of the largest i64, 4 are to come back.
    let room = i64::MAX - 9;
    assert_eq!(app.post(&format!("/add/{b}/{room}")).await.status(), 200);
    assert_eq!(app.find(&b).await.0, i64::MAX - 3);

    let lines = j!({"items": [(&a, 4), (&b, 4)]});
    let resp = app
        .post_internal("/saga/s1/release", Some(lines.clone()))
        .await;
    let message = error(resp, 503).await;
    assert!(message.contains(&format!("item {b}")), "{message}");
    // All or nothing per slot: b's group put back nothing. a came back only if it is in
    // another slot whose group runs before b's; either way a retry does not put it back
    // twice.
    let a_after = app.find(&a).await.0;
    let groups = stock::store::groups(&[(id(&a), ()), (id(&b), ())]);
    let a_first_alone = groups.len() == 2 && groups[0][0].0.as_str() == a;
    assert_eq!(a_after, if a_first_alone { 10 } else { 6 });
    assert_eq!(app.find(&b).await.0, i64::MAX - 3);
    error(
        app.post_internal("/saga/s1/release", Some(lines)).await,
        503,
    )
    .await;
    assert_eq!(app.find(&a).await.0, a_after);

    assert_eq!(app.post(&format!("/subtract/{b}/1")).await.status(), 200);
    let both = [(a.as_str(), 4), (b.as_str(), 4)];
    assert_eq!(release(&app, "s1", &both).await, j!({"outcome": "undone"}));
    assert_eq!(release(&app, "s1", &both).await, j!({"outcome": "undone"}));
    assert_eq!(app.find(&a).await.0, 10);
    assert_eq!(app.find(&b).await.0, i64::MAX);
}

#[tokio::test]
async fn release_before_reserve_leaves_a_tombstone_and_cancels_the_reserve() {
    let app = TestApp::spawn().await;
    let a = app.item(1, 10).await;
    assert_eq!(
        release(&app, "s1", &[(&a, 4)]).await,
        j!({"outcome": "undone"})
    );
    assert_eq!(
        reserve(&app, "s1", &[(&a, 4)]).await,
        j!({"outcome": "cancelled"})
    );
    assert_eq!(app.find(&a).await.0, 10);
}

#[tokio::test]
async fn release_of_refused_saga_changes_nothing() {
    let app = TestApp::spawn().await;
    let a = app.item(1, 1).await;
    reserve(&app, "s1", &[(&a, 4)]).await;
    assert_eq!(
        release(&app, "s1", &[(&a, 4)]).await,
        j!({"outcome": "undone"})
    );
    assert_eq!(app.find(&a).await.0, 1);
}

#[tokio::test]
async fn one_batch_answers_each_saga_its_own_outcome_in_order() {
    let app = TestApp::spawn().await;
    let (a, b) = (app.item(1, 10).await, app.item(1, 2).await);
    let results = reserve_batch(
        &app,
        vec![
            call("s1", &[(&a, 3)]),
            call("s2", &[(&a, 1), (&b, 3)]),
            call("s3", &[(&b, 2)]),
            // The same saga twice in one batch: one reserve, the same answer twice.
            call("s4", &[(&a, 5)]),
            call("s4", &[(&a, 5)]),
        ],
    )
    .await;
    assert_eq!(results[0], j!({"outcome": "done"}));
    // s2 spans two slots (when a and b hash apart): its groups run in turn, so s3 may
    // take b's 2 units before s2's second group runs. Refused either way, nothing taken.
    assert_eq!(results[1]["outcome"], "refused");
    let reason = results[1]["reason"].as_str().expect("a reason");
    assert!(
        reason == format!("item {b} has 2 in stock, 3 needed")
            || reason == format!("item {b} has 0 in stock, 3 needed"),
        "{reason}"
    );
    assert_eq!(results[2], j!({"outcome": "done"}));
    assert_eq!(results[3], j!({"outcome": "done"}));
    assert_eq!(results[4], j!({"outcome": "done"}));
    assert_eq!(app.find(&a).await.0, 2, "s1 took 3, s4 took 5 once");
    assert_eq!(app.find(&b).await.0, 0);
}

#[tokio::test]
async fn a_saga_whose_record_cannot_be_read_fails_alone_in_its_batch() {
    let app = TestApp::spawn().await;
    let a = app.item(1, 10).await;
    // A saga record of the wrong type makes that saga's script fail in Redis.
    let client = redis::Client::open(app.redis.url()).expect("redis url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis answers");
    let _: () = redis::cmd("SET")
        .arg(format!("saga:{{{a}}}:broken"))
        .arg("not a hash")
        .query_async(&mut conn)
        .await
        .expect("SET");
    let results = reserve_batch(
        &app,
        vec![call("broken", &[(&a, 1)]), call("s1", &[(&a, 4)])],
    )
    .await;
    let error = results[0]["error"]
        .as_str()
        .expect("an error for the broken saga");
    assert!(error.contains("WRONGTYPE"), "{error}");
    assert_eq!(results[1], j!({"outcome": "done"}));
    assert_eq!(app.find(&a).await.0, 6, "only s1 took stock");
}

#[tokio::test]
async fn a_batch_with_one_malformed_call_is_400_and_reserves_nothing() {
    let app = TestApp::spawn().await;
    let a = app.item(1, 10).await;
    let good = call("s1", &[(&a, 1)]);
    for bad in [
        j!({"saga_id": "s2", "step": {"items": [[a, 0]]}}),
        j!({"saga_id": "s2", "step": {"items": [[a, -1]]}}),
        j!({"saga_id": "s2", "step": {"items": [["a|b", 1]]}}),
        j!({"saga_id": "s2", "step": {"nope": 1}}),
        j!({"saga_id": "a:b", "step": {"items": [[a, 1]]}}),
        j!({"step": {"items": [[a, 1]]}}),
    ] {
        let body = j!({ "calls": [good, bad] });
        error(app.post_internal("/saga/reserve", Some(body)).await, 400).await;
    }
    let message = error(
        app.post_internal("/saga/reserve", Some(j!({"calls": []})))
            .await,
        400,
    )
    .await;
    assert_eq!(message, "a batch carries 1 to 256 calls, not 0");
    let too_many: Vec<_> = (0..257)
        .map(|i| call(&format!("s{i}"), &[(&a, 1)]))
        .collect();
    let body = j!({ "calls": too_many });
    error(app.post_internal("/saga/reserve", Some(body)).await, 400).await;
    assert_eq!(app.find(&a).await.0, 10);
}

#[tokio::test]
async fn saga_endpoints_are_not_on_the_public_port() {
    let app = TestApp::spawn().await;
    error(app.post("/saga/reserve").await, 404).await;
    error(app.post("/saga/s1/release").await, 404).await;
}

#[tokio::test]
async fn saga_records_survive_a_redis_restart() {
    let mut app = TestApp::spawn().await;
    let a = app.item(1, 10).await;
    reserve(&app, "s1", &[(&a, 4)]).await;
    app.redis.kill();
    // Redis down: no call of the batch can run, so the batch itself is a 503.
    let body = j!({ "calls": [call("s1", &[(&a, 4)]), call("s2", &[(&a, 1)])] });
    let message = error(app.post_internal("/saga/reserve", Some(body)).await, 503).await;
    assert!(message.contains("redis"), "{message}");
    app.redis.restart();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let body = j!({ "calls": [call("s1", &[(&a, 4)])] });
        let resp = app.post_internal("/saga/reserve", Some(body)).await;
        if resp.status().is_success() {
            let reply = json(resp, 200).await;
            assert_eq!(reply["results"], j!([{"outcome": "done"}]));
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "redis never came back"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(app.find(&a).await.0, 6);
}
