//! The order endpoints through real HTTP against real Redis: shapes, and every
//! refusal leaving the order as it was.

use crate::helpers::TestSystem;
use serde_json::json;

#[tokio::test]
async fn create_find_add_and_remove_items_keep_lines_and_total_exact() {
    let sys = TestSystem::start().await;
    let a = sys.new_item(5, 10).await;
    let b = sys.new_item(7, 10).await;
    let order = sys.new_order("u1", &[(&a, 2), (&b, 1)]).await;
    let (s, _) = sys
        .call("POST", format!("{}/addItem/{order}/{a}", sys.order_url))
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        sys.order(&order).await,
        json!({"order_id": order, "paid": false, "items": [[a, 2], [b, 1], [a, 1]], "user_id": "u1", "total_cost": 22})
    );
    let (s, _) = sys
        .call(
            "DELETE",
            format!("{}/removeItem/{order}/{a}", sys.order_url),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        sys.order(&order).await,
        json!({"order_id": order, "paid": false, "items": [[b, 1]], "user_id": "u1", "total_cost": 7})
    );
}

#[tokio::test]
async fn bad_input_is_a_4xx_naming_the_problem_and_changes_nothing() {
    let sys = TestSystem::start().await;
    let item = sys.new_item(3, 5).await;
    let order = sys.new_order("u1", &[(&item, 1)]).await;
    let before = sys.order(&order).await;
    let cases = [
        (
            "POST",
            format!("/addItem/{order}/{item}/0"),
            400,
            "quantity",
        ),
        (
            "POST",
            format!("/addItem/{order}/{item}/-1"),
            400,
            "quantity",
        ),
        (
            "POST",
            format!("/addItem/{order}/{item}/1.5"),
            400,
            "quantity",
        ),
        (
            "POST",
            format!("/addItem/{order}/{item}/9223372036854775808"),
            400,
            "quantity",
        ),
        (
            "POST",
            format!("/addItem/{order}/{item}/9223372036854775807"),
            400,
            "fit",
        ),
        (
            "POST",
            format!("/addItem/{order}/nosuchitem/1"),
            404,
            "nosuchitem",
        ),
        (
            "POST",
            format!("/addItem/nosuchorder/{item}/1"),
            404,
            "nosuchorder",
        ),
        ("POST", format!("/addItem/{order}/bad|id/1"), 400, "item_id"),
        (
            "DELETE",
            format!("/removeItem/{order}/nosuchitem"),
            404,
            "nosuchitem",
        ),
        (
            "POST",
            format!("/addItem/{order}/{item}/1/extra"),
            404,
            "no route",
        ),
        ("POST", "/checkout/".to_string(), 404, "no route"),
        ("GET", "/find/nosuchorder".to_string(), 404, "nosuchorder"),
        (
            "POST",
            "/checkout/nosuchorder".to_string(),
            404,
            "nosuchorder",
        ),
        ("POST", "/batch_init/0/1/1/1".to_string(), 400, "n"),
        (
            "POST",
            "/batch_init/10/1/1/-1".to_string(),
            400,
            "item_price",
        ),
    ];
    for (method, path, status, needle) in cases {
        let (s, body) = sys.call(method, format!("{}{path}", sys.order_url)).await;
        assert_eq!(s, status, "{method} {path}: {body}");
        let msg = body["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{path}: no error in {body}"));
        assert!(msg.contains(needle), "{path}: {msg:?} should name {needle}");
        assert_eq!(
            sys.order(&order).await,
            before,
            "{method} {path} changed the order"
        );
    }
}

#[tokio::test]
async fn paid_orders_cannot_be_edited() {
    let sys = TestSystem::start().await;
    let item = sys.new_item(2, 5).await;
    let user = sys.new_user(10).await;
    let order = sys.new_order(&user, &[(&item, 1)]).await;
    assert_eq!(sys.checkout(&order).await.0, 200);
    let before = sys.order(&order).await;
    let (s, _) = sys
        .call(
            "POST",
            format!("{}/addItem/{order}/{item}/1", sys.order_url),
        )
        .await;
    assert_eq!(s, 409);
    let (s, _) = sys
        .call(
            "DELETE",
            format!("{}/removeItem/{order}/{item}", sys.order_url),
        )
        .await;
    assert_eq!(s, 409);
    assert_eq!(sys.order(&order).await, before);
}

#[tokio::test]
async fn batch_init_creates_orders_with_two_items_and_the_right_total() {
    let sys = TestSystem::start().await;
    let (s, body) = sys
        .call("POST", format!("{}/batch_init/1000/10/20/3", sys.order_url))
        .await;
    assert_eq!(s, 200, "{body}");
    assert!(body["msg"].is_string());
    for id in ["0", "999"] {
        let o = sys.order(id).await;
        assert_eq!(o["total_cost"], 6);
        assert_eq!(o["paid"], false);
        let items = o["items"].as_array().expect("items");
        assert_eq!(items.len(), 2);
        for line in items {
            let item: i64 = line[0].as_str().expect("id").parse().expect("numeric id");
            assert!((0..10).contains(&item));
            assert_eq!(line[1], 1);
        }
        let user: i64 = o["user_id"]
            .as_str()
            .expect("user")
            .parse()
            .expect("numeric user");
        assert!((0..20).contains(&user));
    }
    assert_eq!(
        sys.call("GET", format!("{}/find/1000", sys.order_url))
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn redis_down_answers_503_json_quickly_not_a_hang() {
    let mut sys = TestSystem::start().await;
    sys.order_redis.kill();
    let started = std::time::Instant::now();
    let (s, body) = sys.call("GET", format!("{}/find/x", sys.order_url)).await;
    assert_eq!(s, 503, "{body}");
    assert!(body["error"].is_string());
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let (s, _) = sys
        .call("GET", format!("{}/health/ready", sys.order_url))
        .await;
    assert_eq!(s, 503);
    let (s, _) = sys
        .call("GET", format!("{}/health/live", sys.order_url))
        .await;
    assert_eq!(s, 200);
}
