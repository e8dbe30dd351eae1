//! `GET /metrics` of all three services, scraped after real checkouts: the request,
//! saga, recovery, participant and Redis series move as the system works.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::helpers::{id, order_store, TestSystem};
use order::store::Begin;

/// One scrape: every sample line as (metric name, labels, value).
struct Scrape {
    text: String,
    samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

impl Scrape {
    async fn of(sys: &TestSystem, base: &str) -> Scrape {
        let resp = sys
            .http
            .get(format!("{base}/metrics"))
            .send()
            .await
            .expect("/metrics answers");
        assert_eq!(resp.status().as_u16(), 200);
        let content_type = resp.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .to_string();
        assert!(content_type.starts_with("text/plain"), "{content_type}");
        let text = resp.text().await.expect("a body");
        let samples = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(parse_sample)
            .collect();
        Scrape { text, samples }
    }

    /// The sum of every sample of `name` whose labels include `labels`.
    fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|(n, l, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, _, v)| v)
            .sum()
    }

    /// The value of the one sample of `name` with exactly `labels`.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let found: Vec<_> = self
            .samples
            .iter()
            .filter(|(n, l, _)| {
                n == name
                    && l.len() == labels.len()
                    && labels
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .collect();
        assert_eq!(
            found.len(),
            1,
            "one sample {name}{labels:?} expected in:\n{}",
            self.text
        );
        found[0].2
    }
}

/// `name{k="v",...} value` (label values here never hold `",`).
fn parse_sample(line: &str) -> (String, BTreeMap<String, String>, f64) {
    let (series, value) = line.rsplit_once(' ').expect("a sample line");
    let value: f64 = value.parse().expect("a number");
    let Some((name, labels)) = series.split_once('{') else {
        return (series.to_string(), BTreeMap::new(), value);
    };
    let labels = labels.strip_suffix('}').expect("closing brace");
    let labels = labels
        .split("\",")
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once("=\"").expect("key=\"value\"");
            (k.to_string(), v.trim_end_matches('"').to_string())
        })
        .collect();
    (name.to_string(), labels, value)
}

fn request(
    server: &'static str,
    method: &'static str,
    route: &'static str,
    status: &'static str,
) -> [(&'static str, &'static str); 4] {
    [
        ("server", server),
        ("method", method),
        ("route", route),
        ("status", status),
    ]
}

const REQUESTS: &str = "http_request_duration_seconds_count";

#[tokio::test]
async fn checkouts_move_the_request_and_saga_metrics_of_all_three_services() {
    let sys = TestSystem::start().await;
    let a = sys.new_item(5, 1).await;
    let b = sys.new_item(7, 10).await;
    let rich = sys.new_user(100).await;
    let poor = sys.new_user(0).await;
    let paid = sys.new_order(&rich, &[(&a, 1)]).await;
    let no_stock = sys.new_order(&rich, &[(&a, 1)]).await;
    let no_credit = sys.new_order(&poor, &[(&b, 1)]).await;
    assert_eq!(sys.checkout(&paid).await.0, 200);
    assert_eq!(sys.checkout(&no_stock).await.0, 409);
    assert_eq!(sys.checkout(&no_credit).await.0, 409);
    let (s, _) = sys
        .call("GET", format!("{}/no/such/route", sys.order_url))
        .await;
    assert_eq!(s, 404);

    let order = Scrape::of(&sys, &sys.order_url).await;
    let checkout = "/checkout/{order_id}";
    assert_eq!(
        order.value(REQUESTS, &request("public", "POST", checkout, "200")),
        1.0
    );
    assert_eq!(
        order.value(REQUESTS, &request("public", "POST", checkout, "409")),
        2.0
    );
    assert_eq!(
        order.value(
            REQUESTS,
            &request(
                "public",
                "POST",
                "/addItem/{order_id}/{item_id}/{quantity}",
                "200"
            )
        ),
        3.0
    );
    assert_eq!(
        order.value(REQUESTS, &request("public", "GET", "unmatched", "404")),
        1.0
    );
    assert!(
        order.sum(
            "http_request_duration_seconds_bucket",
            &[("route", checkout), ("le", "+Inf")]
        ) == 3.0,
        "{}",
        order.text
    );
    let outcome = |o, r| order.value("saga_outcomes_total", &[("outcome", o), ("reason", r)]);
    assert_eq!(outcome("committed", "none"), 1.0);
    assert_eq!(outcome("aborted", "stock_refused"), 1.0);
    assert_eq!(outcome("aborted", "payment_refused"), 1.0);
    assert_eq!(order.value("sagas_in_flight", &[]), 0.0);
    let charge_failures = [("peer", "payment"), ("call", "charge"), ("kind", "5xx")];
    assert_eq!(
        order.value("participant_call_failures_total", &charge_failures),
        0.0
    );
    assert_eq!(order.sum("participant_call_failures_total", &[]), 0.0);
    // One checkout at a time here: every batch carried one saga.
    let reserves = [("peer", "stock"), ("call", "reserve")];
    assert_eq!(order.value("participant_batch_calls_count", &reserves), 3.0);
    assert_eq!(order.value("participant_batch_calls_sum", &reserves), 3.0);
    // The charge goes out with the reserve: the checkout refused for stock charged too.
    let charges = [("peer", "payment"), ("call", "charge")];
    assert_eq!(order.value("participant_batch_calls_count", &charges), 3.0);
    assert_eq!(order.value("redis_errors_total", &[("kind", "pool")]), 0.0);
    assert_eq!(order.sum("redis_errors_total", &[]), 0.0);
    assert!(order.value("redis_pool_wait_seconds_count", &[]) > 0.0);
    for id in [&paid, &no_stock, &no_credit, &a, &rich] {
        assert!(!order.text.contains(id.as_str()), "an id in a label: {id}");
    }

    // The participants count their saga calls on their internal port.
    let stock = Scrape::of(&sys, &sys.stock_url).await;
    let stock_saga = |route| {
        stock.sum(
            REQUESTS,
            &[("server", "internal"), ("route", route), ("status", "200")],
        )
    };
    assert_eq!(
        stock_saga("/saga/reserve"),
        3.0,
        "one batch per checkout here"
    );
    assert_eq!(stock_saga("/saga/{saga_id}/release"), 2.0);
    assert_eq!(stock_saga("/find/{item_id}"), 3.0, "prices for addItem");
    assert!(stock.value("redis_pool_wait_seconds_count", &[]) > 0.0);
    let payment = Scrape::of(&sys, &sys.payment_url).await;
    let payment_saga = |route| {
        payment.sum(
            REQUESTS,
            &[("server", "internal"), ("route", route), ("status", "200")],
        )
    };
    assert_eq!(payment_saga("/saga/charge"), 3.0);
    // Both refused checkouts refunded what went out with their reserve.
    assert_eq!(payment_saga("/saga/{saga_id}/refund"), 2.0);
}

