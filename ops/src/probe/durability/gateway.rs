//! The gateway passes of the durability probe: keyed writes through the gateway while the
//! master owning their entity's slot (pass "master"), or a replica of it (pass "replica"),
//! is SIGKILLed; then the values, a few repeats, and the victims back as replicas.

use super::writes::{self, acknowledged, KillAt, Pace, Stream};
use super::{DurabilityArgs, Log, WHOLE_BOUND};
use crate::probe::client::Gateway;
use crate::probe::stack::Stack;
use crate::probe::tally::Tally;
use anyhow::{bail, Context, Result};
use futures::FutureExt;
use rand::seq::IndexedRandom;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The item and the user the writes go to, with the cluster and key each lives at.
pub struct Entities {
    item: String,
    user: String,
}

impl Entities {
    pub async fn create(gateway: &Gateway, stack: &Stack, log: &Log) -> Result<Entities> {
        let retry = Duration::from_secs(30);
        let mut ids = Vec::new();
        for (path, field) in [
            ("/stock/item/create/1", "item_id"),
            ("/payment/create_user", "user_id"),
        ] {
            let key = format!("durability-{}", uuid::Uuid::new_v4());
            let (_, answer) = acknowledged(gateway, path, &key, retry).await;
            if !answer.is_2xx() {
                bail!("{path} answered {answer}");
            }
            ids.push(answer.field(field).with_context(|| format!("{path}: no {field}"))?);
        }
        let entities = Entities {
            user: ids.pop().unwrap_or_default(),
            item: ids.pop().unwrap_or_default(),
        };
        for (service, key) in entities.targets() {
            let owner = stack.master_of(service, &key).await?;
            log.line(&format!("{key} is in slot {}, owned by {owner}", crate::cluster::key_slot(&key)));
        }
        Ok(entities)
    }

