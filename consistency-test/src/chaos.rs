//! Kills and restarts components while the checkouts are in flight.
//!
//! `Chaos` is the seam: `LocalStack` goes through `env/local/stack.sh` (which only signals
//! the pids in its own pid files), `DockerCompose` through `docker kill`/`docker start` on the
//! containers of one compose project. Nothing here ever kills by name pattern, and the
//! gateway is never a victim (its death would only turn answers into connection errors).

use anyhow::{bail, Context, Result};
use futures::future::BoxFuture;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::process::Command;

pub trait Chaos: Send {
    /// Kills one random victim and returns its name (`None`: nothing to kill).
    fn kill_random(&mut self) -> BoxFuture<'_, Result<Option<String>>>;
    /// Starts one victim again.
    fn restore(&mut self, name: String) -> BoxFuture<'_, Result<()>>;
    /// Starts everything that may be down and waits until it is healthy.
    fn restore_all(&mut self) -> BoxFuture<'_, Result<()>>;
}

async fn run(cmd: &mut Command, what: &str) -> Result<String> {
    let out = cmd
        .output()
        .await
        .with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The local stack of background processes.
pub struct LocalStack {
    script: PathBuf,
    run_dir: PathBuf,
    rng: StdRng,
}

const LOCAL_VICTIMS: [&str; 7] = [
    "redis-order",
    "redis-stock",
    "redis-payment",
    "stock",
    "payment",
    "order-1",
    "order-2",
];

impl LocalStack {
    pub fn new(script: PathBuf, run_dir: PathBuf) -> Result<LocalStack> {
        if !script.is_file() {
            bail!("stack script {} not found", script.display());
        }
        Ok(LocalStack {
            script,
            run_dir,
            rng: StdRng::from_os_rng(),
        })
    }

    /// Components this stack runs: those with a pid file.
    fn present(&self) -> Vec<&'static str> {
        LOCAL_VICTIMS
            .into_iter()
            .filter(|n| self.run_dir.join("pids").join(format!("{n}.pid")).exists())
            .collect()
    }

    async fn script(&self, args: &[&str]) -> Result<()> {
        let what = format!("{} {}", self.script.display(), args.join(" "));
        let mut cmd = Command::new(&self.script);
        cmd.args(args).env("RUN_DIR", &self.run_dir);
        run(&mut cmd, &what).await.map(|_| ())
    }
}

impl Chaos for LocalStack {
    fn kill_random(&mut self) -> BoxFuture<'_, Result<Option<String>>> {
        Box::pin(async move {
            let present = self.present();
            if present.is_empty() {
                return Ok(None);
            }
            let name = present[self.rng.random_range(0..present.len())];
            self.script(&["kill", name]).await?;
            Ok(Some(name.to_string()))
        })
    }
    fn restore(&mut self, name: String) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move { self.script(&["start", &name]).await })
    }
    fn restore_all(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            for name in self.present() {
                self.script(&["start", name]).await?;
            }
            self.script(&["wait"]).await
        })
    }
}

/// The containers of one docker compose project, except the gateway.
pub struct DockerCompose {
    containers: Vec<String>,
    rng: StdRng,
}

impl DockerCompose {
    pub async fn new(project: &str) -> Result<DockerCompose> {
        let mut cmd = Command::new("docker");
        cmd.args(["ps", "-a", "--filter"])
            .arg(format!("label=com.docker.compose.project={project}"))
            .args([
                "--format",
                "{{.Names}}\t{{.Label \"com.docker.compose.service\"}}",
            ]);
        let listing = run(&mut cmd, "docker ps").await?;
        let containers: Vec<String> = listing
            .lines()
            .filter_map(|line| line.split_once('\t'))
            .filter(|(_, service)| !service.contains("gateway") && !service.contains("nginx"))
            .map(|(name, _)| name.to_string())
            .collect();
        if containers.is_empty() {
            bail!("no containers found for compose project {project}");
        }
        println!("chaos victims: {}", containers.join(", "));
        Ok(DockerCompose {
            containers,
            rng: StdRng::from_os_rng(),
        })
    }
}

async fn docker(verb: &str, name: &str) -> Result<()> {
    let mut cmd = Command::new("docker");
    cmd.args([verb, name]);
    run(&mut cmd, &format!("docker {verb} {name}"))
        .await
        .map(|_| ())
}

impl Chaos for DockerCompose {
    fn kill_random(&mut self) -> BoxFuture<'_, Result<Option<String>>> {
        Box::pin(async move {
            let name = self.containers[self.rng.random_range(0..self.containers.len())].clone();
            docker("kill", &name).await?;
            Ok(Some(name))
        })
    }
    fn restore(&mut self, name: String) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move { docker("start", &name).await })
    }
    fn restore_all(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            for name in &self.containers {
                docker("start", name).await?;
            }
            Ok(())
        })
    }
}

/// Kills a random victim every 200–600 ms (the first after 50–150 ms) and restarts it 100–300 ms later, until `stop` is
/// set or `max` has passed. Returns the driver for the final `restore_all`.
pub async fn drive(
    mut chaos: Box<dyn Chaos>,
    stop: Arc<AtomicBool>,
    max: Duration,
) -> Box<dyn Chaos> {
    let start = Instant::now();
    let mut rng = StdRng::from_os_rng();
    let stamp = |start: Instant| format!("[chaos {:6.1}s]", start.elapsed().as_secs_f64());
    // The first kill comes early: a 1000-checkout round can be over in a second or two.
    let mut pause = Duration::from_millis(rng.random_range(50..=150));
    while !stop.load(Ordering::Relaxed) && start.elapsed() < max {
        tokio::time::sleep(pause).await;
        pause = Duration::from_millis(rng.random_range(200..=600));
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let name = match chaos.kill_random().await {
            Ok(Some(name)) => name,
            Ok(None) => {
                println!("{} nothing to kill (no pid files?)", stamp(start));
                continue;
            }
            Err(e) => {
                println!("{} kill failed: {e:#}", stamp(start));
                continue;
            }
        };
        println!("{} killed {name}", stamp(start));
        tokio::time::sleep(Duration::from_millis(rng.random_range(100..=300))).await;
        match chaos.restore(name.clone()).await {
            Ok(()) => println!("{} restarted {name}", stamp(start)),
            Err(e) => println!("{} restart of {name} failed: {e:#}", stamp(start)),
        }
    }
    println!("{} chaos stopped", stamp(start));
    chaos
}
