//! The gateway passes of the durability probe: keyed writes through the gateway while the
//! master owning their entity's slot (pass "master"), or a replica of it (pass "replica"),
//! is SIGKILLed; then the values, a few repeats, and the victims back as replicas.

use super::writes::{self, acknowledged, KillAt, Pace, Stream};
use super::{DurabilityArgs, Log};
use crate::cluster::rules::Role;
use crate::fault::{self, Action};
use crate::probe::client::Gateway;
use crate::probe::nodes;
use crate::probe::tally::Tally;
use crate::stack::Stack;
use anyhow::{bail, Context, Result};
use futures::FutureExt;
use rand::seq::IndexedRandom;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The item and the user the writes go to.
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
            let id = answer.field(field).filter(|_| answer.is_2xx());
            ids.push(id.with_context(|| format!("{path} answered {answer}"))?);
        }
        let entities = Entities {
            user: ids.pop().unwrap_or_default(),
            item: ids.pop().unwrap_or_default(),
        };
        for (service, key) in entities.keys() {
            let owner = nodes::master_of(stack, service, &key).await?;
            log.line(&format!("{key} is owned by {}", owner.name));
        }
        Ok(entities)
    }

    /// (service, Redis key) of the item and of the user: keys are hash-tagged by id, so the
    /// slot of this key is the slot of every key of the entity.
    fn keys(&self) -> [(&'static str, String); 2] {
        [
            ("stock", format!("item:{{{}}}", self.item)),
            ("payment", format!("user:{{{}}}", self.user)),
        ]
    }

    /// The item's stock or the user's credit, as the gateway reads it.
    async fn value(&self, gateway: &Gateway, what: &str) -> Result<i64> {
        match what {
            "stock/add" => read(gateway, &format!("/stock/find/{}", self.item), "stock").await,
            _ => {
                read(
                    gateway,
                    &format!("/payment/find_user/{}", self.user),
                    "credit",
                )
                .await
            }
        }
    }
}

