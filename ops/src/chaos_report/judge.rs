//! The chaos report's judgement: per kill, the errors, the longest gap and the p99, against
//! the target of its kind of victim; the steady phase before the first kill; the timeline's
//! 100 ms bins. Pure functions of the samples (one per request the load sent) and the kills;
//! no I/O here (the writers are in `report.rs`). Times are seconds since the run's start.
//!
//! A kill has two times: `called`, when the kill was asked for, and `killed`, when the fault
//! driver returned (the victim is gone then). Per kill, its window runs from `called` to the
//! next kill's (the last one's to the end of the run, so that requests still in flight when
//! the load stops are judged too):
//! - errors: answers in the window (by the time they ended) that were not the expected 2xx;
//! - longest gap: per service (order, stock, payment), and per entity the probes read, the
//!   longest wait for a successful answer between `called` and the end of the settle period
//!   after the restart: from the first request sent after a success (or after `called`) to
//!   the next success; the worst counts, so a stalled service or Redis master shows even
//!   while the others answer;
//! - p99: latency of every request in flight at some time during the 5 s after `killed`.

use crate::stack::SERVICES;
use std::fmt;

/// Seconds after a kill whose requests in flight make its p99.
pub const P99_WINDOW: f64 = 5.0;
/// The timeline's bin (seconds).
pub const BIN: f64 = 0.1;

/// What a victim is, which sets its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    ServiceReplica,
    RedisMaster,
    RedisReplica,
    /// A cluster node named on the command line, whatever its role.
    RedisNode,
    /// The one Redis of a service without Redis Cluster.
    RedisSingle,
}

impl Role {
    /// Longest gap allowed (seconds). A Redis node's kill costs a failover
    /// (cluster-node-timeout 0.5 s plus the election) or, for a replica, the master noticing
    /// it is gone before WAIT stops waiting for it; a service replica's kill only a gateway
    /// retry.
    pub fn target_gap(self) -> f64 {
        match self {
            Role::ServiceReplica => 0.5,
            Role::RedisMaster | Role::RedisReplica | Role::RedisNode | Role::RedisSingle => 3.0,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::ServiceReplica => "service replica",
            Role::RedisMaster => "redis master",
            Role::RedisReplica => "redis replica",
            Role::RedisNode => "redis node",
            Role::RedisSingle => "redis (single)",
        })
    }
}

/// How a request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    Http(u16),
    /// A connection error.
    Conn,
    /// No answer within the request timeout.
    Timeout,
    /// A 2xx whose body was not the expected one.
    Wrong,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::Http(code) => write!(f, "{code}"),
            Status::Conn => f.write_str("conn"),
            Status::Timeout => f.write_str("timeout"),
            Status::Wrong => f.write_str("wrong"),
        }
    }
}

/// One request: seconds since the run's start, what it was, and how it ended.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub start: f64,
    pub end: f64,
    /// The step, e.g. "checkout", or the probe, e.g. "probe-3".
    pub kind: String,
    /// order, stock or payment (the first path segment's service).
    pub service: &'static str,
    pub status: Status,
    pub note: String,
}

impl Sample {
    /// The expected answer: a 2xx with the expected body (anything else has another status).
    pub fn ok(&self) -> bool {
        matches!(self.status, Status::Http(200..=299))
    }

    pub fn latency(&self) -> f64 {
        self.end - self.start
    }
}

/// One kill and what became of its victim.
#[derive(Clone, Debug, PartialEq)]
pub struct Kill {
    pub victim: String,
    pub role: Role,
    /// The kill was asked for.
    pub called: f64,
    /// The fault driver returned: the victim is gone.
    pub killed: Option<f64>,
    /// The start returned with the victim healthy (None: it failed or never came).
    pub recovered: Option<f64>,
    /// The end of the settle period after the restart.
    pub settled: Option<f64>,
    /// The run broke off while this victim was down.
    pub broken: bool,
    pub note: String,
}

impl Kill {
    pub fn new(victim: String, role: Role, called: f64) -> Kill {
        Kill {
            victim,
            role,
            called,
            killed: None,
            recovered: None,
            settled: None,
            broken: false,
            note: String::new(),
        }
    }

