//! Runs the requests of one phase with a bound on how many are in flight, tells the chaos
//! driver which phase it is (and waits for its next kill, so even a one-request phase meets
//! a component that is down), and prints a progress line every second and one at the end.
//! It never retries: every request is its own `Exchange`, answered once.

use crate::api::{Answer, Api, Exchange};
use crate::chaos::Control;
use crate::phase::{Phase, Tally};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

pub struct Runner {
    pub api: Api,
    /// Requests in flight in a set-up or read phase.
    pub concurrency: usize,
    pub chaos: Option<Arc<Control>>,
}

#[derive(Default)]
struct Progress {
    done: AtomicUsize,
    tally: Mutex<Tally>,
}

impl Progress {
    fn tally(&self) -> Tally {
        *self.tally.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Runner {
    /// Runs `jobs` (at most `in_flight` at once) and returns their exchanges in order, one
    /// per job.
    pub async fn run<F>(&self, phase: Phase, jobs: Vec<F>, in_flight: usize) -> Vec<Exchange>
    where
        F: Future<Output = Exchange> + Send + 'static,
    {
        let total = jobs.len();
        let kills_before = self.chaos.as_ref().map_or(0, |c| c.kills().len());
        let first_kill = match &self.chaos {
            Some(chaos) => chaos.enter(phase, total > 0).await,
            None => None,
        };
        let start = Instant::now();
        let progress = Arc::new(Progress::default());
        let ticker = tokio::spawn(tick(phase, total, start, progress.clone()));
        let permits = Arc::new(Semaphore::new(in_flight.clamp(1, Semaphore::MAX_PERMITS)));
        let handles: Vec<_> = jobs
            .into_iter()
            .map(|job| {
                let (permits, progress) = (permits.clone(), progress.clone());
                tokio::spawn(async move {
                    let _permit = permits.acquire_owned().await;
                    let exchange = job.await;
                    progress
                        .tally
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .add_exchange(&exchange);
                    progress.done.fetch_add(1, Relaxed);
                    exchange
                })
            })
            .collect();
        let mut exchanges = Vec::with_capacity(total);
        for handle in handles {
            // A task only fails by panicking; its place is kept so the answers stay aligned.
            exchanges.push(handle.await.unwrap_or_else(|e| Exchange {
                phase,
                request: "(a request task failed)".into(),
                answer: Answer::NoAnswer(e.to_string()),
                repeat: None,
            }));
        }
        ticker.abort();
        let chaos_note = self.chaos.as_ref().map_or_else(String::new, |c| {
            let names: Vec<String> = c
                .kills()
                .into_iter()
                .skip(kills_before)
                .map(|k| k.victim.to_string())
                .collect();
            let kills = if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            };
            match first_kill {
                Some(name) => format!("; started right after killing {name}, kills: {kills}"),
                None => format!("; kills: {kills}"),
            }
        });
        println!(
            "phase {phase}: {total} sent in {:.2} s: {}{chaos_note}",
            start.elapsed().as_secs_f64(),
            progress.tally().summary()
        );
        exchanges
    }

    /// A set-up or read phase, `concurrency` in flight.
    pub async fn run_bounded<F>(&self, phase: Phase, jobs: Vec<F>) -> Vec<Exchange>
    where
        F: Future<Output = Exchange> + Send + 'static,
    {
        self.run(phase, jobs, self.concurrency).await
    }
}

/// A progress line every second (`  [` for the checkouts, `  <phase> [` for the others).
async fn tick(phase: Phase, total: usize, start: Instant, progress: Arc<Progress>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    loop {
        tick.tick().await;
        let (t, done) = (start.elapsed().as_secs_f64(), progress.done.load(Relaxed));
        let summary = progress.tally().summary();
        if phase == Phase::Checkout {
            println!("  [{t:6.1}s] answered {done}/{total}, {summary}");
        } else {
            println!("  {phase} [{t:6.1}s]: {done}/{total} done, {summary}");
        }
    }
}
