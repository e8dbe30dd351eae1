//! The real runner loop ([`drive`], its retries, its lease heartbeat) against
//! the in-memory participants and log of `tests/fakes.rs`, on tokio's paused clock:
//! a checkout's driver and the recovery loop's drivers, through failures,
//! timeouts, late deliveries, crashes, deadlines and lost leases. The checks
//! are the chaos test's: all or nothing, never both, and a final log.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::params::Id;
use proptest::prelude::*;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::fakes::{lock, Fault, Handle, Shared, World, CALL_TIMEOUT};
use crate::metrics::SagaMetrics;
use crate::saga::log::SagaRecord;
use crate::saga::machine::{ending, Ending, State};
use crate::saga::runner::{drive, LOST};
use crate::saga::SagaContext;

const LEASE: Duration = Duration::from_millis(2000);
const RECOVERY_INTERVAL: Duration = Duration::from_millis(500);
/// Virtual time after which a saga that is still not final fails the test.
const GIVE_UP: Duration = Duration::from_secs(120);

fn id(raw: &str) -> Id {
    Id::generated(raw.into())
}

/// The saga `begin_checkout.lua` would log: `need` units of one item, `cost` to pay.
fn begun(need: i64, cost: i64) -> SagaRecord {
    SagaRecord {
        id: id("s1"),
        order: id("o1"),
        user: id("u1"),
        amount: cost,
        items: if need > 0 {
            vec![("i1".into(), need)]
        } else {
            Vec::new()
        },
        state: State::Started,
        reason: None,
        fields: BTreeMap::new(),
    }
}

/// How a driver stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Stop {
    Ended(Ending),
    Unfinished(String),
    /// Its process died during a call: the drive future was dropped there.
    Crashed,
}

/// Drives `saga` as `owner` with the real [`drive`], until it returns or crashes.
async fn driver(
    world: Shared,
    metrics: SagaMetrics,
    owner: String,
    saga: SagaRecord,
    wait: Duration,
) -> Stop {
    let handle = Handle {
        world,
        driver: owner.clone(),
        crashed: Arc::new(Notify::new()),
    };
    let ctx = SagaContext {
        store: handle.clone(),
        peers: handle.clone(),
        lease: LEASE,
        checkout_wait: wait,
        recovery_interval: RECOVERY_INTERVAL,
        replica_id: "test".into(),
        metrics,
    };
    let deadline = Instant::now() + wait;
    tokio::select! {
        ended = drive(&ctx, saga, &owner, deadline) => match ended {
            Ok(ending) => Stop::Ended(ending),
            Err(e) => Stop::Unfinished(e.last_error),
        },
        () = handle.crashed.notified() => Stop::Crashed,
    }
}

/// One test case: the balances, the order, how long a driver may try, and the faults.
#[derive(Debug, Clone)]
struct Case {
    stock: i64,
    credit: i64,
    need: i64,
    cost: i64,
    wait: Duration,
    steps: Vec<Fault>,
    renews: Vec<Fault>,
}

struct Run {
    world: Shared,
    stops: Vec<(String, Stop)>,
    metrics: SagaMetrics,
}

/// The checkout's driver, then the recovery loop (every interval: take the lease if
/// it expired and drive from what the log holds) until the log is final; then every
/// driver's end, and every late delivery landed.
async fn run(case: &Case) -> Result<Run, String> {
    let metrics = SagaMetrics::new();
    let saga = begun(case.need, case.cost);
    let world = World::new(
        case.stock,
        case.credit,
        saga.clone(),
        LEASE,
        case.steps.clone(),
        case.renews.clone(),
    );
    let checkout = driver(
        world.clone(),
        metrics.clone(),
        "checkout".into(),
        saga,
        case.wait,
    );
    let mut drivers = vec![("checkout".to_string(), tokio::spawn(checkout))];
    let recovery = async {
        for pass in 0.. {
            tokio::time::sleep(RECOVERY_INTERVAL).await;
            let owner = format!("recovery/{pass}");
            let saga = {
                let mut w = lock(&world);
                if !w.log.active {
                    return;
                }
                if !w.log.claim(&owner, LEASE) {
                    continue;
                }
                w.trail.push(format!("{owner} claimed the saga"));
                w.log.record.clone()
            };
            let drive = driver(
                world.clone(),
                metrics.clone(),
                owner.clone(),
                saga,
                case.wait,
            );
            drivers.push((owner, tokio::spawn(drive)));
        }
    };
    let trail = |why: &str| format!("{why}; trail:\n{}", lock(&world).trail.join("\n"));
    if tokio::time::timeout(GIVE_UP, recovery).await.is_err() {
        return Err(trail("the saga is not final"));
    }
    let mut stops = Vec::new();
    for (owner, handle) in drivers {
        match tokio::time::timeout(GIVE_UP, handle).await {
            Ok(Ok(stop)) => stops.push((owner, stop)),
            Ok(Err(e)) => return Err(trail(&format!("{owner} panicked: {e}"))),
            Err(_) => return Err(trail(&format!("{owner} never stopped"))),
        }
    }
    tokio::time::sleep(CALL_TIMEOUT + Duration::from_secs(10)).await;
    Ok(Run {
        world,
        stops,
        metrics,
    })
}

fn in_paused_time(case: &Case) -> Result<Run, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
    runtime.block_on(run(case))
}

