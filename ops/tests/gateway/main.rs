//! The gateway's retry policy against fake replicas (`make gateway-test`, part of `make
//! test`). The real gateway configuration runs in nginx as the local stack starts it, in
//! front of two fake replicas of each service ([fake]) on the ports the gateway proxies to.
//! It checks what docs/design.md ("Retries through the gateway") promises:
//!
//! 1. a request whose replica dies before answering is retried on the other replica, every
//!    method, at once (in the same pass), with the same Idempotency-Key on both tries; a
//!    client's own key is passed on unchanged;
//! 2. with every replica of a service down (connection refused, or a connect that times
//!    out), a request waits for one to come back (200, not 502); when none comes back the
//!    client gets the JSON 502 after the bounded window;
//! 3. /metrics and /health/... of the services are the gateway's JSON 404;
//! 4. a service's own answer (503, 502) goes to the client as it is, never retried;
//! 5. a replica that holds a short route's request (paused) is left for its sibling after
//!    the short read bound, with the same key; when both hold it, the next pass follows at
//!    once and bounds its tries too (a paused replica picked again is left after 0.5 s); a
//!    long route (checkout, batch_init) waits for its replica's answer.
//!
//! Every check runs and prints PASS or FAIL (`--nocapture` shows them); the test fails at the
//! end naming each failed check, and keeps the RUN_DIR with the gateway's log. About 14 s.
//! Needs nginx with the echo module, curl and bash (stack.sh); fails, never skips, without.
//! Ignored by a plain `cargo test`: `make gateway-test` runs it with `--ignored`.

mod fake;
mod nginx;
mod report;

use fake::{Answer, Service};
use nginx::Gateway;
use regex::Regex;
use report::Report;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// The pauses of the retry chain (routes.conf): 0.25 + 0.5 + 1 + 2 s.
const WINDOW_S: f64 = 3.75;
/// proxy_connect_timeout (routes.conf).
const CONNECT_TIMEOUT_S: f64 = 2.0;
/// proxy_read_timeout of the short routes' first pass (routes.conf).
const SHORT_READ_S: f64 = 0.3;
/// proxy_read_timeout of the short routes' second pass (routes.conf).
const SHORT_READ_2_S: f64 = 0.5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs nginx with the echo module and takes 14 s: run by `make gateway-test`"]
async fn gateway_retries_on_replicas_and_waits_for_restarts() {
    nginx::require_nginx();
    let upstreams = nginx::upstream_base_ports();
    let mut needed = vec![nginx::gateway_base_port()];
    needed.extend(upstreams.values().flatten());
    let offset = nginx::pick_offset(&needed);
    let mut services: BTreeMap<&str, Service> = ["order", "stock", "payment"]
        .into_iter()
        .map(|name| {
            let ports = upstreams
                .get(name)
                .unwrap_or_else(|| panic!("upstreams-local.conf has no upstream {name}"));
            let ports: Vec<u16> = ports.iter().map(|p| p + offset).collect();
            (name, Service::new(name, &ports))
        })
        .collect();
    let mut gw = Gateway::start(offset)
        .await
        .unwrap_or_else(|e| panic!("the gateway does not start (stack.sh start gateway): {e}"));
    println!(
        "gateway test: gateway on 127.0.0.1:{} (PORT_OFFSET={offset}, RUN_DIR={})",
        gw.port,
        gw.run_dir().display()
    );
    let mut report = Report::default();
    for svc in services.values_mut() {
        svc.reset(Answer::Ok).await;
    }
    let r = &mut report;
    for retried in RETRIED {
        let svc = service(&mut services, retried.service);
        retried_on_the_other_replica(&gw, svc, r, &retried).await;
    }
    for (name, path) in [
        ("stock", "/stock/add/1/5"),
        ("order", "/orders/addItem/o1/i1/1"),
    ] {
        stalled_replica_is_left(&gw, service(&mut services, name), r, path).await;
    }
    stalled_again_in_the_next_pass(&gw, service(&mut services, "payment"), r).await;
    for (name, path) in [
        ("order", "/orders/checkout/o1"),
        ("payment", "/payment/batch_init/2/5"),
    ] {
        long_route_waits(&gw, service(&mut services, name), r, path).await;
    }
    waits_for_a_restart(&gw, service(&mut services, "stock"), r).await;
    waits_when_every_connect_times_out(&gw, service(&mut services, "stock"), r).await;
    gives_up_after_the_window(&gw, service(&mut services, "payment"), r).await;
    not_public(&gw, &mut services, r).await;
    service_answers_pass_through(&gw, service(&mut services, "stock"), r, 503).await;
    service_answers_pass_through(&gw, service(&mut services, "stock"), r, 502).await;
    docs_unchanged(&gw, service(&mut services, "order"), r).await;
    main_files_agree(r);
    let log = gw.log();
    let cycles: Vec<&str> = log.lines().filter(|l| l.contains("cycle")).collect();
    r.check(
        "no internal redirection cycle in the gateway's log (the chain fits nginx's 10 redirects)",
        !log.contains("redirection cycle"),
        cycles.join("\n"),
    );
    if report.all_passed() {
        gw.remove_run_dir_on_drop();
    }
    let run_dir = gw.run_dir().display().to_string();
    drop(gw);
    report.finish(&run_dir);
}

