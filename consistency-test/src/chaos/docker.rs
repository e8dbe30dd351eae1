//! The containers of one docker compose project, except the gateway: `docker kill`,
//! `docker start`, and `docker exec ... redis-cli` to learn a Redis node's role and its
//! cluster's state, nothing else.
//!
//! A cluster node is a container of a compose service `redis-<svc>-<n>`; the victim "a stock
//! master" is whichever of them answers `ROLE` with `master` at kill time. After a node is
//! started again the next kill waits until its cluster is whole (`cluster::not_whole`).

use super::cluster::{not_whole, parse_probe, parse_role, probe_script};
use super::victim::{cluster_of, victims, Deck, Killed, Role, Victim, SERVICES};
use super::{output, Chaos};
use anyhow::{bail, Context, Result};
use futures::future::BoxFuture;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::SeedableRng;
use std::time::{Duration, Instant};
use tokio::process::Command;

/// How long a started container may take to report healthy (or running, without a
/// health check) before the driver goes on.
const START_BOUND: Duration = Duration::from_secs(60);
/// How long a cluster may take to be whole again after one of its nodes was started.
const WHOLE_BOUND: Duration = Duration::from_secs(90);
/// Bound on one `docker exec` (a node that hangs is a node that does not answer).
const EXEC_BOUND: Duration = Duration::from_secs(10);
/// The compose file's default `REDIS_PASSWORD`.
const DEFAULT_PASSWORD: &str = "wdm-redis-password";

/// One running container: its compose service (the name reports use) and its own name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    pub service: String,
    pub name: String,
}

/// The victims in `docker ps --format '{{.Names}}\t<service label>\t{{.State}}'` output:
/// the running containers except the gateway (a one-shot set-up container has exited).
pub fn parse_listing(listing: &str) -> Vec<Container> {
    let mut out: Vec<Container> = listing
        .lines()
        .filter_map(|line| {
            let mut f = line.split('\t');
            let (name, service, state) = (f.next()?, f.next()?, f.next()?);
            let victim =
                state == "running" && !service.contains("gateway") && !service.contains("nginx");
            victim.then(|| Container {
                service: service.to_string(),
                name: name.to_string(),
            })
        })
        .collect();
    out.sort_by(|a, b| a.service.cmp(&b.service));
    out
}

pub struct DockerCompose {
    project: Project,
    deck: Deck,
    rng: StdRng,
}

/// The victims' containers, and the password `redis-cli` needs in them.
struct Project {
    containers: Vec<Container>,
    password: String,
}

impl DockerCompose {
    pub async fn new(project: &str) -> Result<DockerCompose> {
        let mut cmd = Command::new("docker");
        cmd.args(["ps", "-a", "--filter"])
            .arg(format!("label=com.docker.compose.project={project}"))
            .args([
                "--format",
                "{{.Names}}\t{{.Label \"com.docker.compose.service\"}}\t{{.State}}",
            ]);
        let containers = parse_listing(&output(&mut cmd, "docker ps").await?);
        if containers.is_empty() {
            bail!("no running containers found for compose project {project}");
        }
        let password =
            std::env::var("REDIS_PASSWORD").unwrap_or_else(|_| DEFAULT_PASSWORD.to_string());
        let project = Project {
            containers,
            password,
        };
        // A cluster of masters only has no replica to kill.
        let mut with_replicas = Vec::new();
        for service in SERVICES {
            if !project.nodes(service).is_empty()
                && !project.in_role(service, Role::Replica).await.is_empty()
            {
                with_replicas.push(service);
            }
        }
        let services: Vec<String> = project
            .containers
            .iter()
            .map(|c| c.service.clone())
            .collect();
        let list = victims(&services, |s| with_replicas.contains(&s));
        let shown: Vec<String> = list.iter().map(Victim::to_string).collect();
        println!("chaos victims: {}", shown.join(", "));
        Ok(DockerCompose {
            project,
            deck: Deck::new(list),
            rng: StdRng::from_os_rng(),
        })
    }
}

impl Project {
    fn container(&self, service: &str) -> Result<&Container> {
        self.containers
            .iter()
            .find(|c| c.service == service)
            .with_context(|| format!("no container for compose service {service}"))
    }

    /// The containers of `service`'s cluster nodes.
    fn nodes(&self, service: &str) -> Vec<&Container> {
        self.containers
            .iter()
            .filter(|c| cluster_of(&c.service) == Some(service))
            .collect()
    }

    /// `sh -c script` in the container, with the cluster's password for `redis-cli`.
    async fn exec(&self, container: &str, script: &str) -> Result<String> {
        let mut cmd = Command::new("docker");
        cmd.args(["exec", "-e"])
            .arg(format!("REDISCLI_AUTH={}", self.password))
            .args([container, "sh", "-c", script])
            .kill_on_drop(true);
        let what = format!("docker exec {container} {script}");
        tokio::time::timeout(EXEC_BOUND, output(&mut cmd, &what))
            .await
            .with_context(|| format!("{what}: no answer in {EXEC_BOUND:?}"))?
    }

