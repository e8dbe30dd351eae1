//! A client for the public HTTP API (the "API" section of the repository's README.md),
//! through the gateway only.
//!
//! Every request is sent exactly once and its answer recorded as it is (`Exchange`): the
//! contract says a client never has to retry because a process died, so the test must not
//! retry either, or it would hide the very failures it is looking for. The only second
//! sending is deliberate: with `--idempotency-keys` a share of the writes is repeated with
//! the same key, and the repeat is recorded next to the first answer.

use crate::phase::Phase;
use anyhow::{bail, Result};
use ops::probe::client::{send_once, Unanswered};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ItemView {
    pub stock: i64,
    pub price: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UserView {
    pub credit: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct OrderView {
    pub order_id: String,
    pub paid: bool,
    pub items: Vec<(String, i64)>,
    pub user_id: String,
    pub total_cost: i64,
}

/// What one request answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Status {
        code: u16,
        body: String,
    },
    /// No answer: connection error or client timeout.
    NoAnswer(String),
}

impl Answer {
    /// An answer with an empty body (tests).
    pub fn status(code: u16) -> Answer {
        Answer::Status {
            code,
            body: String::new(),
        }
    }

    pub fn code(&self) -> Option<u16> {
        match self {
            Answer::Status { code, .. } => Some(*code),
            Answer::NoAnswer(_) => None,
        }
    }

    pub fn is_2xx(&self) -> bool {
        matches!(self.code(), Some(200..=299))
    }
    pub fn is_5xx(&self) -> bool {
        matches!(self.code(), Some(500..=599))
    }
    pub fn is_refusal(&self) -> bool {
        matches!(self.code(), Some(400..=499))
    }
    /// The course's verifier counts every checkout answer that is not a 4xx as a success
    /// (a 5xx included); no answer at all is not one.
    pub fn is_success(&self) -> bool {
        self.code().is_some() && !self.is_refusal()
    }

    /// The body of a 2xx, parsed.
    pub fn json<T: DeserializeOwned>(&self) -> Option<T> {
        match self {
            Answer::Status { code, body } if (200..300).contains(code) => {
                serde_json::from_str(body).ok()
            }
            _ => None,
        }
    }

    /// The id a 2xx create answered in `field`.
    pub fn created_id(&self, field: &str) -> Option<String> {
        let value: serde_json::Value = self.json()?;
        value.get(field)?.as_str().map(str::to_string)
    }

    /// Same status and the same body (as JSON when both parse, byte for byte otherwise).
    pub fn same_as(&self, other: &Answer) -> bool {
        match (self, other) {
            (Answer::Status { code: a, body: x }, Answer::Status { code: b, body: y }) => {
                a == b && (x == y || json_equal(x, y))
            }
            _ => false,
        }
    }
}

fn json_equal(x: &str, y: &str) -> bool {
    match (
        serde_json::from_str::<serde_json::Value>(x),
        serde_json::from_str::<serde_json::Value>(y),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Answer::Status { code, body } => {
                let body = body.trim();
                if body.is_empty() {
                    write!(f, "{code}")
                } else if body.chars().count() > 120 {
                    let short: String = body.chars().take(120).collect();
                    write!(f, "{code} {short}...")
                } else {
                    write!(f, "{code} {body}")
                }
            }
            Answer::NoAnswer(e) => write!(f, "no answer ({e})"),
        }
    }
}

/// One request the test sent, in the phase it belongs to, with its answer and, for a keyed
/// write that was repeated, the repeat's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    pub phase: Phase,
    /// `METHOD /path`
    pub request: String,
    pub answer: Answer,
    pub repeat: Option<Answer>,
}

/// `GET /orders/saga/{order_id}`: the order's sagas, oldest first (inspection route of
/// this implementation, not part of the course API).
#[derive(Deserialize)]
struct SagaList {
    sagas: Vec<SagaView>,
}
#[derive(Deserialize)]
struct SagaView {
    state: String,
}

/// The saga states a 2xx of `GET /orders/saga/{id}` lists, oldest first.
pub fn saga_states(answer: &Answer) -> Option<Vec<String>> {
    let list: SagaList = answer.json()?;
    Some(list.sagas.into_iter().map(|s| s.state).collect())
}

/// `Idempotency-Key`s unique to this process (a random prefix: keys live for hours on the
/// server, and another run against the same stack must not replay this one's answers).
struct Keys {
    prefix: String,
    next: AtomicU64,
    /// Share of keyed writes that are sent a second time with the same key.
    repeat_share: f64,
}

#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    timeout: Duration,
    keys: Option<Arc<Keys>>,
}

impl Api {
    /// `timeout` bounds every request but a checkout; `repeat_share` (with keys only) is the
    /// share of writes repeated with their key; `None`: no `Idempotency-Key` at all, as the
    /// course's test sends.
    pub fn new(base: &str, timeout: Duration, repeat_share: Option<f64>) -> Result<Api> {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(20_000)
            .connect_timeout(Duration::from_secs(10))
            .tcp_nodelay(true)
            // No client-side retries (the default would retry HTTP/2 refusals).
            .retry(reqwest::retry::never())
            .build()?;
        let keys = repeat_share.map(|repeat_share| {
            Arc::new(Keys {
                prefix: format!("consistency-test-{:016x}", rand::random::<u64>()),
                next: AtomicU64::new(0),
                repeat_share,
            })
        });
        Ok(Api {
            http,
            base: base.trim_end_matches('/').to_string(),
            timeout,
            keys,
        })
    }

