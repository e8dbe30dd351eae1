//! The internal saga protocol between the order service (orchestrator) and its
//! participants, stock and payment. Served only on their internal ports.
//!
//! Every step is keyed by saga id and idempotent: a participant records the
//! first outcome of a saga and answers it again on every repeat. A release or
//! refund that arrives first leaves a tombstone, so a late reserve or charge of
//! that saga is refused with [`Outcome::Cancelled`].
//!
//! The two steps of every checkout travel in batches: one request carries the
//! reserves (or charges) of every saga that was waiting for one at that moment,
//! and the participant runs them all at once, each saga's step still one atomic
//! script of its own. A batch is not a transaction: a participant that dies half
//! way has applied some sagas' steps and not others, and the orchestrator sends
//! them all again (each repeat answers its first outcome). The undo steps, rare,
//! go one saga per request.
//!
//! | call | path (internal port) | body | `200` body |
//! |---|---|---|---|
//! | reserve | `POST /saga/reserve` | [`Batch`] of [`ReserveRequest`] | [`BatchReply`] |
//! | release | `POST /saga/{saga_id}/release` | none | [`StepReply`] |
//! | charge  | `POST /saga/charge` | [`Batch`] of [`ChargeRequest`] | [`BatchReply`] |
//! | refund  | `POST /saga/{saga_id}/refund` | none | [`StepReply`] |
//!
//! Business outcomes are `200`; a malformed request (any call of a batch) is a
//! 4xx with the usual JSON error and nothing is done; a 5xx means the participant
//! could not reach its Redis for any call, and the orchestrator must retry.

use std::future::Future;

use actix_web::HttpResponse;
use serde::{Deserialize, Serialize};
use tracing::Instrument;

use crate::error::ApiError;
use crate::params::Id;
use crate::store::StoreError;
use crate::telemetry::otel;

/// The most calls one batch may carry; the orchestrator sends at most this many.
pub const MAX_BATCH: usize = 256;

/// Reserve stock for every line of a saga at once (quantities summed per item).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReserveRequest {
    pub items: Vec<(String, i64)>,
}

/// Charge a user for a saga.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ChargeRequest {
    pub user_id: String,
    pub amount: i64,
}

/// One saga's step in a batch.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SagaCall<T> {
    pub saga_id: String,
    /// The W3C `traceparent` of the orchestrator's span for this step, when spans
    /// are exported: the participant's span for the step joins that trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    pub step: T,
}

/// The body of a batched step call.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Batch<T> {
    pub calls: Vec<SagaCall<T>>,
}

/// What a participant did (or had already done) for a saga.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The reserve or charge took effect (now, or on an earlier call).
    Done,
    /// The reserve or charge was refused for a business reason; nothing changed.
    Refused,
    /// The release or refund took effect, or there was nothing to undo.
    Undone,
    /// A reserve or charge after its release or refund: refused, nothing changed.
    Cancelled,
}

/// The body of every `200` from a single-saga endpoint, and one saga's reply in a batch.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StepReply {
    pub outcome: Outcome,
    /// Why it was refused, in words for the end user (`"item 7 has 2 in stock, 3 needed"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One saga's result in a batch: its reply, or why the participant could not do
/// the step (its Redis failed for that call; the orchestrator retries it).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum CallResult {
    Reply(StepReply),
    Failed { error: String },
}

/// The body of a `200` from a batched step call: one result per call, in order.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BatchReply {
    pub results: Vec<CallResult>,
}

impl<T> Batch<T> {
    /// Checks the batch's size and every call's saga id, and parses each step with
    /// `parse`: the first malformed call fails the whole batch before anything runs.
    pub fn parse<U>(
        self,
        mut parse: impl FnMut(T) -> Result<U, ApiError>,
    ) -> Result<Vec<ParsedCall<U>>, ApiError> {
        if self.calls.is_empty() || self.calls.len() > MAX_BATCH {
            return Err(ApiError::BadRequest(format!(
                "a batch carries 1 to {MAX_BATCH} calls, not {}",
                self.calls.len()
            )));
        }
        self.calls
            .into_iter()
            .map(|call| {
                Ok(ParsedCall {
                    saga: Id::parse("saga_id", &call.saga_id)?,
                    traceparent: call.traceparent,
                    step: parse(call.step)?,
                })
            })
            .collect()
    }
}

/// A batch call whose saga id and step passed the checks.
#[derive(Debug)]
pub struct ParsedCall<U> {
    pub saga: Id,
    pub traceparent: Option<String>,
    pub step: U,
}

/// Runs `run` for every call at once and answers the [`BatchReply`]. The calls'
/// Redis commands share the service's one connection, so they travel to Redis
/// pipelined and Redis appends them to its log with one fsync. Each call runs in
/// a span named `name` that continues the orchestrator's trace of that saga. If
/// every call failed (Redis unreachable), the answer is that error (a 5xx).
pub async fn run_batch<U, F, Fut>(
    name: &'static str,
    calls: Vec<ParsedCall<U>>,
    run: F,
) -> Result<HttpResponse, ApiError>
where
    F: Fn(Id, U) -> Fut,
    Fut: Future<Output = Result<StepReply, StoreError>>,
{
    let steps = calls.into_iter().map(|call| {
        let span = tracing::debug_span!("saga step", otel.name = name, saga_id = %call.saga);
        if let Some(traceparent) = &call.traceparent {
            otel::set_remote_parent_from(&span, traceparent);
        }
        run(call.saga, call.step).instrument(span)
    });
    let outcomes = futures::future::join_all(steps).await;
    if outcomes.iter().all(Result::is_err) {
        // Nothing succeeded (Redis unreachable): the first error is the whole call's answer.
        if let Some(Err(e)) = outcomes.into_iter().next() {
            return Err(e.into());
        }
        return Err(ApiError::BadRequest(
            "a batch carries at least one call".into(),
        ));
    }
    let results = outcomes
        .into_iter()
        .map(|outcome| match outcome {
            Ok(reply) => CallResult::Reply(reply),
            Err(e) => {
                tracing::warn!(error = %e, "a saga step of a batch failed");
                CallResult::Failed {
                    error: e.to_string(),
                }
            }
        })
        .collect();
    Ok(HttpResponse::Ok().json(BatchReply { results }))
}
