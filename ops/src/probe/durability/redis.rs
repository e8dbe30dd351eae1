//! The Redis-level parts of the durability probe: every node's persistence settings, and a
//! burst of replica-acknowledged writes (INCR, then WAIT 1) that must survive the SIGKILL of
//! the master holding them.

use super::{Log, SERVICES};
use crate::fault::{self, Action};
use crate::probe::nodes;
use crate::probe::tally::Tally;
use crate::stack::Stack;
use anyhow::Result;
use std::time::Duration;

/// Bound on one node's whole burst (a WAIT waits 5 s at most).
const BURST_BOUND: Duration = Duration::from_secs(300);

/// Every node of every cluster: `cluster-enabled yes`, `appendonly yes`, `appendfsync
/// <fsync>`.
pub async fn settings(stack: &Stack, fsync: &str, tally: &mut Tally) -> Result<()> {
    for service in SERVICES {
        let mut wrong = Vec::new();
        let cluster = stack.cluster(service).await?;
        for node in &cluster.nodes {
            for (name, expected) in [
                ("cluster-enabled", "yes"),
                ("appendonly", "yes"),
                ("appendfsync", fsync),
            ] {
                // CONFIG GET answers the name, then the value.
                let answer = node.query(&["CONFIG", "GET", name]).await?;
                let got = answer.lines().nth(1).unwrap_or_default().trim().to_string();
                if got != expected {
                    wrong.push(format!("{}: {name} is {got:?}", node.name));
                }
            }
        }
        tally.check(
            wrong.is_empty() && !cluster.nodes.is_empty(),
            format!(
                "settings: the {} nodes of {service}'s cluster run with cluster-enabled yes, \
                 appendonly yes, appendfsync {fsync} {wrong:?}",
                cluster.nodes.len()
            ),
        );
    }
    Ok(())
}

/// `count` INCRs of a fresh key in `service`'s cluster over one connection, each followed by
/// `WAIT 1 5000` (a replica has it); then the master holding the key is SIGKILLed, started
/// again once its replica took over, and the key must hold `count`.
pub async fn burst(
    stack: &Stack,
    service: &'static str,
    count: usize,
    log: &Log,
    tally: &mut Tally,
) -> Result<()> {
    let key = nodes::data_key(stack, service, || {
        format!("wdm:durability:{{{}}}", uuid::Uuid::new_v4().simple())
    })
    .await?;
    let master = nodes::master_of(stack, service, &key).await?;
    log.line(&format!(
        "redis: {count} INCRs in {service}'s cluster, each acknowledged by a replica (WAIT 1), \
         then SIGKILL of their master {}",
        master.name
    ));
    let incr = vec!["INCR".to_string(), key.clone()];
    let wait = ["WAIT", "1", "5000"].map(String::from).to_vec();
    let commands: Vec<Vec<String>> = (0..count)
        .flat_map(|_| [incr.clone(), wait.clone()])
        .collect();
    let answers = master.session(&commands, BURST_BOUND).await?;
    let waits: Vec<&String> = answers.iter().skip(1).step_by(2).collect();
    // WAIT answers how many replicas have the write: at least the one asked for.
    let unacknowledged = waits
        .iter()
        .filter(|a| !a.trim().parse::<u32>().is_ok_and(|n| n >= 1))
        .count();
    tally.check(
        waits.len() == count && unacknowledged == 0,
        format!(
            "redis {service}: each of {count} INCRs acknowledged by a replica \
             ({} answers, {unacknowledged} WAITs below 1)",
            waits.len()
        ),
    );
    fault::act(stack, Action::Kill, &master.name).await?;
    let took = nodes::wait_takeover(stack, service, &key, &master.name).await?;
    log.line(&format!(
        "redis: {}'s replica took over within {:.1} s of the kill",
        master.name,
        took.as_secs_f64()
    ));
    fault::act(stack, Action::Start, &master.name).await?;
    nodes::wait_whole(stack, service).await?;
    let owner = nodes::master_of(stack, service, &key).await?;
    let got = owner.query(&["GET", &key]).await?;
    tally.check(
        got.trim() == count.to_string(),
        format!("redis {service}: {key} holds {got:?} after the kill and the failover, expected {count}"),
    );
    owner.query(&["DEL", &key]).await?;
    Ok(())
}
