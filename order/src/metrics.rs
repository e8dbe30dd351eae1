//! The order service's own metrics, registered next to the HTTP and Redis ones.
//!
//! - `saga_outcomes_total{outcome, reason}`: sagas whose outcome this replica
//!   logged: `committed`/`none`, or `aborted` with `stock_refused` (the reserve was
//!   refused) or `payment_refused` (the charge was refused). Counted at the one
//!   compare-and-set that decides it (to `committed`, or to compensating after the
//!   refusal), so never twice.
//! - `sagas_in_flight`: sagas this replica is driving now.
//! - `saga_recovery_actions_total{action}`: `claimed` (an abandoned saga's lease was
//!   taken), `finished` / `unfinished` (driving it reached a final state / did not),
//!   `failed_pass` (a recovery pass could not read Redis).
//! - `participant_call_failures_total{peer, call, kind}`: calls to stock or payment
//!   that failed: `unreachable` (no answer in time, refused connection, unreadable
//!   answer), `5xx` (also: a batch's result for that saga says the participant
//!   failed) or `4xx`. The saga runner retries every failed step call with
//!   backoff, so for the saga calls this is the number of participant retries.
//! - `participant_batch_calls{peer, call}` (histogram): how many sagas each batched
//!   `reserve` or `charge` request carried; its `_count` is the number of requests.

use common::metrics::checked;
use prometheus::core::Collector;
use prometheus::{Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts};

use crate::saga::machine::{Event, State};

#[derive(Clone)]
pub struct SagaMetrics {
    outcomes: IntCounterVec,
    in_flight: IntGauge,
    recovery: IntCounterVec,
}

/// What a recovery pass did.
#[derive(Debug, Clone, Copy)]
pub enum Recovery {
    Claimed,
    Finished,
    Unfinished,
    FailedPass,
}

impl SagaMetrics {
    pub fn new() -> Self {
        let metrics = SagaMetrics {
            outcomes: checked(IntCounterVec::new(
                Opts::new(
                    "saga_outcomes_total",
                    "Sagas this replica made final, by outcome (committed, aborted) \
                     and reason (none, stock_refused, payment_refused).",
                ),
                &["outcome", "reason"],
            )),
            in_flight: checked(IntGauge::new(
                "sagas_in_flight",
                "Sagas this replica is driving now.",
            )),
            recovery: checked(IntCounterVec::new(
                Opts::new(
                    "saga_recovery_actions_total",
                    "Recovery of abandoned sagas: claimed, finished, unfinished, failed_pass.",
                ),
                &["action"],
            )),
        };
        // Every series exists from the start, so a rate over it is defined before the
        // first saga of its kind.
        for labels in [
            ["committed", "none"],
            ["aborted", "stock_refused"],
            ["aborted", "payment_refused"],
        ] {
            metrics.outcomes.with_label_values(&labels);
        }
        for action in [
            Recovery::Claimed,
            Recovery::Finished,
            Recovery::Unfinished,
            Recovery::FailedPass,
        ] {
            metrics.recovery.with_label_values(&[action.label()]);
        }
        metrics
    }

    pub fn collectors(&self) -> Vec<Box<dyn Collector>> {
        vec![
            Box::new(self.outcomes.clone()),
            Box::new(self.in_flight.clone()),
            Box::new(self.recovery.clone()),
        ]
    }

    /// Records that this driver logged a saga's move to `to` after `event`: a commit,
    /// or the compensation that a refusal decided (which participant refused is known
    /// only here: both refusals compensate alike).
    pub fn advanced(&self, to: State, event: Event) {
        let labels = match (to, event) {
            (State::Committed, _) => ["committed", "none"],
            (State::Compensating { .. }, Event::ReserveRefused) => ["aborted", "stock_refused"],
            (State::Compensating { .. }, Event::ChargeRefused) => ["aborted", "payment_refused"],
            _ => return,
        };
        self.outcomes.with_label_values(&labels).inc();
    }

    /// Counts a saga as in flight until the returned guard is dropped.
    pub fn driving(&self) -> InFlight {
        self.in_flight.inc();
        InFlight(self.in_flight.clone())
    }

    pub fn recovery(&self, action: Recovery, n: u64) {
        self.recovery.with_label_values(&[action.label()]).inc_by(n);
    }
}

impl Default for SagaMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Recovery {
    fn label(self) -> &'static str {
        match self {
            Recovery::Claimed => "claimed",
            Recovery::Finished => "finished",
            Recovery::Unfinished => "unfinished",
            Recovery::FailedPass => "failed_pass",
        }
    }
}

/// Decrements `sagas_in_flight` when dropped, however the drive ended.
pub struct InFlight(IntGauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// `participant_call_failures_total` and `participant_batch_calls`, owned by
/// [`Peers`](crate::peers::Peers).
#[derive(Clone)]
pub struct PeerMetrics {
    failures: IntCounterVec,
    batch_calls: HistogramVec,
}

impl PeerMetrics {
    pub fn new() -> Self {
        let metrics = PeerMetrics {
            failures: checked(IntCounterVec::new(
                Opts::new(
                    "participant_call_failures_total",
                    "Failed calls to stock or payment by peer, call and kind \
                     (unreachable, 5xx, 4xx); failed saga step calls are retried.",
                ),
                &["peer", "call", "kind"],
            )),
            batch_calls: checked(HistogramVec::new(
                HistogramOpts::new(
                    "participant_batch_calls",
                    "Sagas carried by one batched request to stock or payment, by peer and call.",
                )
                .buckets(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0]),
                &["peer", "call"],
            )),
        };
        let calls = [
            ("stock", "find"),
            ("stock", "reserve"),
            ("stock", "release"),
            ("payment", "charge"),
            ("payment", "refund"),
        ];
        for (peer, call) in calls {
            for kind in ["unreachable", "5xx", "4xx"] {
                metrics.failures.with_label_values(&[peer, call, kind]);
            }
        }
        metrics
    }

    pub fn collectors(&self) -> Vec<Box<dyn Collector>> {
        vec![
            Box::new(self.failures.clone()),
            Box::new(self.batch_calls.clone()),
        ]
    }

    /// The histogram that the batches of one step record their sizes in.
    pub fn batch_sizes(&self, peer: &str, call: &str) -> Histogram {
        self.batch_calls.with_label_values(&[peer, call])
    }

    /// Counts a failed call; `kind` is one of `unreachable`, `5xx`, `4xx`.
    pub fn failed(&self, peer: &str, call: &str, kind: &'static str) {
        self.failures.with_label_values(&[peer, call, kind]).inc();
    }
}

impl Default for PeerMetrics {
    fn default() -> Self {
        Self::new()
    }
}
