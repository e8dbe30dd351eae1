//! The two halves of a batched step endpoint (`POST /saga/reserve`, `/saga/charge`):
//! [`Batch::parse`] checks the whole body before anything runs, and [`run_batch`]
//! runs every saga's step at once and answers one result per call.
//!
//! Never a step's own rules here: the participant's handler passes the parser of
//! its step and the function that runs one saga's step (one atomic script).

use std::future::Future;

use actix_web::HttpResponse;
use tracing::Instrument;

use super::wire::{Batch, BatchReply, CallResult, StepReply, MAX_BATCH};
use crate::error::ApiError;
use crate::params::Id;
use crate::store::StoreError;
use crate::telemetry::otel;

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
