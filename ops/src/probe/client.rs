//! One request through the stack's gateway, as the probes send it: once, with an optional
//! `Idempotency-Key`, bounded by a timeout, and its answer kept as it came (a status and the
//! body, parsed as JSON when it is JSON) or the reason no answer came.
//!
//! It never retries by itself: a probe that retries says so where it does.

use reqwest::Method;
use serde_json::Value;
use std::fmt;
use std::time::Duration;

/// The gateway's address: `--gateway`, else `$GATEWAY`, else port 8000 + `$PORT_OFFSET` on
/// the loopback (the local stack's layout, env/local/stack.sh).
pub fn default_gateway() -> String {
    if let Ok(url) = std::env::var("GATEWAY") {
        return url;
    }
    let offset: u16 = std::env::var("PORT_OFFSET")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    format!("http://127.0.0.1:{}", 8000 + offset)
}

/// What one request got.
#[derive(Debug, Clone)]
pub enum Answer {
    /// The status and the body (JSON `null` when it was not JSON), with the raw body for
    /// messages.
    Status { code: u16, body: Value, raw: String },
    /// No answer: a connection error or the timeout.
    None(String),
}

impl Answer {
    /// The status, 0 when no answer came.
    pub fn code(&self) -> u16 {
        match self {
            Answer::Status { code, .. } => *code,
            Answer::None(_) => 0,
        }
    }

    pub fn is_2xx(&self) -> bool {
        (200..300).contains(&self.code())
    }

    pub fn is_4xx(&self) -> bool {
        (400..500).contains(&self.code())
    }

    /// The parsed body (`null` without an answer or a JSON body).
    pub fn body(&self) -> &Value {
        match self {
            Answer::Status { body, .. } => body,
            Answer::None(_) => &Value::Null,
        }
    }

    /// A field of the body: a string as it is, any other value as JSON; `None` when the
    /// body has no such field.
    pub fn field(&self, name: &str) -> Option<String> {
        match self.body().get(name)? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    }

    /// Whether the body is a JSON error (`{"error": "..."}`, not empty).
    pub fn has_error(&self) -> bool {
        self.field("error").is_some_and(|e| !e.is_empty())
    }
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Answer::Status { code, raw, .. } => write!(f, "{code} {}", raw.trim()),
            Answer::None(why) => write!(f, "no answer ({why})"),
        }
    }
}

/// The gateway, and the one HTTP client (its pool) every request goes through.
#[derive(Clone)]
pub struct Gateway {
    base: String,
    http: reqwest::Client,
}

impl Gateway {
    pub fn new(base: &str) -> anyhow::Result<Gateway> {
        let http = reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(5))
            .build()?;
        Ok(Gateway {
            base: base.trim_end_matches('/').to_string(),
            http,
        })
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    /// Sends one request once; `key` becomes its `Idempotency-Key`.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        timeout: Duration,
    ) -> Answer {
        let url = format!("{}{path}", self.base);
        match send_once(&self.http, method, url, key, timeout).await {
            Ok((code, raw)) => Answer::Status {
                code,
                body: serde_json::from_str(&raw).unwrap_or(Value::Null),
                raw,
            },
            Err(Unanswered::Send(e)) => Answer::None(e.to_string()),
            Err(Unanswered::Body(code, e)) => {
                Answer::None(format!("status {code}, body not read: {e}"))
            }
        }
    }

    pub async fn get(&self, path: &str, timeout: Duration) -> Answer {
        self.call(Method::GET, path, None, timeout).await
    }

    pub async fn post(&self, path: &str, timeout: Duration) -> Answer {
        self.call(Method::POST, path, None, timeout).await
    }

    /// Whether the gateway answers at all, below 500 (the stack under test is there).
    pub async fn answers(&self) -> bool {
        let answer = self.get("/stock/find/none", Duration::from_secs(15)).await;
        (1..500).contains(&answer.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(code: u16, raw: &str) -> Answer {
        Answer::Status {
            code,
            body: serde_json::from_str(raw).unwrap_or(Value::Null),
            raw: raw.to_string(),
        }
    }

    #[test]
    fn a_field_is_a_string_as_it_is_and_any_other_value_as_json() {
        let a = answer(
            200,
            r#"{"item_id":"a-1","stock":7,"paid":false,"none":null}"#,
        );
        assert_eq!(a.field("item_id").as_deref(), Some("a-1"));
        assert_eq!(a.field("stock").as_deref(), Some("7"));
        assert_eq!(a.field("paid").as_deref(), Some("false"));
        assert_eq!(a.field("none"), None);
        assert_eq!(a.field("missing"), None);
        assert!(a.is_2xx() && !a.is_4xx());
    }

    #[test]
    fn an_error_body_needs_a_non_empty_error() {
        assert!(answer(400, r#"{"error":"amount \"-3\" must be"}"#).has_error());
        assert!(!answer(400, r#"{"error":""}"#).has_error());
        assert!(!answer(404, "not json").has_error());
        let none = Answer::None("connection refused".into());
        assert_eq!(none.code(), 0);
        assert!(!none.has_error());
        assert_eq!(none.body(), &Value::Null);
        assert_eq!(none.to_string(), "no answer (connection refused)");
    }
}

/// Why a request sent once got no answer: it was not sent or no response came (a
/// connection error, the timeout), or the response's body could not be read.
#[derive(Debug)]
pub enum Unanswered {
    Send(reqwest::Error),
    Body(u16, reqwest::Error),
}

/// Sends `method url` once through `http` within `timeout`, `key` as its
/// `Idempotency-Key`: the status and the body as text. The one place a client of the
/// stack builds such a request (the probes, the consistency test).
pub async fn send_once(
    http: &reqwest::Client,
    method: Method,
    url: String,
    key: Option<&str>,
    timeout: Duration,
) -> Result<(u16, String), Unanswered> {
    let mut request = http.request(method, url).timeout(timeout);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request.send().await.map_err(Unanswered::Send)?;
    let code = response.status().as_u16();
    let body = response
        .text()
        .await
        .map_err(|e| Unanswered::Body(code, e))?;
    Ok((code, body))
}
