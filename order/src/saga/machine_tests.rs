//! Exhaustive transition tests, and a property test that drives the machine
//! against model participants through crashes, duplicates and late deliveries.

use super::*;
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
