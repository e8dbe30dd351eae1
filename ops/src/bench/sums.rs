//! Exact sums over every key of a service's cluster: a Lua script (`lua/`, with
//! `lua/exact.lua` before it: exact past 2^53) runs once for each master's keys, and the
//! answers are added up value by value (every value of these scripts is a count or a sum, a
//! decimal string that may pass 2^63).
//!
//! A script over every key of a node blocks it for as long as it runs (1.5-2 s for the
//! order cluster after a benchmark), and a master that answers no ping for
//! `cluster-node-timeout` is failed over. So the script runs on a replica of the master
//! once that replica has everything the master had when asked (its replication offset),
//! and on the master itself only when it has no replica (a witness, or a topology without
//! replicas, where there is no one to fail over to).

use super::error::{Error, Result};
use crate::cluster::{self, rules::info_field, rules::Role};
use crate::stack::{Cluster, Node};
use std::time::Duration;

/// A script over many keys touches many slots, which a cluster node allows only with
/// `allow-cross-slot-keys` (the keys are all the node's own: SCAN lists only those); a
/// replica runs only scripts that say `no-writes`.
const FLAGS: &str = "#!lua flags=no-writes,allow-cross-slot-keys\n";
const EXACT: &str = include_str!("lua/exact.lua");
pub const FIELD_SUM: &str = include_str!("lua/field_sum.lua");
pub const ORDER_SUMS: &str = include_str!("lua/order_sums.lua");
pub const ACTIVE_SAGAS: &str = include_str!("lua/active_sagas.lua");
/// Around the script: its values as one comma-separated line, which a session (one line
/// per answer) can carry.
const BODY_START: &str = "local function body()\n";
const BODY_END: &str =
    "\nend\nlocal r = body()\nif type(r) ~= 'table' then r = {r} end\nreturn table.concat(r, ',')\n";

/// Bound on one script over every key of one node.
const SCRIPT_BOUND: Duration = Duration::from_secs(300);
/// Bound on a replica catching up with its master's offset.
const CATCH_UP_BOUND: Duration = Duration::from_secs(10);

/// Runs `script` with `args` over the keys of every master of `cluster` and adds up the
/// answers.
pub async fn on_masters(cluster: &Cluster, script: &str, args: &[String]) -> Result<Vec<i128>> {
    let masters = cluster::in_role(cluster, Role::Master).await;
    if masters.is_empty() {
        return Err(Error::Failed(format!(
            "no master of the {} cluster answers",
            cluster.service
        )));
    }
    let source = format!("{FLAGS}{EXACT}{BODY_START}{script}{BODY_END}");
    let mut answers = Vec::new();
    for master in &masters {
        let node = runner(cluster, master).await?;
        let sha = node.query(&["SCRIPT", "LOAD", &source]).await?;
        let mut call = vec!["EVALSHA".to_string(), sha.trim().to_string(), "0".into()];
        call.extend(args.iter().cloned());
        // READONLY: a replica serves its master's keys to this connection.
        let answer = node
            .session(&[vec!["READONLY".into()], call], SCRIPT_BOUND)
            .await?;
        let answer = answer.last().map(String::as_str).unwrap_or_default();
        answers.push(numbers(answer).ok_or_else(|| {
            Error::Failed(format!("{}: a script answered {answer:?}", node.name))
        })?);
    }
    add_up(&answers).ok_or_else(|| {
        Error::Failed(format!(
            "the masters of {} answered unlike",
            cluster.service
        ))
    })
}

/// The node that runs a script over `master`'s keys: a replica of it that has reached the
/// master's replication offset, else the master itself when it has no replica.
async fn runner(cluster: &Cluster, master: &Node) -> Result<Node> {
    let replicas = cluster::replicas_of(cluster, master).await?;
    if replicas.is_empty() {
        return Ok(master.clone());
    }
    let info = master.query(&["INFO", "replication"]).await?;
    let target: u64 = offset(&info, "master_repl_offset").ok_or_else(|| {
        Error::Failed(format!(
            "{}: INFO replication has no master_repl_offset",
            master.name
        ))
    })?;
    let deadline = tokio::time::Instant::now() + CATCH_UP_BOUND;
    loop {
        for replica in &replicas {
            let Ok(info) = replica.query(&["INFO", "replication"]).await else {
                continue;
            };
            if offset(&info, "slave_repl_offset").is_some_and(|o| o >= target) {
                return Ok(replica.clone());
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Error::Failed(format!(
                "no replica of {} reached its offset {target} within {CATCH_UP_BOUND:?}",
                master.name
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A numeric field of `INFO replication`.
fn offset(info: &str, field: &str) -> Option<u64> {
    info_field(info, field)?.parse().ok()
}

/// An answer's values, comma-separated.
fn numbers(answer: &str) -> Option<Vec<i128>> {
    answer.split(',').map(|v| v.trim().parse().ok()).collect()
}

/// The answers added up value by value (`None` when their lengths differ).
fn add_up(answers: &[Vec<i128>]) -> Option<Vec<i128>> {
    let len = answers.first()?.len();
    if answers.iter().any(|a| a.len() != len) {
        return None;
    }
    Some(
        (0..len)
            .map(|i| answers.iter().map(|a| a[i]).sum())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_add_up_exactly_past_two_to_the_63() {
        let a = numbers("2,9223372036854775807").unwrap();
        let b = numbers("3,9223372036854775807").unwrap();
        assert_eq!(add_up(&[a, b]), Some(vec![5, 18446744073709551614]));
        assert_eq!(numbers("-4").unwrap(), vec![-4]);
        assert_eq!(numbers("1,x"), None);
        assert_eq!(add_up(&[vec![1], vec![1, 2]]), None);
        assert_eq!(add_up(&[]), None);
    }
}