/// A request whose first try the replica drops: the service, the request, and the path the
/// replica must see (the prefix stripped).
struct Retried {
    service: &'static str,
    method: &'static str,
    path: &'static str,
    stripped: &'static str,
    client_key: Option<&'static str>,
}

/// Every method, with and without a client's own key; the long routes' location too.
const RETRIED: [Retried; 7] = [
    Retried {
        service: "stock",
        method: "POST",
        path: "/stock/add/1/5",
        stripped: "/add/1/5",
        client_key: None,
    },
    Retried {
        service: "stock",
        method: "POST",
        path: "/stock/subtract/1/1",
        stripped: "/subtract/1/1",
        client_key: Some("client-key-42"),
    },
    Retried {
        service: "payment",
        method: "GET",
        path: "/payment/find_user/u1",
        stripped: "/find_user/u1",
        client_key: None,
    },
    Retried {
        service: "order",
        method: "DELETE",
        path: "/orders/removeItem/o1/i1",
        stripped: "/removeItem/o1/i1",
        client_key: None,
    },
    Retried {
        service: "order",
        method: "POST",
        path: "/orders/checkout/o1",
        stripped: "/checkout/o1",
        client_key: None,
    },
    Retried {
        service: "order",
        method: "POST",
        path: "/orders/batch_init/4/2/3/1",
        stripped: "/batch_init/4/2/3/1",
        client_key: None,
    },
    Retried {
        service: "stock",
        method: "POST",
        path: "/stock/batch_init/2/5/1",
        stripped: "/batch_init/2/5/1",
        client_key: Some("client-key-43"),
    },
];

fn service<'a>(services: &'a mut BTreeMap<&str, Service>, name: &str) -> &'a mut Service {
    services.get_mut(name).expect("a fake service of that name")
}

