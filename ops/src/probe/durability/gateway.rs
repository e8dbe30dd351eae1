//! The gateway passes of the durability probe: keyed writes through the gateway while the
//! shard owning their entity's slot meets the pass's fault (a kill of its master or of a
//! replica, a pause of its master, or a replica killed and started again just before its
//! master is killed or paused); then the values, a few repeats, and the victims back in
//! their whole cluster.

use super::writes::{self, acknowledged, FaultAt, Pace, Stream};
use super::{DurabilityArgs, Log, Pass as Kind};
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

/// The item, the user and the order the writes go to, and the order's key in its
/// cluster.
pub struct Entities {
    item: String,
    user: String,
    order: String,
    order_key: String,
}

impl Entities {
    pub async fn create(gateway: &Gateway, stack: &Stack, log: &Log) -> Result<Entities> {
        let mut ids = Vec::new();
        for (path, field, service, prefix) in [
            ("/stock/item/create/1", "item_id", "stock", "item"),
            ("/payment/create_user", "user_id", "payment", "user"),
        ] {
            // An entity whose id is its own hash tag (the services move the tag of an id
            // in a witness slot, 2 in 16 384): then `keys` names its slot.
            for _ in 0..16 {
                let id = created(gateway, path, field).await?;
                if nodes::holds_data(stack, service, &format!("{prefix}:{{{id}}}")).await? {
                    ids.push(id);
                    break;
                }
            }
        }
        anyhow::ensure!(
            ids.len() == 2,
            "no item or user whose id is its own hash tag"
        );
        let (user, item) = (ids.pop().unwrap_or_default(), ids.pop().unwrap_or_default());
        // An order of the user, to add the item to: its keys are tagged by a bucket of
        // order ids, never a witness slot (order's tests check it).
        let order = created(gateway, &format!("/orders/create/{user}"), "order_id").await?;
        let order_key = nodes::key_of(stack, "order", &order).await?;
        let entities = Entities {
            item,
            user,
            order,
            order_key,
        };
        for target in entities.targets() {
            let owner = nodes::master_of(stack, target.service, &target.key).await?;
            log.line(&format!("{} is owned by {}", target.key, owner.name));
        }
        Ok(entities)
    }

    /// What each kind of write hits: the item's stock, the user's credit, the order's
    /// total (the item costs 1, so each line adds 1). Keys are hash-tagged, so the slot of
    /// `key` is the slot of every key of the entity.
    fn targets(&self) -> [Target; 3] {
        [
            Target {
                service: "stock",
                key: format!("item:{{{}}}", self.item),
                what: "stock/add",
                write: format!("/stock/add/{}/1", self.item),
                read: format!("/stock/find/{}", self.item),
                field: "stock",
            },
            Target {
                service: "payment",
                key: format!("user:{{{}}}", self.user),
                what: "payment/add_funds",
                write: format!("/payment/add_funds/{}/1", self.user),
                read: format!("/payment/find_user/{}", self.user),
                field: "credit",
            },
            Target {
                service: "order",
                key: self.order_key.clone(),
                what: "orders/addItem",
                write: format!("/orders/addItem/{}/{}/1", self.order, self.item),
                read: format!("/orders/find/{}", self.order),
                field: "total_cost",
            },
        ]
    }

    /// The value the writes called `what` add to, as the gateway reads it.
    async fn value(&self, gateway: &Gateway, what: &str) -> Result<i64> {
        let target = self.targets().into_iter().find(|t| t.what == what);
        let target = target.with_context(|| format!("no write is called {what}"))?;
        read(gateway, &target.read, target.field).await
    }
}

/// One kind of write of a pass: the entity it adds 1 to, where that lives, how it is read.
struct Target {
    /// The cluster of the entity and its Redis key.
    service: &'static str,
    key: String,
    /// The write's name, and its path (keyed POST).
    what: &'static str,
    write: String,
    /// The read of its value: path and field.
    read: String,
    field: &'static str,
}

/// Creates an entity with a keyed POST to `path`, repeated with its key until answered
/// (30 s at most); its id is the answer's `field`.
async fn created(gateway: &Gateway, path: &str, field: &str) -> Result<String> {
    let key = format!("durability-{}", uuid::Uuid::new_v4());
    let (_, answer) = acknowledged(gateway, path, &key, Duration::from_secs(30)).await;
    let id = answer.field(field).filter(|_| answer.is_2xx());
    id.with_context(|| format!("{path} answered {answer}"))
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

/// The shard a pass hits: its cluster, the key it holds, its master and (for the passes
/// that hit one) the replica.
struct Victim {
    service: &'static str,
    key: String,
    master: String,
    replica: Option<String>,
}

/// One gateway pass.
pub struct Pass<'a> {
    /// What it does to the shard.
    pub kind: Kind,
    pub gateway: &'a Gateway,
    pub stack: &'a Stack,
    pub entities: &'a Entities,
    pub args: &'a DurabilityArgs,
    pub log: &'a Log,
}