    /// When the victim was gone (the call, when the driver never returned).
    pub fn killed_at(&self) -> f64 {
        self.killed.unwrap_or(self.called)
    }
}

/// One kill judged.
#[derive(Clone, Debug)]
pub struct Verdict {
    pub errors: usize,
    /// e.g. "503 x3, conn x1", the most frequent first.
    pub error_kinds: String,
    /// Seconds.
    pub gap: f64,
    /// Where the longest gap was: a service, or a service and one of its probes.
    pub gap_service: String,
    /// Seconds.
    pub p99: f64,
    /// What missed the target, empty when passed.
    pub why: String,
}

impl Verdict {
    pub fn passed(&self) -> bool {
        self.why.is_empty()
    }
}

/// Nearest-rank 99th percentile; 0 for no values.
pub fn p99(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.into_iter().collect();
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let rank = (0.99 * v.len() as f64).ceil() as usize;
    v[rank.saturating_sub(1)]
}

/// Longest time in [start, end] that a client sending requests waited for a success.
///
/// After each success (and after `start`), the wait begins when the next request was sent
/// and ends at the next success (or at `end`). Time in which no request was sent at all (the
/// load generator itself starved of CPU, say) is not counted: it says nothing about the
/// system. `starts` are the send times of every request of the same kind.
pub fn longest_gap(
    success_ends: impl IntoIterator<Item = f64>,
    starts: impl IntoIterator<Item = f64>,
    start: f64,
    end: f64,
) -> f64 {
    let mut ends: Vec<f64> = success_ends
        .into_iter()
        .filter(|t| (start..=end).contains(t))
        .collect();
    ends.sort_by(f64::total_cmp);
    ends.insert(0, start);
    ends.push(end);
    let mut sent: Vec<f64> = starts.into_iter().collect();
    sent.sort_by(f64::total_cmp);
    let mut worst: f64 = 0.0;
    for pair in ends.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let i = sent.partition_point(|&t| t < a);
        if let Some(&first) = sent.get(i).filter(|&&t| t < b) {
            worst = worst.max(b - first);
        }
    }
    worst
}

/// Every kill judged against its target; `samples` sorted by their end.
pub fn judge(samples: &[Sample], kills: &[Kill], run_end: f64) -> Vec<Verdict> {
    kills
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let window_end = kills.get(i + 1).map_or(f64::INFINITY, |next| next.called);
            judge_one(samples, k, window_end, run_end)
        })
        .collect()
}

fn judge_one(samples: &[Sample], k: &Kill, window_end: f64, run_end: f64) -> Verdict {
    let in_window: Vec<&Sample> = samples
        .iter()
        .filter(|s| k.called <= s.end && s.end < window_end)
        .collect();
    let bad: Vec<&Sample> = in_window.iter().copied().filter(|s| !s.ok()).collect();
    let gap_end = k.settled.unwrap_or(window_end.min(run_end));
    let sent: Vec<&Sample> = samples
        .iter()
        .filter(|s| k.called <= s.start && s.start < gap_end)
        .collect();
    let gap_of = |of: &dyn Fn(&Sample) -> bool| {
        longest_gap(
            in_window.iter().filter(|s| s.ok() && of(s)).map(|s| s.end),
            sent.iter().filter(|s| of(s)).map(|s| s.start),
            k.called,
            gap_end,
        )
    };
    let mut gaps: Vec<(String, f64)> = SERVICES
        .iter()
        .map(|&svc| (svc.to_string(), gap_of(&|s| s.service == svc)))
        .collect();
    // Each probed entity on its own: with a cluster, one master's keys can stall while the
    // service's other keys answer.
    let mut probed: Vec<(&str, &str)> = in_window
        .iter()
        .filter(|s| s.kind.starts_with("probe"))
        .map(|s| (s.service, s.kind.as_str()))
        .collect();
    probed.sort();
    probed.dedup();
    for (svc, kind) in probed {
        let gap = gap_of(&|s| s.service == svc && s.kind == kind);
        gaps.push((format!("{svc} {kind}"), gap));
    }
    // The first of the worst, as the services come before the probes.
    let (gap_service, gap) =
        gaps.into_iter()
            .fold((String::new(), f64::NEG_INFINITY), |worst, g| {
                if g.1 > worst.1 {
                    g
                } else {
                    worst
                }
            });
    let killed = k.killed_at();
    let after = samples
        .iter()
        .filter(|s| s.start < killed + P99_WINDOW && s.end > killed)
        .map(Sample::latency);
    let target = k.role.target_gap();
    let mut why = Vec::new();
    if !bad.is_empty() {
        why.push(format!("{} errors", bad.len()));
    }
    if gap >= target {
        why.push(format!("gap >= {target} s"));
    }
    if k.broken {
        why.push("run broken off".to_string());
    } else if k.recovered.is_none() {
        why.push("restart failed".to_string());
    }
    Verdict {
        errors: bad.len(),
        error_kinds: error_kinds(&bad),
        gap,
        gap_service,
        p99: p99(after),
        why: why.join(", "),
    }
}

