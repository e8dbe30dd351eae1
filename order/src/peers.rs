//! The HTTP client for stock's and payment's internal ports.
//!
//! One pooled keep-alive client for the whole process. Every call is bounded by
//! `PEER_TIMEOUT_MS`. A participant's business answer is a [`StepReply`]; any
//! other failure (connection refused, timeout, 5xx) is [`PeerError`], which the
//! saga runner retries: it never guesses an outcome.

use std::time::Duration;

use common::participant::{ChargeRequest, ReserveRequest, StepReply};
use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("{peer} is unreachable: {source}")]
    Unreachable {
        peer: &'static str,
        source: reqwest::Error,
    },
    #[error("{peer} answered {status}: {body}")]
    Status {
        peer: &'static str,
        status: u16,
        body: String,
    },
}

impl PeerError {
    /// A 4xx from a peer: our request was wrong, retrying will not help.
    pub fn is_client_error(&self) -> bool {
        matches!(self, PeerError::Status { status, .. } if (400..500).contains(status))
    }
}

#[derive(Clone)]
pub struct Peers {
    client: reqwest::Client,
    stock_url: String,
    payment_url: String,
}

#[derive(Deserialize)]
struct ItemView {
    price: i64,
}

impl Peers {
    pub fn new(stock_url: &str, payment_url: &str, timeout: Duration) -> reqwest::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .pool_max_idle_per_host(256)
            .tcp_nodelay(true)
            .build()?;
        Ok(Peers {
            client,
            stock_url: stock_url.to_string(),
            payment_url: payment_url.to_string(),
        })
    }

    /// The item's current price, or `None` when stock does not know the item.
    pub async fn price(&self, item_id: &str) -> Result<Option<i64>, PeerError> {
        let url = format!("{}/find/{item_id}", self.stock_url);
        let resp = self.send("stock", self.client.get(url)).await;
        match resp {
            Ok(resp) => decode::<ItemView>("stock", resp)
                .await
                .map(|v| Some(v.price)),
            Err(PeerError::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn reserve(
        &self,
        saga_id: &str,
        req: &ReserveRequest,
    ) -> Result<StepReply, PeerError> {
        let url = format!("{}/saga/{saga_id}/reserve", self.stock_url);
        let resp = self.send("stock", self.client.post(url).json(req)).await?;
        decode("stock", resp).await
    }

    pub async fn release(&self, saga_id: &str) -> Result<StepReply, PeerError> {
        let url = format!("{}/saga/{saga_id}/release", self.stock_url);
        let resp = self.send("stock", self.client.post(url)).await?;
        decode("stock", resp).await
    }

    pub async fn charge(&self, saga_id: &str, req: &ChargeRequest) -> Result<StepReply, PeerError> {
        let url = format!("{}/saga/{saga_id}/charge", self.payment_url);
        let resp = self
            .send("payment", self.client.post(url).json(req))
            .await?;
        decode("payment", resp).await
    }

    pub async fn refund(&self, saga_id: &str) -> Result<StepReply, PeerError> {
        let url = format!("{}/saga/{saga_id}/refund", self.payment_url);
        let resp = self.send("payment", self.client.post(url)).await?;
        decode("payment", resp).await
    }

    async fn send(
        &self,
        peer: &'static str,
        req: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, PeerError> {
        let resp = req
            .send()
            .await
            .map_err(|source| PeerError::Unreachable { peer, source })?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        Err(PeerError::Status { peer, status, body })
    }
}

async fn decode<T: serde::de::DeserializeOwned>(
    peer: &'static str,
    resp: reqwest::Response,
) -> Result<T, PeerError> {
    resp.json()
        .await
        .map_err(|source| PeerError::Unreachable { peer, source })
}