    /// (service, Redis key) of the item and of the user (keys are hash-tagged by id).
    fn targets(&self) -> [(&'static str, String); 2] {
        [
            ("stock", format!("item:{{{}}}", self.item)),
            ("payment", format!("user:{{{}}}", self.user)),
        ]
    }

    async fn value(&self, gateway: &Gateway, what: &str) -> Result<i64> {
        match what {
            "stock/add" => read(gateway, &format!("/stock/find/{}", self.item), "stock").await,
            _ => read(gateway, &format!("/payment/find_user/{}", self.user), "credit").await,
        }
    }
}

/// A read through the gateway, retried for a while (a read has no effect).
async fn read(gateway: &Gateway, path: &str, field: &str) -> Result<i64> {
    let mut last = None;
    for _ in 0..50 {
        let answer = gateway.get(path, Duration::from_secs(15)).await;
        if answer.code() == 200 {
            if let Some(v) = answer.body()[field].as_i64() {
                return Ok(v);
            }
        }
        last = Some(answer);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!("GET {path} kept failing: {}", last.map(|a| a.to_string()).unwrap_or_default())
}

/// What each kind of write's entity holds before a pass (updated after it).
#[derive(Default)]
pub struct Totals(HashMap<&'static str, i64>);

/// One row of the summary table.
pub struct Row {
    cells: Vec<String>,
}

/// A victim of the pass: the node, its cluster, the key it held (or the master of it),
/// its role when it was chosen.
struct Victim {
    service: &'static str,
    key: String,
    node: String,
    was_master: bool,
}

#[allow(clippy::too_many_arguments)]
pub async fn one_pass(
    gateway: &Gateway,
    stack: &Stack,
    entities: &Entities,
    label: &str,
    args: &DurabilityArgs,
    totals: &mut Totals,
    log: &Log,
    tally: &mut Tally,
) -> Result<Vec<Row>> {
    log.line(&format!(
        "pass '{label}': {} writes of each kind, {} writers",
        args.per_pass, args.writers
    ));
    let streams = [
        Arc::new(Stream::new("stock/add", format!("/stock/add/{}/1", entities.item), args.per_pass)),
        Arc::new(Stream::new(
            "payment/add_funds",
            format!("/payment/add_funds/{}/1", entities.user),
            args.per_pass,
        )),
    ];
    // Found before the writes start (nothing changes roles until the kill), so that the
    // kill itself is only the signal and comes while the writes run.
    let mut victims = Vec::new();
    let mut kills = Vec::new();
    for (n, (service, key)) in entities.targets().into_iter().enumerate() {
        let owner = stack.master_of(service, &key).await?;
        let node = if label == "master" {
            owner
        } else {
            let replicas = stack.replicas_of(service, &owner).await?;
            replicas
                .choose(&mut rand::rng())
                .with_context(|| format!("{owner} has no replica to kill"))?
                .clone()
        };
        let was_master = label == "master";
        let share = (n + 1) as f64 / 3.0;
        let (stack_for_kill, name) = (stack.clone(), node.clone());
        let role = if was_master { "master" } else { "replica" };
        kills.push(KillAt {
            stream: streams[n].clone(),
            share,
            kill: async move {
                stack_for_kill.kill(&name).await?;
                Ok(format!("{name} ({role})"))
            }
            .boxed(),
        });
        victims.push(Victim { service, key, node, was_master });
    }
    let pace = Pace {
        workers: args.writers,
        pass: Duration::from_secs(args.pass_secs),
        retry: Duration::from_secs(args.retry_secs),
    };
    let (start, killed) = writes::run(gateway, &streams, kills, pace, log.0).await?;

    let mut rows = Vec::new();
    for (stream, victim) in streams.iter().zip(&killed) {
        let tally_of = stream.tally();
        tally.check(
            tally_of.refused.is_empty(),
            format!(
                "{label} {}: every write acknowledged within {} s ({} not: {:?})",
                stream.what,
                args.retry_secs,
                tally_of.refused.len(),
                tally_of.refused.iter().take(3).map(|(k, a)| format!("{k}: {a}")).collect::<Vec<_>>()
            ),
        );
        let total = totals.0.entry(stream.what).or_insert(0);
        *total += stream.acked() as i64;
        let expected = *total;
        let got = entities.value(gateway, stream.what).await?;
        tally.check(
            got == expected,
            format!("{label} {}: value {got} == {expected} acknowledged, each once", stream.what),
        );
        let repeats: Vec<&String> = stream.keys.choose_multiple(&mut rand::rng(), 5).collect();
        let mut answers = Vec::new();
        for key in &repeats {
            answers.push(acknowledged(gateway, &stream.path, key, pace.retry).await.1.code());
        }
        let after = entities.value(gateway, stream.what).await?;
        tally.check(
            answers.iter().all(|a| (200..300).contains(a)) && after == expected,
            format!(
                "{label} {}: {} repeats with their keys answered {answers:?}, value still {expected}",
                stream.what,
                repeats.len()
            ),
        );
        rows.push(Row {
            cells: vec![
                label.to_string(),
                stream.what.to_string(),
                victim.clone(),
                stream.acked().to_string(),
                tally_of.retried.to_string(),
                tally_of.attempts.to_string(),
                got.to_string(),
                expected.to_string(),
                format!("{:.2}", stream.longest_pause(start).as_secs_f64()),
            ],
        });
    }
    for victim in &victims {
        if victim.was_master {
            // Started before the cluster noticed, it would simply be the master again.
            wait_failover(stack, victim).await?;
        }
        log.line(&format!("starting {} again", victim.node));
        stack.start(&victim.node).await?;
        stack.wait_whole(victim.service, WHOLE_BOUND).await?;
        let now = stack.role(&victim.node).await;
        tally.check(
            now == Some(crate::cluster::Role::Replica),
            format!(
                "{label}: {} rejoined {}'s cluster as a replica ({})",
                victim.node,
                victim.service,
                now.map_or("no answer".to_string(), |r| r.to_string())
            ),
        );
    }
    for (row, stream) in rows.iter_mut().zip(&streams) {
        let got = entities.value(gateway, stream.what).await?;
        let expected = totals.0[stream.what];
        tally.check(
            got == expected,
            format!("{label} {}: value {got} == {expected} after the victim is back", stream.what),
        );
        row.cells.push(got.to_string());
    }
    Ok(rows)
}

/// Waits until another node is master of the victim's key's slot.
pub(super) async fn wait_failover(stack: &Stack, victim: &Victim) -> Result<()> {
    let start = Instant::now();
    loop {
        if let Ok(owner) = stack.master_of(victim.service, &victim.key).await {
            if owner != victim.node {
                return Ok(());
            }
        }
        if start.elapsed() > WHOLE_BOUND {
            bail!(
                "no failover of {} in {}'s cluster after {WHOLE_BOUND:?}",
                victim.node,
                victim.service
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub fn print_table(rows: &[Row]) {
    let head: Vec<String> = [
        "pass", "write", "victim (role)", "acked", "retried", "attempts", "value", "expected",
        "pause s", "after restart",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let all: Vec<&Vec<String>> = std::iter::once(&head).chain(rows.iter().map(|r| &r.cells)).collect();
    let widths: Vec<usize> = (0..head.len())
        .map(|i| all.iter().map(|r| r.get(i).map_or(0, String::len)).max().unwrap_or(0))
        .collect();
    for row in all {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:<w$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
}