impl Pass<'_> {
    /// The pass's name, as `--passes` spells it.
    fn label(&self) -> String {
        clap::ValueEnum::to_possible_value(&self.kind)
            .map_or_else(String::new, |v| v.get_name().to_string())
    }

    /// Whether the pass kills a replica before the writes and starts it again just before
    /// the master's fault.
    fn sequence(&self) -> bool {
        matches!(self.kind, Kind::Sequence | Kind::SequencePause)
    }

    fn pace(&self) -> Pace {
        Pace {
            workers: self.args.writers,
            pass: Duration::from_secs(self.args.pass_secs),
            retry: Duration::from_secs(self.args.retry_secs),
        }
    }

    /// The shard of `key`: the master of its slot and, when the pass hits one, a replica
    /// of it. Found before the writes start (nothing changes roles until the fault), so
    /// that the fault itself is only the signal and comes while the writes run.
    async fn victim(&self, service: &'static str, key: String) -> Result<Victim> {
        let owner = nodes::master_of(self.stack, service, &key).await?;
        let replica = match self.kind {
            Kind::Replica | Kind::Sequence | Kind::SequencePause => Some(
                nodes::replicas_of(self.stack, service, &owner)
                    .await?
                    .choose(&mut rand::rng())
                    .with_context(|| format!("{} has no replica", owner.name))?
                    .name
                    .clone(),
            ),
            _ => None,
        };
        Ok(Victim {
            service,
            key,
            master: owner.name,
            replica,
        })
    }

    /// How long the pass freezes its `n`th victim: the lengths of `--pause-secs` in turn,
    /// each pausing pass starting one further along the list.
    fn pause(&self, n: usize) -> Duration {
        let lengths = &self.args.pause_secs;
        let start = match self.kind {
            Kind::SequencePause => 1,
            Kind::ServicePause => 2,
            _ => 0,
        };
        let secs = lengths.get((n + start) % lengths.len().max(1));
        Duration::from_secs_f64(secs.copied().unwrap_or(4.0).max(0.0))
    }

    /// The fault that comes while the writes run to the pass's `n`th victim; answers what it
    /// did.
    async fn fault(&self, victim: &Victim, n: usize) -> Result<String> {
        let (stack, master) = (self.stack, victim.master.as_str());
        let replica = victim.replica.as_deref().unwrap_or_default();
        let pause = self.pause(n);
        // Does `first` to `node`, waits `secs`, then does `then`.
        let for_a_while = |first, node: String, secs: Duration, then| async move {
            fault::act(stack, first, &node).await?;
            tokio::time::sleep(secs).await;
            fault::act(stack, then, &node).await
        };
        if self.sequence() {
            fault::act(stack, Action::Launch, replica).await?;
        }
        let what = match self.kind {
            Kind::Replica => {
                fault::act(stack, Action::Kill, replica).await?;
                format!("kill {replica} (replica)")
            }
            Kind::Master | Kind::Sequence => {
                fault::act(stack, Action::Kill, master).await?;
                format!("kill {master} (master)")
            }
            Kind::Pause | Kind::SequencePause => {
                for_a_while(Action::Pause, master.into(), pause, Action::Resume).await?;
                format!("pause {master} (master) {} s", pause.as_secs_f64())
            }
            Kind::Partition => {
                let cut = Duration::from_secs(self.args.partition_secs);
                for_a_while(Action::Isolate, master.into(), cut, Action::Heal).await?;
                format!("cut {master} (master) off {} s", cut.as_secs())
            }
            Kind::Split => {
                let cut = Duration::from_secs(self.args.partition_secs);
                for_a_while(Action::Split, master.into(), cut, Action::Heal).await?;
                format!(
                    "split {master} (master) from its cluster {} s",
                    cut.as_secs()
                )
            }
            Kind::ServicePause => {
                let node = format!("{}-1", victim.service);
                for_a_while(Action::Pause, node.clone(), pause, Action::Resume).await?;
                format!("pause {node} (service) {} s", pause.as_secs_f64())
            }
            Kind::Settings | Kind::Redis => unreachable!("no gateway pass"),
        };
        Ok(match self.sequence() {
            true => format!("{replica} back, {what}"),
            false => what,
        })
    }

    /// Runs the pass; returns its rows of the summary table.
    pub async fn run(&self, totals: &mut Totals, tally: &mut Tally) -> Result<Vec<Row>> {
        let (label, args) = (self.label(), self.args);
        self.log.line(&format!(
            "pass '{label}': {} writes of each kind, {} writers of each",
            args.per_pass, args.writers
        ));
        let targets = self.entities.targets();
        let streams = targets
            .iter()
            .map(|t| Arc::new(Stream::new(t.what, t.write.clone(), args.per_pass)))
            .collect::<Vec<_>>();
        let mut victims = Vec::new();
        for target in targets {
            victims.push(self.victim(target.service, target.key).await?);
        }
        if self.sequence() {
            // The first fault: the master's writes go on with its other replica.
            for replica in victims.iter().filter_map(|v| v.replica.as_deref()) {
                self.log
                    .line(&format!("killing {replica} before the writes"));
                fault::act(self.stack, Action::Kill, replica).await?;
            }
        }
        // The item's shard's fault once a quarter of the stock writes are acknowledged,
        // the user's at half the payment writes, the order's at three quarters of its own.
        let faults = victims
            .iter()
            .zip(&streams)
            .enumerate()
            .map(|(n, (victim, stream))| FaultAt {
                stream: stream.clone(),
                share: (n + 1) as f64 / (victims.len() + 1) as f64,
                fault: self.fault(victim, n).boxed(),
            })
            .collect();
        let (start, done) =
            writes::run(self.gateway, &streams, faults, self.pace(), self.log.0).await?;

        let mut rows = Vec::new();
        for (stream, victim) in streams.iter().zip(done) {
            let mut row = self.judge(stream, totals, tally).await?;
            row.0.insert(2, victim);
            let (gap, from) = stream.longest_pause(start);
            self.log.line(&format!(
                "{}: longest time without an acknowledgement {:.2} s, from {:.2} s into the pass",
                stream.what,
                gap.as_secs_f64(),
                from.as_secs_f64()
            ));
            row.0.push(format!("{:.2}", gap.as_secs_f64()));
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
        let (label, what) = (self.label(), stream.what);
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

    /// Brings the shard back: a killed master is started again only once a replica took
    /// over (started before the cluster noticed, it would simply be the master again), a
    /// killed replica at once; then the cluster must be whole, with every node the pass
    /// killed or cut off back as a replica. (A paused master may have been failed over
    /// while it slept, or not, and a replica started again just before its master's fault
    /// may have been promoted, or not: either role is right.)
    async fn bring_back(&self, victim: &Victim, tally: &mut Tally) -> Result<()> {
        let mut killed = Vec::new();
        if matches!(self.kind, Kind::Master | Kind::Sequence) {
            nodes::wait_takeover(self.stack, victim.service, &victim.key, &victim.master).await?;
            killed.push(victim.master.clone());
        }
        if self.kind == Kind::Replica {
            killed.push(victim.replica.clone().unwrap_or_default());
        }
        for node in &killed {
            self.log.line(&format!("starting {node} again"));
            fault::act(self.stack, Action::Start, node).await?;
        }
        nodes::wait_whole(self.stack, victim.service).await?;
        if let Some(replica) = victim.replica.as_deref().filter(|_| self.sequence()) {
            // Started again just before the master's fault: it may have finished its sync
            // by then (a slow `docker start` gives it time) and been rightly promoted, or
            // not; either way no acknowledged write may be missing, which the values say.
            let now = nodes::role(self.stack, replica).await;
            self.log.line(&format!(
                "{replica}, started again before the fault, is now {}",
                now.map_or("no answer".to_string(), |r| r.to_string())
            ));
        }
        if matches!(self.kind, Kind::Partition | Kind::Split) {
            killed.push(victim.master.clone());
        }
        for node in &killed {
            let now = nodes::role(self.stack, node).await;
            tally.check(
                now == Some(Role::Replica),
                format!(
                    "{}: {node} rejoined {}'s cluster as a replica ({})",
                    self.label(),
                    victim.service,
                    now.map_or("no answer".to_string(), |r| r.to_string())
                ),
            );
        }
        Ok(())
    }
}

pub fn print_table(rows: &[Row]) {
    let head = Row([
        "pass",
        "write",
        "fault",
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