async fn retried_on_the_other_replica(
    gw: &Gateway,
    svc: &mut Service,
    r: &mut Report,
    retried: &Retried,
) {
    let Retried {
        method,
        path,
        stripped,
        client_key,
        ..
    } = *retried;
    svc.reset(Answer::Ok).await;
    svc.drop_next();
    let headers: Vec<(&str, &str)> = client_key
        .map(|k| ("Idempotency-Key", k))
        .into_iter()
        .collect();
    let reply = gw.request(method, path, &headers).await;
    let calls = svc.calls();
    let what = match client_key {
        Some(key) => format!("{method} {path} (client key {key})"),
        None => format!("{method} {path}"),
    };
    r.check(
        format_args!(
            "{what}: the replica that dies mid-request is replaced by the other one at once \
             (200 in {:.0} ms)",
            reply.secs() * 1000.0
        ),
        reply.status == 200
            && reply.secs() < 0.2
            && calls.len() == 2
            && calls[0].dropped
            && !calls[1].dropped
            && calls[0].replica != calls[1].replica
            && calls
                .iter()
                .all(|c| c.method == method && c.path == stripped),
        format_args!("{reply}; calls {calls:?}"),
    );
    let keys: BTreeSet<Option<&str>> = calls.iter().map(|c| c.key.as_deref()).collect();
    match client_key {
        Some(key) => r.check(
            format_args!("{what}: both tries carry the client's own Idempotency-Key unchanged"),
            keys == BTreeSet::from([Some(key)]),
            format_args!("keys {keys:?}"),
        ),
        None => {
            let ids: BTreeSet<Option<&str>> =
                calls.iter().map(|c| c.request_id.as_deref()).collect();
            let request_id = Regex::new("^[0-9a-f]{32}$").expect("request id pattern");
            r.check(
                format_args!(
                    "{what}: both tries carry the same Idempotency-Key, the gateway's request id"
                ),
                keys.len() == 1
                    && keys == ids
                    && keys
                        .iter()
                        .all(|k| k.is_some_and(|k| request_id.is_match(k))),
                format_args!("keys {keys:?}, request ids {ids:?}"),
            );
        }
    }
}

/// A short route whose replica holds the request (paused mid-request): after the short
/// read bound the sibling answers it, with the same key.
async fn stalled_replica_is_left(gw: &Gateway, svc: &mut Service, r: &mut Report, path: &str) {
    svc.reset(Answer::Ok).await;
    svc.stall_next(Duration::from_secs(5));
    let reply = gw.request("POST", path, &[]).await;
    let calls = svc.calls();
    let keys: BTreeSet<Option<&str>> = calls.iter().map(|c| c.key.as_deref()).collect();
    r.check(
        format_args!(
            "POST {path}: a replica holding it is left after {SHORT_READ_S} s, the sibling \
             answers with the same key (200 in {:.2} s)",
            reply.secs()
        ),
        reply.status == 200
            && (SHORT_READ_S..SHORT_READ_S + 0.4).contains(&reply.secs())
            && calls.len() == 2
            && calls[0].stalled
            && !calls[1].stalled
            && calls[0].replica != calls[1].replica
            && reply.field("replica") == Some(calls[1].replica.as_str())
            && keys.len() == 1
            && keys.iter().all(Option::is_some),
        format_args!("{reply}; calls {calls:?}"),
    );
}

/// Both replicas hold a short route's request past the first pass's bound (the sibling slow
/// too), and the next pass picks a held one again: that try is bounded as well (before, it
/// waited for the whole stall), and the pass follows the first at once, not after a pause.
async fn stalled_again_in_the_next_pass(gw: &Gateway, svc: &mut Service, r: &mut Report) {
    svc.reset(Answer::Ok).await;
    for _ in 0..3 {
        svc.stall_next(Duration::from_secs(5));
    }
    let path = "/payment/add_funds/u1/5";
    let reply = gw.request("POST", path, &[]).await;
    let calls = svc.calls();
    let keys: BTreeSet<Option<&str>> = calls.iter().map(|c| c.key.as_deref()).collect();
    let stalled: Vec<bool> = calls.iter().map(|c| c.stalled).collect();
    let expected = 2.0 * SHORT_READ_S + SHORT_READ_2_S;
    r.check(
        format_args!(
            "POST {path}: held by both replicas, then by the one the next pass picks: left \
             after {SHORT_READ_S} + {SHORT_READ_S} + {SHORT_READ_2_S} s, the other answers \
             with the same key (200 in {:.2} s)",
            reply.secs()
        ),
        reply.status == 200
            && (expected..expected + 0.4).contains(&reply.secs())
            && stalled == [true, true, true, false]
            && calls[0].replica != calls[1].replica
            && calls[2].replica != calls[3].replica
            && reply.field("replica") == Some(calls[3].replica.as_str())
            && keys.len() == 1
            && keys.iter().all(Option::is_some),
        format_args!("{reply}; calls {calls:?}"),
    );
}

