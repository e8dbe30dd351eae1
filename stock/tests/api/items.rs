use common::testing::participant::{
    assert_readiness_follows_redis, assert_wrong_method_is_a_json_405,
};
use futures::future::join_all;

use crate::helpers::{error, json, TestApp};

#[tokio::test]
async fn created_item_starts_with_zero_stock_and_its_price() {
    let app = TestApp::spawn().await;
    let body = json(app.post("/item/create/7").await, 200).await;
    let id = body["item_id"].as_str().expect("item_id");
    assert_eq!(id.len(), 36, "a uuid: {id}");
    let found = json(app.get(&format!("/find/{id}")).await, 200).await;
    assert_eq!(found, serde_json::json!({"stock": 0, "price": 7}));
}

#[tokio::test]
async fn add_and_subtract_change_stock() {
    let app = TestApp::spawn().await;
    let id = app.item(3, 10).await;
    assert!(app
        .post(&format!("/add/{id}/5"))
        .await
        .status()
        .is_success());
    assert!(app
        .post(&format!("/subtract/{id}/15"))
        .await
        .status()
        .is_success());
    assert!(app
        .post(&format!("/add/{id}/0"))
        .await
        .status()
        .is_success());
    assert_eq!(app.find(&id).await, (0, 3));
}

#[tokio::test]
async fn subtract_below_zero_is_409_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let id = app.item(3, 2).await;
    let msg = error(app.post(&format!("/subtract/{id}/3")).await, 409).await;
    assert!(msg.contains("has 2 in stock, 3 needed"), "{msg}");
    assert_eq!(app.find(&id).await, (2, 3));
}

#[tokio::test]
async fn bad_numbers_are_400_naming_the_parameter_and_change_nothing() {
    let app = TestApp::spawn().await;
    let id = app.item(3, 5).await;
    for raw in ["-3", "5.83", "abc", "9223372036854775808"] {
        let msg = error(app.post(&format!("/add/{id}/{raw}")).await, 400).await;
        assert!(msg.starts_with("amount "), "{msg}");
        let msg = error(app.post(&format!("/subtract/{id}/{raw}")).await, 400).await;
        assert!(msg.starts_with("amount "), "{msg}");
        let msg = error(app.post(&format!("/item/create/{raw}")).await, 400).await;
        assert!(msg.starts_with("price "), "{msg}");
    }
    assert_eq!(app.find(&id).await, (5, 3));
}

#[tokio::test]
async fn unknown_items_are_404() {
    let app = TestApp::spawn().await;
    error(app.get("/find/nope").await, 404).await;
    error(app.post("/add/nope/1").await, 404).await;
    error(app.post("/subtract/nope/1").await, 404).await;
    error(app.get("/find/nope").await, 404).await;
}

#[tokio::test]
async fn extra_or_missing_path_segments_are_json_404() {
    let app = TestApp::spawn().await;
    let id = app.item(1, 1).await;
    error(app.get(&format!("/find/{id}/extra")).await, 404).await;
    error(app.post(&format!("/add/{id}")).await, 404).await;
    error(app.post("/item/create").await, 404).await;
    error(app.post("/batch_init/1/2").await, 404).await;
    assert_eq!(app.find(&id).await, (1, 1));
}

#[tokio::test]
async fn add_that_would_overflow_is_409_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let id = app.item(1, i64::MAX - 1).await;
    let msg = error(app.post(&format!("/add/{id}/2")).await, 409).await;
    assert!(msg.contains("overflow"), "{msg}");
    assert_eq!(app.find(&id).await, (i64::MAX - 1, 1));
}

#[tokio::test]
async fn concurrent_subtracts_never_oversell() {
    let app = TestApp::spawn().await;
    let id = app.item(1, 50).await;
    let path = format!("/subtract/{id}/1");
    let answers = join_all((0..200).map(|_| app.post(&path))).await;
    let ok = answers.iter().filter(|r| r.status().is_success()).count();
    let refused = answers.iter().filter(|r| r.status() == 409).count();
    assert_eq!((ok, refused), (50, 150));
    assert_eq!(app.find(&id).await, (0, 1));
}

