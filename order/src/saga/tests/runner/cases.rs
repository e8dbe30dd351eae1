//! Named runs of the real runner loop through one fault each, with what the
//! property test only checks in general: which states were logged, who drove.

use super::*;

fn case(steps: Vec<Fault>, renews: Vec<Fault>) -> Case {
    Case {
        stock: 5,
        credit: 10,
        need: 2,
        cost: 8,
        wait: Duration::from_secs(60),
        steps,
        renews,
    }
}

fn finished(case: &Case) -> Run {
    let run = in_paused_time(case).expect("the saga finished");
    check(case, &run).expect("the invariants hold");
    run
}

#[test]
fn a_checkout_that_goes_through_logs_one_state_and_takes_everything_once() {
    let run = finished(&case(Vec::new(), Vec::new()));
    let world = lock(&run.world);
    assert_eq!(world.log.history, [State::Started, State::Committed]);
    assert_eq!(
        run.stops,
        [("checkout".into(), Stop::Ended(Ending::Committed))]
    );
    assert_eq!((world.stock.balance, world.payment.balance), (3, 2));
}

/// Runs a checkout that a participant refuses: it must log the compensation, with the
/// refund, and end aborted. Returns the run and the reason its client was given.
fn refused(case: &Case) -> (Run, String) {
    let run = finished(case);
    let refund = State::Compensating { refund: true };
    assert_eq!(
        lock(&run.world).log.history,
        [State::Started, refund, State::Aborted]
    );
    let Stop::Ended(Ending::Aborted(reason)) = &run.stops[0].1 else {
        panic!("{:?}", run.stops);
    };
    let reason = reason.clone();
    (run, reason)
}

#[test]
fn a_refused_charge_is_logged_then_the_stock_is_released() {
    let mut case = case(Vec::new(), Vec::new());
    case.credit = 7;
    let (run, reason) = refused(&case);
    let world = lock(&run.world);
    assert_eq!((world.stock.balance, world.payment.balance), (5, 7));
    assert_eq!(reason, "has 7, 8 needed");
}

#[test]
fn a_refused_reserve_refunds_the_charge_that_went_out_with_it() {
    let mut case = case(Vec::new(), Vec::new());
    case.stock = 1;
    let (run, reason) = refused(&case);
    let world = lock(&run.world);
    // The charge was sent at once with the reserve, and given back.
    assert_eq!((world.payment.taken, world.payment.given_back), (1, 1));
    assert_eq!((world.stock.balance, world.payment.balance), (1, 10));
    assert_eq!(
        reason, "has 1, 2 needed",
        "the stock's reason, not the charge's"
    );
}

#[test]
fn a_driver_that_dies_after_the_reserve_is_resumed_from_started_and_reserves_once() {
    // The reserve takes effect and the checkout's process dies before the charge: its
    // lease lapses, recovery takes the saga from `started` and sends the reserve again.
    let run = finished(&case(vec![Fault::Crash { applied: true }], Vec::new()));
    let world = lock(&run.world);
    assert_eq!(run.stops[0], ("checkout".into(), Stop::Crashed));
    assert_eq!(
        run.stops[1],
        ("recovery/3".into(), Stop::Ended(Ending::Committed))
    );
    assert_eq!(world.log.history, [State::Started, State::Committed]);
    assert_eq!(world.log.owner, "recovery/3");
    assert_eq!(world.stock.taken, 1);
}

#[test]
fn a_driver_that_lost_its_lease_stops_and_leaves_the_saga_to_the_new_holder() {
    // The charge hangs past the timeout while every renewal fails: the lease expires
    // under the living driver, recovery takes it over, and the old driver's write is
    // refused when it comes back.
    let steps = vec![Fault::None, Fault::LoseReply];
    let renews = vec![Fault::Fail; 3];
    let run = finished(&case(steps, renews));
    let world = lock(&run.world);
    assert_eq!(
        run.stops[0],
        ("checkout".into(), Stop::Unfinished(LOST.into()))
    );
    assert!(
        matches!(&run.stops[1], (owner, Stop::Ended(Ending::Committed)) if owner.starts_with("recovery/"))
    );
    assert_eq!(world.log.history, [State::Started, State::Committed]);
    assert_eq!((world.stock.taken, world.payment.taken), (1, 1));
}

#[test]
fn a_driver_past_its_deadline_leaves_the_saga_logged_for_recovery() {
    let mut case = case(
        vec![Fault::None, Fault::Fail, Fault::Fail, Fault::Fail],
        Vec::new(),
    );
    case.wait = Duration::from_millis(50);
    let run = finished(&case);
    let world = lock(&run.world);
    assert!(matches!(&run.stops[0], (_, Stop::Unfinished(e)) if e == "refused the connection"));
    assert_eq!(world.log.history, [State::Started, State::Committed]);
    assert_eq!((world.stock.taken, world.payment.taken), (1, 1));
}
