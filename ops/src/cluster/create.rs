//! Making a cluster of fresh nodes: slots to the masters (`CLUSTER ADDSLOTSRANGE`), every
//! node introduced to the first (`CLUSTER MEET`), each replica set to follow its master
//! (`CLUSTER REPLICATE`), as [`rules::layout`] lays them out. Works for any number of
//! masters (`redis-cli --cluster create` refuses fewer than three). It never touches a
//! cluster that exists, and refuses one whose nodes are only partly fresh.

use super::{probe, rules};
use crate::error::{Error, Result};
use crate::stack::Cluster;
use rules::{Freshness, Probe, Topology};
use std::fmt;
use std::time::{Duration, Instant};

/// How long the nodes may take to answer, and the cluster to take its shape.
const BOUND: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(100);

/// What `create` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    New(Topology),
    Existed,
}

impl fmt::Display for Created {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Created::New(t) => write!(f, "created ({t})"),
            Created::Existed => f.write_str("exists"),
        }
    }
}

/// Creates `cluster` when all its nodes are fresh, does nothing when none is, and fails
/// when only some are (a data folder was removed: start over with empty ones). It does
/// not wait until the new cluster is whole (`wait_whole` does).
pub async fn create(cluster: &Cluster) -> Result<Created> {
    let name = &cluster.service;
    let probes = answering(cluster).await?;
    match rules::freshness(&probes) {
        Freshness::Created => return Ok(Created::Existed),
        Freshness::Mixed { fresh } => {
            return Err(Error::State(format!(
                "cluster {name}: {fresh} of its {} nodes are fresh and the others are not: \
                 not creating it (start over with empty data folders)",
                probes.len()
            )))
        }
        Freshness::AllFresh => {}
    }
    let nodes = &cluster.nodes;
    if nodes.len() != cluster.topology.nodes() {
        return Err(Error::Invalid(format!(
            "cluster {name} has {} nodes, {} needs {}",
            nodes.len(),
            cluster.topology,
            cluster.topology.nodes()
        )));
    }
    let layout = rules::layout(cluster.topology);
    for &(i, first, last) in &layout.slots {
        let (first, last) = (first.to_string(), last.to_string());
        expect_ok(
            nodes[i]
                .query(&["CLUSTER", "ADDSLOTSRANGE", &first, &last])
                .await?,
        )?;
    }
    let (ip, port) = nodes[0].meet_addr().await?;
    let port = port.to_string();
    for node in &nodes[1..] {
        expect_ok(node.query(&["CLUSTER", "MEET", &ip, &port]).await?)?;
    }
    // A replica can only follow a master it knows.
    until(
        &format!("every node of {name} knows the others"),
        move || async move {
            probe(cluster)
                .await
                .iter()
                .all(|p| p.view().len() == nodes.len())
        },
    )
    .await?;
    for &(replica, master) in &layout.replicas {
        let id = nodes[master].query(&["CLUSTER", "MYID"]).await?;
        let id = id.trim();
        let what = format!("{} follows {}", nodes[replica].name, nodes[master].name);
        until(&what, move || async move {
            let answer = nodes[replica].query(&["CLUSTER", "REPLICATE", id]).await;
            answer.is_ok_and(|a| a.trim() == "OK")
        })
        .await?;
    }
    Ok(Created::New(cluster.topology))
}

/// Every node's probe once all of them answer.
async fn answering(cluster: &Cluster) -> Result<Vec<Probe>> {
    let start = Instant::now();
    loop {
        let probes = probe(cluster).await;
        match probes.iter().find(|p| !p.ping) {
            None => return Ok(probes),
            Some(silent) if start.elapsed() > BOUND => {
                return Err(Error::State(format!(
                    "{} does not answer after {}s",
                    silent.name,
                    BOUND.as_secs()
                )))
            }
            Some(_) => tokio::time::sleep(POLL).await,
        }
    }
}

async fn until<F, Fut>(what: &str, done: F) -> Result<()>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !done().await {
        if start.elapsed() > BOUND {
            return Err(Error::State(format!(
                "not done after {}s: {what}",
                BOUND.as_secs()
            )));
        }
        tokio::time::sleep(POLL).await;
    }
    Ok(())
}

fn expect_ok(answer: String) -> Result<()> {
    if answer.trim() == "OK" {
        Ok(())
    } else {
        Err(Error::State(format!("expected OK, got {answer:?}")))
    }
}
