//! One docker compose project's containers, found by the compose labels: a component is
//! known by its compose service (`stock-1`, `redis-stock-3`, `gateway`), and a cluster's
//! nodes are the containers of the services `redis-<svc>-<n>`. A node is reached over TCP
//! at the fixed address it announces (`ANNOUNCE_IP`, known also while it is stopped): one
//! `docker exec` per question takes seconds on a loaded host. Without that address (a
//! compose file that sets none) it is asked through `docker exec redis-cli`.

use super::{node_index, output, Cluster, Link, Node};
use crate::cluster::rules::Topology;
use crate::error::{Error, Result};
use tokio::process::Command;

/// One container: its compose service (the component's name), its own name, its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    pub service: String,
    pub name: String,
    pub running: bool,
}

pub struct Project {
    pub name: String,
    password: String,
    replicas: usize,
}

/// `docker ps --format` of [`Project::containers`].
const LISTING: &str = "{{.Names}}\t{{.Label \"com.docker.compose.service\"}}\t{{.State}}";

/// The containers in `docker ps -a --format LISTING` output, sorted by service.
pub fn parse_listing(listing: &str) -> Vec<Container> {
    let mut out: Vec<Container> = listing
        .lines()
        .filter_map(|line| {
            let mut f = line.split('\t');
            let (name, service, state) = (f.next()?, f.next()?, f.next()?);
            Some(Container {
                service: service.to_string(),
                name: name.to_string(),
                running: state == "running" || state == "paused",
            })
        })
        .collect();
    out.sort_by(|a, b| a.service.cmp(&b.service));
    out
}

impl Project {
    pub fn new(name: &str, password: String, replicas: usize) -> Project {
        Project {
            name: name.to_string(),
            password,
            replicas,
        }
    }

    /// Every container of the project, also stopped ones.
    pub async fn containers(&self) -> Result<Vec<Container>> {
        let mut cmd = Command::new("docker");
        cmd.args(["ps", "-a", "--filter"])
            .arg(format!("label=com.docker.compose.project={}", self.name))
            .args(["--format", LISTING]);
        Ok(parse_listing(&output(&mut cmd, "docker ps").await?))
    }

    /// The container of the compose service `service`.
    pub async fn container(&self, service: &str) -> Result<Container> {
        self.containers()
            .await?
            .into_iter()
            .find(|c| c.service == service)
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "compose project {} has no service {service}",
                    self.name
                ))
            })
    }

    pub async fn cluster(&self, service: &str) -> Result<Cluster> {
        let mut found: Vec<(usize, Container)> = self
            .containers()
            .await?
            .into_iter()
            .filter_map(|c| {
                let (svc, n) = node_index(&c.service)?;
                (svc == service).then_some((n, c))
            })
            .collect();
        found.sort_by_key(|(n, _)| *n);
        let names: Vec<&str> = found.iter().map(|(_, c)| c.name.as_str()).collect();
        let ips = announced(&names).await?;
        let nodes: Vec<(usize, Node)> = found
            .into_iter()
            .map(|(n, c)| {
                let link = match ips.iter().find(|(name, _)| *name == c.name) {
                    Some((_, ip)) => Link::Tcp {
                        host: ip.clone(),
                        port: 6379,
                        password: Some(self.password.clone()),
                    },
                    None => Link::Exec {
                        container: c.name.clone(),
                        password: self.password.clone(),
                    },
                };
                let node = Node {
                    name: c.service,
                    link,
                };
                (n, node)
            })
            .collect();
        let nodes: Vec<Node> = nodes.into_iter().map(|(_, node)| node).collect();
        let topology = if nodes.is_empty() {
            Topology {
                masters: 0,
                replicas: 0,
            }
        } else {
            Topology::of(nodes.len(), self.replicas).map_err(Error::Invalid)?
        };
        Ok(Cluster {
            service: service.to_string(),
            topology,
            nodes,
        })
    }
}

/// `(container, ANNOUNCE_IP)` of those containers that set one.
async fn announced(containers: &[&str]) -> Result<Vec<(String, String)>> {
    if containers.is_empty() {
        return Ok(Vec::new());
    }
    let mut cmd = Command::new("docker");
    cmd.args([
        "inspect",
        "--format",
        "{{.Name}} {{range .Config.Env}}{{.}} {{end}}",
    ])
    .args(containers);
    Ok(parse_announced(&output(&mut cmd, "docker inspect").await?))
}

fn parse_announced(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let name = words.next()?.trim_start_matches('/');
            let ip = words.find_map(|w| w.strip_prefix("ANNOUNCE_IP="))?;
            Some((name.to_string(), ip.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_are_listed_by_their_compose_service() {
        let listing = "\
wdm-redis-stock-2-1\tredis-stock-2\trunning
wdm-gateway-1\tgateway\trunning
wdm-redis-cluster-init-1\tredis-cluster-init\texited
wdm-stock-1-1\tstock-1\tpaused
garbage line
";
        let found = parse_listing(listing);
        let services: Vec<&str> = found.iter().map(|c| c.service.as_str()).collect();
        assert_eq!(
            services,
            vec!["gateway", "redis-cluster-init", "redis-stock-2", "stock-1"]
        );
        assert_eq!(found[2].name, "wdm-redis-stock-2-1");
        assert!(!found[1].running && found[3].running);
    }

    #[test]
    fn a_node_is_reached_at_the_address_it_announces() {
        let text = "/p-redis-stock-1-1 PATH=/bin ANNOUNCE_IP=10.213.7.61 REDISCLI_AUTH=x\n\
                    /p-redis-stock-2-1 PATH=/bin\n";
        assert_eq!(
            parse_announced(text),
            vec![("p-redis-stock-1-1".to_string(), "10.213.7.61".to_string())]
        );
    }
}
