//! The local stack of background processes (`env/local/stack.sh`), which only ever signals
//! the pids in its own pid files.

use super::{output, Chaos};
use anyhow::{bail, Result};
use futures::future::BoxFuture;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::PathBuf;
use tokio::process::Command;

/// Every component the local stack may run except the gateway: today's names and the
/// replicated ones (`stock-1`, ...). Only those with a pid file are victims, so the list
/// can be a superset of what any one version of the stack runs.
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
    script: PathBuf,
    run_dir: PathBuf,
    /// Fixed when the driver is made: a killed component has no pid file until it is back.
    victims: Vec<&'static str>,
    rng: StdRng,
}

impl LocalStack {
    pub fn new(script: PathBuf, run_dir: PathBuf) -> Result<LocalStack> {
        if !script.is_file() {
            bail!("stack script {} not found", script.display());
        }
        let victims: Vec<&'static str> = LOCAL_VICTIMS
            .into_iter()
            .filter(|n| run_dir.join("pids").join(format!("{n}.pid")).exists())
            .collect();
        if victims.is_empty() {
            bail!(
                "no component of the local stack has a pid file in {}/pids (is it up? is --run-dir right?)",
                run_dir.display()
            );
        }
        println!("chaos victims: {}", victims.join(", "));
        Ok(LocalStack {
            script,
            run_dir,
            victims,
            rng: StdRng::from_os_rng(),
        })
    }

    async fn script(&self, args: &[&str]) -> Result<()> {
        let what = format!("{} {}", self.script.display(), args.join(" "));
        let mut cmd = Command::new(&self.script);
        cmd.args(args).env("RUN_DIR", &self.run_dir);
        output(&mut cmd, &what).await.map(|_| ())
    }
}

impl Chaos for LocalStack {
    fn kill_random(&mut self) -> BoxFuture<'_, Result<Option<String>>> {
        Box::pin(async move {
            let name = self.victims[self.rng.random_range(0..self.victims.len())];
            self.script(&["kill", name]).await?;
            Ok(Some(name.to_string()))
        })
    }
    /// `stack.sh start` returns once the component answers its health check, so the next
    /// kill never finds two components down.
    fn restore(&mut self, name: String) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move { self.script(&["start", &name]).await })
    }
    fn restore_all(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            for name in self.victims.clone() {
                self.script(&["start", name]).await?;
            }
            self.script(&["wait"]).await
        })
    }
}
