use common::testing::participant::{
    assert_readiness_follows_redis, assert_wrong_method_is_a_json_405,
};
use futures::future::join_all;

use crate::helpers::{error, json, TestApp};

#[tokio::test]
async fn created_user_starts_with_zero_credit() {
    let app = TestApp::spawn().await;
    let body = json(app.post("/create_user").await, 200).await;
    let id = body["user_id"].as_str().expect("user_id");
    assert_eq!(id.len(), 36, "a uuid: {id}");
    let found = json(app.get(&format!("/find_user/{id}")).await, 200).await;
    assert_eq!(found, serde_json::json!({"user_id": id, "credit": 0}));
}

#[tokio::test]
async fn add_funds_and_pay_change_credit() {
    let app = TestApp::spawn().await;
    let id = app.user(10).await;
    let done = json(app.post(&format!("/add_funds/{id}/5")).await, 200).await;
    assert_eq!(done, serde_json::json!({"done": true}));
    assert!(app
        .post(&format!("/pay/{id}/15"))
        .await
        .status()
        .is_success());
    assert!(app
        .post(&format!("/pay/{id}/0"))
        .await
        .status()
        .is_success());
    assert_eq!(app.credit(&id).await, 0);
}

#[tokio::test]
async fn pay_beyond_credit_is_409_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let id = app.user(3).await;
    let msg = error(app.post(&format!("/pay/{id}/5")).await, 409).await;
    assert_eq!(msg, format!("user {id} has credit 3, 5 needed"));
    assert_eq!(app.credit(&id).await, 3);
}

#[tokio::test]
async fn bad_numbers_are_400_naming_the_parameter_and_change_nothing() {
    let app = TestApp::spawn().await;
    let id = app.user(5).await;
    for raw in ["-3", "5.83", "abc", "9223372036854775808"] {
        let msg = error(app.post(&format!("/add_funds/{id}/{raw}")).await, 400).await;
        assert!(msg.starts_with("amount "), "{msg}");
        let msg = error(app.post(&format!("/pay/{id}/{raw}")).await, 400).await;
        assert!(msg.starts_with("amount "), "{msg}");
        let msg = error(app.post(&format!("/batch_init/1/{raw}")).await, 400).await;
        assert!(msg.starts_with("starting_money "), "{msg}");
    }
    assert_eq!(app.credit(&id).await, 5);
}

#[tokio::test]
async fn unknown_users_are_404() {
    let app = TestApp::spawn().await;
    error(app.get("/find_user/nope").await, 404).await;
    error(app.post("/add_funds/nope/1").await, 404).await;
    error(app.post("/pay/nope/1").await, 404).await;
    error(app.get("/find_user/nope").await, 404).await;
}

#[tokio::test]
async fn extra_or_missing_path_segments_are_json_404() {
    let app = TestApp::spawn().await;
    let id = app.user(1).await;
    error(app.get(&format!("/find_user/{id}/extra")).await, 404).await;
    error(app.post(&format!("/pay/{id}")).await, 404).await;
    error(app.post("/create_user/extra").await, 404).await;
    error(app.post("/batch_init/1").await, 404).await;
    assert_eq!(app.credit(&id).await, 1);
}

#[tokio::test]
async fn add_funds_that_would_overflow_is_409_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let id = app.user(i64::MAX - 1).await;
    let msg = error(app.post(&format!("/add_funds/{id}/2")).await, 409).await;
    assert!(msg.contains("overflow"), "{msg}");
    assert_eq!(app.credit(&id).await, i64::MAX - 1);
}

#[tokio::test]
async fn concurrent_payments_never_overdraw() {
    let app = TestApp::spawn().await;
    let id = app.user(50).await;
    let path = format!("/pay/{id}/1");
    let answers = join_all((0..200).map(|_| app.post(&path))).await;
    let ok = answers.iter().filter(|r| r.status().is_success()).count();
    let refused = answers.iter().filter(|r| r.status() == 409).count();
    assert_eq!((ok, refused), (50, 150));
    assert_eq!(app.credit(&id).await, 0);
}

