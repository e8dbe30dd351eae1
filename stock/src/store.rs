//! Everything the stock service keeps in Redis: its keys and its Lua scripts.
//!
//! Keys: `item:{<id>}` is a hash `{stock, price}`, tagged by its id (as
//! `common::store::tag` says: never a witness master's slot), so items spread over the
//! cluster's shards. A saga's items may live in several slots: its lines are
//! grouped by slot ([`groups`]), and each group is reserved by one atomic script with
//! its own record `saga:{<first item id of the group>}:<sid>` (in the group's slot;
//! `status` = reserved | refused | released, with `lines` or `reason`). A reserve runs
//! the groups in slot order; when one refuses, the groups already reserved are put
//! back and marked refused with the same reason, so a repeat answers the refusal;
//! a release runs them in the same order, so a late reserve meets the release's
//! tombstone at its first group. Every state change is one atomic script; nothing
//! here reads a value, changes it in Rust and writes it back. The adjust script and
//! the batch-init writes are the participant skeleton's (`common::participant`),
//! called with this module's keys.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::entity;
use common::idempotency::IdempotencyKey;
use common::params::{Amount, Id, Quantity};
use common::participant::{self, parse_int, Adjust, Adjusted, Change, Outcome, StepReply};
use common::store::{slot_of, tag, Invocation};
use common::{RedisStore, StoreError};
use redis::Script;

fn item_key(id: &Id) -> String {
    item_key_of(id.as_str())
}

fn item_key_of(id: &str) -> String {
    format!("item:{{{}}}", tag(id))
}

/// The record of what a saga did to one group of its items (the group's first item
/// names the slot).
fn saga_key(first_item: &Id, saga: &Id) -> String {
    format!("saga:{{{}}}:{saga}", tag(first_item.as_str()))
}

/// A call of `script` on one group of a saga's items: the group's record, then its items.
fn on_group<'a, T>(script: &'a Script, saga: &Id, group: &[(Id, T)]) -> Invocation<'a> {
    let mut invocation = Invocation::new(script);
    invocation.key(saga_key(&group[0].0, saga));
    for (id, _) in group {
        invocation.key(item_key(id));
    }
    invocation
}

/// A saga's lines grouped by the slot of their items, groups in slot order and lines
/// in id order within a group: the same lines give the same groups every time.
pub fn groups<T: Clone>(lines: &[(Id, T)]) -> Vec<Vec<(Id, T)>> {
    let mut sorted: Vec<(u16, &(Id, T))> = lines
        .iter()
        .map(|line| (slot_of(item_key(&line.0).as_bytes()), line))
        .collect();
    sorted.sort_by(|a, b| (a.0, a.1 .0.as_str()).cmp(&(b.0, b.1 .0.as_str())));
    let mut groups: Vec<Vec<(Id, T)>> = Vec::new();
    let mut last = None;
    for (slot, line) in sorted {
        if last != Some(slot) {
            groups.push(Vec::new());
            last = Some(slot);
        }
        if let Some(group) = groups.last_mut() {
            group.push(line.clone());
        }
    }
    groups
}

/// An item as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Item {
    pub stock: i64,
    pub price: i64,
}

/// The stock service's view of its Redis.
#[derive(Clone)]
pub struct StockStore {
    redis: RedisStore,
    adjust: Adjust,
    reserve: Script,
    refuse: Script,
    release: Script,
    reserve_loaded: Arc<AtomicBool>,
}

