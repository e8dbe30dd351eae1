//! The checkout phase: every order's checkout fired at once, each answer recorded, and a
//! progress line every second. Nothing here retries: the first answer is the one judged.

use crate::api::{Api, CheckoutAnswer};
use crate::setup::OrderFixture;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

#[derive(Default)]
struct Counters {
    answered: AtomicUsize,
    successes: AtomicUsize,
    refusals: AtomicUsize,
    unknown: AtomicUsize,
}

impl Counters {
    fn line(&self, total: usize, start: Instant) -> String {
        format!(
            "  [{:6.1}s] answered {}/{total}, successes {}, refusals (4xx) {}, unknown {}",
            start.elapsed().as_secs_f64(),
            self.answered.load(Relaxed),
            self.successes.load(Relaxed),
            self.refusals.load(Relaxed),
            self.unknown.load(Relaxed),
        )
    }
}

/// Fires all checkouts (at most `max_in_flight` at once, 0 = all) and returns the answers in
/// the order of `orders`.
pub async fn fire_all(
    api: &Api,
    orders: &[OrderFixture],
    timeout: Duration,
    max_in_flight: usize,
) -> Vec<CheckoutAnswer> {
    let total = orders.len();
    let counters = Arc::new(Counters::default());
    let permits = Arc::new(Semaphore::new(if max_in_flight == 0 {
        Semaphore::MAX_PERMITS
    } else {
        max_in_flight
    }));
    let start = Instant::now();
    let progress = {
        let counters = counters.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.tick().await;
            loop {
                tick.tick().await;
                println!("{}", counters.line(total, start));
            }
        })
    };
    let handles: Vec<_> = orders
        .iter()
        .map(|order| {
            let (api, id) = (api.clone(), order.id.clone());
            let (counters, permits) = (counters.clone(), permits.clone());
            tokio::spawn(async move {
                let _permit = permits.acquire_owned().await;
                let answer = api.checkout(&id, timeout).await;
                let bucket = match &answer {
                    a if a.is_success() => &counters.successes,
                    CheckoutAnswer::Unknown(_) => &counters.unknown,
                    _ => &counters.refusals,
                };
                bucket.fetch_add(1, Relaxed);
                counters.answered.fetch_add(1, Relaxed);
                answer
            })
        })
        .collect();
    let mut answers = Vec::with_capacity(total);
    for handle in handles {
        answers.push(match handle.await {
            Ok(answer) => answer,
            Err(e) => CheckoutAnswer::Unknown(format!("checkout task failed: {e}")),
        });
    }
    progress.abort();
    println!("{}", counters.line(total, start));
    answers
}
