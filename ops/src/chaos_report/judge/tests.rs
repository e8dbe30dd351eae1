//! The judgement on made-up samples.

use super::*;

fn sample(start: f64, end: f64, kind: &str, service: &'static str, status: Status) -> Sample {
    Sample {
        start,
        end,
        kind: kind.to_string(),
        service,
        status,
        note: String::new(),
    }
}

fn ok(end: f64, service: &'static str) -> Sample {
    sample(end - 0.01, end, "checkout", service, Status::Http(200))
}

fn err(end: f64, status: Status) -> Sample {
    sample(end - 0.01, end, "checkout", "order", status)
}

/// The samples of `service` (all: None) sent in (frm, to) answered only at `to`.
fn stalled(samples: Vec<Sample>, frm: f64, to: f64, service: Option<&str>) -> Vec<Sample> {
    samples
        .into_iter()
        .map(|s| {
            if frm < s.start && s.start < to && service.is_none_or(|svc| svc == s.service) {
                Sample { end: to, ..s }
            } else {
                s
            }
        })
        .collect()
}

/// Every service answering every 50 ms.
fn steady(start: f64, end: f64) -> Vec<Sample> {
    let step = 0.05;
    let n = ((end - start) / step).round() as usize;
    (0..n)
        .flat_map(|i| SERVICES.map(|svc| ok(start + i as f64 * step, svc)))
        .collect()
}

fn by_end(mut samples: Vec<Sample>) -> Vec<Sample> {
    samples.sort_by(|a, b| a.end.total_cmp(&b.end));
    samples
}

fn kill(victim: &str, role: Role, times: [f64; 4]) -> Kill {
    let [called, killed, recovered, settled] = times;
    Kill {
        killed: Some(killed),
        recovered: Some(recovered),
        settled: Some(settled),
        ..Kill::new(victim.to_string(), role, called)
    }
}

fn close(a: f64, b: f64, places: i32) -> bool {
    (a - b).abs() < 0.5 * 10f64.powi(-places)
}

#[test]
fn gap_counts_from_the_first_request_sent_to_the_next_success() {
    let every_10ms = || (0..500).map(|i| i as f64 / 100.0);
    assert!(close(longest_gap([], every_10ms(), 1.0, 4.0), 3.0, 7));
    assert!(close(
        longest_gap([1.5, 2.0, 3.9], every_10ms(), 1.0, 4.0),
        1.9,
        7
    ));
    assert!(close(
        longest_gap([0.5, 2.0, 9.0], every_10ms(), 1.0, 4.0),
        2.0,
        7
    ));
}

#[test]
fn time_in_which_nothing_was_sent_is_no_gap() {
    // Sent at 1.0 (answered at 1.01), then nothing until 2.0 (answered at 2.05).
    let gap = longest_gap([1.01, 2.05], [1.0, 2.0], 1.0, 2.05);
    assert!(close(gap, 0.05, 7), "{gap}");
}

#[test]
fn p99_is_nearest_rank() {
    assert_eq!(p99([]), 0.0);
    assert_eq!(p99((1..=100).map(f64::from)), 99.0);
    assert_eq!(p99([5.0]), 5.0);
}

#[test]
fn a_replica_kill_without_pause_or_error_passes() {
    let k = kill("order-1", Role::ServiceReplica, [5.0, 5.2, 8.0, 12.0]);
    let v = &judge(&by_end(steady(0.0, 13.0)), &[k], 13.0)[0];
    assert!(v.passed(), "{}", v.why);
    assert_eq!(v.errors, 0);
    assert!(v.gap < 0.1, "{}", v.gap);
}

#[test]
fn one_stalled_service_fails_a_replica_kill_even_while_others_answer() {
    let samples = by_end(stalled(steady(0.0, 13.0), 6.0, 7.0, Some("stock")));
    let k = kill("stock-1", Role::ServiceReplica, [5.0, 5.2, 8.0, 12.0]);
    let v = &judge(&samples, &[k], 13.0)[0];
    assert!(!v.passed());
    assert_eq!(v.gap_service, "stock");
    assert!(close(v.gap, 0.96, 2), "{}", v.gap); // first sent at 6.04
    assert_eq!(v.why, "gap >= 0.5 s");
}

#[test]
fn errors_belong_to_the_kill_before_them_even_after_its_settle() {
    let kills = [
        kill("order-1", Role::ServiceReplica, [5.0, 5.2, 8.0, 12.0]),
        kill("redis-order", Role::RedisSingle, [12.0, 12.2, 15.0, 19.0]),
    ];
    let mut samples = steady(0.0, 20.0);
    samples.extend([
        err(11.0, Status::Http(503)),
        err(12.5, Status::Conn),
        err(25.0, Status::Timeout),
    ]);
    let v = judge(&by_end(samples), &kills, 25.0);
    assert_eq!((v[0].errors, v[1].errors), (1, 2));
    assert_eq!(v[1].error_kinds, "conn x1, timeout x1");
    assert!(!v[0].passed());
    assert_eq!(v[0].why, "1 errors");
}