#[tokio::test]
async fn batch_init_creates_100000_items() {
    let app = TestApp::spawn().await;
    // Its speed is measured by `make bench`, not asserted here.
    let body = json(app.post("/batch_init/100000/42/9").await, 200).await;
    assert!(body["msg"].is_string());
    assert_eq!(app.find("0").await, (42, 9));
    assert_eq!(app.find("99999").await, (42, 9));
    error(app.get("/find/100000").await, 404).await;
}

#[tokio::test]
async fn batch_init_refuses_zero_and_bad_counts() {
    let app = TestApp::spawn().await;
    for raw in ["0", "-1", "1.5", "10000001"] {
        let msg = error(app.post(&format!("/batch_init/{raw}/1/1")).await, 400).await;
        assert!(msg.starts_with("n "), "{msg}");
    }
    error(app.get("/find/0").await, 404).await;
}

#[tokio::test]
async fn redis_down_is_503_json_not_a_hang() {
    let mut app = TestApp::spawn().await;
    let id = app.item(1, 1).await;
    app.redis.kill();
    let started = std::time::Instant::now();
    error(app.get(&format!("/find/{id}")).await, 503).await;
    error(app.post(&format!("/subtract/{id}/1")).await, 503).await;
    assert!(started.elapsed().as_secs() < 8, "{:?}", started.elapsed());
}

#[tokio::test]
async fn internal_port_serves_find_too() {
    let app = TestApp::spawn().await;
    let id = app.item(4, 6).await;
    let resp = app.get_internal(&format!("/find/{id}")).await;
    assert_eq!(
        json(resp, 200).await,
        serde_json::json!({"stock": 6, "price": 4})
    );
}

#[tokio::test]
async fn wrong_method_is_a_json_405_naming_the_method_to_use() {
    let app = TestApp::spawn().await;
    assert_wrong_method_is_a_json_405(&app, "/item/create/5").await;
}

#[tokio::test]
async fn readiness_follows_redis() {
    let mut app = TestApp::spawn().await;
    assert_readiness_follows_redis(&mut app).await;
}

#[tokio::test]
async fn a_restarted_redis_fails_no_request_once_it_is_back() {
    let mut app = TestApp::spawn().await;
    let id = app.item(3, 7).await;
    // A burst, as a loaded service has, on the connection that dies below.
    let path = format!("/find/{id}");
    let warm = futures::future::join_all((0..16).map(|_| app.get(&path))).await;
    assert!(warm.iter().all(|r| r.status().is_success()));

    app.redis.kill();
    app.redis.restart();
    // A pause as between a grader's kill and its next request (every pooled connection is
    // now idle past the PING threshold), then a burst: none may see the old connections.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let burst = futures::future::join_all((0..16).map(|_| app.get(&path))).await;
    for resp in burst {
        assert_eq!(
            json(resp, 200).await,
            serde_json::json!({"stock": 7, "price": 3})
        );
    }
    json(app.post(&format!("/subtract/{id}/1")).await, 200).await;
    assert_eq!(
        json(app.get(&format!("/find/{id}")).await, 200).await,
        serde_json::json!({"stock": 6, "price": 3})
    );
}

#[tokio::test]
async fn concurrent_requests_share_one_redis_connection() {
    let app = TestApp::spawn().await;
    let id = app.item(2, 1000).await;
    let path = format!("/subtract/{id}/1");
    let burst = join_all((0..64).map(|_| app.post(&path))).await;
    assert!(burst.iter().all(|r| r.status().is_success()));
    assert_eq!(app.find(&id).await, (936, 2));

    // The 64 requests' commands were pipelined on the connection the first request opened
    // (the service's side of it is the only client apart from this one).
    let client = redis::Client::open(app.redis.url()).expect("redis url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis answers");
    let clients: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(&mut conn)
        .await
        .expect("CLIENT LIST");
    assert_eq!(clients.lines().count(), 2, "{clients}");
}

