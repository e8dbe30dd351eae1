//! The consistency test of the public API (the "API" section of the repository's
//! README.md): set up items, users and orders, fire every checkout at once, read everything
//! back, optionally while components are being killed and restarted during every one of
//! those phases, then check that every answer was a success and that stock, credit and
//! orders hold exactly what the client wrote, once. Talks to nothing but the gateway URL
//! (and, for chaos, the `ops` fault driver on the local stack or a compose project).

pub mod api;
pub mod chaos;
pub mod checkout;
pub mod config;
pub mod observe;
pub mod phase;
pub mod report;
pub mod runner;
pub mod setup;
pub mod verify;

use anyhow::Result;
use api::{Api, Exchange};
use chaos::{Control, Driver};
use config::{ChaosMode, Config};
use observe::Pass;
use ops::cluster::rules::Topology;
use ops::stack::docker::Project;
use ops::stack::local::Local;
use ops::stack::{Stack, DEFAULT_PASSWORD};
use phase::Phase;
use runner::Runner;
use setup::Fixture;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use verify::{Check, ItemObs, Kind, Observation, OrderObs, Snapshot, UserObs};

/// Runs every round; `Ok(true)` when every check of every round passed. An error is a
/// usage error or a gateway that does not answer at all before the first round.
pub async fn run(config: Config) -> Result<bool> {
    let repeat_share = config
        .idempotency_keys
        .then_some(f64::from(config.repeat_percent) / 100.0);
    let timeout = Duration::from_secs(config.request_timeout_secs);
    let api = Api::new(&config.url, timeout, repeat_share)?;
    api.probe().await?;
    let (mut passed, mut failed) = (0usize, 0usize);
    for round in 1..=config.rounds {
        println!("=== round {round}/{} against {}", config.rounds, config.url);
        let checks = run_round(&api, &config).await?;
        passed += checks.iter().filter(|c| c.passed()).count();
        failed += checks.iter().filter(|c| !c.passed()).count();
    }
    println!("{passed} passed, {failed} failed");
    Ok(failed == 0)
}

async fn chaos_driver(mode: &ChaosMode) -> Result<Option<Driver>> {
    let stack = match mode {
        ChaosMode::None => return Ok(None),
        ChaosMode::Local {
            run_dir,
            stack_script,
        } => {
            let mut local = Local::from_env(run_dir.clone())?;
            local.script = Some(stack_script.clone());
            Stack::Local(local)
        }
        ChaosMode::Docker { project } => {
            let password =
                std::env::var("REDIS_PASSWORD").unwrap_or_else(|_| DEFAULT_PASSWORD.into());
            let replicas = std::env::var("REDIS_REPLICAS")
                .map_or(Ok(Topology::DEFAULT.replicas), |r| r.parse())?;
            Stack::Docker(Project::new(project, password, replicas))
        }
    };
    Ok(Some(Driver::new(stack).await?))
}

struct RunningChaos {
    control: Arc<Control>,
    task: JoinHandle<Driver>,
}

impl RunningChaos {
    /// Stops the kills, starts whatever may be down and waits until all is healthy.
    async fn stop(self) {
        self.control.stop();
        match self.task.await {
            Ok(mut driver) => {
                println!("chaos: restoring every component and waiting for health");
                if let Err(e) = driver.restore_all().await {
                    println!("chaos: restore failed: {e:#} (verifying anyway)");
                }
            }
            Err(e) => println!("chaos: the driver failed: {e} (verifying anyway)"),
        }
    }
}