#[test]
fn a_redis_failover_within_three_seconds_passes() {
    let samples = by_end(stalled(steady(0.0, 20.0), 6.0, 8.0, None));
    let k = kill("redis-order-1", Role::RedisMaster, [5.0, 5.2, 10.0, 14.0]);
    let v = &judge(&samples, &[k], 20.0)[0];
    assert!(v.passed(), "{}", v.why);
    assert!(close(v.gap, 1.96, 2), "{}", v.gap);
}

#[test]
fn p99_covers_requests_in_flight_during_the_kill_and_no_others() {
    // Started before the kill, answered after it: they count.
    let in_flight = (0..5).map(|_| sample(4.0, 9.0, "checkout", "order", Status::Http(200)));
    // Slow, but over before the kill: they do not.
    let before: Vec<Sample> = (0..50)
        .map(|_| sample(0.0, 4.9, "checkout", "order", Status::Http(200)))
        .collect();
    let k = kill("order-1", Role::ServiceReplica, [5.0, 5.2, 8.0, 12.0]);
    let mut samples = steady(0.0, 13.0);
    samples.extend(before.iter().cloned());
    let without = by_end(samples.clone());
    samples.extend(in_flight);
    let with = by_end(samples);
    assert!(close(
        judge(&with, std::slice::from_ref(&k), 13.0)[0].p99,
        5.0,
        7
    ));
    assert!(close(judge(&without, &[k], 13.0)[0].p99, 0.01, 7));
}

#[test]
fn a_stalled_probe_is_named_while_its_service_answers() {
    let mut samples = steady(0.0, 13.0);
    // probe-2 of stock every 50 ms, its requests sent in (6.02, 8) answered at 8.
    samples.extend((0..260).map(|i| {
        let start = i as f64 * 0.05;
        let end = if 6.02 < start && start < 8.0 {
            8.0
        } else {
            start + 0.01
        };
        sample(start, end, "probe-2", "stock", Status::Http(200))
    }));
    let k = kill("redis-stock-1", Role::RedisMaster, [5.0, 5.2, 9.0, 12.0]);
    let v = &judge(&by_end(samples), &[k], 13.0)[0];
    assert_eq!(v.gap_service, "stock probe-2");
    assert!(close(v.gap, 1.95, 2), "{}", v.gap); // first sent at 6.05
    assert!(v.passed(), "{}", v.why);
}

#[test]
fn a_victim_that_did_not_come_back_fails_its_kill() {
    let samples = by_end(steady(0.0, 13.0));
    let not_back = Kill {
        killed: Some(5.2),
        ..Kill::new("order-1".into(), Role::ServiceReplica, 5.0)
    };
    let v = &judge(&samples, std::slice::from_ref(&not_back), 13.0)[0];
    assert_eq!(v.why, "restart failed");
    let broken = Kill {
        broken: true,
        ..not_back
    };
    assert_eq!(judge(&samples, &[broken], 13.0)[0].why, "run broken off");
}

#[test]
fn error_kinds_put_the_most_frequent_first() {
    let bad = [
        err(1.0, Status::Timeout),
        err(2.0, Status::Http(503)),
        err(3.0, Status::Wrong),
        err(4.0, Status::Http(503)),
    ];
    let refs: Vec<&Sample> = bad.iter().collect();
    assert_eq!(error_kinds(&refs), "503 x2, timeout x1, wrong x1");
}

#[test]
fn the_baseline_is_the_steady_phase_before_the_first_kill() {
    let mut samples = steady(0.0, 10.0);
    samples.push(err(3.0, Status::Http(500)));
    let k = kill("order-1", Role::ServiceReplica, [5.0, 5.2, 8.0, 9.0]);
    let b = baseline(&by_end(samples), &[k], 10.0);
    assert_eq!(b.seconds, 5.0);
    // Answers ending before 5.0: 100 of each service (ending at 0, 0.05, .. 4.95) and the error.
    assert_eq!(b.requests, 301);
    assert_eq!(b.errors, 1);
    assert!(close(b.rate, 60.2, 7));
    assert_eq!(b.checkouts, 300);
}

#[test]
fn bins_count_answers_by_when_they_arrived() {
    let samples = [
        ok(0.05, "stock"),
        ok(0.15, "order"),
        ok(0.16, "order"),
        err(0.17, Status::Http(503)),
        sample(0.0, 0.31, "probe-0", "payment", Status::Http(200)),
    ];
    let b = bins(&samples, 0.35);
    assert_eq!(b.len(), 4);
    assert_eq!((b[0].ok, b[0].errors, b[0].per_service), (1, 0, [0, 1, 0]));
    assert_eq!((b[1].ok, b[1].errors, b[1].per_service), (2, 1, [2, 0, 0]));
    assert_eq!((b[2].ok, b[2].p99), (0, None));
    assert_eq!(b[3].per_service, [0, 0, 1]);
    assert!(close(b[3].p99.unwrap_or_default(), 0.31, 7));
}