#[tokio::test]
async fn batch_init_creates_100000_users() {
    let app = TestApp::spawn().await;
    // Its speed is measured by `make bench`, not asserted here.
    let body = json(app.post("/batch_init/100000/77").await, 200).await;
    assert!(body["msg"].is_string());
    assert_eq!(app.credit("0").await, 77);
    assert_eq!(app.credit("99999").await, 77);
    error(app.get("/find_user/100000").await, 404).await;
}

#[tokio::test]
async fn batch_init_refuses_zero_and_bad_counts() {
    let app = TestApp::spawn().await;
    for raw in ["0", "-1", "1.5", "10000001"] {
        let msg = error(app.post(&format!("/batch_init/{raw}/1")).await, 400).await;
        assert!(msg.starts_with("n "), "{msg}");
    }
    error(app.get("/find_user/0").await, 404).await;
}

#[tokio::test]
async fn redis_down_is_503_json_not_a_hang() {
    let mut app = TestApp::spawn().await;
    let id = app.user(1).await;
    app.redis.kill();
    let started = std::time::Instant::now();
    error(app.get(&format!("/find_user/{id}")).await, 503).await;
    error(app.post(&format!("/pay/{id}/1")).await, 503).await;
    error(app.post("/create_user").await, 503).await;
    assert!(started.elapsed().as_secs() < 8, "{:?}", started.elapsed());
}

#[tokio::test]
async fn wrong_method_is_a_json_405_naming_the_method_to_use() {
    let app = TestApp::spawn().await;
    assert_wrong_method_is_a_json_405(&app, "/create_user").await;
}

#[tokio::test]
async fn readiness_follows_redis() {
    let mut app = TestApp::spawn().await;
    assert_readiness_follows_redis(&mut app).await;
}

#[tokio::test]
async fn every_write_repeated_with_its_key_is_applied_once_and_answered_the_same() {
    let app = TestApp::spawn().await;
    let (status, created) = app.post_thrice("/create_user", "create-1").await;
    assert_eq!(status, 200);
    let id = created["user_id"].as_str().expect("user_id").to_string();
    assert_eq!(app.credit(&id).await, 0);

    let (status, done) = app
        .post_thrice(&format!("/add_funds/{id}/10"), "fund-1")
        .await;
    assert_eq!((status, done), (200, serde_json::json!({"done": true})));
    let (status, paid) = app.post_thrice(&format!("/pay/{id}/4"), "pay-1").await;
    assert_eq!((status, paid["credit"].as_i64()), (200, Some(6)));
    assert_eq!(app.credit(&id).await, 6, "10 added once, 4 paid once");

    let (status, _) = app.post_thrice(&format!("/pay/{id}/7"), "pay-2").await;
    assert_eq!(status, 409);
    json(app.post(&format!("/add_funds/{id}/5")).await, 200).await;
    let again = app.post_keyed(&format!("/pay/{id}/7"), "pay-2").await;
    assert_eq!(
        again.status().as_u16(),
        409,
        "the first answer, not a new try"
    );
    assert_eq!(app.credit(&id).await, 11);

    let (status, _) = app.post_thrice("/batch_init/3/8", "init-1").await;
    assert_eq!(status, 200);
    json(app.post("/pay/2/8").await, 200).await;
    let repeat = app.post_keyed("/batch_init/3/8", "init-1").await;
    assert_eq!(repeat.status().as_u16(), 200);
    assert_eq!(
        app.credit("2").await,
        0,
        "a repeated batch_init resets nothing"
    );
}

#[tokio::test]
async fn a_key_used_again_for_another_write_is_422_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let id = app.user(5).await;
    json(
        app.post_keyed(&format!("/add_funds/{id}/1"), "k").await,
        200,
    )
    .await;
    let msg = error(app.post_keyed(&format!("/pay/{id}/1"), "k").await, 422).await;
    assert!(
        msg.contains("Idempotency-Key") && msg.contains("/add_funds/"),
        "{msg}"
    );
    assert_eq!(app.credit(&id).await, 6);
}
