//! The checkout phase: every order's checkout fired at once (or `max_in_flight` at a time),
//! each answer recorded as it is. Nothing here retries: the first answer is the one judged.

use crate::api::{Answer, Exchange};
use crate::phase::Phase;
use crate::runner::Runner;
use crate::setup::OrderFixture;
use std::time::Duration;

/// Returns the exchanges in the order of `orders`.
pub async fn fire_all(
    runner: &Runner,
    orders: &[OrderFixture],
    timeout: Duration,
    max_in_flight: usize,
) -> Vec<Exchange> {
    let in_flight = if max_in_flight == 0 {
        orders.len()
    } else {
        max_in_flight
    };
    println!("checkout: firing {} checkouts", orders.len());
    let jobs = orders.iter().map(|o| {
        let (api, id) = (runner.api.clone(), o.id.clone());
        async move { api.checkout(&id, timeout).await }
    });
    let exchanges = runner.run(Phase::Checkout, jobs.collect(), in_flight).await;
    print_answers(&exchanges);
    exchanges
}

/// Every checkout has answered: how, in one line.
fn print_answers(exchanges: &[Exchange]) {
    let count = |f: &dyn Fn(&Answer) -> bool| exchanges.iter().filter(|e| f(&e.answer)).count();
    println!(
        "answers: {} total, {} 2xx, {} 4xx, {} 5xx, {} other, {} unknown",
        exchanges.len(),
        count(&|a| a.is_2xx()),
        count(&|a| a.is_refusal()),
        count(&|a| a.is_5xx()),
        count(&|a| matches!(a.code(), Some(c) if !(200..600).contains(&c))),
        count(&|a| a.code().is_none()),
    );
}
