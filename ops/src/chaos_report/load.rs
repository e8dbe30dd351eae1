//! The chaos report's load: checkout workers plus steady reads of every service, all real
//! public requests through the gateway.
//!
//! - Workers (closed loop, fixed concurrency): each runs one fresh checkout after another:
//!   create a user and fund it, create an item and stock it, create an order, add the item,
//!   check out, then read the item and the user back. Credit and stock are far beyond what
//!   the checkout needs, so every answer should be a 2xx with the expected body; anything
//!   else (a 4xx, a 5xx, a connection error, a timeout, a read-back that does not show the
//!   checkout exactly once) is an error, and the worker abandons that checkout and starts a
//!   new one.
//! - Probes (open loop): per service, reads of `PROBE_KEYS` entities made at the start (find
//!   the user, the item, the order), each at a fixed rate, sent whether or not the earlier
//!   ones have answered. Workers stuck in one service stop asking the others; the probes do
//!   not, so the longest time without a successful answer from a service (or for one
//!   entity: one Redis master's share of the keys) measures that service, not where the
//!   workers happen to be.
//!
//! Every request becomes one `Sample`; nothing here retries a request itself, so the samples
//! show what a client of the gateway sees.

use super::judge::{Sample, Status};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::{Client, Method};
use serde_json::{Map, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

const FUNDS: u64 = 1_000_000;
const STOCK: u64 = 1_000_000;
const PROBE_PRICE: u64 = 3;
/// Probe reads in flight at most: reached only when the gateway has not answered for many
/// seconds.
const MAX_PROBES_IN_FLIGHT: usize = 600;
/// Entities probed per service, each on its own: with Redis Cluster each lives on one
/// master, and several of them are likely to cover every master of the service.
pub const PROBE_KEYS: usize = 6;
/// Longest a request may take in `stop` beyond its own timeout.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// How much load, and how patient.
#[derive(Clone, Debug)]
pub struct LoadConfig {
    pub gateway: String,
    pub workers: usize,
    /// Each worker's wait between requests (jittered by +-50 %).
    pub pause: Duration,
    /// Reads per second of each probed entity (0: no probes).
    pub probe_rate: f64,
    /// Per request.
    pub timeout: Duration,
}

/// A step's answer was not the expected 2xx: the worker abandons this checkout. The sample
/// says why.
#[derive(Debug, thiserror::Error)]
#[error("{method} {path}: {status}")]
pub struct StepFailed {
    method: Method,
    path: String,
    status: Status,
}

/// What a 2xx answer must hold.
enum Expect {
    /// Any body.
    Any,
    /// A string field of that name, returned.
    Id(&'static str),
    /// A body that passes the check (a read-back).
    Body(Check),
}

/// What the workers and the probes share.
struct Shared {
    cfg: LoadConfig,
    client: Client,
    t0: Instant,
    samples: Mutex<Vec<Sample>>,
    stop: CancellationToken,
}

/// The workers, the probes and their samples; `start` sets up and launches them, `stop`
/// waits for the requests in flight and hands the samples over.
pub struct Load {
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

impl Load {
    /// Times are seconds since `t0`.
    pub fn new(cfg: LoadConfig, t0: Instant) -> reqwest::Result<Load> {
        let client = Client::builder()
            .timeout(cfg.timeout)
            .no_proxy()
            .pool_max_idle_per_host(cfg.workers * 2 + MAX_PROBES_IN_FLIGHT)
            .build()?;
        let shared = Shared {
            cfg,
            client,
            t0,
            samples: Mutex::new(Vec::new()),
            stop: CancellationToken::new(),
        };
        Ok(Load {
            shared: Arc::new(shared),
            tasks: Vec::new(),
        })
    }

    /// Seconds since the run's start.
    pub fn now(&self) -> f64 {
        self.shared.now()
    }

    /// The samples so far (a copy).
    pub fn samples(&self) -> Vec<Sample> {
        self.shared.samples().clone()
    }

    /// Creates the probes' users, items and orders (fails when it cannot), launching each
    /// entity's probes once it exists, then launches the workers.
    pub async fn start(&mut self) -> Result<(), StepFailed> {
        let in_flight = Arc::new(Semaphore::new(MAX_PROBES_IN_FLIGHT));
        let probes = if self.shared.cfg.probe_rate > 0.0 {
            PROBE_KEYS
        } else {
            0
        };
        for n in 0..probes {
            for (path, check) in self.shared.probe_targets().await? {
                let (shared, sem) = (self.shared.clone(), in_flight.clone());
                let kind = format!("probe-{n}");
                self.tasks
                    .push(tokio::spawn(shared.prober(path, check, kind, sem)));
            }
        }
        for idx in 0..self.shared.cfg.workers {
            self.tasks
                .push(tokio::spawn(self.shared.clone().worker(idx)));
        }
        Ok(())
    }

    /// Lets every request in flight finish (bounded by its timeout), then returns every
    /// sample, by the time it ended.
    pub async fn stop(self) -> Vec<Sample> {
        self.shared.stop.cancel();
        let deadline = tokio::time::Instant::now() + self.shared.cfg.timeout + STOP_GRACE;
        for mut task in self.tasks {
            if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                task.abort();
            }
        }
        let mut samples = std::mem::take(&mut *self.shared.samples());
        samples.sort_by(|a, b| a.end.total_cmp(&b.end));
        samples
    }
}

type Check = Box<dyn Fn(&Map<String, Value>) -> bool + Send + Sync>;

impl Shared {
    fn now(&self) -> f64 {
        self.t0.elapsed().as_secs_f64()
    }

    fn samples(&self) -> std::sync::MutexGuard<'_, Vec<Sample>> {
        // A panic while pushing one sample leaves the others intact.
        self.samples.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sleeps, or returns early (false) once the load is stopping.
    async fn sleep(&self, d: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(d) => true,
            _ = self.stop.cancelled() => false,
        }
    }

    /// One user, item and order for the probes, and the check of each one's read.
    async fn probe_targets(&self) -> Result<Vec<(String, Check)>, StepFailed> {
        let post = |path: String| self.step(Method::POST, path, "setup", Expect::Any);
        let id = |path: &str, field: &'static str| {
            self.step(Method::POST, path.to_string(), "setup", Expect::Id(field))
        };
        let user = id("/payment/create_user", "user_id").await?;
        post(format!("/payment/add_funds/{user}/{FUNDS}")).await?;
        let item = id(&format!("/stock/item/create/{PROBE_PRICE}"), "item_id").await?;
        post(format!("/stock/add/{item}/{STOCK}")).await?;
        let order = id(&format!("/orders/create/{user}"), "order_id").await?;
        post(format!("/orders/addItem/{order}/{item}/1")).await?;
        let owner = user.clone();
        Ok(vec![
            (
                format!("/payment/find_user/{user}"),
                Box::new(|b: &Map<String, Value>| num(b, "credit") == Some(FUNDS)),
            ),
            (
                format!("/stock/find/{item}"),
                Box::new(|b: &Map<String, Value>| {
                    num(b, "stock") == Some(STOCK) && num(b, "price") == Some(PROBE_PRICE)
                }),
            ),
            (
                format!("/orders/find/{order}"),
                Box::new(move |b: &Map<String, Value>| {
                    b.get("paid") == Some(&Value::Bool(false))
                        && num(b, "total_cost") == Some(PROBE_PRICE)
                        && b.get("user_id").and_then(Value::as_str) == Some(owner.as_str())
                }),
            ),
        ])
    }

    async fn worker(self: Arc<Self>, idx: usize) {
        let mut rng = StdRng::seed_from_u64(idx as u64);
        // Spread the workers' first checkouts over a second, so they do not move in step.
        self.sleep(Duration::from_secs_f64(rng.random())).await;
        while !self.stop.is_cancelled() {
            if self.checkout(&mut rng).await.is_err() {
                self.sleep(self.cfg.pause).await;
            }
        }
    }

    async fn checkout(&self, rng: &mut StdRng) -> Result<(), StepFailed> {
        let price: u64 = rng.random_range(1..=9);
        let (get, post) = (Method::GET, Method::POST);
        let user = self
            .paced(
                rng,
                post.clone(),
                "/payment/create_user".into(),
                "create_user",
                Expect::Id("user_id"),
            )
            .await?;
        let path = format!("/payment/add_funds/{user}/{FUNDS}");
        self.paced(rng, post.clone(), path, "add_funds", Expect::Any)
            .await?;
        let path = format!("/stock/item/create/{price}");
        let item = self
            .paced(
                rng,
                post.clone(),
                path,
                "create_item",
                Expect::Id("item_id"),
            )
            .await?;
        let path = format!("/stock/add/{item}/{STOCK}");
        self.paced(rng, post.clone(), path, "add_stock", Expect::Any)
            .await?;
        let path = format!("/orders/create/{user}");
        let order = self
            .paced(
                rng,
                post.clone(),
                path,
                "create_order",
                Expect::Id("order_id"),
            )
            .await?;
        let path = format!("/orders/addItem/{order}/{item}/1");
        self.paced(rng, post.clone(), path, "add_item", Expect::Any)
            .await?;
        let path = format!("/orders/checkout/{order}");
        self.paced(rng, post, path, "checkout", Expect::Any).await?;
        let left = Expect::Body(Box::new(move |b: &Map<String, Value>| {
            num(b, "stock") == Some(STOCK - 1) && num(b, "price") == Some(price)
        }));
        self.paced(
            rng,
            get.clone(),
            format!("/stock/find/{item}"),
            "find_item",
            left,
        )
        .await?;
        let charged = Expect::Body(Box::new(move |b: &Map<String, Value>| {
            num(b, "credit") == Some(FUNDS - price)
        }));
        let path = format!("/payment/find_user/{user}");
        self.paced(rng, get, path, "find_user", charged).await?;
        Ok(())
    }

    /// One step of a worker's checkout, after its pause (jittered, so that the workers do
    /// not go through the steps in lockstep).
    async fn paced(
        &self,
        rng: &mut StdRng,
        method: Method,
        path: String,
        kind: &str,
        expect: Expect,
    ) -> Result<String, StepFailed> {
        if !self.cfg.pause.is_zero() {
            tokio::time::sleep(self.cfg.pause.mul_f64(rng.random_range(0.5..1.5))).await;
        }
        self.step(method, path, kind, expect).await
    }

    /// Sends GET path every 1/probe_rate s, never waiting for an answer (open loop).
    async fn prober(
        self: Arc<Self>,
        path: String,
        check: Check,
        kind: String,
        in_flight: Arc<Semaphore>,
    ) {
        let check = Arc::new(check);
        let period = Duration::from_secs_f64(1.0 / self.cfg.probe_rate);
        let mut due = tokio::time::Instant::now() + period.mul_f64(rand::rng().random());
        let mut sent = JoinSet::new();
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(due) => {}
                _ = self.stop.cancelled() => break,
            }
            due += period;
            while sent.try_join_next().is_some() {}
            let Ok(permit) = in_flight.clone().try_acquire_owned() else {
                continue;
            };
            let (shared, path, kind, check) =
                (self.clone(), path.clone(), kind.clone(), check.clone());
            sent.spawn(async move {
                let expect = Expect::Body(Box::new(move |b: &Map<String, Value>| check(b)));
                // A failed probe is in its sample; the probe goes on regardless.
                let _ = shared.step(Method::GET, path, &kind, expect).await;
                drop(permit);
            });
        }
        while sent.join_next().await.is_some() {}
    }

    /// Sends one request and records its sample; returns the field `Expect::Id` names
    /// (empty for the others), or fails when the answer was not the expected 2xx.
    async fn step(
        &self,
        method: Method,
        path: String,
        kind: &str,
        expect: Expect,
    ) -> Result<String, StepFailed> {
        let start = self.now();
        let (mut status, body, mut note) = self.send(method.clone(), &path).await;
        let mut id = String::new();
        if let Some(body) = &body {
            match &expect {
                Expect::Any => {}
                Expect::Id(field) => match body.get(*field).and_then(Value::as_str) {
                    Some(v) => id = v.to_string(),
                    None => {
                        (status, note) = (
                            Status::Wrong,
                            format!("no {field} in {}", Value::from(body.clone())),
                        )
                    }
                },
                Expect::Body(check) if !check(body) => {
                    (status, note) = (
                        Status::Wrong,
                        format!("read back {}", Value::from(body.clone())),
                    )
                }
                Expect::Body(_) => {}
            }
        }
        let sample = Sample {
            start,
            end: self.now(),
            kind: kind.to_string(),
            service: service_of(&path),
            status,
            note: note.chars().take(200).collect(),
        };
        let ok = sample.ok();
        self.samples().push(sample);
        if ok {
            Ok(id)
        } else {
            Err(StepFailed {
                method,
                path,
                status,
            })
        }
    }

    /// The request's status, its body when it was a 2xx (a JSON object, or empty), and a
    /// note on what went wrong.
    async fn send(
        &self,
        method: Method,
        path: &str,
    ) -> (Status, Option<Map<String, Value>>, String) {
        let url = format!("{}{path}", self.cfg.gateway.trim_end_matches('/'));
        let answer = async {
            let resp = self.client.request(method, url).send().await?;
            let code = resp.status().as_u16();
            Ok::<_, reqwest::Error>((code, resp.text().await?))
        };
        match answer.await {
            Ok((code, text)) if (200..300).contains(&code) => {
                (Status::Http(code), Some(json_object(&text)), String::new())
            }
            Ok((code, text)) => (Status::Http(code), None, text),
            Err(e) if e.is_timeout() => (
                Status::Timeout,
                None,
                format!("no answer within {}s", self.cfg.timeout.as_secs_f64()),
            ),
            Err(e) => (Status::Conn, None, format!("{:#}", anyhow::Error::from(e))),
        }
    }
}

/// The service a path of the gateway goes to.
fn service_of(path: &str) -> &'static str {
    match path.split('/').nth(1) {
        Some("orders") => "order",
        Some("stock") => "stock",
        _ => "payment",
    }
}

/// A whole-number field of a body.
fn num(body: &Map<String, Value>, field: &str) -> Option<u64> {
    body.get(field).and_then(Value::as_u64)
}

/// The body as a JSON object; empty when it is none.
fn json_object(text: &str) -> Map<String, Value> {
    match serde_json::from_str(text) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}
