//! Exhaustive tests of the machine's rules: every transition, what is logged,
//! what a final state means, what a participant's answer means. The property
//! test of the saga through crashes, duplicates and late deliveries drives the
//! real runner loop, which follows these rules (`tests/runner.rs`).

use crate::saga::machine::*;
use common::participant::{Outcome, StepReply};
use std::collections::HashMap;

const STATES: [State; 7] = [
    State::Started,
    State::Reserved,
    State::Paid,
    State::Committed,
    State::Compensating { refund: false },
    State::Compensating { refund: true },
    State::Aborted,
];
const EVENTS: [Event; 6] = [
    Event::ReserveDone,
    Event::ReserveRefused,
    Event::ChargeDone,
    Event::ChargeRefused,
    Event::Committed,
    Event::Compensated,
];

#[test]
fn every_state_and_event_pair_has_the_expected_outcome() {
    let allowed: HashMap<(State, Event), State> = [
        ((State::Started, Event::ReserveDone), State::Reserved),
        (
            (State::Started, Event::ReserveRefused),
            State::Compensating { refund: true },
        ),
        ((State::Reserved, Event::ChargeDone), State::Paid),
        (
            (State::Reserved, Event::ChargeRefused),
            State::Compensating { refund: true },
        ),
        ((State::Paid, Event::Committed), State::Committed),
        (
            (State::Compensating { refund: false }, Event::Compensated),
            State::Aborted,
        ),
        (
            (State::Compensating { refund: true }, Event::Compensated),
            State::Aborted,
        ),
    ]
    .into_iter()
    .collect();
    for state in STATES {
        for event in EVENTS {
            match (transition(state, event), allowed.get(&(state, event))) {
                (Ok(next), Some(expected)) => assert_eq!(next, *expected),
                (Err(e), None) => assert_eq!(e, InvalidTransition { state, event }),
                (got, want) => panic!("{state:?} + {event:?}: got {got:?}, want {want:?}"),
            }
        }
    }
}

#[test]
fn final_states_accept_no_event_and_ask_for_nothing() {
    for state in [State::Committed, State::Aborted] {
        assert!(state.is_final());
        assert_eq!(next_action(state), Action::Done);
        assert!(EVENTS.iter().all(|e| transition(state, *e).is_err()));
    }
}

#[test]
fn state_names_round_trip_and_are_distinct() {
    let mut seen = std::collections::HashSet::new();
    for state in STATES {
        assert_eq!(State::parse(state.as_str()), Some(state));
        assert!(seen.insert(state.as_str()));
    }
    assert_eq!(State::parse("bogus"), None);
}

#[test]
fn step_logs_every_state_but_reserved_and_folds_paid_into_committed() {
    let allowed: HashMap<(State, Event), Next> = [
        (
            (State::Started, Event::ReserveDone),
            Next::Continue(State::Reserved),
        ),
        (
            (State::Started, Event::ReserveRefused),
            Next::Persist(State::Compensating { refund: true }),
        ),
        (
            (State::Reserved, Event::ChargeDone),
            Next::Persist(State::Committed),
        ),
        (
            (State::Reserved, Event::ChargeRefused),
            Next::Persist(State::Compensating { refund: true }),
        ),
        (
            (State::Paid, Event::Committed),
            Next::Persist(State::Committed),
        ),
        (
            (State::Compensating { refund: false }, Event::Compensated),
            Next::Persist(State::Aborted),
        ),
        (
            (State::Compensating { refund: true }, Event::Compensated),
            Next::Persist(State::Aborted),
        ),
    ]
    .into_iter()
    .collect();
    for state in STATES {
        for event in EVENTS {
            match (step(state, event), allowed.get(&(state, event))) {
                (Ok(next), Some(expected)) => assert_eq!(next, *expected, "{state:?} + {event:?}"),
                (Err(e), None) => assert_eq!(e, InvalidTransition { state, event }),
                (got, want) => panic!("{state:?} + {event:?}: got {got:?}, want {want:?}"),
            }
        }
    }
}

