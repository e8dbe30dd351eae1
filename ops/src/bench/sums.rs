//! Exact sums over every key of a service's cluster: a Lua script (`lua/`, with
//! `lua/exact.lua` before it: exact past 2^53) runs on each master, whose keys are its own,
//! and the answers are added up value by value (every value of these scripts is a count or
//! a sum, a decimal string that may pass 2^63).

use super::error::{Error, Result};
use crate::cluster::{self, rules::Role};
use crate::stack::Cluster;
use std::time::Duration;

/// A script over many keys touches many slots, which a cluster node allows only with this
/// flag (the keys are all the node's own: SCAN lists only those).
const FLAGS: &str = "#!lua flags=allow-cross-slot-keys\n";
const EXACT: &str = include_str!("lua/exact.lua");
pub const FIELD_SUM: &str = include_str!("lua/field_sum.lua");
pub const ORDER_SUMS: &str = include_str!("lua/order_sums.lua");
pub const ACTIVE_SAGAS: &str = include_str!("lua/active_sagas.lua");

/// Bound on one script over every key of one node.
const SCRIPT_BOUND: Duration = Duration::from_secs(300);

/// Runs `script` with `args` on every master of `cluster` and adds up the answers.
pub async fn on_masters(cluster: &Cluster, script: &str, args: &[String]) -> Result<Vec<i128>> {
    let masters = cluster::in_role(cluster, Role::Master).await;
    if masters.is_empty() {
        return Err(Error::Failed(format!(
            "no master of the {} cluster answers",
            cluster.service
        )));
    }
    let source = format!("{FLAGS}{EXACT}{script}");
    let mut answers = Vec::new();
    for node in &masters {
        let sha = node.query(&["SCRIPT", "LOAD", &source]).await?;
        let mut call = vec!["EVALSHA", sha.trim(), "0"];
        call.extend(args.iter().map(String::as_str));
        let answer = node.query_within(&call, SCRIPT_BOUND).await?;
        answers.push(numbers(&answer).ok_or_else(|| {
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

/// An answer's values, one per line.
fn numbers(answer: &str) -> Option<Vec<i128>> {
    answer.lines().map(|l| l.trim().parse().ok()).collect()
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
        let a = numbers("2\n9223372036854775807").unwrap();
        let b = numbers("3\n9223372036854775807").unwrap();
        assert_eq!(add_up(&[a, b]), Some(vec![5, 18446744073709551614]));
        assert_eq!(numbers("-4").unwrap(), vec![-4]);
        assert_eq!(numbers("1\nx"), None);
        assert_eq!(add_up(&[vec![1], vec![1, 2]]), None);
        assert_eq!(add_up(&[]), None);
    }
}
