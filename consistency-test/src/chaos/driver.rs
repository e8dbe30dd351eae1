//! The chaos's hands: `ops`'s fault driver on the stack under test (the local stack or a
//! compose project, the same code as the `ops fault` command), dealing victims from a
//! [`Deck`]. `start` returns only once the component is healthy and, for a Redis node,
//! its cluster whole, so the next kill never finds two components down.

use super::deck::{victims, Deck};
use anyhow::{bail, Result};
use ops::cluster;
use ops::fault::{self, Action, Fault, Hit};
use ops::stack::{Stack, SERVICES};
use rand::rngs::StdRng;
use rand::SeedableRng;

pub struct Driver {
    stack: Stack,
    /// Every component found when the driver was made (for `restore_all`).
    components: Vec<String>,
    deck: Deck,
    rng: StdRng,
}

impl Driver {
    pub async fn new(stack: Stack) -> Result<Driver> {
        let components = fault::components(&stack).await?;
        // A cluster of masters only (REDIS_REPLICAS=0) has no replica to kill.
        let mut with_replicas = Vec::new();
        for service in SERVICES {
            if stack.cluster(service).await?.topology.replicas > 0 {
                with_replicas.push(service);
            }
        }
        let list = victims(&components, |s| with_replicas.contains(&s));
        if list.is_empty() {
            bail!(
                "no component of the {} stack to kill (is it up?)",
                stack.backend()
            );
        }
        let shown: Vec<String> = list.iter().map(ToString::to_string).collect();
        println!("chaos victims: {}", shown.join(", "));
        Ok(Driver {
            stack,
            components,
            deck: Deck::new(list),
            rng: StdRng::from_os_rng(),
        })
    }

    /// Kills the next victim and returns what it hit.
    pub async fn kill_next(&mut self) -> Result<Hit> {
        let fault = Fault {
            action: Action::Kill,
            target: self.deck.deal(&mut self.rng),
        };
        Ok(fault::apply(&self.stack, &fault).await?)
    }

    /// Starts one victim again and waits until it is healthy.
    pub async fn restore(&mut self, name: &str) -> Result<()> {
        Ok(fault::act(&self.stack, Action::Start, name).await?)
    }

    /// Starts everything that may be down and waits until it is healthy and every
    /// cluster whole.
    pub async fn restore_all(&mut self) -> Result<()> {
        for name in self.components.clone() {
            self.restore(&name).await?;
        }
        let clusters = cluster::clusters(&self.stack, &[]).await?;
        cluster::wait_whole(&clusters, std::time::Duration::from_secs(90), |_, _| {}).await?;
        Ok(())
    }

    #[cfg(test)]
    pub fn victims(&self) -> usize {
        self.deck.victims().len()
    }
}

/// Against a running stack: `CHAOS_RUN_DIR=... cargo test -p consistency-test -- --ignored`
/// (PORT_OFFSET, REDIS_MASTERS, REDIS_REPLICAS as for the stack), or
/// `CHAOS_DOCKER_PROJECT=...` for a compose project. Deals a pass and a half of victims,
/// killing and restoring each (a master after 3 s: its failover).
#[cfg(test)]
mod against_a_stack {
    use super::*;
    use ops::cluster::rules::Role;
    use ops::stack::docker::Project;
    use ops::stack::local::Local;
    use ops::stack::DEFAULT_PASSWORD;
    use std::time::Duration;

    #[tokio::test]
    #[ignore = "needs a running local stack or compose project"]
    async fn every_victim_is_killed_and_restored() {
        let stack = match (
            std::env::var("CHAOS_RUN_DIR"),
            std::env::var("CHAOS_DOCKER_PROJECT"),
        ) {
            (Ok(dir), _) => Stack::Local(Local::from_env(dir.into()).unwrap()),
            (_, Ok(p)) => Stack::Docker(Project::new(&p, DEFAULT_PASSWORD.into(), 1)),
            _ => panic!("set CHAOS_RUN_DIR or CHAOS_DOCKER_PROJECT"),
        };
        let mut driver = Driver::new(stack).await.unwrap();
        let n = driver.victims();
        for _ in 0..n + n / 2 {
            let hit = driver.kill_next().await.unwrap();
            println!("killed {hit}");
            if hit.role == Some(Role::Master) {
                // Its replica takes over: it comes back as a replica.
                tokio::time::sleep(Duration::from_secs(3)).await;
            }
            driver.restore(&hit.name).await.unwrap();
            println!("restored {}", hit.name);
        }
        driver.restore_all().await.unwrap();
    }
}
