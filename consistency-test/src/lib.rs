//! The consistency test of the public API (the "API" section of the repository's
//! README.md): set up items, users and orders, fire every checkout at once (optionally while
//! components are being killed), then check that stock, credit and answers agree exactly.
//! Talks to nothing but the gateway URL.

pub mod api;
pub mod chaos;
pub mod checkout;
pub mod config;
pub mod setup;
pub mod verify;

use anyhow::Result;
use api::{Api, CheckoutAnswer};
use chaos::{Chaos, DockerCompose, LocalStack};
use config::{ChaosMode, Config};
use futures::{stream, StreamExt};
use setup::Fixture;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use verify::{Check, ItemObs, Observation, OrderObs, UserObs};

/// Runs every round; `Ok(true)` when every check of every round passed.
pub async fn run(config: Config) -> Result<bool> {
    let api = Api::new(&config.url)?;
    let (mut passed, mut failed) = (0usize, 0usize);
    for round in 1..=config.rounds {
        println!("=== round {round}/{} against {}", config.rounds, config.url);
        let checks = run_round(&api, &config).await?;
        print_table(&checks);
        passed += checks.iter().filter(|c| c.passed()).count();
        failed += checks.iter().filter(|c| !c.passed()).count();
    }
    println!("{passed} passed, {failed} failed");
    Ok(failed == 0)
}

async fn chaos_driver(mode: &ChaosMode) -> Result<Option<Box<dyn Chaos>>> {
    Ok(match mode {
        ChaosMode::None => None,
        ChaosMode::Local {
            run_dir,
            stack_script,
        } => Some(Box::new(LocalStack::new(
            stack_script.clone(),
            run_dir.clone(),
        )?)),
        ChaosMode::Docker { project } => Some(Box::new(DockerCompose::new(project).await?)),
    })
}

async fn run_round(api: &Api, config: &Config) -> Result<Vec<Check>> {
    let driver = chaos_driver(&config.chaos).await?;
    println!(
        "setup: {} item(s) with {} stock, {} users with 1 credit, {} orders",
        config.items, config.stock_per_item, config.users, config.users
    );
    let fixture = setup::build(
        api,
        config.items,
        config.users,
        config.stock_per_item,
        config.setup_concurrency,
    )
    .await?;

    let stop = Arc::new(AtomicBool::new(false));
    let chaos_task = driver.map(|d| {
        let max = Duration::from_secs(config.chaos_max_secs);
        tokio::spawn(chaos::drive(d, stop.clone(), max))
    });
    println!("checkout: firing {} checkouts", fixture.orders.len());
    let timeout = Duration::from_secs(config.checkout_timeout_secs);
    let answers = checkout::fire_all(api, &fixture.orders, timeout, config.max_in_flight).await;
    stop.store(true, Ordering::Relaxed);
    if let Some(task) = chaos_task {
        let mut driver = task.await?;
        println!("chaos: restoring every component and waiting for health");
        if let Err(e) = driver.restore_all().await {
            println!("chaos: restore failed: {e:#} (verifying anyway)");
        }
    }
    settle_and_verify(api, config, &fixture, &answers).await
}

/// Verifies after `settle_secs`; while inconsistent, re-reads every 2 s for up to
/// `recovery_secs` (an unfinished saga is finished by the recovery loop), then reports
/// the last verdict.
async fn settle_and_verify(
    api: &Api,
    config: &Config,
    fixture: &Fixture,
    answers: &[CheckoutAnswer],
) -> Result<Vec<Check>> {
    if config.settle_secs > 0 {
        println!("verify: settling for {} s", config.settle_secs);
        tokio::time::sleep(Duration::from_secs(config.settle_secs)).await;
    }
    let start = Instant::now();
    loop {
        let obs = observe(api, fixture, answers, config.setup_concurrency).await;
        let checks = verify::verify(&obs);
        let bad: usize = checks.iter().map(|c| c.discrepancies.len()).sum();
        if bad == 0 || start.elapsed() >= Duration::from_secs(config.recovery_secs) {
            print_answers(answers);
            return Ok(checks);
        }
        println!("verify: {bad} discrepancies, re-reading in 2 s (recovery may still be running)");
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Reads back every item, user and order; a read that keeps failing is recorded as `None`.
async fn observe(api: &Api, f: &Fixture, answers: &[CheckoutAnswer], conc: usize) -> Observation {
    let items = stream::iter(&f.items)
        .map(|i| async move {
            let final_stock = api.find_item(&i.id).await.ok().map(|v| v.stock);
            ItemObs {
                fixture: i.clone(),
                final_stock,
            }
        })
        .buffered(conc)
        .collect()
        .await;
    let users = stream::iter(&f.users)
        .map(|(id, credit)| async move {
            let final_credit = api.find_user(id).await.ok().map(|v| v.credit);
            UserObs {
                id: id.clone(),
                initial_credit: *credit,
                final_credit,
            }
        })
        .buffered(conc)
        .collect()
        .await;
    let orders = stream::iter(f.orders.iter().zip(answers))
        .map(|(o, answer)| async move {
            OrderObs {
                fixture: o.clone(),
                answer: answer.clone(),
                found: api.find_order(&o.id).await.ok(),
                sagas: api.order_sagas(&o.id).await.ok(),
            }
        })
        .buffered(conc)
        .collect()
        .await;
    Observation {
        items,
        users,
        orders,
    }
}

fn print_answers(answers: &[CheckoutAnswer]) {
    let count = |f: &dyn Fn(&CheckoutAnswer) -> bool| answers.iter().filter(|a| f(a)).count();
    println!(
        "answers: {} total, {} 2xx, {} 4xx, {} 5xx, {} other, {} unknown",
        answers.len(),
        count(&|a| matches!(a, CheckoutAnswer::Status(200..=299))),
        count(&|a| a.is_refusal()),
        count(&|a| matches!(a, CheckoutAnswer::Status(500..=599))),
        count(&|a| matches!(a, CheckoutAnswer::Status(s) if !(200..600).contains(s))),
        count(&|a| matches!(a, CheckoutAnswer::Unknown(_))),
    );
}

fn print_table(checks: &[Check]) {
    for c in checks.iter().filter(|c| !c.passed()) {
        println!("FAILED {}:", c.name);
        for d in &c.discrepancies {
            println!("  - {d}");
        }
    }
    println!("{:<46} {:<6} discrepancies", "check", "result");
    for c in checks {
        let result = if c.passed() { "pass" } else { "FAIL" };
        println!("{:<46} {result:<6} {}", c.name, c.discrepancies.len());
    }
}