#[tokio::test]
async fn participant_retries_and_redis_errors_are_counted() {
    let mut sys = TestSystem::start().await;
    let (_, _, order) = sys.one_line_order((2, 5), 10, 1).await;
    sys.payment_redis.kill();
    let pending = sys.checkout_in_background(&order);

    // The charge fails (payment answers 503) and is retried until payment's Redis is back.
    let failed_charges = || async {
        Scrape::of(&sys, &sys.order_url).await.sum(
            "participant_call_failures_total",
            &[("peer", "payment"), ("call", "charge"), ("kind", "5xx")],
        )
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while failed_charges().await < 2.0 {
        assert!(Instant::now() < deadline, "no failed charge was counted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let order_metrics = Scrape::of(&sys, &sys.order_url).await;
    assert_eq!(order_metrics.value("sagas_in_flight", &[]), 1.0);
    sys.payment_redis.restart();
    let resp = pending.await.expect("task").expect("answered");
    assert_eq!(resp.status().as_u16(), 200);

    let order_metrics = Scrape::of(&sys, &sys.order_url).await;
    assert_eq!(order_metrics.value("sagas_in_flight", &[]), 0.0);
    assert_eq!(
        order_metrics.value(
            "saga_outcomes_total",
            &[("outcome", "committed"), ("reason", "none")]
        ),
        1.0
    );
    let payment = Scrape::of(&sys, &sys.payment_url).await;
    assert!(
        payment.sum("redis_errors_total", &[]) >= 2.0,
        "{}",
        payment.text
    );
    assert!(
        payment.sum(REQUESTS, &[("route", "/saga/charge"), ("status", "503")]) >= 2.0,
        "{}",
        payment.text
    );
}

#[tokio::test]
async fn recovery_of_an_abandoned_saga_is_counted() {
    let sys = TestSystem::start_with(Duration::from_millis(300)).await;
    let (_, _, order) = sys.one_line_order((4, 5), 10, 2).await;
    let store = order_store(&sys.order_redis);
    let lease = Duration::from_millis(300);
    let begun = store
        .begin(
            &id("abandoned"),
            &id(&order),
            lease,
            "a-replica-that-died/1",
        )
        .await;
    assert!(matches!(begun, Ok(Begin::Started(_))));

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let scrape = Scrape::of(&sys, &sys.order_url).await;
        let action = |a| scrape.value("saga_recovery_actions_total", &[("action", a)]);
        if action("finished") >= 1.0 {
            assert_eq!(action("claimed"), 1.0);
            assert_eq!(action("unfinished"), 0.0);
            assert_eq!(
                scrape.value(
                    "saga_outcomes_total",
                    &[("outcome", "committed"), ("reason", "none")]
                ),
                1.0
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "recovery was not counted:\n{}",
            scrape.text
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(sys.order(&order).await["paid"], true);
}