async fn run_round(api: &Api, config: &Config) -> Result<Vec<Check>> {
    let chaos = chaos_driver(&config.chaos).await?.map(|driver| {
        let control = Control::new(config.chaos_phases.clone());
        let pacing = chaos::Pacing {
            max: Duration::from_secs(config.chaos_max_secs),
            failover: Duration::from_secs(config.failover_secs),
            kills: config.chaos_passes.map(|passes| passes * driver.victims()),
        };
        let task = tokio::spawn(chaos::drive(driver, control.clone(), pacing));
        RunningChaos { control, task }
    });
    let control = chaos.as_ref().map(|c| c.control.clone());
    let runner = Runner {
        api: api.clone(),
        concurrency: config.setup_concurrency,
        chaos: control.clone(),
    };
    println!(
        "setup: {} item(s) with {} stock, {} users with 1 credit, {} orders{}",
        config.items,
        config.stock_per_item,
        config.users,
        config.users,
        match &chaos {
            None => String::new(),
            Some(_) if Phase::ALL.iter().all(|p| config.chaos_phases.contains(p)) => {
                ", every phase under chaos".to_string()
            }
            Some(_) => {
                let names: Vec<&str> = config.chaos_phases.iter().map(|p| p.name()).collect();
                format!(", chaos during {}", names.join(", "))
            }
        }
    );
    let setup = setup::build(&runner, config.items, config.users, config.stock_per_item).await;
    let fixture = setup.fixture;
    let timeout = Duration::from_secs(config.checkout_timeout_secs);
    let checkouts =
        checkout::fire_all(&runner, &fixture.orders, timeout, config.max_in_flight).await;

    let mut exchanges = setup.exchanges;
    let (pass, under_chaos) = match chaos {
        // The first reads run under chaos; with a settle pause they are compared with the
        // settled reads, without one they are the verdict.
        Some(chaos) => {
            let first = observe::read_all(&runner, Phase::Verify, &fixture).await;
            chaos.stop().await;
            if config.settle_secs > 0 {
                settle(config.settle_secs).await;
                let snapshot = first.snapshot();
                exchanges.extend(first.exchanges);
                let pass = observe::read_all(&runner, Phase::Settled, &fixture).await;
                (pass, Some(snapshot))
            } else {
                (first, None)
            }
        }
        None => {
            settle(config.settle_secs).await;
            (
                observe::read_all(&runner, Phase::Verify, &fixture).await,
                None,
            )
        }
    };
    let obs = recover(
        &runner,
        config,
        &fixture,
        checkouts,
        exchanges,
        pass,
        under_chaos,
    )
    .await;
    let checks = verify::verify(&obs);
    let all: Vec<Exchange> = obs.all_exchanges().cloned().collect();
    report::print_failures(&checks);
    let kills = control.map(|c| c.kills());
    report::print_phases(&all, &setup.skipped, kills.as_deref());
    if let Some(kills) = &kills {
        report::print_kills(kills);
    }
    report::print_checks(&checks);
    Ok(checks)
}

async fn settle(secs: u64) {
    if secs > 0 {
        println!("verify: settling for {secs} s");
        tokio::time::sleep(Duration::from_secs(secs)).await;
    }
}

/// While a check of the final state fails, re-reads every 2 s for up to `recovery_secs`
/// (an unfinished saga is finished by the recovery loop); every re-read is a request too.
async fn recover(
    runner: &Runner,
    config: &Config,
    fixture: &Fixture,
    checkouts: Vec<Exchange>,
    mut exchanges: Vec<Exchange>,
    mut pass: Pass,
    under_chaos: Option<Snapshot>,
) -> Observation {
    let start = Instant::now();
    loop {
        exchanges.append(&mut pass.exchanges);
        let obs = observation(fixture, &checkouts, &exchanges, &pass, under_chaos.clone());
        let state_bad: usize = verify::verify(&obs)
            .iter()
            .filter(|c| c.kind == Kind::State)
            .map(|c| c.discrepancies.len())
            .sum();
        if state_bad == 0 || start.elapsed() >= Duration::from_secs(config.recovery_secs) {
            return obs;
        }
        println!("verify: {state_bad} discrepancies in the state, re-reading in 2 s");
        tokio::time::sleep(Duration::from_secs(2)).await;
        pass = observe::read_all(runner, Phase::Settled, fixture).await;
    }
}

fn observation(
    f: &Fixture,
    checkouts: &[Exchange],
    exchanges: &[Exchange],
    pass: &Pass,
    under_chaos: Option<Snapshot>,
) -> Observation {
    let items = f
        .items
        .iter()
        .zip(&pass.stock)
        .map(|(i, stock)| ItemObs {
            fixture: i.clone(),
            final_stock: *stock,
        })
        .collect();
    let users = f
        .users
        .iter()
        .zip(&pass.credit)
        .map(|((id, credit), now)| UserObs {
            id: id.clone(),
            initial_credit: *credit,
            final_credit: *now,
        })
        .collect();
    let orders = f
        .orders
        .iter()
        .zip(checkouts)
        .zip(pass.orders.iter().zip(&pass.sagas))
        .map(|((o, checkout), (found, sagas))| OrderObs {
            fixture: o.clone(),
            checkout: checkout.clone(),
            found: found.clone(),
            sagas: sagas.clone(),
        })
        .collect();
    Observation {
        exchanges: exchanges.to_vec(),
        items,
        users,
        orders,
        under_chaos,
    }
}