/// The sum of one metric's series.
fn metric(metrics: &SagaMetrics, name: &str) -> f64 {
    let families = metrics
        .collectors()
        .iter()
        .flat_map(|c| c.collect())
        .collect::<Vec<_>>();
    let family = families
        .iter()
        .find(|f| f.name() == name)
        .expect("the metric exists");
    family
        .get_metric()
        .iter()
        .map(|m| m.get_counter().get_value() + m.get_gauge().get_value())
        .sum()
}

/// The chaos test's invariants on a finished run.
fn check(case: &Case, run: &Run) -> Result<(), TestCaseError> {
    let mut world = lock(&run.world);
    let why = format!(
        "{case:?}\nstops: {:?}\ntrail:\n{}",
        run.stops,
        world.trail.join("\n")
    );
    let log = &world.log;
    let state = log.record.state;
    prop_assert!(state.is_final(), "ended in {:?}: {}", state, why);
    prop_assert!(!log.active, "a final saga holds no lease: {}", why);
    let (last, before) = log.history.split_last().expect("a history");
    prop_assert_eq!(*last, state, "{}", why);
    prop_assert!(
        before.iter().all(|s| !s.is_final()),
        "moved on from a final state: {}",
        why
    );
    prop_assert!(
        log.history
            .iter()
            .all(|s| !matches!(s, State::Reserved | State::Paid)),
        "logged a state the machine keeps in memory: {}",
        why
    );
    // A driver that lives and can renew keeps its lease, however slow its steps.
    // (It stops as "lost" also when the saga became final under it: renew.lua then
    // answers 0, and the checkout reads the outcome from the log.)
    let gave_up = match &run.stops[0].1 {
        Stop::Crashed => true,
        Stop::Unfinished(e) => e != LOST,
        Stop::Ended(_) => false,
    };
    if case.renews.is_empty() && !gave_up {
        prop_assert_eq!(&log.owner, "checkout", "the lease changed hands: {}", why);
    }
    // Every driver that answered answered the logged outcome.
    let expected = ending(state, log.record.reason.as_deref()).expect("final");
    for (owner, stop) in &run.stops {
        if let Stop::Ended(ending) = stop {
            prop_assert_eq!(ending, &expected, "{} answered otherwise: {}", owner, why);
        }
    }
    let (stock, payment) = (&world.stock, &world.payment);
    match state {
        State::Committed => {
            prop_assert!(
                case.stock >= case.need && case.credit >= case.cost,
                "{}",
                why
            );
            prop_assert_eq!(
                (stock.taken, stock.given_back),
                (1, 0),
                "one reserve: {}",
                why
            );
            prop_assert_eq!(
                (payment.taken, payment.given_back),
                (1, 0),
                "one charge: {}",
                why
            );
            prop_assert_eq!(stock.balance, case.stock - case.need, "{}", why);
            prop_assert_eq!(payment.balance, case.credit - case.cost, "{}", why);
        }
        _ => {
            prop_assert!(case.stock < case.need || case.credit < case.cost, "{}", why);
            prop_assert_eq!(stock.taken, stock.given_back, "released: {}", why);
            prop_assert_eq!(payment.taken, payment.given_back, "refunded: {}", why);
            prop_assert_eq!(
                (stock.balance, payment.balance),
                (case.stock, case.credit),
                "{}",
                why
            );
        }
    }
    prop_assert!(stock.taken <= 1 && payment.taken <= 1, "{}", why);
    // Counted at most once, and only as what it is; nothing left in flight.
    let outcomes = metric(&run.metrics, "saga_outcomes_total");
    prop_assert!(
        outcomes <= 1.0,
        "outcome counted {} times: {}",
        outcomes,
        why
    );
    prop_assert_eq!(metric(&run.metrics, "sagas_in_flight"), 0.0, "{}", why);
    // A late copy of a reserve or charge that was sent changes nothing.
    let balances = (stock.balance, payment.balance);
    let saga = id("s1");
    if world.stock.asked {
        world.stock.take(&saga, case.need);
    }
    if world.payment.asked {
        world.payment.take(&saga, case.cost);
    }
    prop_assert_eq!(
        (world.stock.balance, world.payment.balance),
        balances,
        "{}",
        why
    );
    Ok(())
}

fn fault(none: u32, fail: u32) -> impl Strategy<Value = Fault> {
    prop_oneof![
        none => Just(Fault::None),
        fail => Just(Fault::Fail),
        1 => Just(Fault::LoseReply),
        1 => (0u16..5000).prop_map(Fault::Late),
        1 => any::<bool>().prop_map(|applied| Fault::Crash { applied }),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    let wait =
        prop_oneof![Just(1_000u64), Just(5_000), Just(60_000)].prop_map(Duration::from_millis);
    (
        (0i64..4, 0i64..4, 0i64..3, 0i64..3),
        wait,
        proptest::collection::vec(fault(5, 2), 0..16),
        // Renewals fail more often, so that leases are lost while their driver lives.
        proptest::collection::vec(fault(1, 3), 0..8),
    )
        .prop_map(|((stock, credit, need, cost), wait, steps, renews)| Case {
            stock,
            credit,
            need,
            cost,
            wait,
            steps,
            renews,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Whatever fails, times out, arrives late or crashes, and whoever drives: the
    /// saga ends final, with all of it done once or none of it.
    #[test]
    fn any_faults_crashes_and_takeovers_end_all_or_nothing(case in case()) {
        let run = in_paused_time(&case).map_err(TestCaseError::fail)?;
        check(&case, &run)?;
    }
}

mod cases;