    /// Fails when the gateway does not answer at all (any HTTP status is an answer).
    pub async fn probe(&self) -> Result<()> {
        let url = format!("{}/stock/find/consistency-test-probe", self.base);
        let mut last = String::new();
        for _ in 0..5 {
            match self.http.get(&url).timeout(self.timeout).send().await {
                Ok(_) => return Ok(()),
                Err(e) => last = error_chain(&e),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        bail!("gateway {} unreachable: {last}", self.base)
    }

    async fn send(&self, method: Method, path: &str, key: Option<&str>, t: Duration) -> Answer {
        let url = format!("{}{path}", self.base);
        match send_once(&self.http, method, url, key, t).await {
            Ok((code, body)) => Answer::Status { code, body },
            Err(Unanswered::Send(e)) => Answer::NoAnswer(error_chain(&e)),
            Err(Unanswered::Body(code, e)) => Answer::NoAnswer(format!(
                "{code}, then reading the body: {}",
                error_chain(&e)
            )),
        }
    }

    /// A write, sent once (with a fresh key, and maybe repeated with it, under `--idempotency-keys`).
    async fn write(&self, phase: Phase, method: Method, path: String, t: Duration) -> Exchange {
        let key = self.keys.as_ref().map(|k| {
            let n = k.next.fetch_add(1, Ordering::Relaxed);
            (
                format!("{}-{n}", k.prefix),
                rand::random_bool(k.repeat_share),
            )
        });
        let request = format!("{method} {path}");
        let answer = self
            .send(method.clone(), &path, key.as_ref().map(|k| k.0.as_str()), t)
            .await;
        let repeat = match &key {
            Some((key, true)) => Some(self.send(method, &path, Some(key), t).await),
            _ => None,
        };
        Exchange {
            phase,
            request,
            answer,
            repeat,
        }
    }

    async fn read(&self, phase: Phase, path: String) -> Exchange {
        let answer = self.send(Method::GET, &path, None, self.timeout).await;
        Exchange {
            phase,
            request: format!("GET {path}"),
            answer,
            repeat: None,
        }
    }

    pub async fn create_item(&self, price: i64) -> Exchange {
        let path = format!("/stock/item/create/{price}");
        self.write(Phase::CreateItems, Method::POST, path, self.timeout)
            .await
    }
    pub async fn add_stock(&self, item: &str, amount: i64) -> Exchange {
        let path = format!("/stock/add/{item}/{amount}");
        self.write(Phase::AddStock, Method::POST, path, self.timeout)
            .await
    }
    pub async fn create_user(&self) -> Exchange {
        let path = "/payment/create_user".to_string();
        self.write(Phase::CreateUsers, Method::POST, path, self.timeout)
            .await
    }
    pub async fn add_funds(&self, user: &str, amount: i64) -> Exchange {
        let path = format!("/payment/add_funds/{user}/{amount}");
        self.write(Phase::AddFunds, Method::POST, path, self.timeout)
            .await
    }
    pub async fn create_order(&self, user: &str) -> Exchange {
        let path = format!("/orders/create/{user}");
        self.write(Phase::CreateOrders, Method::POST, path, self.timeout)
            .await
    }
    pub async fn add_item(&self, order: &str, item: &str, quantity: i64) -> Exchange {
        let path = format!("/orders/addItem/{order}/{item}/{quantity}");
        self.write(Phase::AddItems, Method::POST, path, self.timeout)
            .await
    }
    /// One checkout with its own (long) timeout: a checkout waits for its saga's outcome.
    pub async fn checkout(&self, order: &str, timeout: Duration) -> Exchange {
        let path = format!("/orders/checkout/{order}");
        self.write(Phase::Checkout, Method::POST, path, timeout)
            .await
    }

    pub async fn find_item(&self, phase: Phase, item: &str) -> Exchange {
        self.read(phase, format!("/stock/find/{item}")).await
    }
    pub async fn find_user(&self, phase: Phase, user: &str) -> Exchange {
        self.read(phase, format!("/payment/find_user/{user}")).await
    }
    pub async fn find_order(&self, phase: Phase, order: &str) -> Exchange {
        self.read(phase, format!("/orders/find/{order}")).await
    }
    pub async fn order_sagas(&self, phase: Phase, order: &str) -> Exchange {
        self.read(phase, format!("/orders/saga/{order}")).await
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(body: &str) -> Answer {
        Answer::Status {
            code: 201,
            body: body.into(),
        }
    }

    #[test]
    fn every_answer_but_a_4xx_counts_as_success() {
        assert!(Answer::status(200).is_success());
        assert!(Answer::status(503).is_success());
        assert!(!Answer::status(400).is_success());
        assert!(Answer::status(409).is_refusal());
        assert!(!Answer::NoAnswer("timeout".into()).is_success());
        assert!(!Answer::NoAnswer("timeout".into()).is_refusal());
    }

    #[test]
    fn a_created_id_is_read_only_from_a_2xx() {
        assert_eq!(
            ok(r#"{"item_id":"7"}"#).created_id("item_id"),
            Some("7".into())
        );
        assert_eq!(ok(r#"{"item_id":7}"#).created_id("item_id"), None);
        let refused = Answer::Status {
            code: 400,
            body: r#"{"item_id":"7"}"#.into(),
        };
        assert_eq!(refused.created_id("item_id"), None);
    }

    #[test]
    fn answers_are_the_same_when_status_and_json_agree() {
        assert!(ok(r#"{"a":1,"b":2}"#).same_as(&ok(r#"{"b":2, "a":1}"#)));
        assert!(ok("done").same_as(&ok("done")));
        assert!(!ok(r#"{"a":1}"#).same_as(&ok(r#"{"a":2}"#)));
        assert!(!ok("").same_as(&Answer::status(200)));
        let gone = Answer::NoAnswer("reset".into());
        assert!(!gone.same_as(&gone));
    }
}
