//! The skeleton every saga participant (stock, payment) is built on: the internal
//! saga protocol between the order service (orchestrator) and its participants,
//! the batch endpoint, the Redis pieces they share, and the service start-up.
//! Served only on the participants' internal ports.
//!
//! A participant crate brings what is its own: its keys, its step scripts
//! (reserve/release, charge/refund), its public routes and its step endpoints.
//! Nothing here may know a participant's keys, fields or business rules: they come
//! in as arguments.
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
//! | release | `POST /saga/{saga_id}/release` | the saga's [`ReserveRequest`] | [`StepReply`] |
//! | charge  | `POST /saga/charge` | [`Batch`] of [`ChargeRequest`] | [`BatchReply`] |
//! | refund  | `POST /saga/{saga_id}/refund` | the saga's [`ChargeRequest`] | [`StepReply`] |
//!
//! An undo step carries what its step carried: a participant keeps a saga's records
//! beside the entities it changed (in their slots of its Redis Cluster), so it needs
//! the user, or the items, to find them.
//!
//! Business outcomes are `200`; a malformed request (any call of a batch) is a
//! 4xx with the usual JSON error and nothing is done; a 5xx means the participant
//! could not reach its Redis for any call, and the orchestrator must retry.
//!
//! - `wire`: the request and reply bodies above (the order service sends and reads them).
//! - `batch`: [`Batch::parse`] and [`run_batch`], the two halves of a batched step endpoint.
//! - `reply`: [`step_script`], the prelude that answers a repeated step, and [`step_reply`],
//!   how a step script's reply becomes a [`StepReply`].
//! - `store`: the adjust script ([`Adjust`]) and [`batch_init`]'s writes spread over the shards.
//! - `service`: [`build`] and [`run`], a participant's two servers.

mod batch;
mod reply;
mod service;
mod store;
mod wire;

pub use batch::{run_batch, ParsedCall};
pub use reply::{parse_int, step_reply, step_script, unexpected};
pub use service::{build, run};
pub use store::{batch_init, Adjust, Adjusted, Change};
pub use wire::{
    Batch, BatchReply, CallResult, ChargeRequest, Outcome, ReserveRequest, SagaCall, StepReply,
    MAX_BATCH,
};
