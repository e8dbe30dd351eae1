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
mod endpoints;
mod http;

use std::time::Duration;

use common::backoff::Backoff;
use common::params::Id;
use common::participant::{ChargeRequest, ReserveRequest, SagaCall, StepReply};
use common::telemetry::otel;
use prometheus::core::Collector;
use serde::{Deserialize, Serialize};
use tracing::field::Empty;

use self::batch::Batcher;
pub use self::endpoints::Endpoints;
use self::http::decode;
pub use self::http::PeerError;
use crate::metrics::PeerMetrics;
use crate::saga::participants::Participants;

/// How long a price lookup waits for the current stock replica before asking the next
/// one too ([`Endpoints::read`]): far above a live replica's answer (milliseconds), and
/// well inside the 0.3 s the gateway gives an addItem's first try.
const LOOKUP_HEDGE: Duration = Duration::from_millis(150);

#[derive(Clone)]
pub struct Peers {
    client: reqwest::Client,
    stock: Endpoints,
    payment: Endpoints,
    reserves: Batcher<ReserveRequest>,
    charges: Batcher<ChargeRequest>,
    metrics: PeerMetrics,
    /// How long [`Peers::price`] keeps asking while stock cannot answer.
    lookup_wait: Duration,
}

#[derive(Deserialize)]
struct ItemView {
    price: i64,
}

impl Peers {
    /// `stock_urls`, `payment_urls`: each participant's replicas, comma-separated
    /// ([`Endpoints`]); `in_flight`: how many batch requests of one step may be
    /// outstanding at once.
    pub fn new(
        stock_urls: &str,
        payment_urls: &str,
        timeout: Duration,
        in_flight: usize,
    ) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .pool_max_idle_per_host(256)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        let stock = Endpoints::parse("stock", stock_urls)?;
        let payment = Endpoints::parse("payment", payment_urls)?;
        let metrics = PeerMetrics::new();
        let reserves = Batcher::new(
            client.clone(),
            stock.clone(),
            "/saga/reserve",
            in_flight,
            metrics.batch_sizes("stock", "reserve"),
        );
        let charges = Batcher::new(
            client.clone(),
            payment.clone(),
            "/saga/charge",
            in_flight,
            metrics.batch_sizes("payment", "charge"),
        );
        Ok(Peers {
            reserves,
            charges,
            client,
            stock,
            payment,
            metrics,
            lookup_wait: Duration::ZERO,
        })
    }

    /// Lets [`Peers::price`] ask again, for up to `wait`, while no stock replica answers
    /// (each may be waiting for its Redis to fail over, which takes longer than one
    /// call's `PEER_TIMEOUT_MS`). The order service gives it `REDIS_WAIT_MS`, the wait
    /// every public request gives its own storage.
    pub fn with_lookup_wait(mut self, wait: Duration) -> Self {
        self.lookup_wait = wait;
        self
    }

    /// The metrics of calls to the peers, for the service's registry.
    pub fn collectors(&self) -> Vec<Box<dyn Collector>> {
        self.metrics.collectors()
    }

    /// The item's current price, or `None` when stock does not know the item. A read has no
    /// effect, so it is asked again while stock cannot answer (unreachable or a 5xx),
    /// within the lookup wait.
    #[tracing::instrument(level = "debug", name = "stock find", skip_all, fields(otel.kind = "client", item_id = %item_id, http.response.status_code = Empty))]
    pub async fn price(&self, item_id: &Id) -> Result<Option<i64>, PeerError> {
        let deadline = tokio::time::Instant::now() + self.lookup_wait;
        let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_millis(500));
        loop {
            let price = self.price_once(item_id).await;
            let passing = matches!(
                &price,
                Err(PeerError::Unreachable { .. }) | Err(PeerError::Status { status: 500.., .. })
            );
            if !passing || !backoff.wait(deadline).await {
                return price;
            }
        }
    }

    async fn price_once(&self, item_id: &Id) -> Result<Option<i64>, PeerError> {
        let resp = self
            .stock
            .read(
                |base| self.client.get(format!("{base}/find/{item_id}")),
                LOOKUP_HEDGE,
            )
            .await;
        let price = match resp {
            Ok(resp) => decode::<ItemView>("stock", resp)
                .await
                .map(|v| Some(v.price)),
            Err(PeerError::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        };
        self.count("stock", "find", price)
    }

    /// Sends the undo step `call` (`release`, `refund`) of one saga to `replicas` (it is
    /// not batched), reads the participant's reply and counts a failure.
    async fn undo(
        &self,
        replicas: &Endpoints,
        call: &'static str,
        saga_id: &Id,
        req: impl Serialize,
    ) -> Result<StepReply, PeerError> {
        let path = format!("/saga/{saga_id}/{call}");
        let reply = async {
            let resp = replicas
                .send(|base| self.client.post(format!("{base}{path}")).json(&req))
                .await?;
            decode(replicas.peer(), resp).await
        }
        .await;
        self.count(replicas.peer(), call, reply)
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

    #[tracing::instrument(level = "debug", name = "stock reserve", skip_all, fields(otel.kind = "client", saga_id = %saga_id, http.response.status_code = Empty))]
    async fn reserve(&self, saga_id: &Id, req: ReserveRequest) -> Result<StepReply, PeerError> {
        let reply = self.reserves.call(saga_call(saga_id, req)).await;
        self.count("stock", "reserve", reply)
    }

    #[tracing::instrument(level = "debug", name = "stock release", skip_all, fields(otel.kind = "client", saga_id = %saga_id, http.response.status_code = Empty))]
    async fn release(&self, saga_id: &Id, req: ReserveRequest) -> Result<StepReply, PeerError> {
        self.undo(&self.stock, "release", saga_id, req).await
    }

    #[tracing::instrument(level = "debug", name = "payment charge", skip_all, fields(otel.kind = "client", saga_id = %saga_id, http.response.status_code = Empty))]
    async fn charge(&self, saga_id: &Id, req: ChargeRequest) -> Result<StepReply, PeerError> {
        let reply = self.charges.call(saga_call(saga_id, req)).await;
        self.count("payment", "charge", reply)
    }

    #[tracing::instrument(level = "debug", name = "payment refund", skip_all, fields(otel.kind = "client", saga_id = %saga_id, http.response.status_code = Empty))]
    async fn refund(&self, saga_id: &Id, req: ChargeRequest) -> Result<StepReply, PeerError> {
        self.undo(&self.payment, "refund", saga_id, req).await
    }
}

/// One saga's entry in a batch, carrying the current span's trace context.
fn saga_call<T>(saga_id: &Id, step: T) -> SagaCall<T> {
    SagaCall {
        saga_id: saga_id.to_string(),
        traceparent: otel::current_traceparent(),
        step,
    }
}
