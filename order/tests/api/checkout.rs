//! Checkout end to end: the course template's flow, concurrency on one order, a
//! participant's Redis crashing, and quantities that overflow (recovery of sagas whose
//! driver died is `recovery.rs`).

use std::time::Duration;

use crate::helpers::TestSystem;

#[tokio::test]
async fn course_flow_failed_checkout_changes_nothing_then_succeeds_once() {
    let sys = TestSystem::start().await;
    let a = sys.new_item(5, 10).await;
    let b = sys.new_item(7, 0).await; // out of stock
    let user = sys.new_user(100).await;
    let order = sys.new_order(&user, &[(&a, 1), (&b, 1)]).await;

    let (s, body) = sys.checkout(&order).await;
    assert_eq!(s, 409, "{body}");
    assert!(
        body["error"].as_str().expect("error").contains(&b),
        "{body}"
    );
    assert_eq!((sys.stock_of(&a).await, sys.stock_of(&b).await), (10, 0));
    assert_eq!(sys.credit_of(&user).await, 100);
    assert_eq!(sys.order(&order).await["paid"], false);

    sys.call("POST", format!("{}/add/{b}/3", sys.stock_url))
        .await;
    let (s, body) = sys.checkout(&order).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!((sys.stock_of(&a).await, sys.stock_of(&b).await), (9, 2));
    assert_eq!(sys.credit_of(&user).await, 88);
    assert_eq!(sys.order(&order).await["paid"], true);

    let (s, _) = sys.checkout(&order).await;
    assert_eq!(s, 200, "a second checkout of a paid order answers 2xx");
    assert_eq!(sys.credit_of(&user).await, 88, "and charges nothing");
    assert_eq!((sys.stock_of(&a).await, sys.stock_of(&b).await), (9, 2));
}

#[tokio::test]
async fn not_enough_credit_releases_the_reserved_stock() {
    let sys = TestSystem::start().await;
    let (a, user, order) = sys.one_line_order((50, 4), 99, 2).await;
    let (s, body) = sys.checkout(&order).await;
    assert_eq!(s, 409, "{body}");
    assert_eq!(sys.stock_of(&a).await, 4);
    assert_eq!(sys.credit_of(&user).await, 99);
    // After an aborted saga a new checkout may start a new one.
    sys.call("POST", format!("{}/add_funds/{user}/1", sys.payment_url))
        .await;
    assert_eq!(sys.checkout(&order).await.0, 200);
    assert_eq!((sys.stock_of(&a).await, sys.credit_of(&user).await), (2, 0));
}

#[tokio::test]
async fn quantities_of_repeated_items_are_summed_at_checkout() {
    let sys = TestSystem::start().await;
    let a = sys.new_item(1, 3).await;
    let user = sys.new_user(10).await;
    let order = sys.new_order(&user, &[(&a, 2), (&a, 2)]).await;
    assert_eq!(
        sys.checkout(&order).await.0,
        409,
        "4 units of an item with 3 in stock"
    );
    assert_eq!(sys.stock_of(&a).await, 3);
}

#[tokio::test]
async fn concurrent_checkouts_of_one_order_join_one_saga_and_charge_once() {
    let sys = TestSystem::start().await;
    let (a, user, order) = sys.one_line_order((3, 10), 100, 2).await;
    let answers = futures::future::join_all((0..20).map(|_| sys.checkout(&order))).await;
    assert!(answers.iter().all(|(s, _)| *s == 200), "{answers:?}");
    assert_eq!(sys.credit_of(&user).await, 94);
    assert_eq!(sys.stock_of(&a).await, 8);
}

#[tokio::test]
async fn concurrent_checkouts_for_scarce_stock_sell_exactly_what_there_is() {
    let sys = TestSystem::start().await;
    let a = sys.new_item(1, 10).await;
    let mut orders = Vec::new();
    for _ in 0..40 {
        let user = sys.new_user(1).await;
        orders.push((sys.new_order(&user, &[(&a, 1)]).await, user));
    }
    let answers = futures::future::join_all(orders.iter().map(|(o, _)| sys.checkout(o))).await;
    let ok = answers.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(ok, 10);
    assert!(
        answers.iter().all(|(s, _)| *s == 200 || *s == 409),
        "{answers:?}"
    );
    assert_eq!(sys.stock_of(&a).await, 0);
    for ((order, user), (status, _)) in orders.iter().zip(&answers) {
        let paid = sys.order(order).await["paid"] == true;
        assert_eq!(paid, *status == 200, "order {order}");
        assert_eq!(
            sys.credit_of(user).await,
            if paid { 0 } else { 1 },
            "user {user}"
        );
    }
}

#[tokio::test]
async fn checkout_waits_out_a_payment_redis_crash_and_answers_the_truth() {
    let mut sys = TestSystem::start().await;
    let (a, user, order) = sys.one_line_order((2, 5), 10, 1).await;
    sys.payment_redis.kill();
    let pending = sys.checkout_in_background(&order);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    sys.payment_redis.restart();
    let resp = pending.await.expect("task").expect("answered");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!((sys.stock_of(&a).await, sys.credit_of(&user).await), (4, 8));
    assert_eq!(sys.order(&order).await["paid"], true);
}

#[tokio::test]
async fn checkout_sums_huge_quantities_exactly_and_refuses_an_overflowing_sum() {
    let sys = TestSystem::start().await;
    let a = sys.new_item(0, 5).await;
    let user = sys.new_user(10).await;
    // Item a costs 0, so a line of any quantity costs 0, and its quantity is stored as
    // the decimal string sent: two lines of 2^62 and `second`.
    let order_of = |second: i64| {
        let (sys, user, a) = (&sys, &user, &a);
        async move { sys.new_order(user, &[(a, 1 << 62), (a, second)]).await }
    };
    let sagas_of = |order: String| {
        let sys = &sys;
        async move {
            sys.call("GET", format!("{}/saga/{order}", sys.order_url))
                .await
                .1
        }
    };

    // 2^62 + (2^62 - 1) = i64::MAX exactly (a double would round it): logged exactly,
    // then refused by stock (only 5 units).
    let exact = order_of((1 << 62) - 1).await;
    assert_eq!(
        sys.checkout(&exact).await.0,
        409,
        "refused for lack of stock"
    );
    let body = sagas_of(exact).await;
    assert_eq!(body["sagas"][0]["state"], "aborted");
    assert_eq!(
        body["sagas"][0]["log"]["items"],
        format!("{a}|9223372036854775807")
    );

    // One more unit does not fit: a 400 naming the item, and no saga at all.
    let over = order_of(1 << 62).await;
    let (s, body) = sys.checkout(&over).await;
    assert_eq!(s, 400);
    assert!(
        body["error"].as_str().is_some_and(|e| e.contains(&a)),
        "{body}"
    );
    assert_eq!(sagas_of(over.clone()).await["sagas"], serde_json::json!([]));
    assert_eq!(sys.order(&over).await["paid"], false);
    assert_eq!(
        (sys.stock_of(&a).await, sys.credit_of(&user).await),
        (5, 10)
    );
}
