//! `POST /checkout/{order_id}`: start a saga, or join the one in flight, and
//! answer only with its real outcome.
//!
//! - A paid order answers "paid" at once and charges nothing.
//! - An order with a saga in flight: wait for that saga (the recovery loop
//!   drives it if its driver died), so concurrent and retried checkouts all
//!   answer the same outcome.
//! - Otherwise log a new saga atomically with marking the order busy (one script that
//!   also reads the order and sums its quantities), and drive it.
//!
//! Redis or a participant being unreachable is retried with backoff; only when
//! `CHECKOUT_WAIT_MS` passes without an outcome does the caller get a 503.

use std::time::Duration;

use common::params::Id;
use common::telemetry::otel;
use common::ApiError;
use tokio::time::Instant;

use super::backoff::Backoff;
use super::machine::{ending, Ending};
use super::runner;
use super::SagaContext;
use crate::store::Begin;

#[tracing::instrument(skip_all, fields(order_id = %order_id, saga_id = tracing::field::Empty))]
pub async fn checkout(ctx: &SagaContext, order_id: &Id) -> Result<Ending, ApiError> {
    let deadline = Instant::now() + ctx.checkout_wait;
    let mut backoff = Backoff::new(Duration::from_millis(10), Duration::from_millis(500));
    loop {
        match attempt(ctx, order_id, deadline).await {
            Ok(ending) => return Ok(ending),
            Err(Attempt::Final(e)) => return Err(e),
            Err(Attempt::Retry(e)) => {
                let Some(pause) = backoff.pause_before(deadline) else {
                    return Err(ApiError::Unavailable(format!(
                        "the outcome of checking out order {order_id} is not known yet ({e}); \
                         retry the checkout to learn it"
                    )));
                };
                tracing::warn!(error = %e, "checkout step failed, retrying");
                tokio::time::sleep(pause).await;
            }
        }
    }
}

enum Attempt {
    /// A definite answer for the client (unknown order, overflow).
    Final(ApiError),
    /// Redis or a peer failed; the outcome is still unknown.
    Retry(String),
}

impl From<common::StoreError> for Attempt {
    fn from(e: common::StoreError) -> Self {
        Attempt::Retry(e.to_string())
    }
}

async fn attempt(ctx: &SagaContext, order_id: &Id, deadline: Instant) -> Result<Ending, Attempt> {
    let saga_id = Id::generated(uuid::Uuid::new_v4().to_string());
    otel::record_on_current("saga_id", saga_id.as_str());
    let owner = ctx.new_owner();
    let saga = match ctx
        .store
        .begin(&saga_id, order_id, ctx.lease, &owner)
        .await?
    {
        Begin::Started(saga) => saga,
        Begin::Missing => {
            return Err(Attempt::Final(ApiError::NotFound(format!(
                "order {order_id} not found"
            ))))
        }
        Begin::Paid => return Ok(Ending::Committed),
        Begin::Busy(other) => {
            otel::record_on_current("saga_id", other.as_str());
            return wait_for(ctx, &other, deadline).await;
        }
        Begin::Overflow(item) => {
            return Err(Attempt::Final(ApiError::BadRequest(format!(
            "order {order_id}: the summed quantity of item {item} does not fit in a 64-bit integer"
        ))))
        }
    };
    tracing::debug!(%saga_id, "saga started");
    match runner::drive(ctx, saga, &owner, deadline).await {
        Ok(ending) => Ok(ending),
        Err(e) => {
            // Our lease was taken over, or the deadline is near: the saga's outcome is
            // whatever its current driver reaches.
            tracing::warn!(error = %e, "driving the saga stopped; waiting for its outcome");
            wait_for(ctx, &saga_id, deadline).await
        }
    }
}

/// Polls a saga driven elsewhere until it is final.
async fn wait_for(ctx: &SagaContext, saga_id: &Id, deadline: Instant) -> Result<Ending, Attempt> {
    let mut backoff = Backoff::new(Duration::from_millis(5), Duration::from_millis(100));
    loop {
        match ctx.store.saga(saga_id).await {
            Ok(Some(saga)) => {
                if let Some(ending) = ending(saga.state, saga.reason.as_deref()) {
                    return Ok(ending);
                }
            }
            Ok(None) => return Err(Attempt::Retry(format!("saga {saga_id} is not logged"))),
            Err(e) => tracing::warn!(error = %e, "reading saga failed, retrying"),
        }
        if !backoff.wait(deadline).await {
            return Err(Attempt::Retry(format!("saga {saga_id} still in flight")));
        }
    }
}
