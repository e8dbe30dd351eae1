//! The local stack of background processes (`env/local/stack.sh`), which only ever signals
//! the pids in its own pid files. A cluster node is chosen by `stack.sh pick <svc> <role>`
//! at kill time; `stack.sh start` returns only once the component is healthy and, for a
//! Redis node, its cluster whole again.

use super::victim::{cluster_of, victims, Deck, Killed, Role, Victim, SERVICES};
use super::{output, Chaos};
use anyhow::{bail, Context, Result};
use futures::future::BoxFuture;
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::path::{Path, PathBuf};
use tokio::process::Command;

/// Every component the local stack may run except the gateway and the cluster nodes
/// (`redis-<svc>-<n>`, recognised by name): the replicated services and the older single
/// ones. Only those with a pid file are victims, so the list can be a superset of what any
/// one version of the stack runs.
const LOCAL_VICTIMS: [&str; 11] = [
    "redis-order",
    "redis-stock",
    "redis-payment",
    "stock-1",
    "stock-2",
    "payment-1",
    "payment-2",
    "order-1",
    "order-2",
    "stock",
    "payment",
];

pub struct LocalStack {
    script: Script,
    /// Every component with a pid file when the driver was made (a killed one has no pid
    /// file until it is back), for `restore_all`.
    components: Vec<String>,
    deck: Deck,
    rng: StdRng,
}

/// The victims' names among the pid files in `pids`, sorted.
fn components(pids: &Path) -> Result<Vec<String>> {
    let entries = std::fs::read_dir(pids).with_context(|| format!("reading {}", pids.display()))?;
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|f| f.strip_suffix(".pid").map(str::to_string))
        .filter(|n| LOCAL_VICTIMS.contains(&n.as_str()) || cluster_of(n).is_some())
        .collect();
    names.sort();
    Ok(names)
}

impl LocalStack {
    pub async fn new(script: PathBuf, run_dir: PathBuf) -> Result<LocalStack> {
        if !script.is_file() {
            bail!("stack script {} not found", script.display());
        }
        let pids = run_dir.join("pids");
        let components = components(&pids).unwrap_or_default();
        if components.is_empty() {
            bail!(
                "no component of the local stack has a pid file in {} (is it up? is --run-dir right?)",
                pids.display()
            );
        }
        let script = Script {
            path: script,
            run_dir,
        };
        // A cluster with no replica (REDIS_REPLICAS=0) has only masters to kill.
        let mut with_replicas = Vec::new();
        for service in SERVICES {
            if components.iter().any(|n| cluster_of(n) == Some(service))
                && script.pick(service, Role::Replica).await.is_ok()
            {
                with_replicas.push(service);
            }
        }
        let victims = victims(&components, |s| with_replicas.contains(&s));
        let shown: Vec<String> = victims.iter().map(Victim::to_string).collect();
        println!("chaos victims: {}", shown.join(", "));
        Ok(LocalStack {
            script,
            components,
            deck: Deck::new(victims),
            rng: StdRng::from_os_rng(),
        })
    }
}

/// `stack.sh` with the stack's `RUN_DIR`.
struct Script {
    path: PathBuf,
    run_dir: PathBuf,
}

impl Script {
    async fn run(&self, args: &[&str]) -> Result<String> {
        let what = format!("{} {}", self.path.display(), args.join(" "));
        let mut cmd = Command::new(&self.path);
        cmd.args(args).env("RUN_DIR", &self.run_dir);
        output(&mut cmd, &what).await
    }

    /// The name of a node of `service`'s cluster that is in `role` now.
    async fn pick(&self, service: &str, role: Role) -> Result<String> {
        let out = self.run(&["pick", service, role.name()]).await?;
        match out.lines().map(str::trim).rfind(|l| !l.is_empty()) {
            Some(name) if cluster_of(name) == Some(service) => Ok(name.to_string()),
            _ => bail!("stack.sh pick {service} {role} printed {out:?}, not a node of {service}"),
        }
    }
}

impl Chaos for LocalStack {
    fn kill_random(&mut self) -> BoxFuture<'_, Result<Option<Killed>>> {
        Box::pin(async move {
            let killed = match self.deck.deal(&mut self.rng) {
                Victim::Named(name) => Killed { name, role: None },
                Victim::Node { service, role } => Killed {
                    name: self.script.pick(service, role).await?,
                    role: Some(role),
                },
            };
            self.script.run(&["kill", &killed.name]).await?;
            Ok(Some(killed))
        })
    }
    /// `stack.sh start` returns once the component answers its health check (a cluster
    /// node: once its cluster is whole), so the next kill never finds two components down.
    fn restore(&mut self, name: String) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move { self.script.run(&["start", &name]).await.map(|_| ()) })
    }
    fn restore_all(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            for name in self.components.clone() {
                self.script.run(&["start", &name]).await?;
            }
            self.script.run(&["wait"]).await.map(|_| ())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn victims_are_the_known_components_and_the_cluster_nodes_with_pid_files() {
        let dir = std::env::temp_dir().join(format!("ct-local-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for f in [
            "gateway.pid",
            "stock-1.pid",
            "redis-stock-1.pid",
            "redis-stock-4.pid",
            "redis-order.pid",
            "redis-cart-1.pid",
            "order-1.log",
        ] {
            std::fs::write(dir.join(f), "1").unwrap();
        }
        let found = components(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            found,
            vec!["redis-order", "redis-stock-1", "redis-stock-4", "stock-1"]
        );
    }
}

/// Against a running local stack: `CHAOS_STACK_SCRIPT=... CHAOS_RUN_DIR=... cargo test -p
/// consistency-test -- --ignored` (PORT_OFFSET etc. as for the stack). Deals a pass and a
/// half of victims, killing and restoring each.
#[cfg(test)]
mod against_a_stack {
    use super::*;

    #[tokio::test]
    #[ignore = "needs a running local stack"]
    async fn every_victim_is_killed_and_restored() {
        let (Ok(script), Ok(run_dir)) = (
            std::env::var("CHAOS_STACK_SCRIPT"),
            std::env::var("CHAOS_RUN_DIR"),
        ) else {
            panic!("set CHAOS_STACK_SCRIPT and CHAOS_RUN_DIR");
        };
        let mut stack = LocalStack::new(script.into(), run_dir.into())
            .await
            .unwrap();
        let n = stack.deck.victims().len();
        for _ in 0..n + n / 2 {
            let killed = stack.kill_random().await.unwrap().unwrap();
            println!("killed {killed}");
            if let Some(role) = killed.role {
                let back = stack
                    .script
                    .pick(cluster_of(&killed.name).unwrap(), role)
                    .await;
                assert_ne!(
                    back.ok().as_deref(),
                    Some(killed.name.as_str()),
                    "{killed} is dead"
                );
            }
            if killed.role == Some(crate::chaos::victim::Role::Master) {
                // Its replica takes over: it comes back as a replica.
                tokio::time::sleep(std::time::Duration::from_secs(3)).await;
            }
            stack.restore(killed.name.clone()).await.unwrap();
            println!("restored {}", killed.name);
        }
    }
}
