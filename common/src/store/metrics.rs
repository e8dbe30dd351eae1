//! The connection's own metrics: `redis_pool_wait_seconds`, `redis_errors_total{kind}`
//! and `redis_retries_total` (the replication counters are [`super::replicas`]' own).

use prometheus::core::Collector;
use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, Opts};

use crate::metrics::checked;

/// What a failed Redis call is counted as in `redis_errors_total{kind}`.
#[derive(Clone, Copy)]
pub(super) enum ErrorKind {
    /// No connection within the bound.
    Pool,
    /// No answer within the bound.
    Timeout,
    /// An error answer or a broken connection.
    Command,
    /// Given up because the connection was replaced after a failover.
    Replaced,
}

impl ErrorKind {
    const ALL: [ErrorKind; 4] = [
        ErrorKind::Pool,
        ErrorKind::Timeout,
        ErrorKind::Command,
        ErrorKind::Replaced,
    ];

    fn label(self) -> &'static str {
        match self {
            ErrorKind::Pool => "pool",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Command => "command",
            ErrorKind::Replaced => "replaced",
        }
    }
}

#[derive(Clone)]
pub(super) struct StoreMetrics {
    pool_wait: Histogram,
    errors: IntCounterVec,
    retries: IntCounter,
}

impl StoreMetrics {
    pub(super) fn new() -> Self {
        let metrics = StoreMetrics {
            pool_wait: checked(Histogram::with_opts(
                HistogramOpts::new(
                    "redis_pool_wait_seconds",
                    "Time spent getting the shared Redis Cluster connection (opening it).",
                )
                .buckets(vec![
                    0.000_01, 0.000_05, 0.000_1, 0.000_5, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0,
                    2.5,
                ]),
            )),
            errors: checked(IntCounterVec::new(
                Opts::new(
                    "redis_errors_total",
                    "Redis failures: kind=pool (no connection within the bound), \
                     timeout (no answer within the bound), command (an error answer \
                     or a broken connection).",
                ),
                &["kind"],
            )),
            retries: checked(IntCounter::new(
                "redis_retries_total",
                "Redis calls sent again after a failure that may pass (connection refused or \
                 lost, timeout, LOADING, failover, a replica not acknowledging yet), within \
                 REDIS_WAIT_MS.",
            )),
        };
        for kind in ErrorKind::ALL {
            metrics.errors.with_label_values(&[kind.label()]);
        }
        metrics
    }

    pub(super) fn collectors(&self) -> Vec<Box<dyn Collector>> {
        vec![
            Box::new(self.pool_wait.clone()),
            Box::new(self.errors.clone()),
            Box::new(self.retries.clone()),
        ]
    }

    pub(super) fn pool_wait(&self, seconds: f64) {
        self.pool_wait.observe(seconds);
    }

    pub(super) fn error(&self, kind: ErrorKind) {
        self.errors.with_label_values(&[kind.label()]).inc();
    }

    pub(super) fn retry(&self) {
        self.retries.inc();
    }
}
