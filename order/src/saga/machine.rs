//! The checkout saga as a pure state machine: states, events, one `transition`.
//!
//! No I/O here. The runner asks [`next_action`] what to do, performs it against
//! a participant, turns the answer into an [`Event`], and persists the state
//! that [`transition`] returns before doing anything else (all but `Reserved`,
//! which the runner keeps in memory: a crash there resumes from `Started`). Any
//! state can be resumed after a crash because every action is idempotent at the
//! participant.
//!
//! ```text
//! Started --ReserveDone--> Reserved --ChargeDone--> Paid --Committed--> Committed
//!    |                        |
//!    ReserveRefused           ChargeRefused
//!    v                        v
//! Compensating{refund: false} / Compensating{refund: true} --Compensated--> Aborted
//! ```

/// Where a saga stands. `Committed` and `Aborted` are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Logged; stock may or may not have been reserved yet.
    Started,
    /// Stock is reserved; the user may or may not have been charged yet. Not logged by
    /// the runner (logs written by earlier versions may still hold it).
    Reserved,
    /// Stock reserved and user charged; the order is not yet marked paid.
    Paid,
    /// The order is paid. Final.
    Committed,
    /// Undoing: release stock, and refund the user when a charge may have happened.
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
        (S::Started, E::ReserveRefused) => Ok(S::Compensating { refund: false }),
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

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;
