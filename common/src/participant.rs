//! The internal saga protocol between the order service (orchestrator) and its
//! participants, stock and payment. Served only on their internal ports.
//!
//! Every call is keyed by saga id and idempotent: a participant records the
//! first outcome of a saga and answers it again on every repeat. A release or
//! refund that arrives first leaves a tombstone, so a late reserve or charge of
//! that saga is refused with [`Outcome::Cancelled`].
//!
//! | call | path (internal port) | body |
//! |---|---|---|
//! | reserve | `POST /saga/{saga_id}/reserve` | [`ReserveRequest`] |
//! | release | `POST /saga/{saga_id}/release` | none |
//! | charge  | `POST /saga/{saga_id}/charge`  | [`ChargeRequest`] |
//! | refund  | `POST /saga/{saga_id}/refund`  | none |
//!
//! Business outcomes are `200` with a [`StepReply`]; a malformed request is a
//! 4xx with the usual JSON error; a 5xx means the participant could not reach
//! its Redis and the orchestrator must retry.

use serde::{Deserialize, Serialize};

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

/// The body of every `200` from a saga endpoint.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StepReply {
    pub outcome: Outcome,
    /// Why it was refused, in words for the end user (`"item 7 has 2 in stock, 3 needed"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}
