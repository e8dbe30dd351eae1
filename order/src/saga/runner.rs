//! Drives one saga from its logged state to a final one.
//!
//! The loop is: ask the machine for the next action, perform it (retrying with
//! backoff while a participant or Redis is unreachable, never guessing), turn
//! the participant's answer into an event, and do what the machine's [`step`]
//! says: go on at once, or persist the new state with a compare-and-set before
//! the next action. Which states are logged, and what a final state means for
//! the client, are the machine's rules; this module never decides them.
//!
//! The reserve goes out with the charge: performing `Reserve` sends both at once
//! and keeps the charge's answer for the `Charge` that follows a done reserve, so a
//! checkout waits for one round of participants instead of two. Both are idempotent
//! per saga, and the machine compensates every refusal with a refund (see
//! `machine`), so a charge sent for a reserve that is then refused is given back.
//!
//! A driver holds the saga's lease (an owner token and an expiry): while it
//! drives, a heartbeat renews the lease every third of its length, so a slow step
//! (a participant down, being retried) is never mistaken for a dead driver. Only
//! the lease holder can write the log; a driver that finds its lease taken over
//! (its Redis was unreachable for longer than a lease) stops at once and leaves
//! the saga to the new holder. Even a step sent by the old holder just before it
//! noticed is harmless: participants are idempotent per saga.
//!
//! The runner is generic over the participants and the log it drives (resolved
//! at compile time), and reads time only from tokio's clock, so its tests run it
//! against in-memory fakes with the clock paused (`tests/runner.rs`).

use std::future::Future;
use std::time::Duration;

use common::params::Id;
use common::participant::{ChargeRequest, ReserveRequest, StepReply};
use tokio::time::Instant;

use super::log::{Advance, SagaLog, SagaRecord};
use super::machine::{
    charge_answered, ending, next_action, reserve_answered, step, Action, Ending, Event, Next,
};
use super::participants::Participants;
use super::SagaContext;
use common::backoff::Backoff;

/// The deadline passed before the saga reached a final state; it stays logged
/// and the recovery loop finishes it.
#[derive(Debug, thiserror::Error)]
#[error("saga {saga_id} did not finish before the deadline (last error: {last_error})")]
pub struct Unfinished {
    pub saga_id: Id,
    pub last_error: String,
}

/// Drives `saga`, whose lease `owner` holds, until it is final, the deadline passes,
/// or the lease is lost.
#[tracing::instrument(skip_all, fields(saga_id = %saga.id, order_id = %saga.order))]
pub async fn drive<P: Participants, L: SagaLog>(
    ctx: &SagaContext<P, L>,
    saga: SagaRecord,
    owner: &str,
    deadline: Instant,
) -> Result<Ending, Unfinished> {
    let held = saga.clone();
    let _in_flight = ctx.metrics.driving();
    tokio::select! {
        biased;
        ended = steps(ctx, saga, owner, deadline) => ended,
        () = keep_lease(ctx, &held, owner) => Err(Unfinished {
            saga_id: held.id,
            last_error: LOST.into(),
        }),
    }
}

pub(super) const LOST: &str = "another driver took over the saga's lease";

/// Renews the lease every third of its length; returns only once it is lost.
async fn keep_lease<P, L: SagaLog>(ctx: &SagaContext<P, L>, saga: &SagaRecord, owner: &str) {
    let every = ctx.lease / 3;
    loop {
        tokio::time::sleep(every).await;
        match ctx.store.renew(saga, owner, ctx.lease).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                tracing::warn!(saga_id = %saga.id, error = %e, "renewing the saga's lease failed")
            }
        }
    }
}

