//! Exhaustive tests of the machine's rules: every transition, what is logged,
//! what a final state means, what a participant's answer means; and a property
//! test that drives the machine against model participants through crashes,
//! duplicates and late deliveries.

use super::*;
use common::participant::{Outcome, StepReply};
use proptest::prelude::*;
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
            State::Compensating { refund: false },
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
            Next::Persist(State::Compensating { refund: false }),
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
    assert_eq!(
        logged_states(Refused, Done),
        [compensating(false), State::Aborted]
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
    let answers: [(fn(StepReply) -> (Event, Option<String>), Event, Event); 2] = [
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

/// An idempotent participant as the real ones behave: the first outcome of a
/// saga is recorded and answered again; an undo first leaves a tombstone.
#[derive(Default, Debug)]
struct Model {
    balance: i64,
    record: Option<&'static str>, // "done" | "refused" | "undone"
}

impl Model {
    fn apply(&mut self, need: i64) -> bool {
        match self.record {
            Some("done") => true,
            Some(_) => false,
            None if self.balance >= need => {
                self.balance -= need;
                self.record = Some("done");
                true
            }
            None => {
                self.record = Some("refused");
                false
            }
        }
    }

    fn undo(&mut self, need: i64) {
        if self.record == Some("done") {
            self.balance += need;
        }
        if self.record != Some("refused") {
            self.record = Some("undone");
        }
    }
}

/// Runs one step: performs the action at the participant (possibly twice) and
/// returns the event, or `None` in a final state.
fn perform(
    state: State,
    stock: &mut Model,
    pay: &mut Model,
    need: i64,
    cost: i64,
) -> Option<Event> {
    Some(match next_action(state) {
        Action::Reserve => {
            if stock.apply(need) {
                Event::ReserveDone
            } else {
                Event::ReserveRefused
            }
        }
        Action::Charge => {
            if pay.apply(cost) {
                Event::ChargeDone
            } else {
                Event::ChargeRefused
            }
        }
        Action::Commit => Event::Committed,
        Action::Compensate { refund } => {
            if refund {
                pay.undo(cost);
            }
            stock.undo(need);
            Event::Compensated
        }
        Action::Done => return None,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Crash after any action but before its outcome is persisted, repeat any
    /// action, deliver stale requests late: the end is always all-or-nothing.
    #[test]
    fn any_interleaving_of_crashes_and_duplicates_ends_all_or_nothing(
        stock0 in 0i64..4, credit0 in 0i64..4, need in 1i64..3, cost in 0i64..3,
        crashes in proptest::collection::vec(any::<bool>(), 12),
        duplicates in proptest::collection::vec(any::<bool>(), 12),
        late_reserve in any::<bool>(), late_charge in any::<bool>(),
    ) {
        let mut stock = Model { balance: stock0, record: None };
        let mut pay = Model { balance: credit0, record: None };
        let mut persisted = State::Started;
        let mut step = 0;
        let (mut sent_reserve, mut sent_charge) = (false, false);
        while !persisted.is_final() {
            sent_reserve |= next_action(persisted) == Action::Reserve;
            sent_charge |= next_action(persisted) == Action::Charge;
            prop_assert!(step < 40, "saga did not finish");
            let event = perform(persisted, &mut stock, &mut pay, need, cost).expect("not final");
            if duplicates[step % 12] {
                // A retried request (lost reply) answers the first outcome again.
                let again = perform(persisted, &mut stock, &mut pay, need, cost).expect("not final");
                prop_assert_eq!(again, event);
            }
            if crashes[step % 12] && step < 24 {
                step += 1; // crashed before persisting: recovery resumes from `persisted`
                continue;
            }
            persisted = transition(persisted, event).expect("runner only sends valid events");
            step += 1;
        }
        // A stale copy of a reserve or charge that was sent, delivered after the
        // saga ended, changes nothing.
        let (stock_end, credit_end) = (stock.balance, pay.balance);
        if late_reserve && sent_reserve { stock.apply(need); }
        if late_charge && sent_charge { pay.apply(cost); }
        prop_assert_eq!((stock.balance, pay.balance), (stock_end, credit_end));

        match persisted {
            State::Committed => {
                prop_assert_eq!(stock.balance, stock0 - need);
                prop_assert_eq!(pay.balance, credit0 - cost);
                prop_assert!(stock0 >= need && credit0 >= cost);
            }
            State::Aborted => {
                prop_assert_eq!(stock.balance, stock0);
                prop_assert_eq!(pay.balance, credit0);
                prop_assert!(stock0 < need || credit0 < cost);
            }
            other => prop_assert!(false, "ended in {:?}", other),
        }
    }
}