#[test]
fn only_idempotent_steps_are_taken_from_a_state_that_is_not_logged() {
    for state in STATES {
        for event in EVENTS {
            let Ok(next) = step(state, event) else {
                continue;
            };
            // A step leads on to the machine's own state, or past it only by committing.
            let to = transition(state, event).expect("step agrees with transition");
            assert!(next.state() == to || (to == State::Paid && next.state() == State::Committed));
            if let Next::Continue(to) = next {
                // Crashing here resumes from `state`: its action is sent again, and it
                // must be a participant call that answers its first outcome again.
                assert!(matches!(
                    next_action(state),
                    Action::Reserve | Action::Charge
                ));
                // Nothing that undoes or commits is done from a state that is not logged.
                assert_eq!(next_action(to), Action::Charge, "{state:?} + {event:?}");
            }
            if let Next::Persist(to) = next {
                assert!(
                    !matches!(to, State::Reserved | State::Paid),
                    "{to:?} is logged"
                );
            }
        }
    }
}

/// Walks the machine as the runner does, for every pair of answers, and returns
/// the states it logs.
fn logged_states(reserve: Outcome, charge: Outcome) -> Vec<State> {
    let reply = |outcome| StepReply {
        outcome,
        reason: None,
    };
    let (mut state, mut logged) = (State::Started, Vec::new());
    loop {
        let event = match next_action(state) {
            Action::Reserve => reserve_answered(reply(reserve)).0,
            Action::Charge => charge_answered(reply(charge)).0,
            Action::Commit => Event::Committed,
            Action::Compensate { .. } => Event::Compensated,
            Action::Done => return logged,
        };
        let next = step(state, event).expect("the runner sends only valid events");
        if let Next::Persist(to) = next {
            logged.push(to);
        }
        state = next.state();
    }
}

#[test]
fn a_checkout_is_logged_once_when_it_succeeds_and_twice_when_it_is_refused() {
    use Outcome::{Done, Refused};
    let compensating = |refund| State::Compensating { refund };
    assert_eq!(logged_states(Done, Done), [State::Committed]);
    // The charge went out with the reserve: a refused reserve refunds it.
    assert_eq!(
        logged_states(Refused, Done),
        [compensating(true), State::Aborted]
    );
    assert_eq!(
        logged_states(Refused, Refused),
        [compensating(true), State::Aborted]
    );
    assert_eq!(
        logged_states(Done, Refused),
        [compensating(true), State::Aborted]
    );
}

#[test]
fn only_a_final_state_has_an_ending_and_an_abort_always_says_why() {
    for state in STATES {
        for reason in [None, Some("item 7 has 2 in stock, 3 needed")] {
            let want = match state {
                State::Committed => Some(Ending::Committed),
                State::Aborted => Some(Ending::Aborted(
                    reason.unwrap_or("checkout was refused").into(),
                )),
                _ => None,
            };
            assert_eq!(ending(state, reason), want, "{state:?} {reason:?}");
            assert_eq!(ending(state, reason).is_some(), state.is_final());
        }
    }
}

#[test]
fn a_participant_answer_other_than_done_is_a_refusal_with_its_reason() {
    type Answered = fn(StepReply) -> (Event, Option<String>);
    let answers: [(Answered, Event, Event); 2] = [
        (reserve_answered, Event::ReserveDone, Event::ReserveRefused),
        (charge_answered, Event::ChargeDone, Event::ChargeRefused),
    ];
    for (answered, done, refused) in answers {
        for outcome in [
            Outcome::Done,
            Outcome::Refused,
            Outcome::Cancelled,
            Outcome::Undone,
        ] {
            for reason in [None, Some("user 3 has credit 1, 5 needed".to_string())] {
                let got = answered(StepReply {
                    outcome,
                    reason: reason.clone(),
                });
                let want = match outcome {
                    Outcome::Done => (done, None),
                    _ => (
                        refused,
                        Some(reason.unwrap_or_else(|| "refused by a participant".into())),
                    ),
                };
                assert_eq!(got, want, "{outcome:?}");
            }
        }
    }
}