/// A long route waits for its replica's answer, however long past the short bound.
async fn long_route_waits(gw: &Gateway, svc: &mut Service, r: &mut Report, path: &str) {
    svc.reset(Answer::Ok).await;
    let hold = 4.0 * SHORT_READ_S;
    svc.stall_next(Duration::from_secs_f64(hold));
    let reply = gw.request("POST", path, &[]).await;
    let calls = svc.calls();
    r.check(
        format_args!(
            "POST {path}: a long route waits {hold} s for its replica's answer, tried once \
             (200 in {:.2} s)",
            reply.secs()
        ),
        reply.status == 200
            && (hold..hold + 0.5).contains(&reply.secs())
            && calls.len() == 1
            && calls[0].stalled
            && reply.field("replica") == Some(calls[0].replica.as_str()),
        format_args!("{reply}; calls {calls:?}"),
    );
}

async fn waits_for_a_restart(gw: &Gateway, svc: &mut Service, r: &mut Report) {
    svc.reset(Answer::Ok).await;
    svc.stop_all().await;
    let (reply, ()) = tokio::join!(gw.request("POST", "/stock/add/1/5", &[]), async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        svc.replicas[0].start(Answer::Ok);
    });
    let calls = svc.calls();
    r.check(
        format_args!(
            "every stock replica down, one back after 1 s: the request waited {:.2} s and got \
             its 200, not a 502",
            reply.secs()
        ),
        reply.status == 200
            && (1.0..=1.0 + WINDOW_S).contains(&reply.secs())
            && calls.len() == 1
            && calls[0].key.as_deref().is_some_and(|k| !k.is_empty()),
        format_args!("{reply}; calls {calls:?}"),
    );
}

/// A pass whose tries all time out on connect ends in nginx's 504: the chain goes on.
async fn waits_when_every_connect_times_out(gw: &Gateway, svc: &mut Service, r: &mut Report) {
    svc.reset(Answer::Ok).await;
    svc.hang_all().await;
    // After both tries of the first pass began (and cannot succeed any more), before it ends.
    let unhang = Duration::from_secs_f64(1.5 * CONNECT_TIMEOUT_S + 0.5);
    let (reply, ()) = tokio::join!(gw.request("GET", "/stock/find/1", &[]), async {
        tokio::time::sleep(unhang).await;
        svc.start_all();
    });
    let timed_out =
        Regex::new(r"upstream timed out .* while connecting to upstream.*GET /stock/find/1")
            .expect("timeout pattern")
            .find_iter(&gw.log())
            .count();
    r.check(
        format_args!(
            "every stock replica hung (connect times out): after the pass's 504 the next pass \
             got the 200 ({:.2} s)",
            reply.secs()
        ),
        reply.status == 200
            && timed_out >= 2
            && (2.0 * CONNECT_TIMEOUT_S..=2.0 * CONNECT_TIMEOUT_S + 1.5).contains(&reply.secs()),
        format_args!("{reply}; {timed_out} connect timeouts logged"),
    );
}

async fn gives_up_after_the_window(gw: &Gateway, svc: &mut Service, r: &mut Report) {
    svc.reset(Answer::Ok).await;
    svc.stop_all().await;
    let reply = gw.request("POST", "/payment/pay/1/1", &[]).await;
    r.check(
        format_args!(
            "every payment replica down for good: the JSON 502 after {:.2} s (window {WINDOW_S} s)",
            reply.secs()
        ),
        reply.status == 502
            && reply.field("error") == Some("the service is unreachable")
            && (WINDOW_S - 0.25..=WINDOW_S + 2.0).contains(&reply.secs()),
        &reply,
    );
    svc.reset(Answer::Ok).await;
}

