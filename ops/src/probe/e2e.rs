//! The end-to-end probe: the course template's flow through the gateway of a running stack
//! (stock, payment, an order checked out once with an item out of stock and once with
//! enough, a second checkout that charges nothing), bad input answered 4xx with a JSON
//! error, and the services' internal paths not routed by the gateway.
//!
//! Needs nothing but the gateway: it runs against the local stack and a compose project
//! alike, and changes only entities it creates (plus the reads).

use super::client::{Answer, Gateway};
use super::tally::Tally;
use reqwest::Method;
use serde_json::{json, Value};
use std::process::ExitCode;
use std::time::Duration;

/// One request's bound: a checkout may wait for its saga (the services' own bound is
/// 120 s, and the gateway retries).
const TIMEOUT: Duration = Duration::from_secs(330);

/// The services' internal paths, which the gateway must answer with its own JSON 404.
const NOT_ROUTED: [&str; 6] = [
    "/stock/metrics",
    "/stock/health/ready",
    "/payment/health/ready",
    "/payment/health/live",
    "/orders/health/live",
    "/orders/metrics",
];

struct Run {
    gateway: Gateway,
    tally: Tally,
}

impl Run {
    async fn req(&self, method: Method, path: &str) -> Answer {
        self.gateway.call(method, path, None, TIMEOUT).await
    }

    async fn post(&self, path: &str) -> Answer {
        self.req(Method::POST, path).await
    }

    async fn get(&self, path: &str) -> Answer {
        self.req(Method::GET, path).await
    }

    async fn stock_of(&self, item: &str) -> Value {
        self.get(&format!("/stock/find/{item}")).await.body()["stock"].clone()
    }

    async fn credit_of(&self, user: &str) -> Value {
        self.get(&format!("/payment/find_user/{user}")).await.body()["credit"].clone()
    }

    /// Checks `ok`; on a failure shows `last`, the answer it was judged on.
    fn check(&mut self, what: &str, ok: bool, last: &Answer) {
        self.tally
            .check_showing(ok, what, format!("last answer: {last}"));
    }
}

pub async fn run(gateway: Gateway) -> anyhow::Result<ExitCode> {
    println!("e2e against {}", gateway.url());
    let mut run = Run {
        gateway,
        tally: Tally::default(),
    };
    let (item1, item2) = stock(&mut run).await;
    let user = payment(&mut run).await;
    orders(&mut run, &item1, &item2, &user).await;
    bad_input(&mut run).await;
    not_routed(&mut run).await;
    Ok(run.tally.summary())
}

/// Returns the two items it created (price 5 with stock 7 left, price 7 with none).
async fn stock(run: &mut Run) -> (String, String) {
    let created = run.post("/stock/item/create/5").await;
    let item1 = created.field("item_id").unwrap_or_default();
    run.check(
        "create item (price 5) returns an item_id",
        created.is_2xx() && !item1.is_empty(),
        &created,
    );

    let add = run.post(&format!("/stock/add/{item1}/10")).await;
    let found = run.get(&format!("/stock/find/{item1}")).await;
    run.check(
        "add 10 stock: find shows stock 10, price 5",
        add.is_2xx() && found.body()["stock"] == 10 && found.body()["price"] == 5,
        &found,
    );

    let refused = run.post(&format!("/stock/subtract/{item1}/11")).await;
    run.check(
        "subtracting 11 of 10 is a 4xx with a JSON error",
        refused.is_4xx() && refused.has_error(),
        &refused,
    );
    let stock = run.stock_of(&item1).await;
    run.check(
        "stock is still 10 after the refused subtract",
        stock == 10,
        &refused,
    );

    let subtract = run.post(&format!("/stock/subtract/{item1}/3")).await;
    let stock = run.stock_of(&item1).await;
    run.check(
        "subtracting 3 works and leaves 7",
        subtract.is_2xx() && stock == 7,
        &subtract,
    );

    let created = run.post("/stock/item/create/7").await;
    let item2 = created.field("item_id").unwrap_or_default();
    let stock = run.stock_of(&item2).await;
    run.check(
        "create a second item (price 7, stock 0)",
        created.is_2xx() && !item2.is_empty() && stock == 0,
        &created,
    );
    (item1, item2)
}

/// Returns the user it created, with 90 credit left.
async fn payment(run: &mut Run) -> String {
    let created = run.post("/payment/create_user").await;
    let user = created.field("user_id").unwrap_or_default();
    run.check(
        "create user returns a user_id",
        created.is_2xx() && !user.is_empty(),
        &created,
    );

    let funds = run.post(&format!("/payment/add_funds/{user}/100")).await;
    run.check(
        "add funds 100 answers done: true",
        funds.is_2xx() && funds.body()["done"] == true,
        &funds,
    );
    let credit = run.credit_of(&user).await;
    run.check("credit is 100", credit == 100, &funds);

    let pay = run.post(&format!("/payment/pay/{user}/10")).await;
    let credit = run.credit_of(&user).await;
    run.check(
        "paying 10 works and leaves 90",
        pay.is_2xx() && credit == 90,
        &pay,
    );

    let refused = run.post(&format!("/payment/pay/{user}/1000")).await;
    run.check(
        "paying more than the credit is a 4xx with a JSON error",
        refused.is_4xx() && refused.has_error(),
        &refused,
    );
    user
}

