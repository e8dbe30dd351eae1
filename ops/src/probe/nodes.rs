//! What the probes ask of the stack's Redis Clusters, by component name: each a call of
//! `crate::cluster` (the rules) on the cluster the name belongs to. Nothing here reads a
//! cluster's answers itself.

use crate::cluster::{self, rules::Role};
use crate::stack::{self, Node, Stack};
use anyhow::{bail, Context, Result};
use std::time::{Duration, Instant};

/// How long a cluster may take to be whole again, or a replica to take over.
pub const WHOLE_BOUND: Duration = Duration::from_secs(90);

/// The node named `name` (`redis-stock-3`).
pub async fn node(stack: &Stack, name: &str) -> Result<Node> {
    let service = stack::cluster_of(name).with_context(|| format!("{name} is no Redis node"))?;
    let cluster = stack.cluster(service).await?;
    cluster
        .nodes
        .into_iter()
        .find(|n| n.name == name)
        .with_context(|| format!("{name} is no node of {service}'s cluster"))
}

/// The node that is master of `key`'s slot in `service`'s cluster now.
pub async fn master_of(stack: &Stack, service: &str, key: &str) -> Result<Node> {
    let cluster = stack.cluster(service).await?;
    Ok(cluster::master_of(&cluster, key).await?)
}

/// Whether `key` may hold data in `service`'s cluster: its slot is not a witness slot.
pub async fn holds_data(stack: &Stack, service: &str, key: &str) -> Result<bool> {
    let cluster = stack.cluster(service).await?;
    Ok(cluster::holds_data(&cluster, key).await?)
}

/// The first key `make` makes that may hold data in `service`'s cluster ([`holds_data`]:
/// 2 slots in 16 384 do not, so a few tries at most).
pub async fn data_key(stack: &Stack, service: &str, make: impl Fn() -> String) -> Result<String> {
    for _ in 0..16 {
        let key = make();
        if holds_data(stack, service, &key).await? {
            return Ok(key);
        }
    }
    anyhow::bail!("no key made for {service} maps to a data slot")
}

/// The key under which `service` keeps the entity `id`: the one key of its cluster that
/// ends in `:<id>` (an order's hash is `order:{<bucket>}:<id>`). Found in the cluster
/// rather than built here, so that the probe never repeats a service's key format.
pub async fn key_of(stack: &Stack, service: &str, id: &str) -> Result<String> {
    let cluster = stack.cluster(service).await?;
    let keys = cluster::keys_matching(&cluster, &format!("*:{id}")).await?;
    match keys.as_slice() {
        [key] => Ok(key.clone()),
        _ => bail!("{service}'s cluster holds {keys:?} for {id}, not one key"),
    }
}

/// The replicas of the node `master` now.
pub async fn replicas_of(stack: &Stack, service: &str, master: &Node) -> Result<Vec<Node>> {
    let cluster = stack.cluster(service).await?;
    Ok(cluster::replicas_of(&cluster, master).await?)
}

/// The role `name` says it has now (`None`: it does not answer).
pub async fn role(stack: &Stack, name: &str) -> Option<Role> {
    node(stack, name).await.ok()?.probe().await.role()
}

/// The nodes of `service`'s cluster in `role` now.
pub async fn in_role(stack: &Stack, service: &str, role: Role) -> Result<Vec<Node>> {
    let cluster = stack.cluster(service).await?;
    Ok(cluster::in_role(&cluster, role).await)
}

/// Waits until `service`'s cluster is whole.
pub async fn wait_whole(stack: &Stack, service: &str) -> Result<()> {
    let cluster = stack.cluster(service).await?;
    Ok(cluster::wait_whole(&[cluster], WHOLE_BOUND, |_, _| {}).await?)
}

/// Waits until a node other than `old` is master of `key`'s slot (`old` was killed):
/// its replica took over. Returns how long that took.
pub async fn wait_takeover(stack: &Stack, service: &str, key: &str, old: &str) -> Result<Duration> {
    let start = Instant::now();
    loop {
        if let Ok(now) = master_of(stack, service, key).await {
            if now.name != old {
                return Ok(start.elapsed());
            }
        }
        if start.elapsed() > WHOLE_BOUND {
            bail!("no replica took over from {old} in {service}'s cluster within {WHOLE_BOUND:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
