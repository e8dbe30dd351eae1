//! In-memory stand-ins for the runner's two traits, for its property test: a
//! stock and a payment that behave like the real idempotent participants, and
//! a saga log with the compare-and-set and lease rules of `advance.lua`,
//! `renew.lua` and `claim.lua`. Every call takes the next [`Fault`] of a plan:
//! it fails, times out (the effect happening, or arriving late), or crashes
//! the driver that made it.
//!
//! Test code only. The fakes never decide anything the real services do not:
//! a participant's answer depends only on its record of the saga and its balance,
//! the log's only on its state, owner and lease.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use common::params::Id;
use common::participant::{ChargeRequest, Outcome, ReserveRequest, StepReply};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::saga::log::{Advance, SagaLog, SagaRecord};
use crate::saga::machine::State;
use crate::saga::participants::Participants;

/// How long a call that gets no answer takes to fail (reqwest's and Redis' timeout).
pub const CALL_TIMEOUT: Duration = Duration::from_millis(2000);
/// How long every call takes to get where it goes: time moves on even in a loop of
/// calls that all succeed, so a runner that never stops still meets its deadline.
const ROUND_TRIP: Duration = Duration::from_millis(1);

/// What happens to one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answered at once.
    None,
    /// Fails at once without taking effect (connection refused, Redis down).
    Fail,
    /// Takes effect, but the answer is lost: the caller gets an error after the timeout.
    LoseReply,
    /// Hangs past the timeout (the caller gets an error), and takes effect this many
    /// ms after that: a request that arrives late.
    Late(u16),
    /// The driver making the call stops there, before the call took effect or after.
    Crash { applied: bool },
}

/// The error of a call that failed or timed out: the outcome is unknown.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct FakeError(&'static str);

/// One participant's balance and its record of each saga, like stock's `reserve.lua`
/// and `release.lua` (and payment's charge and refund).
#[derive(Debug, Default)]
pub struct Ledger {
    pub balance: i64,
    records: HashMap<Id, Record>,
    /// How many takes and give-backs took effect.
    pub taken: u32,
    pub given_back: u32,
    /// Whether a driver ever sent a take (so a late copy of it may arrive).
    pub asked: bool,
}

#[derive(Debug, Clone)]
enum Record {
    Done(i64),
    Refused(String),
    /// Undone, or a tombstone left by an undo that came first.
    Undone,
}

impl Ledger {
    pub fn take(&mut self, saga: &Id, amount: i64) -> StepReply {
        let reply = |outcome, reason| StepReply { outcome, reason };
        match self.records.get(saga) {
            Some(Record::Done(_)) => reply(Outcome::Done, None),
            Some(Record::Refused(why)) => reply(Outcome::Refused, Some(why.clone())),
            Some(Record::Undone) => reply(Outcome::Cancelled, None),
            None if self.balance >= amount => {
                self.balance -= amount;
                self.taken += 1;
                self.records.insert(saga.clone(), Record::Done(amount));
                reply(Outcome::Done, None)
            }
            None => {
                let why = format!("has {}, {amount} needed", self.balance);
                self.records
                    .insert(saga.clone(), Record::Refused(why.clone()));
                reply(Outcome::Refused, Some(why))
            }
        }
    }

    pub fn give_back(&mut self, saga: &Id) -> StepReply {
        match self.records.get(saga).cloned() {
            Some(Record::Done(amount)) => {
                self.balance += amount;
                self.given_back += 1;
                self.records.insert(saga.clone(), Record::Undone);
            }
            None => {
                self.records.insert(saga.clone(), Record::Undone);
            }
            Some(Record::Refused(_) | Record::Undone) => {}
        }
        StepReply {
            outcome: Outcome::Undone,
            reason: None,
        }
    }
}

/// The saga log of one saga: its record, its lease, and every state written.
#[derive(Debug)]
pub struct Log {
    pub record: SagaRecord,
    pub owner: String,
    pub expiry: Instant,
    /// In the active set (not final).
    pub active: bool,
    pub history: Vec<State>,
}

impl Log {
    /// `advance.lua`.
    fn advance(
        &mut self,
        from: State,
        to: State,
        reason: Option<&str>,
        lease: Duration,
        owner: &str,
    ) -> Advance {
        if self.owner != owner {
            return Advance::Lost;
        }
        if self.record.state != from {
            return Advance::Stale(self.record.state);
        }
        self.record.state = to;
        self.history.push(to);
        if let Some(reason) = reason {
            self.record.reason = Some(reason.to_string());
        }
        if to.is_final() {
            self.active = false;
        } else {
            self.expiry = Instant::now() + lease;
        }
        Advance::Ok
    }

    /// `renew.lua`.
    fn renew(&mut self, owner: &str, lease: Duration) -> bool {
        if self.owner != owner || !self.active {
            return false;
        }
        self.expiry = Instant::now() + lease;
        true
    }

    /// `claim.lua`: takes the lease if it expired.
    pub fn claim(&mut self, owner: &str, lease: Duration) -> bool {
        let now = Instant::now();
        if !self.active || self.expiry > now {
            return false;
        }
        self.owner = owner.to_string();
        self.expiry = now + lease;
        true
    }
}

/// Everything the fakes share; one per test case.
#[derive(Debug)]
pub struct World {
    pub stock: Ledger,
    pub payment: Ledger,
    pub log: Log,
    /// The faults of the participant and log calls, and of the lease renewals, in order.
    steps: Vec<Fault>,
    renews: Vec<Fault>,
    pub calls: usize,
    pub renewals: usize,
    /// What happened, for a failing case's message.
    pub trail: Vec<String>,
}

