//! Kills and restarts components during every phase of a round.
//!
//! The kills are done by `ops`'s fault driver ([`Driver`]), the same code as `ops fault`:
//! on the local stack it signals only the pids in the stack's pid files, on a compose
//! project it uses `docker kill`/`docker start` on that project's containers. Victims are
//! dealt by [`deck::Deck`]: service replicas by name, and each service's Redis Cluster as
//! "a master" and "a replica", resolved to a node by its role at kill time. At most one
//! component is down at any time: the next kill waits until the last victim is back and
//! healthy, and a Redis node until its cluster is whole again, as the course's failure
//! test kills one container at a time.

pub mod deck;
mod driver;

pub use driver::Driver;
pub use ops::fault::Hit;

use crate::phase::Phase;
use ops::cluster::rules::Role;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify};

/// One kill, stamped with the phase the round was in.
#[derive(Debug, Clone)]
pub struct Kill {
    pub at: Duration,
    pub phase: Phase,
    pub victim: Hit,
}

/// What the round and the driver share: the current phase (to stamp kills), the kills so far,
/// and the stop signal.
pub struct Control {
    start: Instant,
    phase: Mutex<Phase>,
    kills: Mutex<Vec<Kill>>,
    /// Number of kills so far, for phases that wait for one.
    kill_count: watch::Sender<usize>,
    stop: AtomicBool,
    wake: Notify,
}

/// How long a phase waits for the next kill before it starts anyway: longer than a killed
/// master's time down (`Pacing::failover`) and its cluster's healing after its start.
const KILL_WAIT: Duration = Duration::from_secs(15);

impl Control {
    pub fn new() -> Arc<Control> {
        Arc::new(Control {
            start: Instant::now(),
            phase: Mutex::new(Phase::CreateItems),
            kills: Mutex::new(Vec::new()),
            kill_count: watch::Sender::new(0),
            stop: AtomicBool::new(false),
            wake: Notify::new(),
        })
    }

    fn phase(&self) -> Phase {
        *self.phase.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Enters `phase` and, with `wait`, waits (bounded) for the driver's next kill, so that
    /// the phase's first requests meet a component that is down, however short the phase
    /// is. Returns the victim of that kill.
    pub async fn enter(&self, phase: Phase, wait: bool) -> Option<String> {
        *self.phase.lock().unwrap_or_else(PoisonError::into_inner) = phase;
        if !wait || self.stopped() {
            return None;
        }
        let mut count = self.kill_count.subscribe();
        let seen = *count.borrow_and_update();
        let next = tokio::time::timeout(KILL_WAIT, count.wait_for(|n| *n > seen)).await;
        match next {
            Ok(Ok(_)) => self.kills().last().map(|k| k.victim.to_string()),
            _ => None,
        }
    }

    /// Every kill so far.
    pub fn kills(&self) -> Vec<Kill> {
        self.kills
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        self.wake.notify_one();
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn stamp(&self) -> String {
        format!(
            "[chaos {:6.1}s] [{}]",
            self.start.elapsed().as_secs_f64(),
            self.phase()
        )
    }

    fn record_kill(&self, victim: &Hit) {
        let kill = Kill {
            at: self.start.elapsed(),
            phase: self.phase(),
            victim: victim.clone(),
        };
        self.kills
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(kill);
        self.kill_count.send_modify(|n| *n += 1);
    }
}

/// How long the chaos runs at most, and how long a killed Redis Cluster master stays down.
#[derive(Debug, Clone, Copy)]
pub struct Pacing {
    pub max: Duration,
    /// Long enough for its replica to take over (two node timeouts): a master started
    /// again before the cluster noticed is simply the master again, and no failover is
    /// ever tested. Zero: like every other victim.
    pub failover: Duration,
}

impl Pacing {
    /// How long the victim of `kill` stays down: 100–300 ms, a master `failover`.
    fn down(&self, kill: &Hit, rng: &mut impl Rng) -> Duration {
        match kill.role {
            Some(Role::Master) if !self.failover.is_zero() => self.failover,
            _ => Duration::from_millis(rng.random_range(100..=300)),
        }
    }
}

/// Kills the next victim every 200–600 ms (the first after 50–150 ms) and restarts it
/// 100–300 ms later (a Redis master `pacing.failover` later), until `control.stop()` or
/// `pacing.max` has passed. A victim is restarted (and
/// healthy) before the next kill, so at most one component is down at a time; a failed
/// restart is retried before anything else is killed. Returns the driver for `restore_all`.
pub async fn drive(mut chaos: Driver, control: Arc<Control>, pacing: Pacing) -> Driver {
    let start = Instant::now();
    let mut rng = StdRng::from_os_rng();
    let mut down: Option<String> = None;
    // The first kill comes early: the first phase can be over in milliseconds.
    let mut pause = Duration::from_millis(rng.random_range(50..=150));
    loop {
        if let Some(name) = down.take() {
            match chaos.restore(&name).await {
                Ok(()) => println!("{} restarted {name}", control.stamp()),
                Err(e) => {
                    println!(
                        "{} restart of {name} failed: {e:#} (retrying)",
                        control.stamp()
                    );
                    down = Some(name);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    if control.stopped() {
                        break;
                    }
                    continue;
                }
            }
        }
        if control.stopped() || start.elapsed() >= pacing.max {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = control.wake.notified() => {}
        }
        pause = Duration::from_millis(rng.random_range(200..=600));
        if control.stopped() {
            break;
        }
        match chaos.kill_next().await {
            Ok(victim) => {
                control.record_kill(&victim);
                println!("{} killed {victim}", control.stamp());
                tokio::time::sleep(pacing.down(&victim, &mut rng)).await;
                down = Some(victim.name);
            }
            Err(e) => println!("{} kill failed: {e:#}", control.stamp()),
        }
    }
    // A phase entered from now on must not wait for a kill that will not come.
    control.stop.store(true, Ordering::Relaxed);
    match &down {
        Some(name) => println!("{} chaos stopped ({name} still down)", control.stamp()),
        None => println!("{} chaos stopped", control.stamp()),
    }
    chaos
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_killed_master_stays_down_for_the_failover_and_the_rest_briefly() {
        let pacing = Pacing {
            max: Duration::from_secs(600),
            failover: Duration::from_secs(3),
        };
        let mut rng = StdRng::seed_from_u64(3);
        let kill = |role| Hit {
            name: "redis-stock-1".into(),
            role,
        };
        assert_eq!(
            pacing.down(&kill(Some(Role::Master)), &mut rng),
            Duration::from_secs(3)
        );
        for role in [Some(Role::Replica), None] {
            let down = pacing.down(&kill(role), &mut rng);
            assert!((100..=300).contains(&down.as_millis()), "{down:?}");
        }
        let at_once = Pacing {
            failover: Duration::ZERO,
            ..pacing
        };
        assert!(at_once.down(&kill(Some(Role::Master)), &mut rng) <= Duration::from_millis(300));
    }
}
