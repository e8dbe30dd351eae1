//! What the saga runner needs from stock and payment: one call per step of one
//! saga, answered with the participant's [`StepReply`] or an error.
//!
//! [`Peers`](crate::peers::Peers) implements it over HTTP; the runner's tests
//! implement it in memory. It is resolved at compile time (the runner is generic
//! over it), so the checkout path pays nothing for it. An implementation never
//! retries, never guesses an outcome and never decides what an answer means for
//! the saga: the runner retries an `Err`, and the machine reads the reply.

use std::future::Future;

use common::params::Id;
use common::participant::{ChargeRequest, ReserveRequest, StepReply};

/// The participants of a checkout saga. Every call is idempotent per saga, as the
/// real participants are: a repeat answers the first outcome again, and an undo
/// that comes first leaves a tombstone, so a late reserve or charge is `Cancelled`.
/// An `Err` means the outcome is not known (no answer, or the participant could not
/// reach its store): the step may or may not have taken effect.
pub trait Participants: Send + Sync {
    type Error: std::fmt::Display + Send;

    /// Stock: take every line's quantity, all or none.
    fn reserve(
        &self,
        saga: &Id,
        req: ReserveRequest,
    ) -> impl Future<Output = Result<StepReply, Self::Error>> + Send;

    /// Payment: take the amount from the user's credit.
    fn charge(
        &self,
        saga: &Id,
        req: ChargeRequest,
    ) -> impl Future<Output = Result<StepReply, Self::Error>> + Send;

    /// Stock: put back what the saga's reserve took, or leave a tombstone.
    /// (`req` is what the reserve carried.)
    fn release(
        &self,
        saga: &Id,
        req: ReserveRequest,
    ) -> impl Future<Output = Result<StepReply, Self::Error>> + Send;

    /// Payment: give back what the saga's charge took, or leave a tombstone.
    /// (`req` is what the charge carried.)
    fn refund(
        &self,
        saga: &Id,
        req: ChargeRequest,
    ) -> impl Future<Output = Result<StepReply, Self::Error>> + Send;
}