#[tokio::test]
async fn every_write_repeated_with_its_key_is_applied_once_and_answered_the_same() {
    let app = TestApp::spawn().await;
    let (status, created) = app.post_thrice("/item/create/4", "create-1").await;
    assert_eq!(status, 200);
    let id = created["item_id"].as_str().expect("item_id").to_string();
    assert_eq!(app.find(&id).await, (0, 4), "one item, stock 0");

    let (status, added) = app.post_thrice(&format!("/add/{id}/10"), "add-1").await;
    assert_eq!((status, added["stock"].as_i64()), (200, Some(10)));
    let (status, _) = app.post_thrice(&format!("/subtract/{id}/3"), "sub-1").await;
    assert_eq!(status, 200);
    assert_eq!(app.find(&id).await, (7, 4), "10 added once, 3 taken once");

    // A refusal is an answer too: the repeat is refused the same way after stock came in.
    let (status, _) = app.post_thrice(&format!("/subtract/{id}/9"), "sub-2").await;
    assert_eq!(status, 409);
    json(app.post(&format!("/add/{id}/5")).await, 200).await;
    let again = app.post_keyed(&format!("/subtract/{id}/9"), "sub-2").await;
    assert_eq!(
        again.status().as_u16(),
        409,
        "the first answer, not a new try"
    );
    assert_eq!(app.find(&id).await, (12, 4));

    let (status, _) = app.post_thrice("/batch_init/3/8/2", "init-1").await;
    assert_eq!(status, 200);
    json(app.post("/subtract/1/8").await, 200).await;
    let repeat = app.post_keyed("/batch_init/3/8/2", "init-1").await;
    assert_eq!(repeat.status().as_u16(), 200);
    assert_eq!(
        app.find("1").await,
        (0, 2),
        "a repeated batch_init resets nothing"
    );
}

#[tokio::test]
async fn a_key_used_again_for_another_write_is_422_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let id = app.item(3, 5).await;
    json(app.post_keyed(&format!("/add/{id}/1"), "k").await, 200).await;
    let msg = error(app.post_keyed(&format!("/add/{id}/2"), "k").await, 422).await;
    assert!(
        msg.contains("Idempotency-Key") && msg.contains("/add/"),
        "{msg}"
    );
    let msg = error(app.post_keyed(&format!("/subtract/{id}/1"), "k").await, 422).await;
    assert!(msg.contains("already used"), "{msg}");
    assert_eq!(app.find(&id).await, (6, 3));
    let msg = error(
        app.post_keyed(&format!("/add/{id}/1"), "bad key").await,
        400,
    )
    .await;
    assert!(msg.contains("Idempotency-Key"), "{msg}");
    assert_eq!(app.find(&id).await, (6, 3));
}

#[tokio::test]
async fn without_a_key_two_writes_are_two_writes() {
    let app = TestApp::spawn().await;
    let a = json(app.post("/item/create/1").await, 200).await;
    let b = json(app.post("/item/create/1").await, 200).await;
    assert_ne!(a["item_id"], b["item_id"]);
    let id = a["item_id"].as_str().expect("id");
    json(app.post(&format!("/add/{id}/2")).await, 200).await;
    json(app.post(&format!("/add/{id}/2")).await, 200).await;
    assert_eq!(app.find(id).await, (4, 1));
}

/// A request whose head arrives in two parts, 6 s apart (longer than actix's default
/// deadline for a head, 5 s), is answered as any other: a replica paused mid-read wakes
/// with its timers expired, and a 408 there would tell the gateway "nothing changed" for
/// a write its sibling may have applied.
#[tokio::test]
async fn a_request_head_that_comes_late_is_served_not_408() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn().await;
    let id = app.item(2, 5).await;
    let addr = app.public.trim_start_matches("http://").to_string();
    let mut conn = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    conn.write_all(format!("POST /add/{id}/3 HTTP/1.1\r\n").as_bytes())
        .await
        .expect("first part");
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    conn.write_all(b"Host: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .await
        .expect("second part");
    let mut answer = String::new();
    conn.read_to_string(&mut answer).await.expect("answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(app.find(&id).await, (8, 2));
}
