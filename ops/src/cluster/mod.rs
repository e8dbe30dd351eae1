//! The Redis Clusters of a stack: asking their nodes, and the `ops cluster` commands
//! (create, wait, status, pick, master-of, nodes, check-node). The rules themselves are in
//! [`rules`]; this module only gathers the answers they judge and acts on the verdict.

mod create;
pub mod rules;

pub use create::{create, Created};

use crate::error::{Error, Result};
use crate::stack::{Cluster, Link, Node, Stack};
use futures::future::join_all;
use rand::seq::IndexedRandom;
use rules::{Probe, Role};
use std::time::{Duration, Instant};

/// `ops cluster ...`
#[derive(clap::Subcommand, Debug, Clone)]
pub enum Command {
    /// Create each service's cluster from fresh nodes (nothing to do when it exists).
    Create {
        /// order, stock, payment (default: all three).
        services: Vec<String>,
    },
    /// Wait until every named cluster is whole, saying what is still missing.
    Wait {
        services: Vec<String>,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
    },
    /// Each node's role and whether each cluster is whole (exit 1 when one is not).
    Status,
    /// Print one node of SERVICE's cluster that is in ROLE now (at random).
    Pick { service: String, role: Role },
    /// Print the node that is the master of KEY's slot now.
    MasterOf { service: String, key: String },
    /// Every node of the named clusters: its name and address, one per line.
    Nodes { services: Vec<String> },
    /// One node's own health (answers, cluster ok, all slots served, a replica's link up):
    /// the health check of a compose Redis node.
    CheckNode {
        /// HOST:PORT of the node.
        #[arg(default_value = "127.0.0.1:6379")]
        addr: String,
    },
}

impl Command {
    pub async fn run(self, stack: &Stack) -> Result<()> {
        match self {
            Command::Create { services } => {
                for cluster in clusters(stack, &services).await? {
                    let said = create(&cluster).await?;
                    println!("cluster {}: {said}", cluster.service);
                }
                Ok(())
            }
            Command::Wait { services, timeout } => {
                let clusters = clusters(stack, &services).await?;
                let bound = Duration::from_secs(timeout);
                wait_whole(&clusters, bound, |why, left| {
                    eprintln!("[ops] waiting for: {why} ({}s left)", left.as_secs());
                })
                .await?;
                let names: Vec<&str> = clusters.iter().map(|c| c.service.as_str()).collect();
                eprintln!("[ops] whole: {}", names.join(" "));
                Ok(())
            }
            Command::Status => status(stack).await,
            Command::Pick { service, role } => {
                let cluster = stack.cluster(&service).await?;
                println!("{}", pick(&cluster, role).await?.name);
                Ok(())
            }
            Command::MasterOf { service, key } => {
                let cluster = stack.cluster(&service).await?;
                println!("{}", master_of(&cluster, &key).await?.name);
                Ok(())
            }
            Command::CheckNode { addr } => check_node(&addr).await,
            Command::Nodes { services } => {
                for cluster in clusters(stack, &services).await? {
                    for node in &cluster.nodes {
                        println!("{} {}", node.name, node.link);
                    }
                }
                Ok(())
            }
        }
    }
}

/// The named clusters (all of the stack's when none is named).
pub async fn clusters(stack: &Stack, services: &[String]) -> Result<Vec<Cluster>> {
    let names = if services.is_empty() {
        stack.services().await?
    } else {
        services.to_vec()
    };
    let mut out = Vec::new();
    for svc in names {
        out.push(stack.cluster(&svc).await?);
    }
    Ok(out)
}

/// Every node's answers, asked all at once.
pub async fn probe(cluster: &Cluster) -> Vec<Probe> {
    join_all(cluster.nodes.iter().map(Node::probe)).await
}

/// Why `cluster` is not whole now (`None`: it is).
pub async fn not_whole(cluster: &Cluster) -> Option<String> {
    rules::not_whole(&probe(cluster).await, cluster.topology)
        .map(|why| format!("cluster:{} ({why})", cluster.service))
}

