//! Everything the payment service keeps in Redis: its keys and its Lua scripts.
//!
//! Keys: `user:{id}` is a hash `{credit}`; `saga:{sid}` records what a saga
//! did here (`status` = charged | refused | refunded, with `user` and `amount`
//! or `reason`). Every state change is one atomic script or one command;
//! nothing here reads a value, changes it in Rust and writes it back.

use common::params::{Amount, Id, Quantity};
use common::participant::{Outcome, StepReply};
use common::{RedisStore, StoreError};
use redis::Script;

/// How many `HSET`s one batch-init pipeline sends.
const BATCH_CHUNK: i64 = 10_000;
const USER_PREFIX: &str = "user:";

fn user_key(id: &Id) -> String {
    format!("{USER_PREFIX}{id}")
}

fn saga_key(saga: &Id) -> String {
    format!("saga:{saga}")
}

/// What an add-funds or pay did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adjusted {
    /// Applied; the new credit.
    Done(i64),
    /// Refused, nothing changed: the current credit is too low.
    Insufficient(i64),
    /// No such user.
    Missing,
    /// The credit would not fit in an i64; nothing changed.
    Overflow,
}

/// The payment service's view of its Redis.
#[derive(Clone)]
pub struct PaymentStore {
    redis: RedisStore,
    adjust: Script,
    charge: Script,
    refund: Script,
}

impl PaymentStore {
    pub fn new(redis: RedisStore) -> Self {
        PaymentStore {
            redis,
            adjust: Script::new(include_str!("scripts/adjust.lua")),
            charge: Script::new(include_str!("scripts/charge.lua")),
            refund: Script::new(include_str!("scripts/refund.lua")),
        }
    }

    /// Creates a user with credit 0 and returns the new id.
    pub async fn create(&self) -> Result<Id, StoreError> {
        let id = Id::generated(uuid::Uuid::new_v4().to_string());
        let mut conn = self.redis.conn().await?;
        let mut cmd = redis::cmd("HSET");
        cmd.arg(user_key(&id)).arg("credit").arg(0);
        self.redis
            .bounded(cmd.query_async::<i64>(&mut conn))
            .await?;
        Ok(id)
    }

    /// The user's credit, or `None` if there is no such user.
    pub async fn credit(&self, id: &Id) -> Result<Option<i64>, StoreError> {
        let mut conn = self.redis.conn().await?;
        let mut cmd = redis::cmd("HGET");
        cmd.arg(user_key(id)).arg("credit");
        let value: Option<String> = self.redis.bounded(cmd.query_async(&mut conn)).await?;
        value.as_deref().map(parse_int).transpose()
    }

    pub async fn add_funds(&self, id: &Id, amount: Amount) -> Result<Adjusted, StoreError> {
        self.adjust(id, amount.get()).await
    }

    pub async fn pay(&self, id: &Id, amount: Amount) -> Result<Adjusted, StoreError> {
        self.adjust(id, -amount.get()).await
    }

    async fn adjust(&self, id: &Id, delta: i64) -> Result<Adjusted, StoreError> {
        let mut invocation = self.adjust.prepare_invoke();
        invocation
            .key(user_key(id))
            .arg("credit")
            .arg(delta)
            .arg(-delta);
        let mut conn = self.redis.conn().await?;
        let reply: Vec<String> = self.redis.invoke(&mut conn, &invocation).await?;
        match reply.as_slice() {
            [tag, value] if tag == "ok" => Ok(Adjusted::Done(parse_int(value)?)),
            [tag, value] if tag == "insufficient" => Ok(Adjusted::Insufficient(parse_int(value)?)),
            [tag] if tag == "missing" => Ok(Adjusted::Missing),
            [tag] if tag == "overflow" => Ok(Adjusted::Overflow),
            other => Err(unexpected("adjust", other)),
        }
    }

