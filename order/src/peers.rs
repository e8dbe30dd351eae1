//! The HTTP client for stock's and payment's internal ports.
//!
//! One pooled keep-alive client for the whole process. Every request is bounded by
//! `PEER_TIMEOUT_MS`. A participant's business answer is a [`StepReply`]; any
//! other failure (connection refused, timeout, 5xx) is [`PeerError`], which the
//! saga runner retries: it never guesses an outcome. Reserves and charges go out
//! in batches ([`batch`]): the saga runner still calls one saga's step and gets
//! that saga's reply.
//!
//! Every call is a client span (`stock reserve`, `payment charge`, ...) whose W3C
//! trace context goes out with the call when span export is on (the `traceparent`
//! header, or the saga's entry in a batch), so the participant's spans join the
//! checkout's trace. Failed calls are counted ([`PeerMetrics`]).
//!
//! This module never decides a saga's outcome and never retries: a failed call
//! is returned as it is, to the runner that knows whether and when to try again.
//! The HTTP exchange itself is in `http.rs`, which `batch.rs` shares.

mod batch;
mod http;

use std::time::Duration;

use common::params::Id;
use common::participant::{ChargeRequest, ReserveRequest, SagaCall, StepReply};
use common::telemetry::otel;
use prometheus::core::Collector;
use serde::Deserialize;
use tracing::field::Empty;

use self::batch::Batcher;
pub use self::http::PeerError;
use self::http::{decode, send};
use crate::metrics::PeerMetrics;
use crate::saga::participants::Participants;

#[derive(Clone)]
pub struct Peers {
    client: reqwest::Client,
    stock_url: String,
    payment_url: String,
    reserves: Batcher<ReserveRequest>,
    charges: Batcher<ChargeRequest>,
    metrics: PeerMetrics,
}

#[derive(Deserialize)]
struct ItemView {
    price: i64,
}

impl Peers {
    /// `in_flight`: how many batch requests of one step may be outstanding at once.
    pub fn new(
        stock_url: &str,
        payment_url: &str,
        timeout: Duration,
        in_flight: usize,
    ) -> reqwest::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .pool_max_idle_per_host(256)
            .tcp_nodelay(true)
            .build()?;
        let metrics = PeerMetrics::new();
        let reserves = Batcher::new(
            client.clone(),
            format!("{stock_url}/saga/reserve"),
            "stock",
            in_flight,
            metrics.batch_sizes("stock", "reserve"),
        );
        let charges = Batcher::new(
            client.clone(),
            format!("{payment_url}/saga/charge"),
            "payment",
            in_flight,
            metrics.batch_sizes("payment", "charge"),
        );
        Ok(Peers {
            reserves,
            charges,
            client,
            stock_url: stock_url.to_string(),
            payment_url: payment_url.to_string(),
            metrics,
        })
    }

    /// The metrics of calls to the peers, for the service's registry.
    pub fn collectors(&self) -> Vec<Box<dyn Collector>> {
        self.metrics.collectors()
    }

    /// The item's current price, or `None` when stock does not know the item.
    #[tracing::instrument(level = "debug", name = "stock find", skip_all, fields(otel.kind = "client", item_id = %item_id, http.response.status_code = Empty))]
    pub async fn price(&self, item_id: &Id) -> Result<Option<i64>, PeerError> {
        let url = format!("{}/find/{item_id}", self.stock_url);
        let resp = send("stock", self.client.get(url)).await;
        let price = match resp {
            Ok(resp) => decode::<ItemView>("stock", resp)
                .await
                .map(|v| Some(v.price)),
            Err(PeerError::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        };
        self.count("stock", "find", price)
    }

    #[tracing::instrument(level = "debug", name = "stock reserve", skip_all, fields(otel.kind = "client", saga_id = %saga_id, http.response.status_code = Empty))]
    pub async fn reserve(
        &self,
        saga_id: &str,
        req: ReserveRequest,
    ) -> Result<StepReply, PeerError> {
        let reply = self.reserves.call(saga_call(saga_id, req)).await;
        self.count("stock", "reserve", reply)
    }

    #[tracing::instrument(level = "debug", name = "stock release", skip_all, fields(otel.kind = "client", saga_id = %saga_id, http.response.status_code = Empty))]
    pub async fn release(&self, saga_id: &str) -> Result<StepReply, PeerError> {
        let url = format!("{}/saga/{saga_id}/release", self.stock_url);
        let reply = step("stock", self.client.post(url)).await;
        self.count("stock", "release", reply)
    }

    #[tracing::instrument(level = "debug", name = "payment charge", skip_all, fields(otel.kind = "client", saga_id = %saga_id, http.response.status_code = Empty))]
    pub async fn charge(&self, saga_id: &str, req: ChargeRequest) -> Result<StepReply, PeerError> {
        let reply = self.charges.call(saga_call(saga_id, req)).await;
        self.count("payment", "charge", reply)
    }

    #[tracing::instrument(level = "debug", name = "payment refund", skip_all, fields(otel.kind = "client", saga_id = %saga_id, http.response.status_code = Empty))]
    pub async fn refund(&self, saga_id: &str) -> Result<StepReply, PeerError> {
        let url = format!("{}/saga/{saga_id}/refund", self.payment_url);
        let reply = step("payment", self.client.post(url)).await;
        self.count("payment", "refund", reply)
    }

    fn count<T>(
        &self,
        peer: &'static str,
        call: &'static str,
        result: Result<T, PeerError>,
    ) -> Result<T, PeerError> {
        if let Err(e) = &result {
            self.metrics.failed(peer, call, e.kind());
        }
        result
    }
}

impl Participants for Peers {
    type Error = PeerError;

    async fn reserve(&self, saga: &Id, req: ReserveRequest) -> Result<StepReply, PeerError> {
        Peers::reserve(self, saga.as_str(), req).await
    }

    async fn charge(&self, saga: &Id, req: ChargeRequest) -> Result<StepReply, PeerError> {
        Peers::charge(self, saga.as_str(), req).await
    }

    async fn release(&self, saga: &Id) -> Result<StepReply, PeerError> {
        Peers::release(self, saga.as_str()).await
    }

    async fn refund(&self, saga: &Id) -> Result<StepReply, PeerError> {
        Peers::refund(self, saga.as_str()).await
    }
}

/// One saga's entry in a batch, carrying the current span's trace context.
fn saga_call<T>(saga_id: &str, step: T) -> SagaCall<T> {
    SagaCall {
        saga_id: saga_id.to_string(),
        traceparent: otel::current_traceparent(),
        step,
    }
}

/// Sends a single-saga step call and reads the participant's reply.
async fn step(peer: &'static str, req: reqwest::RequestBuilder) -> Result<StepReply, PeerError> {
    let resp = send(peer, req).await?;
    decode(peer, resp).await
}
