//! Which stack `ops` works on and how it reaches its parts: the local stack of processes
//! (`env/local/stack.sh`, its `RUN_DIR` and `PORT_OFFSET`), one docker compose project, or
//! a list of Redis addresses (inside the compose network, where `ops` creates the clusters).
//! Here are the names of the components and the nodes of each service's cluster; what is
//! done to them is in `cluster` and `fault`.
//!
//! It never lists a process that is not in the stack's own pid files, nor a container
//! outside the compose project it was given.

pub mod docker;
pub mod local;
mod node;

pub use node::{Link, Node};

use crate::cluster::rules::Topology;
use crate::error::{Error, Result};
use std::path::PathBuf;
use tokio::process::Command;

/// The services that own a Redis Cluster each.
pub const SERVICES: [&str; 3] = ["order", "stock", "payment"];

/// The back-end selection every command shares (global options of `ops`).
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// The local stack's run folder (its pid files, logs and data).
    #[arg(long, env = "RUN_DIR", default_value = "run", global = true)]
    pub run_dir: PathBuf,
    /// Work on the containers of this docker compose project instead of the local stack.
    #[arg(long, global = true, value_name = "PROJECT", conflicts_with = "hosts")]
    pub docker: Option<String>,
    /// Work on Redis nodes by address: `order=host:port,host:port stock=... payment=...`
    /// (inside the compose network; no faults).
    #[arg(long, env = "OPS_HOSTS", global = true, value_name = "SPEC")]
    pub hosts: Option<String>,
    /// Added to every port of the local stack.
    #[arg(long, env = "PORT_OFFSET", default_value_t = 0, global = true)]
    pub port_offset: u16,
    /// Masters per cluster of the local stack.
    #[arg(long, env = "REDIS_MASTERS", default_value_t = Topology::DEFAULT.masters, global = true)]
    pub masters: usize,
    /// Replicas per master.
    #[arg(long, env = "REDIS_REPLICAS", default_value_t = Topology::DEFAULT.replicas, global = true)]
    pub replicas: usize,
    /// The Redis password of a compose project or of `--hosts` nodes.
    #[arg(long, env = "REDIS_PASSWORD", global = true, hide_env_values = true)]
    pub password: Option<String>,
}

/// The compose file's default `REDIS_PASSWORD`.
pub const DEFAULT_PASSWORD: &str = "wdm-redis-password";

impl Args {
    pub fn stack(&self) -> Result<Stack> {
        let password = self
            .password
            .clone()
            .or_else(|| std::env::var("REDISCLI_AUTH").ok());
        if let Some(project) = &self.docker {
            return Ok(Stack::Docker(docker::Project::new(
                project,
                password.unwrap_or_else(|| DEFAULT_PASSWORD.into()),
                self.replicas,
            )));
        }
        if let Some(spec) = &self.hosts {
            return Ok(Stack::Hosts(Hosts::parse(spec, password, self.replicas)?));
        }
        let topology = Topology {
            masters: self.masters,
            replicas: self.replicas,
        };
        Ok(Stack::Local(local::Local::new(
            self.run_dir.clone(),
            self.port_offset,
            topology,
        )?))
    }
}

/// One service's Redis Cluster: its nodes, and the shape it must have.
#[derive(Debug, Clone)]
pub struct Cluster {
    pub service: String,
    pub topology: Topology,
    pub nodes: Vec<Node>,
}

/// The stack `ops` works on.
pub enum Stack {
    Local(local::Local),
    Docker(docker::Project),
    Hosts(Hosts),
}

impl Stack {
    /// The back end's name, for messages.
    pub fn backend(&self) -> &'static str {
        match self {
            Stack::Local(_) => "local",
            Stack::Docker(_) => "docker",
            Stack::Hosts(_) => "hosts",
        }
    }

    /// The services with a cluster in this stack, in `SERVICES` order.
    pub async fn services(&self) -> Result<Vec<String>> {
        let mut found = Vec::new();
        for svc in SERVICES {
            if !self.cluster(svc).await?.nodes.is_empty() {
                found.push(svc.to_string());
            }
        }
        Ok(found)
    }

    /// The cluster of `service` (`order`, `stock`, `payment`).
    pub async fn cluster(&self, service: &str) -> Result<Cluster> {
        if !SERVICES.contains(&service) {
            return Err(Error::Invalid(format!(
                "service {service:?} must be one of {}",
                SERVICES.join(", ")
            )));
        }
        match self {
            Stack::Local(l) => Ok(l.cluster(service)),
            Stack::Docker(d) => d.cluster(service).await,
            Stack::Hosts(h) => Ok(h.cluster(service)),
        }
    }
}