    /// The nodes of `service`'s cluster that answer `ROLE` with `role` now.
    async fn in_role(&self, service: &str, role: Role) -> Vec<Container> {
        let mut found = Vec::new();
        for node in self.nodes(service) {
            let answer = self.exec(&node.name, "redis-cli role").await;
            if answer.and_then(|a| parse_role(&a)).ok() == Some(role) {
                found.push(node.clone());
            }
        }
        found
    }

    /// Waits until every node of `service`'s cluster says the cluster is whole.
    async fn wait_whole(&self, service: &str) -> Result<()> {
        let start = Instant::now();
        let script = probe_script();
        loop {
            let mut probes = Vec::new();
            for node in self.nodes(service) {
                let answer = self.exec(&node.name, &script).await.ok();
                probes.push(parse_probe(&node.service, answer.as_deref()));
            }
            let Some(why) = not_whole(&probes) else {
                return Ok(());
            };
            if start.elapsed() > WHOLE_BOUND {
                bail!(
                    "redis-{service}'s cluster is not whole {WHOLE_BOUND:?} after a start: {why}"
                );
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
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
    fn kill_random(&mut self) -> BoxFuture<'_, Result<Option<Killed>>> {
        Box::pin(async move {
            let (container, killed) = match self.deck.deal(&mut self.rng) {
                Victim::Named(service) => {
                    let container = self.project.container(&service)?.name.clone();
                    (
                        container,
                        Killed {
                            name: service,
                            role: None,
                        },
                    )
                }
                Victim::Node { service, role } => {
                    let nodes = self.project.in_role(service, role).await;
                    let node = nodes.choose(&mut self.rng).with_context(|| {
                        format!("no node of redis-{service} answers ROLE {role}")
                    })?;
                    let killed = Killed {
                        name: node.service.clone(),
                        role: Some(role),
                    };
                    (node.name.clone(), killed)
                }
            };
            docker("kill", &container).await?;
            Ok(Some(killed))
        })
    }
    fn restore(&mut self, name: String) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let container = self.project.container(&name)?.name.clone();
            docker("start", &container).await?;
            wait_healthy(&container).await?;
            match cluster_of(&name) {
                Some(service) => self.project.wait_whole(service).await,
                None => Ok(()),
            }
        })
    }
    fn restore_all(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let project = &self.project;
            for c in &project.containers {
                docker("start", &c.name).await?;
            }
            for c in &project.containers {
                wait_healthy(&c.name).await?;
            }
            for service in SERVICES {
                if !project.nodes(service).is_empty() {
                    project.wait_whole(service).await?;
                }
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn victims_are_the_running_containers_but_the_gateway() {
        let listing = "\
wdmchaos-redis-stock-2-1\tredis-stock-2\trunning
wdmchaos-gateway-1\tgateway\trunning
wdmchaos-redis-cluster-init-1\tredis-cluster-init\texited
wdmchaos-stock-1-1\tstock-1\trunning
wdmchaos-redis-stock-1-1\tredis-stock-1\trunning
garbage line
";
        let found = parse_listing(listing);
        let services: Vec<&str> = found.iter().map(|c| c.service.as_str()).collect();
        assert_eq!(services, vec!["redis-stock-1", "redis-stock-2", "stock-1"]);
        assert_eq!(found[0].name, "wdmchaos-redis-stock-1-1");
    }
}

/// Against a running compose project: `CHAOS_DOCKER_PROJECT=... cargo test -p
/// consistency-test -- --ignored` (REDIS_PASSWORD as for the project). Deals a pass and a
/// half of victims, killing and restoring each (a master after 3 s: its failover).
#[cfg(test)]
mod against_a_project {
    use super::*;

    #[tokio::test]
    #[ignore = "needs a running compose project"]
    async fn every_victim_is_killed_and_restored_with_its_cluster_whole() {
        let project = std::env::var("CHAOS_DOCKER_PROJECT").expect("set CHAOS_DOCKER_PROJECT");
        let mut compose = DockerCompose::new(&project).await.unwrap();
        let n = compose.deck.victims().len();
        for _ in 0..n + n / 2 {
            let killed = compose.kill_random().await.unwrap().unwrap();
            println!("killed {killed}");
            if killed.role == Some(Role::Master) {
                tokio::time::sleep(Duration::from_secs(3)).await;
            }
            let start = Instant::now();
            compose.restore(killed.name.clone()).await.unwrap();
            println!("restored {} in {:?}", killed.name, start.elapsed());
        }
        compose.restore_all().await.unwrap();
    }
}