/// "503 x3, conn x1": each status with its count, the most frequent first, ties in the
/// order they first happened.
fn error_kinds(bad: &[&Sample]) -> String {
    let mut counts: Vec<(Status, usize)> = Vec::new();
    for s in bad {
        match counts.iter_mut().find(|(st, _)| *st == s.status) {
            Some((_, n)) => *n += 1,
            None => counts.push((s.status, 1)),
        }
    }
    // Stable: ties keep their first occurrence.
    counts.sort_by_key(|&(_, n)| std::cmp::Reverse(n));
    counts
        .iter()
        .map(|(st, n)| format!("{st} x{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The steady phase before the first kill.
#[derive(Clone, Debug, PartialEq)]
pub struct Baseline {
    pub seconds: f64,
    pub requests: usize,
    /// Requests per second.
    pub rate: f64,
    pub errors: usize,
    pub p99: f64,
    pub checkouts: usize,
}

pub fn baseline(samples: &[Sample], kills: &[Kill], run_end: f64) -> Baseline {
    let end = kills.first().map_or(run_end, |k| k.called);
    let steady: Vec<&Sample> = samples.iter().filter(|s| s.end < end).collect();
    Baseline {
        seconds: end,
        requests: steady.len(),
        rate: if end > 0.0 {
            steady.len() as f64 / end
        } else {
            0.0
        },
        errors: steady.iter().filter(|s| !s.ok()).count(),
        p99: p99(steady.iter().map(|s| s.latency())),
        checkouts: steady.iter().filter(|s| is_checkout(s)).count(),
    }
}

/// A paid checkout.
pub fn is_checkout(s: &Sample) -> bool {
    s.ok() && s.kind == "checkout"
}

/// One bin of the timeline, by the time its answers arrived.
#[derive(Clone, Debug, PartialEq)]
pub struct Bin {
    pub start: f64,
    pub ok: usize,
    pub errors: usize,
    /// Seconds; None for a bin without answers.
    pub p99: Option<f64>,
    /// Successes of each service of `SERVICES`, in that order.
    pub per_service: [usize; 3],
}

/// The run in `BIN`-second bins (the timeline picture's data).
pub fn bins(samples: &[Sample], run_end: f64) -> Vec<Bin> {
    let n = ((run_end / BIN).ceil() as usize).max(1);
    let mut bins: Vec<Bin> = (0..n)
        .map(|i| Bin {
            start: i as f64 * BIN,
            ok: 0,
            errors: 0,
            p99: None,
            per_service: [0; 3],
        })
        .collect();
    let mut latencies: Vec<Vec<f64>> = vec![Vec::new(); n];
    for s in samples {
        let i = ((s.end / BIN).max(0.0) as usize).min(n - 1);
        let bin = &mut bins[i];
        if s.ok() {
            bin.ok += 1;
            if let Some(j) = SERVICES.iter().position(|&svc| svc == s.service) {
                bin.per_service[j] += 1;
            }
        } else {
            bin.errors += 1;
        }
        latencies[i].push(s.latency());
    }
    for (bin, lat) in bins.iter_mut().zip(latencies) {
        bin.p99 = (!lat.is_empty()).then(|| p99(lat));
    }
    bins
}

#[cfg(test)]
mod tests;
