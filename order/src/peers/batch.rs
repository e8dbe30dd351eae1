//! Group commit for a participant step: the reserves (or charges) of every saga
//! that asks while earlier batches are in flight go out together in the next one.
//!
//! At most `in_flight` batch requests of one step are outstanding. A call that
//! finds a free slot sends at once, alone if nothing else waits, so a quiet
//! service adds no latency; otherwise it joins the queue, and the first batch to
//! come back takes everything queued (up to [`MAX_BATCH`]) with it. The busier
//! the service, the bigger the batches and the fewer requests, system calls and
//! wake-ups per checkout, on both sides of the call.
//!
//! Nothing here decides an outcome: each call gets its own saga's result, or the
//! whole batch's error, which the saga runner retries like any failed call. The
//! participant applies each saga's step atomically and idempotently, so a batch
//! that failed half way is just sent again. This module must never hold a call
//! forever: every queued call is either sent by a running flush or, when the last
//! flush ends abnormally (its runtime shutting down), answered with an error.

use std::sync::{Arc, Mutex, MutexGuard};

use common::participant::{Batch, BatchReply, CallResult, SagaCall, StepReply, MAX_BATCH};
use prometheus::Histogram;
use serde::Serialize;
use tokio::sync::oneshot;

use super::endpoints::Endpoints;
use super::http::{decode, PeerError};

/// Batches one step (`reserve` or `charge`) of one participant.
pub struct Batcher<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for Batcher<T> {
    fn clone(&self) -> Self {
        Batcher {
            shared: self.shared.clone(),
        }
    }
}

struct Shared<T> {
    client: reqwest::Client,
    replicas: Endpoints,
    path: &'static str,
    peer: &'static str,
    in_flight_max: usize,
    sizes: Histogram,
    queue: Mutex<Queue<T>>,
}

struct Queue<T> {
    waiting: Vec<Waiting<T>>,
    in_flight: usize,
}

type Answer = oneshot::Sender<Result<StepReply, PeerError>>;

struct Waiting<T> {
    call: SagaCall<T>,
    answer: Answer,
}

impl<T: Serialize + Send + Sync + 'static> Batcher<T> {
    /// Batches go to `path` on one of `replicas`; `sizes` records how many calls each
    /// batch carries.
    pub fn new(
        client: reqwest::Client,
        replicas: Endpoints,
        path: &'static str,
        in_flight: usize,
        sizes: Histogram,
    ) -> Self {
        Batcher {
            shared: Arc::new(Shared {
                client,
                peer: replicas.peer(),
                replicas,
                path,
                in_flight_max: in_flight.max(1),
                sizes,
                queue: Mutex::new(Queue {
                    waiting: Vec::new(),
                    in_flight: 0,
                }),
            }),
        }
    }

    /// Sends `call` in the next batch and returns its saga's reply.
    pub async fn call(&self, call: SagaCall<T>) -> Result<StepReply, PeerError> {
        let (answer, reply) = oneshot::channel();
        let start = {
            let mut queue = self.shared.lock();
            queue.waiting.push(Waiting { call, answer });
            if queue.in_flight < self.shared.in_flight_max {
                queue.in_flight += 1;
                Some(queue.take())
            } else {
                None
            }
        };
        if let Some(batch) = start {
            let slot = Slot {
                shared: self.shared.clone(),
                held: true,
            };
            tokio::spawn(slot.flush(batch));
        }
        reply.await.unwrap_or_else(|_| {
            Err(PeerError::Failed {
                peer: self.shared.peer,
                error: "the batch carrying the call was dropped (the service is stopping)".into(),
            })
        })
    }
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, Queue<T>> {
        // A panic while holding the lock cannot leave the queue half-changed.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<T> Queue<T> {
    fn take(&mut self) -> Vec<Waiting<T>> {
        if self.waiting.len() <= MAX_BATCH {
            std::mem::take(&mut self.waiting)
        } else {
            self.waiting.drain(..MAX_BATCH).collect()
        }
    }
}

/// One of the `in_flight` sending slots, held by a flush task. A flush frees it
/// when it finds the queue empty, under the same lock that callers queue under.
/// If the task is dropped instead (its runtime stopping), the slot frees itself,
/// and if it was the last one, the calls still queued are answered with an error
/// (their answer channels close) instead of waiting forever.
struct Slot<T> {
    shared: Arc<Shared<T>>,
    held: bool,
}

impl<T> Drop for Slot<T> {
    fn drop(&mut self) {
        if !self.held {
            return;
        }
        let mut queue = self.shared.lock();
        queue.in_flight -= 1;
        if queue.in_flight == 0 {
            queue.waiting.clear();
        }
    }
}

impl<T: Serialize + Send + Sync + 'static> Slot<T> {
    /// Sends `batch`, answers its calls, and goes on with whatever queued
    /// meanwhile until the queue is empty.
    async fn flush(mut self, mut batch: Vec<Waiting<T>>) {
        loop {
            let (calls, answers): (Vec<_>, Vec<_>) =
                batch.into_iter().map(|w| (w.call, w.answer)).unzip();
            let result = self.send(Batch { calls }).await;
            answer(self.shared.peer, answers, result);
            let mut queue = self.shared.lock();
            if queue.waiting.is_empty() {
                queue.in_flight -= 1;
                drop(queue);
                self.held = false;
                return;
            }
            batch = queue.take();
        }
    }

    async fn send(&self, batch: Batch<T>) -> Result<BatchReply, PeerError> {
        let shared = &self.shared;
        shared.sizes.observe(batch.calls.len() as f64);
        let resp = shared
            .replicas
            .send(|base| {
                let url = format!("{base}{}", shared.path);
                shared.client.post(url).json(&batch)
            })
            .await?;
        decode(shared.peer, resp).await
    }
}

/// Gives every call of a batch its result: its saga's reply, or the batch's error.
fn answer(peer: &'static str, answers: Vec<Answer>, result: Result<BatchReply, PeerError>) {
    let results = match result {
        Ok(reply) if reply.results.len() == answers.len() => reply.results,
        Ok(reply) => {
            let error = format!(
                "answered {} results to a batch of {} calls",
                reply.results.len(),
                answers.len()
            );
            return fail_all(answers, PeerError::Failed { peer, error });
        }
        Err(e) => return fail_all(answers, e),
    };
    for (answer, result) in answers.into_iter().zip(results) {
        let reply = match result {
            CallResult::Reply(reply) => Ok(reply),
            CallResult::Failed { error } => Err(PeerError::Failed { peer, error }),
        };
        // The caller may have stopped waiting (its saga's lease was lost): fine.
        let _ = answer.send(reply);
    }
}

fn fail_all(answers: Vec<Answer>, e: PeerError) {
    for answer in answers {
        let _ = answer.send(Err(e.clone()));
    }
}