async fn steps<P: Participants, L: SagaLog>(
    ctx: &SagaContext<P, L>,
    mut saga: SagaRecord,
    owner: &str,
    deadline: Instant,
) -> Result<Ending, Unfinished> {
    // What the log holds: the compare-and-set expects it (`saga.state` may be ahead).
    let mut logged = saga.state;
    // The answer of the charge sent with the reserve, until the `Charge` action uses it.
    let mut early_charge = None;
    loop {
        let from = saga.state;
        let action = next_action(from);
        if action == Action::Done {
            return ending(from, saga.reason.as_deref())
                .ok_or_else(|| unfinished(&saga, "not final"));
        }
        let (event, reason) =
            perform(&ctx.peers, &saga, action, &mut early_charge, deadline).await?;
        let to = match step(from, event).map_err(|e| unfinished(&saga, &e.to_string()))? {
            Next::Continue(to) => {
                saga.state = to;
                continue;
            }
            Next::Persist(to) => to,
        };
        let advanced = retry(&saga, deadline, || {
            ctx.store
                .advance(&saga, logged, to, reason.as_deref(), ctx.lease, owner)
        })
        .await?;
        match advanced {
            Advance::Ok => {
                ctx.metrics.advanced(to, event);
                logged = to;
                saga.state = to;
                if reason.is_some() {
                    saga.reason = reason;
                }
            }
            Advance::Lost => return Err(unfinished(&saga, LOST)),
            Advance::Stale(_) | Advance::Missing => {
                // Someone else moved it on: continue from what is logged.
                let reloaded =
                    retry(&saga, deadline, || ctx.store.saga(&saga.order, &saga.id)).await?;
                saga = reloaded.ok_or_else(|| unfinished(&saga, "saga log disappeared"))?;
                logged = saga.state;
            }
        }
    }
}

/// Performs `action` (not `Done`) against the participants, retrying until they
/// answer, and returns the event and the reason a refusal gave. `Reserve` sends the
/// charge too and leaves its answer in `early_charge` for the `Charge` after it; any
/// other action forgets an answer left there.
async fn perform<P: Participants>(
    peers: &P,
    saga: &SagaRecord,
    action: Action,
    early_charge: &mut Option<StepReply>,
    deadline: Instant,
) -> Result<(Event, Option<String>), Unfinished> {
    let early = early_charge.take();
    let charge = || ChargeRequest {
        user_id: saga.user.as_str().to_string(),
        amount: saga.amount,
    };
    Ok(match action {
        Action::Reserve => {
            let reserve = || ReserveRequest {
                items: saga.items.clone(),
            };
            let (reserved, charged) = tokio::join!(
                retry(saga, deadline, || peers.reserve(&saga.id, reserve())),
                retry(saga, deadline, || peers.charge(&saga.id, charge())),
            );
            let reply = reserved?;
            *early_charge = Some(charged?);
            reserve_answered(reply)
        }
        Action::Charge => {
            let reply = match early {
                Some(reply) => reply,
                None => retry(saga, deadline, || peers.charge(&saga.id, charge())).await?,
            };
            charge_answered(reply)
        }
        Action::Commit => (Event::Committed, None),
        Action::Compensate { refund } => {
            // The undo steps carry what the steps carried: a participant keeps a saga's
            // records beside the user and the items (one shard each).
            if refund {
                retry(saga, deadline, || peers.refund(&saga.id, charge())).await?;
            }
            let req = || ReserveRequest {
                items: saga.items.clone(),
            };
            retry(saga, deadline, || peers.release(&saga.id, req())).await?;
            (Event::Compensated, None)
        }
        Action::Done => return Err(unfinished(saga, "a final saga has nothing to perform")),
    })
}

fn unfinished(saga: &SagaRecord, error: &str) -> Unfinished {
    Unfinished {
        saga_id: saga.id.clone(),
        last_error: error.to_string(),
    }
}

/// Repeats `op` with exponential backoff (10 ms .. 500 ms) until it succeeds or the deadline passes.
async fn retry<T, E, F, Fut>(
    saga: &SagaRecord,
    deadline: Instant,
    mut op: F,
) -> Result<T, Unfinished>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut backoff = Backoff::new(Duration::from_millis(10), Duration::from_millis(500));
    loop {
        match op().await {
            Ok(value) => return Ok(value),
            Err(e) => {
                let Some(pause) = backoff.pause_before(deadline) else {
                    return Err(unfinished(saga, &e.to_string()));
                };
                tracing::warn!(saga_id = %saga.id, error = %e, "saga step failed, retrying");
                tokio::time::sleep(pause).await;
            }
        }
    }
}
