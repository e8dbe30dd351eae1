//! The bodies of the internal saga protocol, as they travel between the order
//! service and a participant (the table in [`participant`](super)).
//!
//! Both sides of the wire are built from these types, but the services are
//! deployed separately: a field renamed or dropped here breaks a rolling
//! upgrade. Types only; nothing here may run a step or touch Redis.

use serde::{Deserialize, Serialize};

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