/// Waits until every cluster is whole, calling `progress` with what is missing about once
/// a second; fails with the reason after `bound`.
pub async fn wait_whole(
    clusters: &[Cluster],
    bound: Duration,
    mut progress: impl FnMut(&str, Duration),
) -> Result<()> {
    let start = Instant::now();
    let mut last_report: Option<Instant> = None;
    loop {
        let verdicts = join_all(clusters.iter().map(not_whole)).await;
        let missing: Vec<String> = verdicts.into_iter().flatten().collect();
        if missing.is_empty() {
            return Ok(());
        }
        let why = missing.join("; ");
        let elapsed = start.elapsed();
        if elapsed >= bound {
            return Err(Error::State(format!(
                "not whole after {}s: {why}",
                bound.as_secs()
            )));
        }
        if last_report.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
            progress(&why, bound - elapsed);
            last_report = Some(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The nodes of `cluster` in `role` now.
pub async fn in_role(cluster: &Cluster, role: Role) -> Vec<Node> {
    let probes = probe(cluster).await;
    let names: Vec<&str> = rules::in_role(&probes, role)
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    cluster
        .nodes
        .iter()
        .filter(|n| names.contains(&n.name.as_str()))
        .cloned()
        .collect()
}

/// The keys that match the glob `pattern` on the masters of `cluster` now (`KEYS` on
/// each: O(keys), for a probe's one lookup, never on a path that serves requests).
pub async fn keys_matching(cluster: &Cluster, pattern: &str) -> Result<Vec<String>> {
    let mut keys = Vec::new();
    for master in in_role(cluster, Role::Master).await {
        let answer = master.query(&["KEYS", pattern]).await?;
        keys.extend(answer.lines().filter(|k| !k.is_empty()).map(String::from));
    }
    Ok(keys)
}

/// One node of `cluster` in `role` now, at random.
pub async fn pick(cluster: &Cluster, role: Role) -> Result<Node> {
    in_role(cluster, role)
        .await
        .choose(&mut rand::rng())
        .cloned()
        .ok_or_else(|| Error::State(format!("no {role} of cluster {} answers", cluster.service)))
}

/// Whether `key` may hold data: its slot (as Redis computes it) is not a witness slot.
pub async fn holds_data(cluster: &Cluster, key: &str) -> Result<bool> {
    let (_, slot) = keyslot(cluster, key).await?;
    Ok(!rules::WITNESS_SLOTS.contains(&slot))
}

/// The probes of `cluster`, and the slot of `key` as the first node that answered
/// computes it.
async fn keyslot(cluster: &Cluster, key: &str) -> Result<(Vec<rules::Probe>, u16)> {
    let probes = probe(cluster).await;
    let Some(asked) = probes.iter().position(|p| p.ping) else {
        return Err(Error::State(format!(
            "no node of cluster {} answers",
            cluster.service
        )));
    };
    let answer = cluster.nodes[asked]
        .query(&["CLUSTER", "KEYSLOT", key])
        .await?;
    let slot: u16 = answer
        .trim()
        .parse()
        .map_err(|_| Error::State(format!("CLUSTER KEYSLOT answered {answer:?}")))?;
    Ok((probes, slot))
}

/// The node that is master of `key`'s slot now (the slot as Redis computes it), as most of
/// the answering nodes see it ([`rules::master_named_most`]; a probe once found no live
/// master in the first node's view right after a split was healed).
pub async fn master_of(cluster: &Cluster, key: &str) -> Result<Node> {
    let (probes, slot) = keyslot(cluster, key).await?;
    let master = rules::master_named_most(&probes, slot).ok_or_else(|| {
        Error::State(format!(
            "no live master serves slot {slot} of cluster {} in any node's view",
            cluster.service
        ))
    })?;
    node_with_id(&probes, &cluster.nodes, &master.id).ok_or_else(|| {
        Error::State(format!(
            "the master of slot {slot} ({}) is no node of cluster {}",
            master.addr, cluster.service
        ))
    })
}

/// The replicas of `master` now: the nodes that say they replicate it
/// ([`rules::follows`], the wholeness rule's own count).
pub async fn replicas_of(cluster: &Cluster, master: &Node) -> Result<Vec<Node>> {
    let probes = probe(cluster).await;
    let me = probes
        .iter()
        .zip(&cluster.nodes)
        .find(|(_, n)| n.name == master.name)
        .and_then(|(p, _)| p.myself());
    let Some(me) = me else {
        return Err(Error::State(format!("{} does not answer", master.name)));
    };
    Ok(probes
        .iter()
        .zip(&cluster.nodes)
        .filter(|(p, _)| rules::follows(p, &me.id))
        .map(|(_, n)| n.clone())
        .collect())
}

/// The node whose own `CLUSTER NODES` line has `id`.
fn node_with_id(probes: &[Probe], nodes: &[Node], id: &str) -> Option<Node> {
    probes
        .iter()
        .zip(nodes)
        .find(|(p, _)| p.myself().is_some_and(|m| m.id == id))
        .map(|(_, n)| n.clone())
}

/// `ops cluster status`: a line per node, then a line per cluster.
async fn status(stack: &Stack) -> Result<()> {
    let (lines, whole) = status_lines(stack).await?;
    for line in lines {
        println!("{line}");
    }
    if whole {
        Ok(())
    } else {
        Err(Error::State("a cluster is not whole".into()))
    }
}

/// The lines of `ops cluster status`, and whether every cluster is whole.
pub async fn status_lines(stack: &Stack) -> Result<(Vec<String>, bool)> {
    let mut lines = Vec::new();
    let mut whole = true;
    let clusters = clusters(stack, &[]).await?;
    for cluster in &clusters {
        let probes = probe(cluster).await;
        for p in &probes {
            let name_of = |id: &str| node_with_id(&probes, &cluster.nodes, id).map(|n| n.name);
            lines.push(format!("{:<16} {}", p.name, p.summary(name_of)));
        }
    }
    for cluster in &clusters {
        let label = format!("cluster:{}", cluster.service);
        match rules::not_whole(&probe(cluster).await, cluster.topology) {
            None => lines.push(format!("{label:<16} whole ({})", cluster.topology)),
            Some(why) => {
                lines.push(format!("{label:<16} NOT whole: {why}"));
                whole = false;
            }
        }
    }
    Ok((lines, whole))
}

/// `ops cluster check-node HOST:PORT` (the password, if any, from `REDISCLI_AUTH`).
async fn check_node(addr: &str) -> Result<()> {
    let (host, port) = addr
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h, p.parse().ok()?)))
        .ok_or_else(|| Error::Invalid(format!("{addr:?} must be HOST:PORT")))?;
    let node = Node {
        name: addr.to_string(),
        link: Link::Tcp {
            host: host.to_string(),
            port,
            password: std::env::var("REDISCLI_AUTH").ok(),
        },
    };
    match rules::node_problem(&node.probe().await, None) {
        None => Ok(()),
        Some(why) => Err(Error::State(why)),
    }
}
