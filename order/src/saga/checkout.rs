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
//! `CHECKOUT_WAIT_MS` passes without an outcome does the checkout give up
//! ([`CheckoutError::OutcomeUnknown`]). This module answers an [`Ending`] or a
//! [`CheckoutError`] and never an HTTP status: the routes map both.

use std::time::Duration;

use common::params::Id;
use common::telemetry::otel;
use tokio::time::Instant;

use super::log::SagaLog;
use super::machine::{ending, Ending};
use super::runner;
use super::SagaContext;
use crate::store::Begin;
use common::backoff::Backoff;

/// Why a checkout has no [`Ending`] to answer.
#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    #[error("order {0} not found")]
    UnknownOrder(Id),
    /// The order's quantities of one item sum past `i64::MAX`; no saga was logged.
    #[error("order {order}: the summed quantity of item {item} does not fit in a 64-bit integer")]
    Overflow { order: Id, item: Id },
    /// The deadline passed before the outcome was known; the saga (if one was logged)
    /// goes on, and a retried checkout learns its outcome.
    #[error(
        "the outcome of checking out order {order} is not known yet ({last_error}); \
         retry the checkout to learn it"
    )]
    OutcomeUnknown { order: Id, last_error: String },
}

#[tracing::instrument(skip_all, fields(order_id = %order_id, saga_id = tracing::field::Empty))]
pub async fn checkout(ctx: &SagaContext, order_id: &Id) -> Result<Ending, CheckoutError> {
    let deadline = Instant::now() + ctx.checkout_wait;
    let mut backoff = Backoff::new(Duration::from_millis(10), Duration::from_millis(500));
    loop {
        match attempt(ctx, order_id, deadline).await {
            Ok(ending) => return Ok(ending),
            Err(Attempt::Final(e)) => return Err(e),
            Err(Attempt::Retry(e)) => {
                let Some(pause) = backoff.pause_before(deadline) else {
                    return Err(CheckoutError::OutcomeUnknown {
                        order: order_id.clone(),
                        last_error: e,
                    });
                };
                tracing::warn!(error = %e, "checkout step failed, retrying");
                tokio::time::sleep(pause).await;
            }
        }
    }
}

enum Attempt {
    /// A definite answer for the client (unknown order, overflow).
    Final(CheckoutError),
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
            return Err(Attempt::Final(CheckoutError::UnknownOrder(
                order_id.clone(),
            )))
        }
        Begin::Paid => return Ok(Ending::Committed),
        Begin::Busy(other) => {
            otel::record_on_current("saga_id", other.as_str());
            return wait_for(ctx, order_id, &other, deadline).await;
        }
        Begin::Overflow(item) => {
            return Err(Attempt::Final(CheckoutError::Overflow {
                order: order_id.clone(),
                item,
            }))
        }
    };
    tracing::debug!(%saga_id, "saga started");
    match runner::drive(ctx, saga, &owner, deadline).await {
        Ok(ending) => {
            if ending == Ending::Committed {
                // This request's own saga paid the order (a repeat finds it paid).
                common::fault::write_applied("order checkout");
            }
            Ok(ending)
        }
        Err(e) => {
            // Our lease was taken over, or the deadline is near: the saga's outcome is
            // whatever its current driver reaches.
            tracing::warn!(error = %e, "driving the saga stopped; waiting for its outcome");
            wait_for(ctx, order_id, &saga_id, deadline).await
        }
    }
}

/// Polls a saga driven elsewhere until it is final.
async fn wait_for(
    ctx: &SagaContext,
    order_id: &Id,
    saga_id: &Id,
    deadline: Instant,
) -> Result<Ending, Attempt> {
    let mut backoff = Backoff::new(Duration::from_millis(5), Duration::from_millis(100));
    loop {
        match ctx.store.saga(order_id, saga_id).await {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_order_and_what_went_wrong() {
        let order = Id::generated("o1".into());
        assert_eq!(
            CheckoutError::UnknownOrder(order.clone()).to_string(),
            "order o1 not found"
        );
        let overflow = CheckoutError::Overflow {
            order: order.clone(),
            item: Id::generated("i7".into()),
        };
        assert_eq!(
            overflow.to_string(),
            "order o1: the summed quantity of item i7 does not fit in a 64-bit integer"
        );
        let unknown = CheckoutError::OutcomeUnknown {
            order,
            last_error: "saga s1 still in flight".into(),
        };
        assert_eq!(
            unknown.to_string(),
            "the outcome of checking out order o1 is not known yet (saga s1 still in flight); \
             retry the checkout to learn it"
        );
    }
}
