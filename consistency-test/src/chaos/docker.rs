//! The containers of one docker compose project, except the gateway: `docker kill` and
//! `docker start`, nothing else.

use super::{output, Chaos};
use anyhow::{bail, Result};
use futures::future::BoxFuture;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::{Duration, Instant};
use tokio::process::Command;

/// How long a started container may take to report healthy (or running, without a
/// health check) before the driver goes on.
const START_BOUND: Duration = Duration::from_secs(60);

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
        let listing = output(&mut cmd, "docker ps").await?;
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
    output(&mut cmd, &format!("docker {verb} {name}"))
        .await
        .map(|_| ())
}

/// Waits until the container is healthy (or running, when it has no health check), so
/// that two replicas of a service are never down together.
async fn wait_healthy(name: &str) -> Result<()> {
    let format = "{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}";
    let start = Instant::now();
    loop {
        let mut cmd = Command::new("docker");
        cmd.args(["inspect", "--format", format, name]);
        let state = output(&mut cmd, &format!("docker inspect {name}")).await?;
        let state = state.trim();
        if state == "healthy" || state == "running" {
            return Ok(());
        }
        if start.elapsed() > START_BOUND {
            bail!("{name} is {state} {START_BOUND:?} after docker start");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
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
        Box::pin(async move {
            docker("start", &name).await?;
            wait_healthy(&name).await
        })
    }
    fn restore_all(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            for name in &self.containers {
                docker("start", name).await?;
            }
            for name in &self.containers {
                wait_healthy(name).await?;
            }
            Ok(())
        })
    }
}
