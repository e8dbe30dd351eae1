use serde_json::json as j;

use crate::helpers::{error, TestApp};

/// One charge call of a batch.
fn call(saga: &str, user: &str, amount: serde_json::Value) -> serde_json::Value {
    j!({"saga_id": saga, "step": {"user_id": user, "amount": amount}})
}

/// Sends a batch of `calls` and returns its results, in order.
async fn charge_batch(app: &TestApp, calls: Vec<serde_json::Value>) -> Vec<serde_json::Value> {
    app.post_batch("/saga/charge", calls).await
}

/// A batch of one: the saga's reply.
async fn charge(app: &TestApp, saga: &str, user: &str, amount: i64) -> serde_json::Value {
    charge_batch(app, vec![call(saga, user, j!(amount))])
        .await
        .remove(0)
}

/// The refund of a saga that charged (or was to charge) `user` `amount` (its record
/// lives beside the user).
async fn refund(app: &TestApp, saga: &str, user: &str, amount: i64) -> serde_json::Value {
    let body = j!({"user_id": user, "amount": amount});
    app.post_undo(saga, "refund", body).await
}

#[tokio::test]
async fn charge_twice_charges_once_and_answers_the_same() {
    let app = TestApp::spawn().await;
    let u = app.user(10).await;
    let first = charge(&app, "s1", &u, 4).await;
    assert_eq!(first, j!({"outcome": "done"}));
    assert_eq!(charge(&app, "s1", &u, 4).await, first);
    assert_eq!(app.credit(&u).await, 6);
}

#[tokio::test]
async fn charge_beyond_credit_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let u = app.user(3).await;
    let reply = charge(&app, "s1", &u, 5).await;
    let reason = format!("user {u} has credit 3, 5 needed");
    assert_eq!(reply, j!({"outcome": "refused", "reason": reason}));
    assert_eq!(app.credit(&u).await, 3);
    // A repeat answers the same refusal, even if credit arrived meanwhile.
    app.post(&format!("/add_funds/{u}/10")).await;
    assert_eq!(charge(&app, "s1", &u, 5).await, reply);
    assert_eq!(app.credit(&u).await, 13);
}

#[tokio::test]
async fn charge_of_unknown_user_is_refused() {
    let app = TestApp::spawn().await;
    let reply = charge(&app, "s1", "ghost", 1).await;
    assert_eq!(
        reply,
        j!({"outcome": "refused", "reason": "user ghost not found"})
    );
    error(app.get("/find_user/ghost").await, 404).await;
}

#[tokio::test]
async fn refund_gives_credit_back_once() {
    let app = TestApp::spawn().await;
    let u = app.user(10).await;
    charge(&app, "s1", &u, 4).await;
    assert_eq!(refund(&app, "s1", &u, 4).await, j!({"outcome": "undone"}));
    assert_eq!(refund(&app, "s1", &u, 4).await, j!({"outcome": "undone"}));
    assert_eq!(app.credit(&u).await, 10);
    assert_eq!(
        charge(&app, "s1", &u, 4).await,
        j!({"outcome": "cancelled"})
    );
    assert_eq!(app.credit(&u).await, 10);
}

#[tokio::test]
async fn refund_before_charge_leaves_a_tombstone_and_cancels_the_charge() {
    let app = TestApp::spawn().await;
    let u = app.user(10).await;
    assert_eq!(refund(&app, "s1", &u, 4).await, j!({"outcome": "undone"}));
    assert_eq!(
        charge(&app, "s1", &u, 4).await,
        j!({"outcome": "cancelled"})
    );
    assert_eq!(app.credit(&u).await, 10);
}

#[tokio::test]
async fn refund_of_refused_saga_changes_nothing() {
    let app = TestApp::spawn().await;
    let u = app.user(1).await;
    charge(&app, "s1", &u, 4).await;
    assert_eq!(refund(&app, "s1", &u, 4).await, j!({"outcome": "undone"}));
    assert_eq!(app.credit(&u).await, 1);
}

#[tokio::test]
async fn concurrent_charges_of_distinct_sagas_never_overdraw() {
    let app = TestApp::spawn().await;
    let u = app.user(50).await;
    let sagas: Vec<String> = (0..200).map(|i| format!("s{i}")).collect();
    let replies = futures::future::join_all(sagas.iter().map(|s| charge(&app, s, &u, 1))).await;
    let done = replies.iter().filter(|r| r["outcome"] == "done").count();
    assert_eq!(done, 50);
    assert_eq!(app.credit(&u).await, 0);
}

#[tokio::test]
async fn one_batch_of_charges_to_one_user_never_overdraws() {
    let app = TestApp::spawn().await;
    let u = app.user(50).await;
    let calls = (0..120)
        .map(|i| call(&format!("s{i}"), &u, j!(1)))
        .collect();
    let results = charge_batch(&app, calls).await;
    let done = results.iter().filter(|r| r["outcome"] == "done").count();
    let refused = results.iter().filter(|r| r["outcome"] == "refused").count();
    assert_eq!((done, refused), (50, 70));
    assert_eq!(app.credit(&u).await, 0);
}

#[tokio::test]
async fn a_batch_with_one_malformed_charge_is_400_and_charges_nothing() {
    let app = TestApp::spawn().await;
    let u = app.user(10).await;
    let good = call("s1", &u, j!(1));
    for bad in [
        call("s2", &u, j!(-1)),
        call("s2", &u, j!(1.5)),
        call("s2", "a|b", j!(1)),
        j!({"saga_id": "s2", "step": {"user_id": u}}),
        call("a:b", &u, j!(1)),
    ] {
        let body = j!({ "calls": [good, bad] });
        error(app.post_internal("/saga/charge", Some(body)).await, 400).await;
    }
    error(
        app.post_internal("/saga/charge", Some(j!({"calls": []})))
            .await,
        400,
    )
    .await;
    assert_eq!(app.credit(&u).await, 10);
}

#[tokio::test]
async fn saga_endpoints_are_not_on_the_public_port() {
    let app = TestApp::spawn().await;
    error(app.post("/saga/charge").await, 404).await;
    error(app.post("/saga/s1/refund").await, 404).await;
}