    /// Writes users `"0"`..`"n-1"` in pipelined chunks, each one MULTI/EXEC so that Redis
    /// appends and fsyncs a chunk at once (not atomic as a whole).
    pub async fn batch_init(&self, n: Quantity, credit: Amount) -> Result<(), StoreError> {
        let mut conn = self.redis.conn().await?;
        let mut start = 0;
        while start < n.get() {
            let end = (start + BATCH_CHUNK).min(n.get());
            let mut pipe = redis::pipe();
            pipe.atomic();
            for i in start..end {
                pipe.cmd("HSET")
                    .arg(format!("{USER_PREFIX}{i}"))
                    .arg("credit")
                    .arg(credit.get())
                    .ignore();
            }
            self.redis
                .bounded(pipe.query_async::<()>(&mut conn))
                .await?;
            start = end;
        }
        Ok(())
    }

    /// Charges a user for a saga, once; a repeat answers the first outcome.
    pub async fn charge(
        &self,
        saga: &Id,
        user: &Id,
        amount: Amount,
    ) -> Result<StepReply, StoreError> {
        let mut invocation = self.charge.prepare_invoke();
        invocation
            .key(saga_key(saga))
            .key(user_key(user))
            .arg(user.as_str())
            .arg(amount.get());
        let mut conn = self.redis.conn().await?;
        let reply: Vec<String> = self.redis.invoke(&mut conn, &invocation).await?;
        step_reply("charge", &reply)
    }

    /// Gives back what a saga charged, once; leaves a tombstone if it charged nothing yet.
    pub async fn refund(&self, saga: &Id) -> Result<StepReply, StoreError> {
        let mut invocation = self.refund.prepare_invoke();
        invocation.key(saga_key(saga)).arg(USER_PREFIX);
        let mut conn = self.redis.conn().await?;
        let reply: Vec<String> = self.redis.invoke(&mut conn, &invocation).await?;
        step_reply("refund", &reply)
    }
}

fn step_reply(script: &str, reply: &[String]) -> Result<StepReply, StoreError> {
    let (outcome, reason) = match reply {
        [tag] if tag == "done" => (Outcome::Done, None),
        [tag] if tag == "undone" => (Outcome::Undone, None),
        [tag] if tag == "cancelled" => (Outcome::Cancelled, None),
        [tag, reason] if tag == "refused" => (Outcome::Refused, Some(reason.clone())),
        other => return Err(unexpected(script, other)),
    };
    Ok(StepReply { outcome, reason })
}

fn parse_int(raw: &str) -> Result<i64, StoreError> {
    raw.parse()
        .map_err(|_| StoreError::Corrupt(format!("{raw:?} is not an integer")))
}

fn unexpected(script: &str, reply: &[String]) -> StoreError {
    StoreError::Corrupt(format!("script {script} answered {reply:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(parts: &[&str]) -> Vec<String> {
        parts.iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn script_replies_map_to_step_outcomes() {
        let done = step_reply("t", &reply(&["done"])).expect("done");
        assert_eq!(done.outcome, Outcome::Done);
        let refused = step_reply("t", &reply(&["refused", "why"])).expect("refused");
        assert_eq!(refused.outcome, Outcome::Refused);
        assert_eq!(refused.reason.as_deref(), Some("why"));
        let undone = step_reply("t", &reply(&["undone"])).expect("undone");
        assert_eq!(undone.outcome, Outcome::Undone);
        let cancelled = step_reply("t", &reply(&["cancelled"])).expect("cancelled");
        assert_eq!(cancelled.outcome, Outcome::Cancelled);
    }

    #[test]
    fn unknown_script_replies_are_corrupt_data() {
        for parts in [&[][..], &["refused"][..], &["what"][..], &["done", "x"][..]] {
            assert!(matches!(
                step_reply("t", &reply(parts)),
                Err(StoreError::Corrupt(_))
            ));
        }
        assert!(matches!(parse_int("1.5"), Err(StoreError::Corrupt(_))));
    }
}
