//! Everything the payment service keeps in Redis: its keys and its Lua scripts.
//!
//! Keys: `user:{<id>}` is a hash `{credit}`; `saga:{<user id>}:<sid>` records what
//! a saga did here (`status` = charged | refused | refunded, with `user` and
//! `amount` or `reason`). Both carry the user id as their hash tag (as
//! `common::store::tag` says: never a witness master's slot), so a user and
//! every saga record of it live in one slot of the cluster and a charge or a refund
//! is one atomic script on one shard. Every state change is one atomic script;
//! nothing here reads a value, changes it in Rust and writes it back. The adjust
//! script, the batch-init writes and the step-reply mapping are the participant
//! skeleton's (`common::participant`), called with this module's keys.

use common::entity;
use common::idempotency::IdempotencyKey;
use common::params::{Amount, Id, Quantity};
use common::participant::{self, parse_int, step_reply, Adjust, Adjusted, Change, StepReply};
use common::store::{tag, Invocation};
use common::{RedisStore, StoreError};
use redis::Script;

fn user_key(id: &Id) -> String {
    user_key_of(id.as_str())
}

fn user_key_of(id: &str) -> String {
    format!("user:{{{}}}", tag(id))
}

fn saga_key(user: &Id, saga: &Id) -> String {
    format!("saga:{{{}}}:{saga}", tag(user.as_str()))
}

/// The payment service's view of its Redis.
#[derive(Clone)]
pub struct PaymentStore {
    redis: RedisStore,
    adjust: Adjust,
    charge: Script,
    refund: Script,
}

impl PaymentStore {
    pub fn new(redis: RedisStore) -> Self {
        PaymentStore {
            redis,
            adjust: Adjust::new("credit", ("payment add_funds", "payment pay")),
            charge: participant::step_script(include_str!("scripts/charge.lua")),
            refund: Script::new(include_str!("scripts/refund.lua")),
        }
    }

    /// Creates a user with credit 0 and returns its id (the same for a repeat of the key).
    pub async fn create(&self, idem: &IdempotencyKey) -> Result<Id, StoreError> {
        let fields = [("credit", 0)];
        entity::create(&self.redis, "payment create_user", idem, user_key, &fields).await
    }

    /// The user's credit, or `None` if there is no such user.
    pub async fn credit(&self, id: &Id) -> Result<Option<i64>, StoreError> {
        let mut cmd = redis::cmd("HGET");
        cmd.arg(user_key(id)).arg("credit");
        let value: Option<String> = self.redis.query_retrying(&cmd).await?;
        value.as_deref().map(parse_int).transpose()
    }

    /// Adds to or takes from (never below 0) a user's credit.
    pub async fn adjust(
        &self,
        idem: &IdempotencyKey,
        id: &Id,
        change: Change,
    ) -> Result<Adjusted, StoreError> {
        self.adjust
            .apply(&self.redis, idem, user_key(id), change)
            .await
    }

    /// Writes users `"0"`..`"n-1"` in pipelined chunks (see `participant::batch_init`).
    pub async fn batch_init(
        &self,
        idem: &IdempotencyKey,
        n: Quantity,
        credit: Amount,
    ) -> Result<(), StoreError> {
        let fields = [("credit", credit)];
        participant::batch_init(
            &self.redis,
            "payment batch_init",
            idem,
            user_key_of,
            n,
            &fields,
        )
        .await
    }

    /// Charges a user for a saga, once; a repeat answers the first outcome.
    pub async fn charge(
        &self,
        saga: &Id,
        user: &Id,
        amount: Amount,
    ) -> Result<StepReply, StoreError> {
        let mut invocation = Invocation::new(&self.charge);
        invocation
            .key(saga_key(user, saga))
            .key(user_key(user))
            .arg(user.as_str())
            .arg(amount.get());
        let reply: Vec<String> = self.redis.run_script_once(&invocation).await?;
        step_reply("charge", &reply)
    }

    /// Gives back what a saga charged `user`, once; leaves a tombstone if it charged
    /// nothing yet.
    pub async fn refund(&self, saga: &Id, user: &Id) -> Result<StepReply, StoreError> {
        let mut invocation = Invocation::new(&self.refund);
        invocation.key(saga_key(user, saga)).key(user_key(user));
        let reply: Vec<String> = self.redis.run_script_once(&invocation).await?;
        step_reply("refund", &reply)
    }
}
