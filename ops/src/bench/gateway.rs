//! The stack's public API as the benchmark uses it: batch_init calls and the sampled reads,
//! each bounded in time.

use super::error::{Error, Result};
use std::time::Duration;

/// The gateway's base URL: the one given (without a trailing `/`), else the local stack's
/// (`8000 + PORT_OFFSET`).
pub fn base_url(given: Option<&str>, port_offset: u16) -> String {
    match given.filter(|url| !url.is_empty()) {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => format!("http://127.0.0.1:{}", 8000 + u32::from(port_offset)),
    }
}

pub struct Gateway {
    pub url: String,
    http: reqwest::Client,
}

impl Gateway {
    pub fn new(url: String) -> Result<Gateway> {
        let http = reqwest::Client::builder()
            .build()
            .map_err(Error::http("building the HTTP client"))?;
        Ok(Gateway { url, http })
    }

    /// `POST path`, which must answer 2xx within `bound`.
    pub async fn post(&self, path: &str, bound: Duration) -> Result<()> {
        let url = format!("{}{path}", self.url);
        let answer = self
            .http
            .post(&url)
            .timeout(bound)
            .send()
            .await
            .map_err(Error::http(format!("POST {url}")))?;
        let status = answer.status();
        if !status.is_success() {
            let body = answer.text().await.unwrap_or_default();
            return Err(Error::Failed(format!(
                "POST {url} answered {status}: {body}"
            )));
        }
        Ok(())
    }

    /// `GET path` (2xx within `bound`) and the integer `field` of its JSON answer.
    pub async fn get_int(&self, path: &str, field: &str, bound: Duration) -> Result<i128> {
        let url = format!("{}{path}", self.url);
        let what = format!("GET {url}");
        let value: serde_json::Value = self
            .http
            .get(&url)
            .timeout(bound)
            .send()
            .await
            .and_then(|a| a.error_for_status())
            .map_err(Error::http(what.clone()))?
            .json()
            .await
            .map_err(Error::http(what.clone()))?;
        // The number's own digits: credit and stock may be as large as 2^63 - 1.
        value
            .get(field)
            .filter(|v| v.is_number())
            .and_then(|v| v.to_string().parse().ok())
            .ok_or_else(|| Error::Failed(format!("{what}: no integer {field:?} in {value}")))
    }

    /// Whether `GET /gateway/health` answers 2xx within 5 s.
    pub async fn healthy(&self) -> bool {
        let url = format!("{}/gateway/health", self.url);
        let answer = self.http.get(url).timeout(Duration::from_secs(5)).send();
        answer.await.is_ok_and(|a| a.status().is_success())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gateway_defaults_to_the_local_stacks_port() {
        assert_eq!(base_url(None, 0), "http://127.0.0.1:8000");
        assert_eq!(base_url(None, 4000), "http://127.0.0.1:12000");
        assert_eq!(base_url(Some("http://h:1/"), 4000), "http://h:1");
        assert_eq!(base_url(Some(""), 0), "http://127.0.0.1:8000");
    }
}
