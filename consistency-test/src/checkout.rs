//! The checkout phase: every order's checkout fired at once (or `max_in_flight` at a time),
//! each answer recorded as it is. Nothing here retries: the first answer is the one judged.

use crate::api::Exchange;
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
    runner.run(Phase::Checkout, jobs.collect(), in_flight).await
}