impl StockStore {
    pub fn new(redis: RedisStore) -> Self {
        StockStore {
            redis,
            adjust: Adjust::new("stock", ("stock add", "stock subtract")),
            reserve: participant::step_script(include_str!("scripts/reserve.lua")),
            refuse: Script::new(include_str!("scripts/refuse.lua")),
            release: Script::new(include_str!("scripts/release.lua")),
            reserve_loaded: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Creates an item with stock 0 and returns its id (the same for a repeat of the key).
    pub async fn create(&self, idem: &IdempotencyKey, price: Amount) -> Result<Id, StoreError> {
        let fields = [("stock", 0), ("price", price.get())];
        entity::create(&self.redis, "stock create", idem, item_key, &fields).await
    }

    pub async fn find(&self, id: &Id) -> Result<Option<Item>, StoreError> {
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(item_key(id)).arg("stock").arg("price");
        let values: Vec<Option<String>> = self.redis.query_retrying(&cmd).await?;
        match values.as_slice() {
            [None, None] => Ok(None),
            [Some(stock), Some(price)] => Ok(Some(Item {
                stock: parse_int(stock)?,
                price: parse_int(price)?,
            })),
            other => Err(StoreError::Corrupt(format!("item {id} holds {other:?}"))),
        }
    }

    /// Adds to or takes from (never below 0) an item's stock.
    pub async fn adjust(
        &self,
        idem: &IdempotencyKey,
        id: &Id,
        change: Change,
    ) -> Result<Adjusted, StoreError> {
        self.adjust
            .apply(&self.redis, idem, item_key(id), change)
            .await
    }

    /// Writes items `"0"`..`"n-1"` in pipelined chunks (see `participant::batch_init`).
    pub async fn batch_init(
        &self,
        idem: &IdempotencyKey,
        n: Quantity,
        stock: Amount,
        price: Amount,
    ) -> Result<(), StoreError> {
        let fields = [("stock", stock), ("price", price)];
        participant::batch_init(
            &self.redis,
            "stock batch_init",
            idem,
            item_key_of,
            n,
            &fields,
        )
        .await
    }

    /// Makes sure every node has the reserve script before a batch runs, once per
    /// process: a batch's reserves, sent together, would otherwise all be refused with
    /// NOSCRIPT on a fresh node and sent again each after its own load, in an order
    /// nobody chose; with the script there they run in the batch's order.
    pub async fn load_reserve(&self) -> Result<(), StoreError> {
        if self.reserve_loaded.load(Ordering::Relaxed) {
            return Ok(());
        }
        self.redis.load_script(&self.reserve).await?;
        self.reserve_loaded.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Reserves every line of a saga, or none; a repeat answers the first outcome.
    pub async fn reserve(
        &self,
        saga: &Id,
        lines: &[(Id, Quantity)],
    ) -> Result<StepReply, StoreError> {
        let groups = groups(lines);
        for (done, group) in groups.iter().enumerate() {
            let mut invocation = on_group(&self.reserve, saga, group);
            for (id, qty) in group {
                invocation.arg(id.as_str()).arg(qty.get());
            }
            let reply: Vec<String> = self.redis.run_script_once(&invocation).await?;
            let reply = step_reply("reserve", &reply)?;
            match reply.outcome {
                Outcome::Done => continue,
                Outcome::Refused => {
                    let reason = reply.reason.clone().unwrap_or_default();
                    self.refuse_groups(saga, &groups[..done], &reason).await?;
                    return Ok(reply);
                }
                // Released meanwhile (the release went through the groups before this
                // one, in the same order): nothing of this saga stays reserved.
                _ => return Ok(reply),
            }
        }
        Ok(StepReply {
            outcome: Outcome::Done,
            reason: None,
        })
    }

    /// Puts back the groups a reserve had taken before another group refused, and
    /// records the refusal on them, so that a repeat answers it too.
    async fn refuse_groups(
        &self,
        saga: &Id,
        groups: &[Vec<(Id, Quantity)>],
        reason: &str,
    ) -> Result<(), StoreError> {
        for group in groups {
            let mut invocation = on_group(&self.refuse, saga, group);
            invocation.arg(reason);
            let reply: Vec<String> = self.redis.run_script_once(&invocation).await?;
            step_reply("refuse", &reply)?;
        }
        Ok(())
    }

    /// Puts back what a saga reserved of `lines` (the lines its reserve carried), once;
    /// leaves a tombstone on every group it reserved nothing of yet.
    pub async fn release(
        &self,
        saga: &Id,
        lines: &[(Id, Quantity)],
    ) -> Result<StepReply, StoreError> {
        let mut last = StepReply {
            outcome: Outcome::Undone,
            reason: None,
        };
        for group in groups(lines) {
            let invocation = on_group(&self.release, saga, &group);
            let reply: Vec<String> = self.redis.run_script_once(&invocation).await?;
            last = step_reply("release", &reply)?;
        }
        Ok(last)
    }
}

/// The protocol's step replies (`participant::step_reply`), and the one that only
/// stock's release answers: `{"full", item}`.
fn step_reply(script: &str, reply: &[String]) -> Result<StepReply, StoreError> {
    match reply {
        // Nothing changed; the saga's driver retries until the stock has room again.
        [tag, item] if tag == "full" => Err(StoreError::Unavailable(format!(
            "item {item} cannot take its released units back without passing the \
             largest stock; nothing was released, retry once its stock went down"
        ))),
        other => participant::step_reply(script, other),
    }
}

#[cfg(test)]
mod tests {
    use common::participant::Outcome;

    use super::*;

    /// The protocol's tags are tested with `participant::step_reply`; here, that stock's
    /// own tag is a retryable failure and the others still reach the protocol's mapping.
    #[test]
    fn a_full_release_is_unavailable_and_other_replies_are_the_protocols() {
        assert!(matches!(
            step_reply("t", &["full", "7"].map(String::from)),
            Err(StoreError::Unavailable(_))
        ));
        let done = step_reply("t", &["done"].map(String::from)).expect("done");
        assert_eq!(done.outcome, Outcome::Done);
        assert!(matches!(
            step_reply("t", &["full"].map(String::from)),
            Err(StoreError::Corrupt(_))
        ));
    }
}
