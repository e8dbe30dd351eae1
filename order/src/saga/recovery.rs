//! The recovery loop every order replica runs: at start and then every
//! `RECOVERY_INTERVAL_MS`, take the lease of sagas whose driver stopped
//! writing (the process died, or its request was cut off) and drive each to a
//! final state. Taking the lease is atomic, so two replicas never pick the
//! same saga at once; and if a slow original driver is still alive, both only
//! send idempotent requests and compare-and-set the log.

use std::time::Instant;

use super::runner;
use super::SagaContext;

/// How many sagas one pass takes at most.
const BATCH: usize = 64;

pub async fn run(ctx: SagaContext) {
    loop {
        match pass(&ctx).await {
            Ok(n) if n > 0 => {
                tracing::info!(recovered = n, replica = %ctx.replica_id, "recovery pass")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "recovery pass failed"),
        }
        tokio::time::sleep(ctx.recovery_interval).await;
    }
}

/// One pass: claims expired sagas and drives them concurrently. Returns how many finished.
pub async fn pass(ctx: &SagaContext) -> Result<usize, common::StoreError> {
    let ids = ctx.store.claim_expired(ctx.lease, BATCH).await?;
    let mut tasks = Vec::with_capacity(ids.len());
    for id in ids {
        let ctx = ctx.clone();
        tasks.push(tokio::spawn(async move {
            let saga = ctx.store.saga(&id).await.ok().flatten()?;
            // Drive within one lease; if that is not enough the lease expires and a later pass retries.
            let deadline = Instant::now() + ctx.lease;
            runner::drive(&ctx, saga, deadline).await.ok()
        }));
    }
    let mut finished = 0;
    for task in tasks {
        if let Ok(Some(_)) = task.await {
            finished += 1;
        }
    }
    Ok(finished)
}
