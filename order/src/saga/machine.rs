//! The checkout saga as a pure state machine: states, events, one `transition`,
//! and the rules the runner follows.
//!
//! The runner asks [`next_action`] what to do, performs it against a participant,
//! turns the answer into an [`Event`] ([`reserve_answered`], [`charge_answered`]),
//! and asks [`step`] where that leads and whether to log it before anything
//! else. [`ending`] says what a final state means for the client. Any state can
//! be resumed after a crash because every action is idempotent at the participant.
//!
//! Two states are not logged on the way (see [`step`]): `Reserved` is kept in
//! memory (a crash there resumes from `Started`), and `Paid` folds into
//! `Committed`. Every state that leads to a refund, a release or a paid order is
//! logged before that happens.
//!
//! The charge may be sent before the reserve has answered: the runner sends both
//! from `Started` at once (a checkout then waits for one round of participants, not
//! two). So a saga in `Started` may have been charged, and every refusal, of the
//! reserve too, compensates with a refund (idempotent: a refund before any charge
//! leaves a tombstone that refuses a late one). `Compensating{refund: false}` is
//! only read from logs written before this rule.
//!
//! This module must never do I/O or read the clock: it decides, the runner acts.
//!
//! ```text
//! Started --ReserveDone--> Reserved --ChargeDone--> Paid --Committed--> Committed
//!    |                        |
//!    ReserveRefused           ChargeRefused
//!    v                        v
//! Compensating{refund: true} --Compensated--> Aborted
//! ```

use common::participant::{Outcome, StepReply};

/// Where a saga stands. `Committed` and `Aborted` are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Logged; stock may or may not have been reserved yet, the user charged or not.
    Started,
    /// Stock is reserved; the user may or may not have been charged yet. Not logged
    /// (see [`step`]; logs written by earlier versions may still hold it).
    Reserved,
    /// Stock reserved and user charged; the order is not yet marked paid. Not logged:
    /// [`step`] folds it into `Committed`.
    Paid,
    /// The order is paid. Final.
    Committed,
    /// Undoing: release stock, and refund the user when a charge may have happened
    /// (always, since the charge goes out with the reserve; `false` in older logs).
    Compensating { refund: bool },
    /// Everything undone. Final.
    Aborted,
}

/// What happened when the runner performed the current action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    ReserveDone,
    /// Not enough stock, unknown item, or the reserve was cancelled by an earlier release.
    ReserveRefused,
    ChargeDone,
    /// Not enough credit, unknown user, or the charge was cancelled by an earlier refund.
    ChargeRefused,
    /// The order was marked paid.
    Committed,
    /// Refund (if needed) and release both acknowledged.
    Compensated,
}

/// What the runner must do next in a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Reserve,
    Charge,
    Commit,
    /// Refund (when `refund`) and then release; both idempotent.
    Compensate {
        refund: bool,
    },
    /// Final state: answer the client.
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("event {event:?} cannot happen in state {state:?}")]
pub struct InvalidTransition {
    pub state: State,
    pub event: Event,
}

impl State {
    pub fn is_final(self) -> bool {
        matches!(self, State::Committed | State::Aborted)
    }

    /// The name stored in Redis.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Started => "started",
            State::Reserved => "reserved",
            State::Paid => "paid",
            State::Committed => "committed",
            State::Compensating { refund: false } => "compensating",
            State::Compensating { refund: true } => "compensating_refund",
            State::Aborted => "aborted",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        Some(match s {
            "started" => State::Started,
            "reserved" => State::Reserved,
            "paid" => State::Paid,
            "committed" => State::Committed,
            "compensating" => State::Compensating { refund: false },
            "compensating_refund" => State::Compensating { refund: true },
            "aborted" => State::Aborted,
            _ => return None,
        })
    }
}

/// The only way a saga's state changes.
pub fn transition(state: State, event: Event) -> Result<State, InvalidTransition> {
    use Event as E;
    use State as S;
    match (state, event) {
        (S::Started, E::ReserveDone) => Ok(S::Reserved),
        // The charge went out with the reserve: it may have been applied.
        (S::Started, E::ReserveRefused) => Ok(S::Compensating { refund: true }),
        (S::Reserved, E::ChargeDone) => Ok(S::Paid),
        (S::Reserved, E::ChargeRefused) => Ok(S::Compensating { refund: true }),
        (S::Paid, E::Committed) => Ok(S::Committed),
        (S::Compensating { .. }, E::Compensated) => Ok(S::Aborted),
        _ => Err(InvalidTransition { state, event }),
    }
}

/// The action that moves a saga on from `state`.
pub fn next_action(state: State) -> Action {
    match state {
        State::Started => Action::Reserve,
        State::Reserved => Action::Charge,
        State::Paid => Action::Commit,
        State::Compensating { refund } => Action::Compensate { refund },
        State::Committed | State::Aborted => Action::Done,
    }
}

/// Where the runner goes after an event, and whether it logs that state first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Go on from this state at once without logging it. A saga that stops here is
    /// resumed from the state logged before, whose action is sent again.
    Continue(State),
    /// Log this state (compare-and-set from the logged one) before the next action.
    Persist(State),
}

impl Next {
    pub fn state(self) -> State {
        match self {
            Next::Continue(state) | Next::Persist(state) => state,
        }
    }
}

/// The rule of what is logged: `event` in `state` leads to [`transition`]'s state,
/// logged, except for two states.
///
/// - `Reserved` is not logged: the charge follows at once. A saga that stops there
///   is resumed from `Started` and sends the reserve again, which stock answers
///   from its record of the saga; logging it would only cost one more fsynced
///   write per checkout.
/// - `Paid` folds into `Committed`: committing is a local write, so the charge and
///   the commit are recorded together in one write.
pub fn step(state: State, event: Event) -> Result<Next, InvalidTransition> {
    let to = transition(state, event)?;
    Ok(match to {
        State::Reserved => Next::Continue(to),
        State::Paid => Next::Persist(transition(to, Event::Committed)?),
        _ => Next::Persist(to),
    })
}

/// How a checkout ended, as the client learns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    Committed,
    /// Nothing changed; why, in words for the end user.
    Aborted(String),
}

/// The checkout's outcome once its saga is final (`None` before); `reason` is the
/// logged one.
pub fn ending(state: State, reason: Option<&str>) -> Option<Ending> {
    match state {
        State::Committed => Some(Ending::Committed),
        State::Aborted => Some(Ending::Aborted(
            reason.unwrap_or("checkout was refused").to_string(),
        )),
        _ => None,
    }
}

/// The event stock's answer to the reserve is, and the reason it gave when refusing.
pub fn reserve_answered(reply: StepReply) -> (Event, Option<String>) {
    answered(reply, Event::ReserveDone, Event::ReserveRefused)
}

/// The event payment's answer to the charge is, and the reason it gave when refusing.
pub fn charge_answered(reply: StepReply) -> (Event, Option<String>) {
    answered(reply, Event::ChargeDone, Event::ChargeRefused)
}

/// `Done` moves on; anything else (refused, cancelled by an earlier undo, or an
/// undo's answer) is a refusal, the saga compensates.
fn answered(reply: StepReply, done: Event, refused: Event) -> (Event, Option<String>) {
    match reply.outcome {
        Outcome::Done => (done, None),
        Outcome::Refused | Outcome::Cancelled | Outcome::Undone => (
            refused,
            Some(
                reply
                    .reason
                    .unwrap_or_else(|| "refused by a participant".into()),
            ),
        ),
    }
}
