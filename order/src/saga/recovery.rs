//! The recovery loop every order replica runs: at start and then every
//! `RECOVERY_INTERVAL_MS`, take the lease of sagas whose driver stopped
//! renewing (the process died, or its Redis connection did) and drive each to a
//! final state. Taking the lease is atomic and makes the taker the only driver
//! allowed to write the saga's log, so two replicas never drive the same saga.
//! It never drives a saga whose lease it did not take, and never decides an
//! outcome: the runner does, from what the log holds.

use tokio::time::Instant;

use super::log::SagaLog;
use super::runner;
use super::SagaContext;
use crate::metrics::Recovery;

/// How many sagas one pass takes at most.
const BATCH: usize = 64;

pub async fn run(ctx: SagaContext) {
    loop {
        match pass(&ctx).await {
            Ok(n) if n > 0 => {
                tracing::info!(claimed = n, replica = %ctx.replica_id, "recovery pass")
            }
            Ok(_) => {}
            Err(e) => {
                ctx.metrics.recovery(Recovery::FailedPass, 1);
                tracing::warn!(error = %e, "recovery pass failed")
            }
        }
        tokio::time::sleep(ctx.recovery_interval).await;
    }
}

/// One pass: claims expired sagas and starts driving each in its own task (the lease
/// heartbeat keeps them ours, so the next pass does not pick them again). Returns how
/// many were claimed.
pub async fn pass(ctx: &SagaContext) -> Result<usize, common::StoreError> {
    let owner = ctx.new_owner();
    let ids = ctx.store.claim_expired(ctx.lease, BATCH, &owner).await?;
    let claimed = ids.len();
    ctx.metrics.recovery(Recovery::Claimed, claimed as u64);
    for (id, order) in ids {
        let (ctx, owner) = (ctx.clone(), owner.clone());
        tokio::spawn(async move {
            let saga = match ctx.store.saga(&order, &id).await {
                Ok(Some(saga)) => saga,
                // Gone or unreadable: its lease expires again and a later pass retries.
                Ok(None) => return,
                Err(e) => {
                    return tracing::warn!(saga_id = %id, error = %e, "reading a claimed saga failed")
                }
            };
            // Past the deadline the lease lapses and a later pass takes the saga again.
            let deadline = Instant::now() + ctx.checkout_wait;
            match runner::drive(&ctx, saga, &owner, deadline).await {
                Ok(ending) => {
                    ctx.metrics.recovery(Recovery::Finished, 1);
                    tracing::info!(saga_id = %id, ?ending, "recovered saga finished")
                }
                Err(e) => {
                    ctx.metrics.recovery(Recovery::Unfinished, 1);
                    tracing::warn!(error = %e, "recovered saga not finished")
                }
            }
        });
    }
    Ok(claimed)
}