impl World {
    pub fn new(
        stock: i64,
        credit: i64,
        saga: SagaRecord,
        lease: Duration,
        steps: Vec<Fault>,
        renews: Vec<Fault>,
    ) -> Shared {
        let log = Log {
            owner: "checkout".into(),
            expiry: Instant::now() + lease,
            active: true,
            history: vec![saga.state],
            record: saga,
        };
        Arc::new(Mutex::new(World {
            stock: Ledger {
                balance: stock,
                ..Ledger::default()
            },
            payment: Ledger {
                balance: credit,
                ..Ledger::default()
            },
            log,
            steps,
            renews,
            calls: 0,
            renewals: 0,
            trail: Vec::new(),
        }))
    }
}

pub type Shared = Arc<Mutex<World>>;

pub fn lock(world: &Shared) -> MutexGuard<'_, World> {
    world
        .lock()
        .expect("a test never panics while holding the world")
}

/// One driver's view of the world: both traits, and the signal of its crash.
#[derive(Clone)]
pub struct Handle {
    pub world: Shared,
    pub driver: String,
    pub crashed: Arc<Notify>,
}

#[derive(Clone, Copy)]
enum Plan {
    Steps,
    Renews,
}

impl Handle {
    /// Makes one call whose effect on the world is `apply`, under the next fault.
    async fn call<T: Send + 'static>(
        &self,
        what: &str,
        plan: Plan,
        apply: impl FnOnce(&mut World) -> T + Send + 'static,
    ) -> Result<T, FakeError> {
        tokio::time::sleep(ROUND_TRIP).await;
        let fault = {
            let mut world = lock(&self.world);
            let (faults, n) = match plan {
                Plan::Steps => (&world.steps, world.calls),
                Plan::Renews => (&world.renews, world.renewals),
            };
            let fault = faults.get(n).copied().unwrap_or(Fault::None);
            match plan {
                Plan::Steps => world.calls += 1,
                Plan::Renews => world.renewals += 1,
            }
            world
                .trail
                .push(format!("{} {what}: {fault:?}", self.driver));
            fault
        };
        match fault {
            Fault::None => Ok(apply(&mut lock(&self.world))),
            Fault::Fail => Err(FakeError("refused the connection")),
            Fault::LoseReply => {
                apply(&mut lock(&self.world));
                tokio::time::sleep(CALL_TIMEOUT).await;
                Err(FakeError("timed out (the call took effect)"))
            }
            Fault::Late(ms) => {
                let world = self.world.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(CALL_TIMEOUT + Duration::from_millis(ms.into())).await;
                    apply(&mut lock(&world));
                });
                tokio::time::sleep(CALL_TIMEOUT).await;
                Err(FakeError("timed out (the call is still on its way)"))
            }
            Fault::Crash { applied } => {
                if applied {
                    apply(&mut lock(&self.world));
                }
                self.crashed.notify_one();
                std::future::pending().await
            }
        }
    }
}

fn total(req: &ReserveRequest) -> i64 {
    req.items.iter().map(|(_, qty)| qty).sum()
}

impl Participants for Handle {
    type Error = FakeError;

    async fn reserve(&self, saga: &Id, req: ReserveRequest) -> Result<StepReply, FakeError> {
        let (saga, need) = (saga.clone(), total(&req));
        lock(&self.world).stock.asked = true;
        self.call("reserve", Plan::Steps, move |w| w.stock.take(&saga, need))
            .await
    }

    async fn charge(&self, saga: &Id, req: ChargeRequest) -> Result<StepReply, FakeError> {
        let saga = saga.clone();
        lock(&self.world).payment.asked = true;
        self.call("charge", Plan::Steps, move |w| {
            w.payment.take(&saga, req.amount)
        })
        .await
    }

    async fn release(&self, saga: &Id, _req: ReserveRequest) -> Result<StepReply, FakeError> {
        let saga = saga.clone();
        self.call("release", Plan::Steps, move |w| w.stock.give_back(&saga))
            .await
    }

    async fn refund(&self, saga: &Id, _req: ChargeRequest) -> Result<StepReply, FakeError> {
        let saga = saga.clone();
        self.call("refund", Plan::Steps, move |w| w.payment.give_back(&saga))
            .await
    }
}

impl SagaLog for Handle {
    type Error = FakeError;

    async fn advance(
        &self,
        _saga: &SagaRecord,
        from: State,
        to: State,
        reason: Option<&str>,
        lease: Duration,
        owner: &str,
    ) -> Result<Advance, FakeError> {
        let (reason, owner) = (reason.map(str::to_string), owner.to_string());
        let what = format!("advance {} -> {}", from.as_str(), to.as_str());
        self.call(&what, Plan::Steps, move |w| {
            w.log.advance(from, to, reason.as_deref(), lease, &owner)
        })
        .await
    }

    async fn saga(&self, _order: &Id, _saga: &Id) -> Result<Option<SagaRecord>, FakeError> {
        self.call("read", Plan::Steps, |w| Some(w.log.record.clone()))
            .await
    }

    async fn renew(
        &self,
        _saga: &SagaRecord,
        owner: &str,
        lease: Duration,
    ) -> Result<bool, FakeError> {
        let owner = owner.to_string();
        self.call("renew", Plan::Renews, move |w| w.log.renew(&owner, lease))
            .await
    }
}