/// A read through the gateway, retried for a while (a read has no effect).
async fn read(gateway: &Gateway, path: &str, field: &str) -> Result<i64> {
    let mut last = None;
    for _ in 0..50 {
        let answer = gateway.get(path, Duration::from_secs(15)).await;
        if let Some(v) = answer.body()[field]
            .as_i64()
            .filter(|_| answer.code() == 200)
        {
            return Ok(v);
        }
        last = Some(answer);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!(
        "GET {path} kept failing: {}",
        last.map(|a| a.to_string()).unwrap_or_default()
    )
}

/// What each kind of write's entity holds before a pass (updated after it).
#[derive(Default)]
pub struct Totals(HashMap<&'static str, i64>);

/// One row of the summary table.
pub struct Row(Vec<String>);

/// A victim of a pass: the node, its cluster and the key it held (or its master held).
struct Victim {
    service: &'static str,
    key: String,
    node: String,
    role: Role,
}

/// One gateway pass.
pub struct Pass<'a> {
    /// "master" or "replica": whom it kills.
    pub label: &'static str,
    pub gateway: &'a Gateway,
    pub stack: &'a Stack,
    pub entities: &'a Entities,
    pub args: &'a DurabilityArgs,
    pub log: &'a Log,
}

impl Pass<'_> {
    fn role(&self) -> Role {
        if self.label == "master" {
            Role::Master
        } else {
            Role::Replica
        }
    }

    fn pace(&self) -> Pace {
        Pace {
            workers: self.args.writers,
            pass: Duration::from_secs(self.args.pass_secs),
            retry: Duration::from_secs(self.args.retry_secs),
        }
    }

    /// The node to kill for `key`: the master of its slot, or a replica of that master.
    /// Found before the writes start (nothing changes roles until the kill), so that the
    /// kill itself is only the signal and comes while the writes run.
    async fn victim(&self, service: &'static str, key: String) -> Result<Victim> {
        let owner = nodes::master_of(self.stack, service, &key).await?;
        let node = match self.role() {
            Role::Master => owner.name,
            Role::Replica => nodes::replicas_of(self.stack, service, &owner)
                .await?
                .choose(&mut rand::rng())
                .with_context(|| format!("{} has no replica to kill", owner.name))?
                .name
                .clone(),
        };
        Ok(Victim {
            service,
            key,
            node,
            role: self.role(),
        })
    }

    /// Runs the pass; returns its rows of the summary table.
    pub async fn run(&self, totals: &mut Totals, tally: &mut Tally) -> Result<Vec<Row>> {
        let (label, args) = (self.label, self.args);
        self.log.line(&format!(
            "pass '{label}': {} writes of each kind, {} writers",
            args.per_pass, args.writers
        ));
        let streams = [
            ("stock/add", format!("/stock/add/{}/1", self.entities.item)),
            (
                "payment/add_funds",
                format!("/payment/add_funds/{}/1", self.entities.user),
            ),
        ]
        .map(|(what, path)| Arc::new(Stream::new(what, path, args.per_pass)));
        let mut victims = Vec::new();
        for (service, key) in self.entities.keys() {
            victims.push(self.victim(service, key).await?);
        }
        // The item's victim once a third of the stock writes are acknowledged, the user's
        // at two thirds of the payment writes.
        let kills = victims
            .iter()
            .zip(&streams)
            .enumerate()
            .map(|(n, (victim, stream))| KillAt {
                stream: stream.clone(),
                share: (n + 1) as f64 / 3.0,
                kill: async move {
                    fault::act(self.stack, Action::Kill, &victim.node).await?;
                    Ok(format!("{} ({})", victim.node, victim.role))
                }
                .boxed(),
            })
            .collect();
        let (start, killed) =
            writes::run(self.gateway, &streams, kills, self.pace(), self.log.0).await?;

        let mut rows = Vec::new();
        for (stream, victim) in streams.iter().zip(killed) {
            let mut row = self.judge(stream, totals, tally).await?;
            row.0.insert(2, victim);
            row.0
                .push(format!("{:.2}", stream.longest_pause(start).as_secs_f64()));
            rows.push(row);
        }
        for victim in &victims {
            self.bring_back(victim, tally).await?;
        }
        for (row, stream) in rows.iter_mut().zip(&streams) {
            let got = self.entities.value(self.gateway, stream.what).await?;
            let expected = totals.0[stream.what];
            tally.check(
                got == expected,
                format!(
                    "{label} {}: value {got} == {expected} after the victim is back",
                    stream.what
                ),
            );
            row.0.push(got.to_string());
        }
        Ok(rows)
    }

    /// The checks of one stream after its writes: every write acknowledged, the value the
    /// sum of the acknowledged writes, repeats with their keys changing nothing. Returns
    /// its row so far.
    async fn judge(&self, stream: &Stream, totals: &mut Totals, tally: &mut Tally) -> Result<Row> {
        let (label, what) = (self.label, stream.what);
        let sent = stream.tally();
        let refused: Vec<String> = sent
            .refused
            .iter()
            .take(3)
            .map(|(k, a)| format!("{k}: {a}"))
            .collect();
        tally.check(
            sent.refused.is_empty(),
            format!(
                "{label} {what}: every write acknowledged within {} s ({} not: {refused:?})",
                self.args.retry_secs,
                sent.refused.len()
            ),
        );
        let total = totals.0.entry(what).or_insert(0);
        *total += stream.acked() as i64;
        let expected = *total;
        let got = self.entities.value(self.gateway, what).await?;
        tally.check(
            got == expected,
            format!("{label} {what}: value {got} == {expected} acknowledged, each once"),
        );
        let repeats: Vec<&String> = stream.keys.choose_multiple(&mut rand::rng(), 5).collect();
        let mut answers = Vec::new();
        for key in &repeats {
            let (_, answer) =
                acknowledged(self.gateway, &stream.path, key, self.pace().retry).await;
            answers.push(answer.code());
        }
        let after = self.entities.value(self.gateway, what).await?;
        tally.check(
            answers.iter().all(|a| (200..300).contains(a)) && after == expected,
            format!(
                "{label} {what}: {} repeats with their keys answered {answers:?}, value still {expected}",
                repeats.len()
            ),
        );
        Ok(Row(vec![
            label.to_string(),
            what.to_string(),
            stream.acked().to_string(),
            sent.retried.to_string(),
            sent.attempts.to_string(),
            got.to_string(),
            expected.to_string(),
        ]))
    }

    /// Starts a victim again (a master only once its replica took over: started before the
    /// cluster noticed, it would simply be the master again) and checks that it rejoined
    /// its whole cluster as a replica.
    async fn bring_back(&self, victim: &Victim, tally: &mut Tally) -> Result<()> {
        if victim.role == Role::Master {
            nodes::wait_takeover(self.stack, victim.service, &victim.key, &victim.node).await?;
        }
        self.log.line(&format!("starting {} again", victim.node));
        fault::act(self.stack, Action::Start, &victim.node).await?;
        nodes::wait_whole(self.stack, victim.service).await?;
        let now = nodes::role(self.stack, &victim.node).await;
        tally.check(
            now == Some(Role::Replica),
            format!(
                "{}: {} rejoined {}'s cluster as a replica ({})",
                self.label,
                victim.node,
                victim.service,
                now.map_or("no answer".to_string(), |r| r.to_string())
            ),
        );
        Ok(())
    }
}

pub fn print_table(rows: &[Row]) {
    let head = Row([
        "pass",
        "write",
        "victim (role)",
        "acked",
        "retried",
        "attempts",
        "value",
        "expected",
        "pause s",
        "after restart",
    ]
    .map(String::from)
    .to_vec());
    let all: Vec<&Row> = std::iter::once(&head).chain(rows).collect();
    let widths: Vec<usize> = (0..head.0.len())
        .map(|i| {
            all.iter()
                .map(|r| r.0.get(i).map_or(0, String::len))
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in all {
        let cells: Vec<String> = row
            .0
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:<w$}"))
            .collect();
        println!("{}", cells.join("  ").trim_end());
    }
}
