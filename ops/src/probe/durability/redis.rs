//! The Redis-level parts of the durability probe: every node's persistence settings, and a
//! burst of replica-acknowledged writes (INCR, then WAIT 1) that must survive the SIGKILL of
//! the master holding them.

use super::{Log, SERVICES, WHOLE_BOUND};
use crate::probe::stack::Stack;
use crate::probe::tally::Tally;
use anyhow::{bail, Result};
use std::time::{Duration, Instant};

/// Every node of every cluster: `cluster-enabled yes`, `appendonly yes`, `appendfsync
/// <fsync>`.
pub async fn settings(stack: &Stack, fsync: &str, tally: &mut Tally) -> Result<()> {
    for service in SERVICES {
        let mut wrong = Vec::new();
        let nodes = stack.nodes(service).await?;
        for node in &nodes {
            for (name, expected) in [
                ("cluster-enabled", "yes"),
                ("appendonly", "yes"),
                ("appendfsync", fsync),
            ] {
                let got = stack.config_get(node, name).await?;
                if got != expected {
                    wrong.push(format!("{node}: {name} is {got:?}, not {expected}"));
                }
            }
        }
        tally.check(
            wrong.is_empty() && !nodes.is_empty(),
            format!(
                "settings: {} nodes of {service}'s cluster run cluster-enabled yes, appendonly yes, appendfsync {fsync} {wrong:?}",
                nodes.len()
            ),
        );
    }
    Ok(())
}

/// `count` INCRs of a fresh key in `service`'s cluster, each acknowledged by a replica
/// (WAIT 1 answers 1) before the next; then the master holding the key is SIGKILLed,
/// started again once its replica took over, and the key must hold `count`.
pub async fn burst(
    stack: &Stack,
    service: &'static str,
    count: usize,
    log: &Log,
    tally: &mut Tally,
) -> Result<()> {
    let key = format!("wdm:durability:{}", uuid::Uuid::new_v4().simple());
    let master = stack.master_of(service, &key).await?;
    log.line(&format!(
        "redis: {count} INCRs in {service}'s cluster, each acknowledged by a replica (WAIT 1), then SIGKILL of their master {master}"
    ));
    let mut connection = stack.connect(&master).await?;
    let mut unacknowledged = 0;
    for _ in 0..count {
        let _: i64 = redis::cmd("INCR").arg(&key).query_async(&mut connection).await?;
        let replicas: i64 = redis::cmd("WAIT")
            .arg(1)
            .arg(5000)
            .query_async(&mut connection)
            .await?;
        unacknowledged += usize::from(replicas != 1);
    }
    drop(connection);
    tally.check(
        unacknowledged == 0,
        format!("redis {service}: every one of {count} INCRs acknowledged by a replica ({unacknowledged} not)"),
    );
    stack.kill(&master).await?;
    let start = Instant::now();
    loop {
        match stack.master_of(service, &key).await {
            Ok(owner) if owner != master => break,
            _ if start.elapsed() > WHOLE_BOUND => {
                bail!("no replica took over from {master} within {WHOLE_BOUND:?}")
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    log.line(&format!(
        "redis: {master}'s replica took over within {:.1} s of the kill",
        start.elapsed().as_secs_f64()
    ));
    stack.start(&master).await?;
    stack.wait_whole(service, WHOLE_BOUND).await?;
    let owner = stack.master_of(service, &key).await?;
    let mut connection = stack.connect(&owner).await?;
    let got: Option<i64> = redis::cmd("GET").arg(&key).query_async(&mut connection).await?;
    tally.check(
        got == Some(count as i64),
        format!("redis {service}: {key} holds {got:?} after the kill and the failover, expected {count}"),
    );
    let _: i64 = redis::cmd("DEL").arg(&key).query_async(&mut connection).await?;
    Ok(())
}