async fn orders(run: &mut Run, item1: &str, item2: &str, user: &str) {
    let created = run.post(&format!("/orders/create/{user}")).await;
    let order = created.field("order_id").unwrap_or_default();
    run.check(
        "create order returns an order_id",
        created.is_2xx() && !order.is_empty(),
        &created,
    );

    let a1 = run
        .post(&format!("/orders/addItem/{order}/{item1}/1"))
        .await;
    let a2 = run
        .post(&format!("/orders/addItem/{order}/{item2}/1"))
        .await;
    let found = run.get(&format!("/orders/find/{order}")).await;
    let total = found.body()["total_cost"].as_i64().unwrap_or(-1);
    run.check(
        "add both items: total_cost is 5 + 7",
        a1.is_2xx() && a2.is_2xx() && total == 12 && found.body()["paid"] == false,
        &found,
    );

    let checkout = run.post(&format!("/orders/checkout/{order}")).await;
    run.check(
        "checkout with an item out of stock is a 4xx",
        checkout.is_4xx(),
        &checkout,
    );
    let unchanged = run.stock_of(item1).await == 7
        && run.stock_of(item2).await == 0
        && run.credit_of(user).await == 90;
    run.check(
        "the failed checkout changed nothing (stock 7 and 0, credit 90)",
        unchanged,
        &checkout,
    );
    let found = run.get(&format!("/orders/find/{order}")).await;
    run.check(
        "the order is still unpaid",
        found.body()["paid"] == false,
        &found,
    );

    let add = run.post(&format!("/stock/add/{item2}/5")).await;
    run.check("add 5 stock to the second item", add.is_2xx(), &add);

    let checkout = run.post(&format!("/orders/checkout/{order}")).await;
    run.check("checkout succeeds", checkout.is_2xx(), &checkout);
    let taken = run.stock_of(item1).await == 6 && run.stock_of(item2).await == 4;
    run.check(
        "each item's stock went down by exactly 1 (6 and 4)",
        taken,
        &checkout,
    );
    let credit = run.credit_of(user).await;
    run.check(
        "credit went down by exactly total_cost (90 - 12 = 78)",
        credit == 90 - total,
        &checkout,
    );

    let again = run.post(&format!("/orders/checkout/{order}")).await;
    run.check(
        "a second checkout of the paid order is a 2xx",
        again.is_2xx(),
        &again,
    );
    let nothing = run.credit_of(user).await == 78
        && run.stock_of(item1).await == 6
        && run.stock_of(item2).await == 4;
    run.check("the second checkout charged nothing", nothing, &again);

    let found = run.get(&format!("/orders/find/{order}")).await;
    let body = found.body();
    let items = body["items"].as_array().map_or(0, Vec::len);
    run.check(
        "find order shows paid: true, the user and both items",
        body["paid"] == true && body["user_id"] == json!(user) && items == 2,
        &found,
    );

    let late = run
        .post(&format!("/orders/addItem/{order}/{item1}/1"))
        .await;
    run.check(
        "adding an item to a paid order is a 4xx",
        late.is_4xx(),
        &late,
    );
}

async fn bad_input(run: &mut Run) {
    for price in ["-3", "5.83"] {
        let answer = run.post(&format!("/stock/item/create/{price}")).await;
        run.check(
            &format!("create item with price {price} is a 400 with a JSON error"),
            answer.code() == 400 && answer.has_error(),
            &answer,
        );
    }
    let unknown = run.get("/stock/find/no-such-item").await;
    run.check(
        "finding an unknown item is a 4xx with a JSON error",
        unknown.is_4xx() && unknown.has_error(),
        &unknown,
    );
    for (path, who) in [
        ("/no/such/path", "gateway"),
        ("/stock/no/such/path", "service"),
    ] {
        let answer = run.get(path).await;
        run.check(
            &format!("an unknown path is a 404 with a JSON error ({who})"),
            answer.code() == 404 && answer.has_error(),
            &answer,
        );
    }
}

async fn not_routed(run: &mut Run) {
    for path in NOT_ROUTED {
        let answer = run.get(path).await;
        run.check(
            &format!("GET {path} is not routed by the gateway (its JSON 404)"),
            answer.code() == 404 && answer.body()["error"] == "no route for this path",
            &answer,
        );
    }
}