/// Redis nodes by address (`--hosts`).
pub struct Hosts {
    clusters: Vec<Cluster>,
}

impl Hosts {
    /// `order=redis-order-1:6379,redis-order-2:6379 stock=...`
    pub fn parse(spec: &str, password: Option<String>, replicas: usize) -> Result<Hosts> {
        let mut clusters = Vec::new();
        for entry in spec.split_whitespace() {
            let (service, list) = entry.split_once('=').ok_or_else(|| {
                Error::Invalid(format!("{entry:?} must be SERVICE=HOST:PORT,..."))
            })?;
            let mut nodes = Vec::new();
            for addr in list.split(',').filter(|a| !a.is_empty()) {
                let (host, port) = addr
                    .rsplit_once(':')
                    .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
                    .ok_or_else(|| Error::Invalid(format!("{addr:?} must be HOST:PORT")))?;
                nodes.push(Node {
                    name: host.to_string(),
                    link: Link::Tcp {
                        host: host.to_string(),
                        port,
                        password: password.clone(),
                    },
                });
            }
            let topology = Topology::of(nodes.len(), replicas).map_err(Error::Invalid)?;
            clusters.push(Cluster {
                service: service.to_string(),
                topology,
                nodes,
            });
        }
        Ok(Hosts { clusters })
    }

    fn cluster(&self, service: &str) -> Cluster {
        self.clusters
            .iter()
            .find(|c| c.service == service)
            .cloned()
            .unwrap_or_else(|| Cluster {
                service: service.to_string(),
                topology: Topology {
                    masters: 0,
                    replicas: 0,
                },
                nodes: Vec::new(),
            })
    }
}

/// Runs `cmd` and returns its standard output; fails with its standard error.
pub(crate) async fn output(cmd: &mut Command, what: &str) -> Result<String> {
    let out = cmd.output().await.map_err(Error::io(what.to_string()))?;
    if !out.status.success() {
        return Err(Error::Command {
            what: what.to_string(),
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The cluster a node name belongs to: `redis-stock-2` is node 2 of stock's cluster;
/// `redis-stock` (a single Redis) and `stock-2` (a service replica) belong to none.
pub fn cluster_of(name: &str) -> Option<&'static str> {
    node_index(name).map(|(svc, _)| svc)
}

/// `redis-stock-2` is node 2 of stock's cluster.
pub fn node_index(name: &str) -> Option<(&'static str, usize)> {
    let (service, n) = name.strip_prefix("redis-")?.rsplit_once('-')?;
    // A node number is 1, 2, ...: no sign, no leading zero.
    if n.starts_with('0') || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = n.parse().ok()?;
    SERVICES.into_iter().find(|s| *s == service).map(|s| (s, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_nodes_are_known_by_their_numbered_names() {
        assert_eq!(cluster_of("redis-stock-2"), Some("stock"));
        assert_eq!(node_index("redis-order-10"), Some(("order", 10)));
        assert_eq!(cluster_of("redis-payment-1"), Some("payment"));
        for other in [
            "redis-stock",
            "stock-2",
            "redis-stock-0",
            "redis-stock-x",
            "redis-stock-02",
            "redis-cart-1",
            "redis-stock-2-1",
            "redis--1",
        ] {
            assert_eq!(cluster_of(other), None, "{other}");
        }
    }

    #[test]
    fn hosts_name_each_cluster_by_address() {
        let h = Hosts::parse(
            "order=a:1,b:2,c:3,d:4 stock=c:3,d:4,e:5,f:6,g:7,h:8",
            None,
            1,
        );
        let h = h.unwrap();
        let order = h.cluster("order");
        // One data master, its replica and two witnesses; stock: three masters.
        let t = |masters| Topology {
            masters,
            replicas: 1,
        };
        assert_eq!(order.topology, t(1));
        assert_eq!(h.cluster("stock").topology, t(3));
        assert_eq!(order.nodes[1].name, "b");
        assert!(h.cluster("payment").nodes.is_empty());
        assert!(Hosts::parse("order=a:1,b:2,c:3", None, 1).is_err());
        assert!(Hosts::parse("order", None, 0).is_err());
        assert!(Hosts::parse("order=a", None, 0).is_err());
    }
}