async fn not_public(gw: &Gateway, services: &mut BTreeMap<&str, Service>, r: &mut Report) {
    for svc in services.values_mut() {
        svc.reset(Answer::Ok).await;
    }
    for path in [
        "/stock/metrics",
        "/stock/health/ready",
        "/stock/health/live",
        "/stock/health",
        "/payment/metrics",
        "/payment/health/ready",
        "/orders/metrics",
        "/orders/health/live",
        "/stock/%6Detrics",
        "/stock/find/../metrics",
    ] {
        let reply = gw.request("GET", path, &[]).await;
        r.check(
            format_args!("GET {path} is the gateway's JSON 404"),
            reply.status == 404 && reply.field("error") == Some("no route for this path"),
            &reply,
        );
    }
    let seen: Vec<_> = services.values().flat_map(Service::calls).collect();
    r.check(
        "no service saw any of those requests",
        seen.is_empty(),
        format_args!("calls {seen:?}"),
    );
    let reply = gw.request("GET", "/stock/find/metrics", &[]).await;
    r.check(
        "GET /stock/find/metrics (an item id) is routed: only the prefix's own routes are refused",
        reply.status == 200 && reply.field("path") == Some("/find/metrics"),
        &reply,
    );
    let reply = gw.request("GET", "/stock/find/a%0Ab", &[]).await;
    r.check(
        "GET /stock/find/a%0Ab (a newline in a parameter) reaches stock without its prefix",
        reply.status == 200
            && reply
                .field("path")
                .is_some_and(|p| p.starts_with("/find/a")),
        &reply,
    );
    let reply = gw.request("GET", "/gateway/health", &[]).await;
    r.check(
        "GET /gateway/health answers 200",
        reply.status == 200,
        &reply,
    );
}

async fn service_answers_pass_through(gw: &Gateway, svc: &mut Service, r: &mut Report, code: u16) {
    svc.reset(Answer::Status(code)).await;
    let reply = gw.request("POST", "/stock/add/1/5", &[]).await;
    let calls = svc.calls();
    r.check(
        format_args!(
            "a service's own {code} goes to the client as it is, tried once ({:.2} s)",
            reply.secs()
        ),
        reply.status == code
            && reply.field("error").is_some_and(|e| e.contains("answers"))
            && calls.len() == 1,
        format_args!("{reply}; calls {calls:?}"),
    );
    svc.reset(Answer::Ok).await;
}

async fn docs_unchanged(gw: &Gateway, svc: &mut Service, r: &mut Report) {
    svc.reset(Answer::Ok).await;
    let reply = gw.request("GET", "/docs/openapi.json", &[]).await;
    r.check(
        "GET /docs/openapi.json reaches the order service with its path unchanged",
        reply.status == 200 && reply.field("path") == Some("/docs/openapi.json"),
        &reply,
    );
}

/// The http-level parts routes.conf needs are the same in both main files, and routes.conf
/// has one retry policy.
fn main_files_agree(r: &mut Report) {
    let load_module = Regex::new(r"(?m)^load_module .*;$").expect("load_module pattern");
    let key_map = Regex::new(r"(?ms)^\s*map \$http_idempotency_key \$idempotency_key \{.*?\}")
        .expect("map pattern");
    let space = Regex::new(r"\s+").expect("space pattern");
    let parts = |name: &str| {
        let text = nginx::nginx_file(name);
        let modules: Vec<String> = load_module
            .find_iter(&text)
            .map(|m| m.as_str().to_owned())
            .collect();
        let map = key_map
            .find(&text)
            .map(|m| space.replace_all(m.as_str(), " ").trim().to_owned())
            .unwrap_or_default();
        (modules, map)
    };
    let local = parts("gateway.conf");
    let compose = parts("gateway-compose.conf");
    r.check(
        "gateway.conf and gateway-compose.conf load the echo module and map $idempotency_key alike",
        local == compose && !local.0.is_empty() && !local.1.is_empty(),
        format_args!("local {local:?}; compose {compose:?}"),
    );
    let next_upstream =
        Regex::new(r"(?m)^\s*proxy_next_upstream\s+([^;]*);").expect("proxy_next_upstream pattern");
    let routes = nginx::nginx_file("routes.conf");
    let policies: Vec<&str> = next_upstream
        .captures_iter(&routes)
        .map(|c| c.get(1).map_or("", |m| m.as_str()))
        .collect();
    r.check(
        "routes.conf sets one retry policy for every location (error timeout non_idempotent)",
        policies == ["error timeout non_idempotent"],
        format_args!("proxy_next_upstream lines: {policies:?}"),
    );
}
