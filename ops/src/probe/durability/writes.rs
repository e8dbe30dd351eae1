//! The durability probe's load: streams of keyed writes through the gateway, each sent again
//! with its key until it is answered, paced over a pass so that the faults land while they
//! run, and the faults fired when a share of a stream is acknowledged.

use super::super::client::{Answer, Gateway};
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use reqwest::Method;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// One request's bound.
const REQUEST_BOUND: Duration = Duration::from_secs(15);

/// How the writes of a pass are sent.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// Writes sent at once.
    pub workers: usize,
    /// The writes of a pass are spread over this long.
    pub pass: Duration,
    /// One write is sent again until it is answered, at most this long.
    pub retry: Duration,
}

/// Sends a write until it is answered below 500 (a 4xx is final: a repeat would get the
/// same answer), always with the same key, within `retry`. Returns the attempts and the
/// last answer.
pub async fn acknowledged(
    gateway: &Gateway,
    path: &str,
    key: &str,
    retry: Duration,
) -> (usize, Answer) {
    let deadline = Instant::now() + retry;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let answer = gateway
            .call(Method::POST, path, Some(key), REQUEST_BOUND)
            .await;
        if (200..500).contains(&answer.code()) || Instant::now() >= deadline {
            return (attempts, answer);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One kind of write in one pass: its path, its keys, and what each got.
pub struct Stream {
    pub what: &'static str,
    pub path: String,
    pub keys: Vec<String>,
    acked: AtomicUsize,
    tally: Mutex<StreamTally>,
}

#[derive(Default, Clone)]
pub struct StreamTally {
    /// When each acknowledgement came.
    pub acks: Vec<Instant>,
    /// Writes sent more than once.
    pub retried: usize,
    pub attempts: usize,
    /// Writes never answered 2xx: their key and last answer.
    pub refused: Vec<(String, Answer)>,
}

impl Stream {
    pub fn new(what: &'static str, path: String, count: usize) -> Stream {
        let keys = (0..count)
            .map(|_| format!("durability-{}", uuid::Uuid::new_v4()))
            .collect();
        Stream {
            what,
            path,
            keys,
            acked: AtomicUsize::new(0),
            tally: Mutex::new(StreamTally::default()),
        }
    }

    pub fn acked(&self) -> usize {
        self.acked.load(Ordering::SeqCst)
    }

    pub fn tally(&self) -> StreamTally {
        self.tally
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    async fn send(&self, gateway: &Gateway, key: &str, retry: Duration) {
        let (attempts, answer) = acknowledged(gateway, &self.path, key, retry).await;
        let mut tally = self.tally.lock().unwrap_or_else(PoisonError::into_inner);
        tally.attempts += attempts;
        tally.retried += usize::from(attempts > 1);
        if answer.is_2xx() {
            tally.acks.push(Instant::now());
            self.acked.fetch_add(1, Ordering::SeqCst);
        } else {
            tally.refused.push((key.to_string(), answer));
        }
    }

    /// The longest time without an acknowledgement since `start` (the failover as the
    /// client saw it), and when it began, counted from `start`.
    pub fn longest_pause(&self, start: Instant) -> (Duration, Duration) {
        let mut times = self.tally().acks;
        times.sort();
        let mut last = start;
        let mut longest = (Duration::ZERO, Duration::ZERO);
        for t in times {
            let gap = t.saturating_duration_since(last);
            if gap > longest.0 {
                longest = (gap, last.saturating_duration_since(start));
            }
            last = t;
        }
        longest
    }
}

/// A fault that comes once `share` of `stream`'s writes are acknowledged; it resolves to
/// the victim's description.
pub struct FaultAt<'a> {
    pub stream: Arc<Stream>,
    pub share: f64,
    pub fault: BoxFuture<'a, anyhow::Result<String>>,
}

fn log(t0: Instant, message: &str) {
    println!("[durability {:6.1}s] {message}", t0.elapsed().as_secs_f64());
}

fn progress(streams: &[Arc<Stream>]) -> String {
    let each: Vec<String> = streams
        .iter()
        .map(|s| {
            format!(
                "{} {}/{} acknowledged ({} retried)",
                s.what,
                s.acked(),
                s.keys.len(),
                s.tally().retried
            )
        })
        .collect();
    format!("  {}", each.join(", "))
}

/// Sends each stream's writes from its own `pace.workers` tasks, the i-th write of a stream
/// due i × step after the start (a write whose time has come waits only for a free worker
/// of its stream, so a backlog after a pause is sent at once); fires each fault when its
/// share is acknowledged, while the writes go on. Streams share no worker, so one stream's
/// fault never holds another's writes (but `addItem` asks stock for the item's price: the
/// order stream's longest pause is the longer of its own fault's and stock's).
/// Returns the start and the victims, fault by fault (a fault whose share never came fires
/// after the writes).
pub async fn run(
    gateway: &Gateway,
    streams: &[Arc<Stream>],
    faults: Vec<FaultAt<'_>>,
    pace: Pace,
    t0: Instant,
) -> anyhow::Result<(Instant, Vec<String>)> {
    let longest = streams
        .iter()
        .map(|s| s.keys.len())
        .max()
        .unwrap_or(1)
        .max(1);
    let step = pace.pass.div_f64(longest as f64);
    let start = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for stream in streams {
        let due = (0..stream.keys.len()).map(|i| (step * i as u32, i));
        let queue = Arc::new(Mutex::new(due.collect::<VecDeque<_>>()));
        for _ in 0..pace.workers.max(1) {
            let (queue, stream, gateway) = (queue.clone(), stream.clone(), gateway.clone());
            workers.spawn(async move {
                loop {
                    let next = queue
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .pop_front();
                    let Some((at, i)) = next else { return };
                    tokio::time::sleep_until((start + at).into()).await;
                    stream.send(&gateway, &stream.keys[i], pace.retry).await;
                }
            });
        }
    }

    let mut victims = vec![String::new(); faults.len()];
    let mut pending: Vec<Option<FaultAt>> = faults.into_iter().map(Some).collect();
    let mut firing = FuturesUnordered::new();
    let mut last_report: Option<Instant> = None;
    while !workers.is_empty() || !firing.is_empty() {
        for (n, slot) in pending.iter_mut().enumerate() {
            let due = slot
                .as_ref()
                .is_some_and(|k| k.stream.acked() as f64 >= k.share * k.stream.keys.len() as f64);
            if let Some(fault) = due.then(|| slot.take()).flatten() {
                let (at, what) = (fault.stream.acked(), fault.stream.what);
                log(
                    t0,
                    &format!(
                        "{what}: fault begins {:.2} s into the pass",
                        start.elapsed().as_secs_f64()
                    ),
                );
                firing.push(async move { (n, what, at, fault.fault.await) });
            }
        }
        if last_report.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
            last_report = Some(Instant::now());
            log(t0, &progress(streams));
        }
        tokio::select! {
            Some(done) = workers.join_next(), if !workers.is_empty() => { done?; }
            Some((n, what, at, victim)) = firing.next(), if !firing.is_empty() => {
                let victim = victim?;
                log(t0, &format!("{what}: {victim} ({at} acknowledged when its turn came)"));
                victims[n] = victim;
            }
            _ = tokio::time::sleep(Duration::from_millis(10)) => {}
        }
    }
    for (n, fault) in pending
        .into_iter()
        .enumerate()
        .filter_map(|(n, k)| Some((n, k?)))
    {
        let victim = fault.fault.await?;
        log(
            t0,
            &format!(
                "{}: {victim} after every write (it never reached {:.0}%)",
                fault.stream.what,
                fault.share * 100.0
            ),
        );
        victims[n] = victim;
    }
    Ok((start, victims))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_pause_counts_from_the_start_to_each_acknowledgement() {
        let stream = Stream::new("stock/add", "/stock/add/x/1".into(), 3);
        assert_eq!(stream.keys.len(), 3);
        assert_ne!(stream.keys[0], stream.keys[1]);
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        stream.tally.lock().unwrap().acks = vec![at(900), at(100), at(300)];
        let ms = Duration::from_millis;
        assert_eq!(stream.longest_pause(start), (ms(600), ms(300)));
        stream.tally.lock().unwrap().acks = vec![at(700), at(800)];
        assert_eq!(stream.longest_pause(start), (ms(700), ms(0)));
        let none = Stream::new("payment/add_funds", "/p".into(), 0);
        assert_eq!(none.longest_pause(start), (ms(0), ms(0)));
    }
}
