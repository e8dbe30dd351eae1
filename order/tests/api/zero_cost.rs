//! Orders and lines that cost nothing, found by the API fuzzing (make api-test): Redis'
//! HINCRBY refuses "-0", so charging 0 was refused (a checkout that could never succeed)
//! and removing a line of price 0 failed with a 503 half-way through the script.

use crate::helpers::TestSystem;
use serde_json::json;

#[tokio::test]
async fn checkout_of_an_empty_order_pays_it_and_charges_nothing() {
    let sys = TestSystem::start().await;
    let user = sys.new_user(20).await;
    let order = sys.new_order(&user, &[]).await;
    let (s, body) = sys.checkout(&order).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(sys.order(&order).await["paid"], true);
    assert_eq!(sys.credit_of(&user).await, 20);
}

#[tokio::test]
async fn checkout_of_free_items_takes_the_stock_and_charges_nothing() {
    let sys = TestSystem::start().await;
    let free = sys.new_item(0, 5).await;
    let user = sys.new_user(0).await;
    let order = sys.new_order(&user, &[(&free, 2)]).await;
    let (s, body) = sys.checkout(&order).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(sys.stock_of(&free).await, 3);
    assert_eq!(sys.credit_of(&user).await, 0);
    assert_eq!(sys.order(&order).await["paid"], true);
}

#[tokio::test]
async fn removing_a_free_item_removes_its_lines_and_keeps_the_rest_exact() {
    let sys = TestSystem::start().await;
    let free = sys.new_item(0, 5).await;
    let paid = sys.new_item(4, 5).await;
    let order = sys
        .new_order("u1", &[(&paid, 1), (&free, 2), (&paid, 2), (&free, 1)])
        .await;
    let (s, body) = sys
        .call(
            "DELETE",
            format!("{}/removeItem/{order}/{free}", sys.order_url),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        sys.order(&order).await,
        json!({"order_id": order, "paid": false, "items": [[paid, 1], [paid, 2]], "user_id": "u1", "total_cost": 12})
    );
}
