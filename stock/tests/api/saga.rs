use serde_json::json as j;

use crate::helpers::{error, json, TestApp};

async fn reserve(app: &TestApp, saga: &str, items: &[(&str, i64)]) -> serde_json::Value {
    let resp = app
        .post_internal(
            &format!("/saga/{saga}/reserve"),
            Some(j!({ "items": items })),
        )
        .await;
    json(resp, 200).await
}

async fn release(app: &TestApp, saga: &str) -> serde_json::Value {
    json(
        app.post_internal(&format!("/saga/{saga}/release"), None)
            .await,
        200,
    )
    .await
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
    assert_eq!(release(&app, "s1").await, j!({"outcome": "undone"}));
    assert_eq!(release(&app, "s1").await, j!({"outcome": "undone"}));
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

    let resp = app.post_internal("/saga/s1/release", None).await;
    let message = error(resp, 503).await;
    assert!(message.contains(&format!("item {b}")), "{message}");
    // All or nothing: a was not put back either, and a retry does not put it back twice.
    assert_eq!(app.find(&a).await.0, 6);
    assert_eq!(app.find(&b).await.0, i64::MAX - 3);
    error(app.post_internal("/saga/s1/release", None).await, 503).await;
    assert_eq!(app.find(&a).await.0, 6);

    assert_eq!(app.post(&format!("/subtract/{b}/1")).await.status(), 200);
    assert_eq!(release(&app, "s1").await, j!({"outcome": "undone"}));
    assert_eq!(release(&app, "s1").await, j!({"outcome": "undone"}));
    assert_eq!(app.find(&a).await.0, 10);
    assert_eq!(app.find(&b).await.0, i64::MAX);
}

#[tokio::test]
async fn release_before_reserve_leaves_a_tombstone_and_cancels_the_reserve() {
    let app = TestApp::spawn().await;
    let a = app.item(1, 10).await;
    assert_eq!(release(&app, "s1").await, j!({"outcome": "undone"}));
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
    assert_eq!(release(&app, "s1").await, j!({"outcome": "undone"}));
    assert_eq!(app.find(&a).await.0, 1);
}

#[tokio::test]
async fn malformed_reserves_are_400() {
    let app = TestApp::spawn().await;
    let a = app.item(1, 10).await;
    for body in [
        j!({"items": [[a, 0]]}),
        j!({"items": [[a, -1]]}),
        j!({"items": [["a|b", 1]]}),
        j!({"nope": 1}),
    ] {
        error(app.post_internal("/saga/s1/reserve", Some(body)).await, 400).await;
    }
    error(
        app.post_internal("/saga/a:b/reserve", Some(j!({"items": []})))
            .await,
        400,
    )
    .await;
    assert_eq!(app.find(&a).await.0, 10);
}

#[tokio::test]
async fn saga_endpoints_are_not_on_the_public_port() {
    let app = TestApp::spawn().await;
    error(app.post("/saga/s1/reserve").await, 404).await;
    error(app.post("/saga/s1/release").await, 404).await;
}

#[tokio::test]
async fn saga_records_survive_a_redis_restart() {
    let mut app = TestApp::spawn().await;
    let a = app.item(1, 10).await;
    reserve(&app, "s1", &[(&a, 4)]).await;
    app.redis.kill();
    app.redis.restart();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let resp = app
            .post_internal("/saga/s1/reserve", Some(j!({ "items": [[a, 4]] })))
            .await;
        if resp.status().is_success() {
            assert_eq!(json(resp, 200).await, j!({"outcome": "done"}));
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
